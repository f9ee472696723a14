// Tests of catalog/gemm_table.h: interpolation between measured shapes (linear in log2 of each
// dimension), clamping above and proportional scaling below the measured range, the file's
// validation, and the catalog's attachment of data/gemm/<id>.yaml.
#include "preflight/catalog/gemm_table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "preflight/catalog/catalog.h"
#include "preflight/base/test_support.h"

namespace preflight {
namespace {


// A 2 x 2 x 2 grid over {1024, 2048}: TFLOP/s = 100 at the small corner, +100 per doubled axis
// (m), +20 (n), +10 (k).
constexpr char kTable[] = R"(id: test-device
source: "test bench"
shapes:
  bf16:
    - [1024, 1024, 1024, 100]
    - [1024, 1024, 2048, 110]
    - [1024, 2048, 1024, 120]
    - [1024, 2048, 2048, 130]
    - [2048, 1024, 1024, 200]
    - [2048, 1024, 2048, 210]
    - [2048, 2048, 1024, 220]
    - [2048, 2048, 2048, 230]
)";

std::string Write(const std::string& name, const std::string& text) {
  return test_support::WriteFile(test_support::ScratchDir("preflight_gemm_table_"), name, text);
}

GemmTable Load(const std::string& text) {
  StatusOr<GemmTable> t = LoadGemmTable(Write("table.yaml", text));
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? *t : GemmTable{};
}

TEST(GemmTableTest, MeasuredPointsAreExact) {
  const GemmTable t = Load(kTable);
  EXPECT_DOUBLE_EQ(t.Rate(Dtype::kBf16, 1024, 1024, 1024), 100e12);
  EXPECT_DOUBLE_EQ(t.Rate(Dtype::kBf16, 2048, 2048, 2048), 230e12);
  EXPECT_DOUBLE_EQ(t.Rate(Dtype::kBf16, 2048, 1024, 2048), 210e12);
  EXPECT_EQ(t.Rate(Dtype::kFp8, 1024, 1024, 1024), 0) << "no grid for fp8";
  EXPECT_DOUBLE_EQ(t.MaxRate(Dtype::kBf16), 230e12);
}

TEST(GemmTableTest, InterpolatesInLog2OfEachDimension) {
  const GemmTable t = Load(kTable);
  const double mid = 1024 * 1.4142135623730951;  // halfway in log2
  EXPECT_NEAR(t.Rate(Dtype::kBf16, mid, 1024, 1024), 150e12, 1e6);
  EXPECT_NEAR(t.Rate(Dtype::kBf16, mid, mid, mid), (100 + 50 + 10 + 5) * 1e12, 1e6);
}

TEST(GemmTableTest, ClampsAboveAndScalesBelowTheMeasuredRange) {
  const GemmTable t = Load(kTable);
  EXPECT_DOUBLE_EQ(t.Rate(Dtype::kBf16, 65536, 2048, 2048), 230e12);
  EXPECT_FALSE(t.Covers(Dtype::kBf16, 65536, 2048, 2048));
  EXPECT_TRUE(t.Covers(Dtype::kBf16, 2048, 2048, 2048));
  EXPECT_TRUE(t.Covers(Dtype::kBf16, 16, 2048, 2048));
  EXPECT_TRUE(t.CoversReduction(Dtype::kBf16, 2048));
  EXPECT_FALSE(t.CoversReduction(Dtype::kBf16, 4096));
  EXPECT_FALSE(t.CoversReduction(Dtype::kFp8, 16)) << "no grid for the dtype";
  // Half the rows of the smallest shape take as long: half the rate.
  EXPECT_DOUBLE_EQ(t.Rate(Dtype::kBf16, 512, 1024, 1024), 50e12);
}

// A size one rounding step below the largest measured one has the same log2 in double precision;
// the lookup stays on the axis (it read past its end) and gives the edge's figure.
TEST(GemmTableTest, ASizeJustBelowTheLargestStaysOnTheAxis) {
  const GemmTable t = Load(kTable);
  const double below = std::nextafter(2048.0, 0.0);
  ASSERT_EQ(std::log2(below), 11.0) << "the case needs log2 to round up to the edge";
  EXPECT_NEAR(t.Rate(Dtype::kBf16, below, 1024, 1024), 200e12, 1e6);
  EXPECT_NEAR(t.Rate(Dtype::kBf16, 1024, below, below), 130e12, 1e6);
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  s.replace(s.find(from), from.size(), to);
  return s;
}

// A table file the loader refuses, and the field its one-line message names.
struct Case {
  const char* what;
  std::string text;
  std::string field;
};

template <size_t N>
void ExpectRefused(const Case (&cases)[N]) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string path = Write("bad.yaml", c.text);
    StatusOr<GemmTable> t = LoadGemmTable(path);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(path + ": " + c.field), std::string::npos) << t.status().message();
    EXPECT_EQ(t.status().message().find('\n'), std::string::npos);
  }
}

