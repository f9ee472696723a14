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

TEST(GemmTableTest, BadFilesNameFileAndField) {
  struct Case {
    const char* what;
    std::string text;
    std::string field;
  };
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
  };
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