TEST(GemmTableTest, BadFilesNameFileAndField) {
  const Case cases[] = {
      {"hole in the grid", replace(kTable, "    - [2048, 2048, 2048, 230]\n", ""), "shapes.bf16"},
      {"duplicate shape", replace(kTable, "[2048, 2048, 2048, 230]", "[2048, 2048, 1024, 230]"), "shapes.bf16"},
      {"negative figure", replace(kTable, "230]", "-230]"), "shapes.bf16[7]"},
      {"short row", replace(kTable, "[2048, 2048, 2048, 230]", "[2048, 2048, 230]"), "shapes.bf16[7]"},
      {"unknown dtype", replace(kTable, "  bf16:", "  bf17:"), "shapes.bf17"},
      // A list as a key once aborted the tool (yaml-cpp's conversion threw).
      {"a list as the dtype", replace(kTable, "  bf16:", "  [a, b]:"), "shapes"},
      {"a fractional size", replace(kTable, "[2048, 2048, 2048, 230]", "[2048.5, 2048, 2048, 230]"),
       "shapes.bf16[7]: expected whole sizes"},
      {"a size past 2^17", replace(kTable, "[2048, 2048, 2048, 230]", "[2147483648, 2048, 2048, 230]"), "shapes.bf16[7]"},
      {"no source", replace(kTable, "source: \"test bench\"\n", ""), "source"},
      {"unknown clock", replace(kTable, "source: \"test bench\"\n", "source: \"test bench\"\nclock: turbo\n"), "clock"},
      {"proxy_of not an id", replace(kTable, "source: \"test bench\"\n", "source: \"test bench\"\nproxy_of: [a]\n"),
       "proxy_of"},
      {"a note that is not text", replace(kTable, "source: \"test bench\"\n", "source: \"test bench\"\nnote: [1, 2]\n"),
       "note"},
      {"no grid", std::string(kTable).substr(0, std::string(kTable).find("shapes:")) + "shapes: {}\n", "shapes: expected at least one"},
  };
  ExpectRefused(cases);
}

TEST(GemmTableTest, ClockSaysWhetherTheTableIsABurstMeasurement) {
  auto burst = LoadGemmTable(Write("burst.yaml", kTable));
  ASSERT_TRUE(burst.ok()) << burst.status().message();
  EXPECT_FALSE(burst->sustained);
  auto held = LoadGemmTable(Write("held.yaml", replace(kTable, "source: \"test bench\"\n",
                                                        "source: \"test bench\"\nclock: sustained\n")));
  ASSERT_TRUE(held.ok()) << held.status().message();
  EXPECT_TRUE(held->sustained);
}

TEST(GemmTableTest, ProxyOfNamesTheDeviceTheTableWasMeasuredOn) {
  auto own = LoadGemmTable(Write("own.yaml", kTable));
  ASSERT_TRUE(own.ok()) << own.status().message();
  EXPECT_TRUE(own->proxy_of.empty());
  auto borrowed = LoadGemmTable(Write("borrowed.yaml", replace(kTable, "source: \"test bench\"\n",
                                                                "source: \"test bench\"\nproxy_of: sibling\n")));
  ASSERT_TRUE(borrowed.ok()) << borrowed.status().message();
  EXPECT_EQ(borrowed->proxy_of, "sibling");
}

// kTable with an fp8 grid of its own origin (`extra` goes into its mapping), measured elsewhere.
std::string WithFp8Grid(const std::string& extra) {
  return std::string(kTable) + "  fp8:\n" + extra +
         "    rows:\n"
         "      - [1024, 1024, 1024, 300]\n      - [1024, 1024, 2048, 310]\n"
         "      - [1024, 2048, 1024, 320]\n      - [1024, 2048, 2048, 330]\n"
         "      - [2048, 1024, 1024, 400]\n      - [2048, 1024, 2048, 410]\n"
         "      - [2048, 2048, 1024, 420]\n      - [2048, 2048, 2048, 430]\n";
}

// A grid written as {source, proxy_of, rows} keeps its own origin; the file's other grids keep the
// file's.
TEST(GemmTableTest, AGridMayStateWhereItWasMeasured) {
  auto t = LoadGemmTable(Write("origin.yaml", replace(WithFp8Grid("    source: \"rig B\"\n    proxy_of: sibling\n"),
                                                       "source: \"test bench\"\n",
                                                       "source: \"test bench\"\nproxy_of: cousin\n")));
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_DOUBLE_EQ(t->Rate(Dtype::kFp8, 2048, 2048, 2048), 430e12);
  EXPECT_TRUE(t->HasOwnOrigin(Dtype::kFp8));
  EXPECT_EQ(t->SourceOf(Dtype::kFp8), "rig B");
  EXPECT_EQ(t->ProxyOf(Dtype::kFp8), "sibling");
  EXPECT_FALSE(t->HasOwnOrigin(Dtype::kBf16));
  EXPECT_EQ(t->SourceOf(Dtype::kBf16), "test bench");
  EXPECT_EQ(t->ProxyOf(Dtype::kBf16), "cousin");
  // A grid's own origin without proxy_of was measured on the file's device, whatever the file says.
  auto own = LoadGemmTable(Write("own_grid.yaml", replace(WithFp8Grid("    source: \"rig B\"\n"),
                                                           "source: \"test bench\"\n",
                                                           "source: \"test bench\"\nproxy_of: cousin\n")));
  ASSERT_TRUE(own.ok()) << own.status().message();
  EXPECT_EQ(own->ProxyOf(Dtype::kFp8), "");
}

TEST(GemmTableTest, ABadGridOriginNamesItsField) {
  const Case cases[] = {
      {"no source", WithFp8Grid("    proxy_of: sibling\n"), "shapes.fp8.source"},
      {"an empty source", WithFp8Grid("    source: \"\"\n"), "shapes.fp8.source"},
      {"proxy_of not an id", WithFp8Grid("    source: x\n    proxy_of: \"Big GPU\"\n"), "shapes.fp8.proxy_of"},
      {"an unknown key", WithFp8Grid("    source: x\n    clock: sustained\n"), "shapes.fp8.clock"},
      {"a note that is not text", WithFp8Grid("    source: x\n    note: {a: 1}\n"), "shapes.fp8.note"},
      {"no rows", replace(WithFp8Grid("    source: x\n"), "    rows:\n", "    rowz:\n"), "shapes.fp8.rowz"},
      {"a bad row", replace(WithFp8Grid("    source: x\n"), "[2048, 2048, 2048, 430]", "[2048, 2048, 430]"),
       "shapes.fp8.rows[7]"},
      {"a hole", replace(WithFp8Grid("    source: x\n"), "      - [2048, 2048, 2048, 430]\n", ""), "shapes.fp8"},
  };
  ExpectRefused(cases);
}

// The H100's and H800's fp8 grids are the H200's measurement, labelled as such; the H200's is its own.
TEST(GemmTableTest, HopperFp8GridsAreTheH200Measurement) {
  StatusOr<HardwareSpec> h200 = Catalog::Default().Hardware("h200-sxm-141gb");
  ASSERT_TRUE(h200.ok()) << h200.status().message();
  ASSERT_NE(h200->gemm_table, nullptr);
  ASSERT_TRUE(h200->gemm_table->Has(Dtype::kFp8));
  EXPECT_EQ(h200->gemm_table->ProxyOf(Dtype::kFp8), "");
  const double h200_rate = h200->gemm_table->Rate(Dtype::kFp8, 4096, 4096, 4096);
  EXPECT_DOUBLE_EQ(h200_rate, 1188.6e12);
  for (const char* id : {"h100-sxm-80gb", "h800-sxm-80gb"}) {
    SCOPED_TRACE(id);
    StatusOr<HardwareSpec> h = Catalog::Default().Hardware(id);
    ASSERT_TRUE(h.ok()) << h.status().message();
    ASSERT_NE(h->gemm_table, nullptr);
    EXPECT_EQ(h->gemm_table->ProxyOf(Dtype::kFp8), "h200-sxm-141gb");
    EXPECT_DOUBLE_EQ(h->gemm_table->Rate(Dtype::kFp8, 4096, 4096, 4096), h200_rate);
    EXPECT_NE(h->gemm_table->ProxyOf(Dtype::kBf16), "h200-sxm-141gb") << "the bf16 grid is XLA's H100 one";
  }
}

// A grid measured on another device carries that device's sustained / burst ratio, so that the
// proxy stands for its rates at its power limit: the H100's and H800's FP8 grid the H200's, the
// GB200's table the B200's; a grid measured on its own device carries none.
TEST(GemmTableTest, ProxyGridsCarryTheirMeasuringDevicesRatio) {
  StatusOr<HardwareSpec> h200 = Catalog::Default().Hardware("h200-sxm-141gb");
  ASSERT_TRUE(h200.ok()) << h200.status().message();
  EXPECT_EQ(h200->gemm_table->SourceSustain(Dtype::kFp8), 0.0) << "its own grid";
  const double h200_fp8 = SustainedRatio(*h200, Dtype::kFp8);
  for (const char* id : {"h100-sxm-80gb", "h800-sxm-80gb"}) {
    SCOPED_TRACE(id);
    StatusOr<HardwareSpec> h = Catalog::Default().Hardware(id);
    ASSERT_TRUE(h.ok()) << h.status().message();
    EXPECT_DOUBLE_EQ(h->gemm_table->SourceSustain(Dtype::kFp8), h200_fp8);
    EXPECT_NE(h->gemm_table->SourceSustain(Dtype::kFp8), SustainedRatio(*h, Dtype::kFp8)) << "not its own ratio";
  }
  StatusOr<HardwareSpec> h100 = Catalog::Default().Hardware("h100-sxm-80gb");
  StatusOr<HardwareSpec> h800 = Catalog::Default().Hardware("h800-sxm-80gb");
  ASSERT_TRUE(h100.ok() && h800.ok());
  EXPECT_EQ(h100->gemm_table->SourceSustain(Dtype::kBf16), 0.0) << "XLA's grid, measured on an H100";
  EXPECT_DOUBLE_EQ(h800->gemm_table->SourceSustain(Dtype::kBf16), SustainedRatio(*h100, Dtype::kBf16))
      << "the H800 reads the H100's bf16 grid";
  StatusOr<HardwareSpec> b200 = Catalog::Default().Hardware("b200-180gb");
  StatusOr<HardwareSpec> gb200 = Catalog::Default().Hardware("gb200-nvl72");
  ASSERT_TRUE(b200.ok() && gb200.ok());
  EXPECT_EQ(gb200->gemm_table->ProxyOf(Dtype::kBf16), "b200-180gb");
  EXPECT_DOUBLE_EQ(gb200->gemm_table->SourceSustain(Dtype::kBf16), SustainedRatio(*b200, Dtype::kBf16));
  EXPECT_DOUBLE_EQ(gb200->gemm_table->SourceSustain(Dtype::kFp8), SustainedRatio(*b200, Dtype::kFp8));
}

TEST(GemmTableTest, CatalogAttachesTheMeasuredH100Table) {
  StatusOr<HardwareSpec> h = Catalog::Default().Hardware("h100-sxm-80gb");
  ASSERT_TRUE(h.ok()) << h.status().message();
  ASSERT_NE(h->gemm_table, nullptr);
  EXPECT_DOUBLE_EQ(h->gemm_table->Rate(Dtype::kBf16, 4096, 4096, 4096), 780.2e12);
  EXPECT_LE(h->gemm_table->MaxRate(Dtype::kBf16), h->peak(Dtype::kBf16).value * 1e12);
  StatusOr<HardwareSpec> a100 = Catalog::Default().Hardware("a100-sxm-80gb");
  ASSERT_TRUE(a100.ok());
  EXPECT_EQ(a100->gemm_table, nullptr) << "no measured table for the A100";
}

}  // namespace
}  // namespace preflight
