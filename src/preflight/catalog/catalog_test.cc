// Tests of catalog/catalog.h and catalog/hardware_spec.h: every shipped data file loads, the
// required hardware is present with sourced figures, and malformed files fail with a Status that
// names the file and the field.
#include "preflight/catalog/catalog.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "preflight/catalog/hardware_spec.h"
#include "preflight/base/test_support.h"

namespace preflight {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string>& RequiredHardwareIds() {
  static const std::vector<std::string> kIds = {
      "a100-sxm-40gb",  "a100-sxm-80gb", "h100-sxm-80gb", "h800-sxm-80gb", "h20-96gb",
      "h200-sxm-141gb", "b200-180gb",    "gb200-nvl72",   "mi250x",        "mi300x",
      "mi325x",         "mi355x",        "ascend-910b",   "ascend-910c",   "ascend-cloudmatrix-384",
      "tpu-v4",         "tpu-v5e",       "tpu-v5p",       "tpu-v6e",       "tpu-v7-ironwood",
      "gaudi2",         "gaudi3",        "trainium2"};
  return kIds;
}

const std::set<std::string>& Fp8UnsupportedIds() {
  static const std::set<std::string> kIds = {
      "a100-sxm-40gb",          "a100-sxm-80gb", "ascend-910b", "ascend-910c",
      "ascend-cloudmatrix-384", "mi250x",        "tpu-v4",      "tpu-v5e"};
  return kIds;
}

std::string ScratchDir() { return test_support::ScratchDir("preflight_catalog_"); }

using test_support::WriteFile;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------------------------
// The shipped catalog.

TEST(CatalogDataTest, DefaultUsesPreflightDataEnvironment) {
  const char* env = std::getenv("PREFLIGHT_DATA");
  Catalog cat = Catalog::Default();
  if (env != nullptr && *env != '\0') {
    EXPECT_EQ(cat.data_dir(), env);
  }
  EXPECT_TRUE(fs::exists(fs::path(cat.data_dir()) / "hardware"));
  EXPECT_TRUE(fs::exists(fs::path(cat.data_dir()) / "models"));
}

TEST(CatalogDataTest, DefaultIsTheSourceTreeDataDir) {
  EXPECT_TRUE(
      fs::equivalent(Catalog::Default().data_dir(), fs::path(PREFLIGHT_SOURCE_DIR) / "data"));
}

TEST(CatalogDataTest, AllRequiredHardwareIdsExist) {
  std::vector<std::string> ids = Catalog::Default().HardwareIds();
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  for (const std::string& id : RequiredHardwareIds()) {
    EXPECT_TRUE(std::find(ids.begin(), ids.end(), id) != ids.end()) << "missing hardware " << id;
  }
  EXPECT_GE(ids.size(), RequiredHardwareIds().size());
}

TEST(CatalogDataTest, EveryHardwareFileLoadsAndMatchesItsId) {
  Catalog cat = Catalog::Default();
  std::vector<std::string> ids = cat.HardwareIds();
  ASSERT_FALSE(ids.empty());
  for (const std::string& id : ids) {
    StatusOr<HardwareSpec> spec = cat.Hardware(id);
    ASSERT_TRUE(spec.ok()) << spec.status().message();
    EXPECT_EQ(spec->id, id) << "id field must equal the file name";
    EXPECT_FALSE(spec->vendor.empty()) << id;
    EXPECT_FALSE(spec->name.empty()) << id;
    EXPECT_TRUE(Contains(spec->file, id + ".yaml")) << spec->file;
    EXPECT_TRUE(spec->hbm_capacity_gib.known()) << id << ": HBM capacity";
    EXPECT_TRUE(spec->peak(Dtype::kBf16).known()) << id << ": bf16 peak";
    EXPECT_GT(spec->peak(Dtype::kBf16).value, 0) << id;
  }
}

// Every measured collective table loads, names catalog hardware and a source, and where it carries
// an 8-GPU all-reduce curve its largest row is the hardware file's large-message bus bandwidth
// (both come from the same measurement).
TEST(CatalogDataTest, EveryCollectiveTableLoadsAndAgreesWithItsHardware) {
  Catalog cat = Catalog::Default();
  std::vector<std::string> ids = cat.CollectiveTableIds();
  ASSERT_FALSE(ids.empty());
  for (const std::string& id : ids) {
    StatusOr<CollectiveTable> t = cat.CollectiveTableById(id);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_FALSE(t->source.empty()) << id;
    StatusOr<HardwareSpec> spec = cat.Hardware(t->hardware);
    ASSERT_TRUE(spec.ok()) << id << ": " << spec.status().message();
    int compared = 0;
    for (const CollectiveTable::Curve& c : t->curves()) {
      if (c.op != CollectiveOp::kAllReduce || c.ranks != 8 || c.ranks_per_domain != 8) continue;
      ASSERT_TRUE(spec->allreduce_busbw_scale_up_gbytes_per_s.known()) << id;
      const auto [bytes, us] = c.rows.back();
      const double busbw = BusBandwidthFactor(c.op, 8) * bytes / (us * 1e-6) / 1e9;
      EXPECT_NEAR(busbw, spec->allreduce_busbw_scale_up_gbytes_per_s.value, 0.1) << id;
      ++compared;
    }
    EXPECT_EQ(compared, 1) << id << ": every bundled table is an 8-GPU all-reduce curve";
  }
  StatusOr<CollectiveTable> missing = cat.CollectiveTableById("no-such-system");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(missing.status().message(), ids.front())) << missing.status().message();
}

TEST(CatalogDataTest, Fp8SupportMatchesTheReference) {
  Catalog cat = Catalog::Default();
  for (const std::string& id : RequiredHardwareIds()) {
    StatusOr<HardwareSpec> spec = cat.Hardware(id);
    ASSERT_TRUE(spec.ok()) << spec.status().message();
    const Figure& fp8 = spec->peak(Dtype::kFp8);
    if (Fp8UnsupportedIds().count(id) > 0) {
      EXPECT_TRUE(fp8.unsupported()) << id << " must mark fp8 unsupported";
      EXPECT_FALSE(fp8.source.empty()) << id;
    } else {
      EXPECT_FALSE(fp8.unsupported()) << id << " supports fp8";
      EXPECT_TRUE(fp8.known()) << id << " has a published fp8 peak";
    }
  }
}

// Every figure of a spec, with a name for messages.
std::vector<std::pair<std::string, const Figure*>> AllFigures(const HardwareSpec& h) {
  std::vector<std::pair<std::string, const Figure*>> out = {
      {"launch_year", &h.launch_year},
      {"memory.capacity_gib", &h.hbm_capacity_gib},
      {"memory.bandwidth_tbytes_per_s", &h.hbm_bandwidth_tbytes_per_s},
      {"scale_up.unidirectional_gbytes_per_s", &h.scale_up_gbytes_per_s},
      {"scale_up.domain_devices", &h.scale_up_domain_devices},
      {"scale_out.gbits_per_s_per_device", &h.scale_out_gbits_per_s},
      {"power_w", &h.power_w},
      {"collective_compute_units", &h.collective_compute_units},
      {"efficiency.hbm_fraction", &h.hbm_fraction},
      {"efficiency.gemm_kernel_us", &h.gemm_kernel_us},
      {"efficiency.allreduce.scale_up", &h.allreduce_busbw_scale_up_gbytes_per_s},
      {"efficiency.allreduce.scale_out", &h.allreduce_busbw_scale_out_gbytes_per_s},
      {"efficiency.fused_attention_tflops.forward", &h.attention_fwd_tflops},
      {"efficiency.fused_attention_tflops.backward", &h.attention_bwd_tflops},
  };
  for (int i = 0; i < kNumDtypes; ++i) {
    out.push_back({"peak_tflops." + std::string(kDtypeNames[i]), &h.peak_tflops[i]});
    out.push_back({"gemm_fraction." + std::string(kDtypeNames[i]), &h.gemm_fraction[i]});
    out.push_back({"sustained_fraction." + std::string(kDtypeNames[i]), &h.sustained_fraction[i]});
  }
  return out;
}

TEST(CatalogDataTest, EveryKnownFigureHasASource) {
  Catalog cat = Catalog::Default();
  int known = 0;
  for (const std::string& id : cat.HardwareIds()) {
    StatusOr<HardwareSpec> spec = cat.Hardware(id);
    ASSERT_TRUE(spec.ok()) << spec.status().message();
    for (const auto& [name, f] : AllFigures(*spec)) {
      if (f->known() || f->unsupported()) {
        ++known;
        EXPECT_FALSE(f->source.empty()) << id << ": " << name;
      }
      if (f->known()) {
        EXPECT_GE(f->value, 0) << id << ": " << name;
      }
    }
    if (spec->price.known) {
      EXPECT_FALSE(spec->price.source.empty()) << id << ": price";
      EXPECT_LE(spec->price.low_usd, spec->price.high_usd) << id;
    }
  }
  EXPECT_GT(known, 23 * 10);  // the catalog is not mostly unknowns
}

TEST(CatalogDataTest, FractionsLieInUnitInterval) {
  Catalog cat = Catalog::Default();
  for (const std::string& id : cat.HardwareIds()) {
    StatusOr<HardwareSpec> spec = cat.Hardware(id);
    ASSERT_TRUE(spec.ok());
    for (int i = 0; i < kNumDtypes; ++i) {
      const Figure& f = spec->gemm_fraction[i];
      if (f.known()) {
        EXPECT_TRUE(f.value > 0 && f.value <= 1) << id;
      }
      // Sustained at the power limit never exceeds the burst.
      const Figure& sustained = spec->sustained_fraction[i];
      if (sustained.known() && f.known()) {
        EXPECT_LE(sustained.value, f.value) << id << " " << kDtypeNames[i];
      }
    }
    if (spec->hbm_fraction.known()) {
      EXPECT_LE(spec->hbm_fraction.value, 1) << id;
    }
  }
}

TEST(CatalogDataTest, EveryModelFileParsesAsJsonWithAModelType) {
  Catalog cat = Catalog::Default();
  std::vector<std::string> ids = cat.ModelIds();
  EXPECT_EQ(ids.size(), 24u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  for (const std::string& id : ids) {
    std::string source;
    StatusOr<nlohmann::json> cfg = cat.ModelConfig(id, &source);
    ASSERT_TRUE(cfg.ok()) << cfg.status().message();
    EXPECT_TRUE(Contains(source, id + ".json")) << source;
    ASSERT_TRUE(cfg->is_object()) << id;
    ASSERT_TRUE(cfg->contains("model_type")) << id;
    EXPECT_TRUE((*cfg)["model_type"].is_string()) << id;
    EXPECT_TRUE(cfg->contains("_source")) << id << ": every model names its source";
  }
}

TEST(CatalogDataTest, SpotValues) {
  Catalog cat = Catalog::Default();
  struct Case {
    const char* id;
    double bf16_tflops, hbm_gib, domain;
  };
  const Case cases[] = {
      {"h100-sxm-80gb", 989.4, 80, 8}, {"a100-sxm-40gb", 312, 40, 8},
      {"gb200-nvl72", 2500, 186, 72},  {"ascend-cloudmatrix-384", 752, 128, 384},
      {"mi300x", 1307.4, 192, 8},
  };
  for (const Case& c : cases) {
    StatusOr<HardwareSpec> h = cat.Hardware(c.id);
    ASSERT_TRUE(h.ok()) << h.status().message();
    EXPECT_DOUBLE_EQ(h->peak(Dtype::kBf16).value, c.bf16_tflops) << c.id;
    EXPECT_DOUBLE_EQ(h->hbm_capacity_gib.value, c.hbm_gib) << c.id;
    EXPECT_DOUBLE_EQ(h->scale_up_domain_devices.value, c.domain) << c.id;
  }
}

// ---------------------------------------------------------------------------------------------
// Lookups that fail.

TEST(CatalogLookupTest, UnknownHardwareIdIsNotFound) {
  StatusOr<HardwareSpec> h = Catalog::Default().Hardware("h999-imaginary");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(h.status().message(), "h999-imaginary")) << h.status().message();
}

TEST(CatalogLookupTest, UnknownModelIdIsNotFound) {
  std::string source = "untouched";
  StatusOr<nlohmann::json> m = Catalog::Default().ModelConfig("gpt-17", &source);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(m.status().message(), "gpt-17")) << m.status().message();
}

TEST(CatalogLookupTest, MissingPathsAreNotFound) {
  std::string dir = ScratchDir();
  StatusOr<HardwareSpec> h = Catalog::Default().Hardware(dir + "/absent.yaml");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(h.status().message(), "absent.yaml"));
  StatusOr<nlohmann::json> m = Catalog::Default().ModelConfig(dir + "/absent.json", nullptr);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
}

TEST(CatalogLookupTest, EmptyDataDirHasNoIds) {
  Catalog cat(ScratchDir());
  EXPECT_TRUE(cat.HardwareIds().empty());
  EXPECT_TRUE(cat.ModelIds().empty());
  EXPECT_EQ(cat.Hardware("h100-sxm-80gb").status().code(), StatusCode::kNotFound);
}

TEST(CatalogLookupTest, LooksLikePathTable) {
  struct Case {
    const char* ref;
    bool path;
  };
  const Case cases[] = {
      {"h100-sxm-80gb", false}, {"llama-3.1-8b", false}, {"my.yaml", true},
      {"cfg.yml", true},        {"config.json", true},   {"dir/thing", true},
      {"/abs/model", true},     {"yaml", false},         {"model.json.bak", false},
  };
  for (const Case& c : cases) EXPECT_EQ(LooksLikePath(c.ref), c.path) << c.ref;
}

TEST(CatalogLookupTest, MalformedJsonIsInvalidArgumentNamingTheFile) {
  std::string path =
      WriteFile(ScratchDir(), "broken.json", "{\"model_type\": \"llama\",\n  \"hidden_size\": }\n");
  StatusOr<nlohmann::json> j = LoadJsonFile(path);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(j.status().message(), path)) << j.status().message();
  EXPECT_TRUE(Contains(j.status().message(), "malformed JSON"));
}

TEST(CatalogLookupTest, ModelConfigByPathReportsSource) {
  std::string path =
      WriteFile(ScratchDir(), "tiny.json", R"({"model_type": "llama", "hidden_size": 64})");
  std::string source;
  StatusOr<nlohmann::json> j = Catalog::Default().ModelConfig(path, &source);
  ASSERT_TRUE(j.ok()) << j.status().message();
  EXPECT_EQ(source, path);
  EXPECT_EQ((*j)["hidden_size"], 64);
}

TEST(YamlToJsonTest, ScalarsAndNesting) {
  YAML::Node n = YAML::Load(
      "a: 12\nb: 1.5\nc: true\nd: null\ne: text\nf: \"12\"\ng: [1, x]\nh: {k: False}\ni: ~\nj: "
      "1e3\n");
  nlohmann::json j = YamlToJson(n);
  EXPECT_EQ(j["a"], 12);
  EXPECT_TRUE(j["a"].is_number_integer());
  EXPECT_DOUBLE_EQ(j["b"].get<double>(), 1.5);
  EXPECT_EQ(j["c"], true);
  EXPECT_TRUE(j["d"].is_null());
  EXPECT_EQ(j["e"], "text");
  EXPECT_EQ(j["f"], "12") << "a quoted number stays a string";
  EXPECT_EQ(j["g"][0], 1);
  EXPECT_EQ(j["g"][1], "x");
  EXPECT_EQ(j["h"]["k"], false);
  EXPECT_TRUE(j["i"].is_null());
  EXPECT_DOUBLE_EQ(j["j"].get<double>(), 1000.0);
}

// ---------------------------------------------------------------------------------------------
// Hardware files that fail validation: InvalidArgument naming the file and the field.

constexpr const char* kValidHardware = R"(id: test-device
vendor: Test
name: "Test device"
software_stack: "none"
launch_year: {value: 2024, source: "test"}
peak_tflops:
  fp64: {unknown: true}
  fp32: {unknown: true}
  tf32: {unknown: true}
  bf16: {value: 100, source: "test sheet"}
  fp16: {value: 100, source: "test sheet"}
  fp8: {unsupported: true, source: "test sheet"}
  fp4: {unsupported: true, source: "test sheet"}
  int8: {unknown: true, note: "not published"}
memory:
  capacity_gib: {value: 64, source: "test sheet"}
  bandwidth_tbytes_per_s: {value: 2, source: "test sheet"}
scale_up:
  name: "link"
  unidirectional_gbytes_per_s: {value: 100, source: "test sheet"}
  domain_devices: {value: 8, source: "test sheet"}
scale_out:
  gbits_per_s_per_device: {value: 200, source: "test sheet"}
power_w: {value: 500, source: "test sheet"}
price_usd_per_device_hour: {low: 1, high: 2, date: "2026-01", source: "test price"}
efficiency:
  gemm_fraction:
    bf16: {value: 0.8, source: "test bench"}
  hbm_fraction: {unknown: true}
  allreduce_busbw_gbytes_per_s:
    scale_up: {unknown: true}
    scale_out: {unknown: true}
)";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "test bug: '" << from << "' not in the template";
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "test bug: '" << from << "' not unique";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(HardwareSpecTest, TemplateIsValid) {
  std::string path = WriteFile(ScratchDir(), "test-device.yaml", kValidHardware);
  StatusOr<HardwareSpec> h = LoadHardwareSpec(path);
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->id, "test-device");
  EXPECT_EQ(h->file, path);
  EXPECT_TRUE(h->peak(Dtype::kBf16).known());
  EXPECT_DOUBLE_EQ(h->peak(Dtype::kBf16).value, 100);
  EXPECT_EQ(h->peak(Dtype::kBf16).source, "test sheet");
  EXPECT_TRUE(h->peak(Dtype::kFp8).unsupported());
  EXPECT_FALSE(h->peak(Dtype::kFp64).known());
  EXPECT_FALSE(h->peak(Dtype::kFp64).unsupported());
  EXPECT_EQ(h->peak(Dtype::kInt8).note, "not published");
  EXPECT_TRUE(h->price.known);
  EXPECT_DOUBLE_EQ(h->price.high_usd, 2);
  EXPECT_DOUBLE_EQ(h->gemm_fraction[DtypeIndex(Dtype::kBf16)].value, 0.8);
  EXPECT_FALSE(h->gemm_fraction[DtypeIndex(Dtype::kFp8)].known());
  EXPECT_EQ(h->scale_up_name, "link");
  EXPECT_DOUBLE_EQ(h->scale_up_domain_devices.value, 8);
  // And through a Catalog, by path.
  StatusOr<HardwareSpec> by_path = Catalog::Default().Hardware(path);
  ASSERT_TRUE(by_path.ok()) << by_path.status().message();
}

struct BadHardwareCase {
  const char* what;
  const char* from;
  const char* to;
  const char* field;  // must appear in the message
};

TEST(HardwareSpecTest, InvalidFilesNameFileAndField) {
  const BadHardwareCase cases[] = {
      {"figure without source", R"(bf16: {value: 100, source: "test sheet"})", "bf16: {value: 100}",
       "peak_tflops.bf16.source"},
      {"empty source", R"(power_w: {value: 500, source: "test sheet"})",
       R"(power_w: {value: 500, source: ""})", "power_w.source"},
      {"negative value", R"(capacity_gib: {value: 64, source: "test sheet"})",
       R"(capacity_gib: {value: -64, source: "test sheet"})", "memory.capacity_gib.value"},
      {"value not a number", R"(power_w: {value: 500, source: "test sheet"})",
       R"(power_w: {value: lots, source: "test sheet"})", "power_w.value"},
      {"unknown top-level key", "power_w:", "colour: red\npower_w:", "colour"},
      {"unknown key inside a figure", R"(capacity_gib: {value: 64, source: "test sheet"})",
       R"(capacity_gib: {value: 64, source: "test sheet", units: GiB})",
       "memory.capacity_gib.units"},
      {"unknown key inside a section", "  name: \"link\"\n", "  name: \"link\"\n  lanes: 4\n",
       "scale_up.lanes"},
      {"unknown dtype", "  int8: {unknown: true, note: \"not published\"}\n",
       "  int8: {unknown: true, note: \"not published\"}\n  int3: {unknown: true}\n",
       "peak_tflops.int3"},
      {"missing dtype", "  fp64: {unknown: true}\n", "", "peak_tflops.fp64"},
      {"missing id", "id: test-device\n", "", "id"},
      {"missing section", "memory:\n", "memoir:\n", "memoir"},
      {"unsupported outside peak_tflops", R"(power_w: {value: 500, source: "test sheet"})",
       R"(power_w: {unsupported: true, source: "test sheet"})", "power_w.unsupported"},
      {"unknown: false", R"(launch_year: {value: 2024, source: "test"})",
       "launch_year: {unknown: false}", "launch_year.unknown"},
      {"fraction above one", R"(bf16: {value: 0.8, source: "test bench"})",
       R"(bf16: {value: 1.5, source: "test bench"})", "efficiency.gemm_fraction"},
      {"sustained above the burst", "  hbm_fraction: {unknown: true}\n",
       "  sustained_fraction:\n    bf16: {value: 0.9, source: \"test bench\"}\n  hbm_fraction: {unknown: true}\n",
       "efficiency.sustained_fraction"},
      {"GEMM kernel time in the wrong unit", "  hbm_fraction: {unknown: true}\n",
       "  gemm_kernel_us: {value: 7100, source: \"bench\"}\n  hbm_fraction: {unknown: true}\n",
       "efficiency.gemm_kernel_us"},
      {"price range inverted", "{low: 1, high: 2,", "{low: 3, high: 2,",
       "price_usd_per_device_hour.high"},
      {"figure given as a bare number", R"(power_w: {value: 500, source: "test sheet"})",
       "power_w: 500", "power_w"},
      {"attention above the 16-bit peak", "    scale_out: {unknown: true}\n",
       "    scale_out: {unknown: true}\n  fused_attention_tflops:\n"
       "    forward: {value: 150, source: \"bench\"}\n    backward: {value: 50, source: \"bench\"}\n",
       "efficiency.fused_attention_tflops.forward"},
      {"collective units without compute units", R"(power_w: {value: 500, source: "test sheet"})",
       "power_w: {value: 500, source: \"test sheet\"}\ncollective_compute_units: {value: 16, source: \"log\"}",
       "collective_compute_units"},
      {"collective units not below compute units", R"(power_w: {value: 500, source: "test sheet"})",
       "power_w: {value: 500, source: \"test sheet\"}\ncompute_units: {value: 16, source: \"sheet\"}\n"
       "collective_compute_units: {value: 16, source: \"log\"}",
       "collective_compute_units.value"},
      {"collective units not a whole number", R"(power_w: {value: 500, source: "test sheet"})",
       "power_w: {value: 500, source: \"test sheet\"}\ncompute_units: {value: 16, source: \"sheet\"}\n"
       "collective_compute_units: {value: 2.5, source: \"log\"}",
       "collective_compute_units.value"},
      {"attention without backward", "    scale_out: {unknown: true}\n",
       "    scale_out: {unknown: true}\n  fused_attention_tflops:\n"
       "    forward: {value: 60, source: \"bench\"}\n",
       "efficiency.fused_attention_tflops.backward"},
  };
  std::string dir = ScratchDir();
  for (const BadHardwareCase& c : cases) {
    SCOPED_TRACE(c.what);
    std::string path = WriteFile(dir, "bad.yaml", Replace(kValidHardware, c.from, c.to));
    StatusOr<HardwareSpec> h = LoadHardwareSpec(path);
    ASSERT_FALSE(h.ok());
    EXPECT_EQ(h.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(h.status().message(), path)) << h.status().message();
    EXPECT_TRUE(Contains(h.status().message(), path + ": " + c.field + ":"))
        << h.status().message();
    EXPECT_EQ(h.status().message().find('\n'), std::string::npos) << "one line";
  }
}

TEST(HardwareSpecTest, FusedAttentionIsOptional) {
  StatusOr<HardwareSpec> without = LoadHardwareSpec(WriteFile(ScratchDir(), "a.yaml", kValidHardware));
  ASSERT_TRUE(without.ok()) << without.status().message();
  EXPECT_FALSE(without->attention_fwd_tflops.known());
  std::string text = Replace(kValidHardware, "    scale_out: {unknown: true}\n",
                             "    scale_out: {unknown: true}\n  fused_attention_tflops:\n"
                             "    forward: {value: 60, source: \"bench\"}\n"
                             "    backward: {value: 50, source: \"bench\"}\n");
  StatusOr<HardwareSpec> with = LoadHardwareSpec(WriteFile(ScratchDir(), "b.yaml", text));
  ASSERT_TRUE(with.ok()) << with.status().message();
  EXPECT_DOUBLE_EQ(with->attention_fwd_tflops.value, 60);
  EXPECT_DOUBLE_EQ(with->attention_bwd_tflops.value, 50);
}

// The lines that end kValidHardware's efficiency section with a fused-attention kernel "vendor"
// at 60 / 50 TFLOP/s (a test then replaces that section's last line with them).
std::string VendorAttention() {
  return "    scale_out: {unknown: true}\n  fused_attention_tflops:\n    kernel: vendor\n"
         "    forward: {value: 60, source: \"bench\"}\n"
         "    backward: {value: 50, source: \"bench\"}\n";
}

// Other fused-attention kernels measured on a device load by name; the default one is named too.
TEST(HardwareSpecTest, OtherAttentionKernelsLoadByName) {
  const std::string block = VendorAttention();
  const std::string others = "    others:\n      fa2:\n        forward: {value: 40, source: \"bench\"}\n"
                             "        backward: {value: 30, source: \"bench\"}\n";
  StatusOr<HardwareSpec> h = LoadHardwareSpec(
      WriteFile(ScratchDir(), "k.yaml", Replace(kValidHardware, "    scale_out: {unknown: true}\n", block + others)));
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->attention_kernel, "vendor");
  EXPECT_EQ(h->AttentionKernelNames(), "vendor, fa2");
  const std::optional<HardwareSpec::AttentionKernel> fa2 = h->AttentionRates("fa2");
  ASSERT_TRUE(fa2.has_value());
  EXPECT_DOUBLE_EQ(fa2->forward.value, 40);
  EXPECT_DOUBLE_EQ(fa2->backward.value, 30);
  const std::optional<HardwareSpec::AttentionKernel> vendor = h->AttentionRates("vendor");
  ASSERT_TRUE(vendor.has_value());
  EXPECT_DOUBLE_EQ(vendor->forward.value, 60);
  EXPECT_DOUBLE_EQ(h->AttentionRates("")->backward.value, 50);
  EXPECT_FALSE(h->AttentionRates("fa9").has_value());

  // Bad lists name the field.
  const struct {
    std::string text;
    const char* field;
  } bad[] = {
      {Replace(block, "    kernel: vendor\n", "") + others, "efficiency.fused_attention_tflops.kernel"},
      {block + "    others:\n      vendor:\n        forward: {value: 40, source: \"b\"}\n"
               "        backward: {value: 30, source: \"b\"}\n",
       "efficiency.fused_attention_tflops.others.vendor"},
      {block + "    others:\n      fa2:\n        forward: {value: 400, source: \"b\"}\n"
               "        backward: {value: 30, source: \"b\"}\n",
       "efficiency.fused_attention_tflops.others.fa2.forward"},
      {block + "    others: [fa2]\n", "efficiency.fused_attention_tflops.others"},
      {block + others + "      fa2:\n        forward: {value: 45, source: \"b\"}\n"
               "        backward: {value: 35, source: \"b\"}\n",
       "efficiency.fused_attention_tflops.others.fa2"},
      {block + "    others:\n      \"\":\n        forward: {value: 40, source: \"b\"}\n"
               "        backward: {value: 30, source: \"b\"}\n",
       "efficiency.fused_attention_tflops.others"},
      {block + "    others:\n      fa2: 40\n", "efficiency.fused_attention_tflops.others.fa2"},
  };
  for (const auto& c : bad) {
    SCOPED_TRACE(c.field);
    const std::string path =
        WriteFile(ScratchDir(), "bad-k.yaml", Replace(kValidHardware, "    scale_out: {unknown: true}\n", c.text));
    StatusOr<HardwareSpec> b = LoadHardwareSpec(path);
    ASSERT_FALSE(b.ok());
    EXPECT_TRUE(Contains(b.status().message(), path + ": " + c.field + ":")) << b.status().message();
  }
}

// A kernel's rates by sequence length load for the default kernel and the others; between the
// measured lengths they run linearly in log(length), beyond them the nearest point holds.
TEST(HardwareSpecTest, AttentionRatesBySequenceLengthLoadAndInterpolate) {
  const std::string block = VendorAttention();
  const std::string curve = "    by_seq_len:\n      source: \"bench by length\"\n"
                            "      rows: [[1024, 20, 30], [4096, 60, 50]]\n";
  const std::string others = "    others:\n      fa2:\n        forward: {value: 40, source: \"bench\"}\n"
                             "        backward: {value: 30, source: \"bench\"}\n"
                             "        by_seq_len: {source: \"b\", rows: [[512, 10, 12], [8192, 40, 30]]}\n";
  StatusOr<HardwareSpec> h = LoadHardwareSpec(WriteFile(
      ScratchDir(), "c.yaml", Replace(kValidHardware, "    scale_out: {unknown: true}\n", block + curve + others)));
  ASSERT_TRUE(h.ok()) << h.status().message();
  const AttentionCurves curves = h->AttentionRates("")->curves;  // a copy: AttentionRates returns by value
  ASSERT_EQ(curves.by_head_dim.size(), 1u);
  const AttentionCurve& c = curves.by_head_dim[0];
  ASSERT_EQ(c.points.size(), 2u);
  EXPECT_EQ(c.source, "bench by length");
  EXPECT_TRUE(c.note.empty());
  EXPECT_DOUBLE_EQ(c.At(2048).forward, 40);  // halfway in log(length)
  EXPECT_DOUBLE_EQ(c.At(2048).backward, 40);
  EXPECT_DOUBLE_EQ(c.At(100).forward, 20);   // the shortest measured length holds below it
  EXPECT_DOUBLE_EQ(c.At(1e6).backward, 50);  // the longest above it
  EXPECT_DOUBLE_EQ(c.Fastest().forward, 60);
  EXPECT_DOUBLE_EQ(h->AttentionRates("fa2")->curves.At(2048, 128).forward, 25);
  EXPECT_DOUBLE_EQ(c.head_dim, 0) << "not stated";
  EXPECT_TRUE(LoadHardwareSpec(WriteFile(ScratchDir(), "d.yaml",
                                         Replace(kValidHardware, "    scale_out: {unknown: true}\n", block)))
                  ->attention_curves.empty());

  const struct {
    std::string curve;
    const char* field;
  } bad[] = {
      {"    by_seq_len: {source: \"b\", rows: [[1024, 20, 30]]}\n", "by_seq_len.rows"},
      {"    by_seq_len: {source: \"b\", rows: [[4096, 20, 30], [1024, 60, 50]]}\n", "by_seq_len.rows[1]"},
      {"    by_seq_len: {source: \"b\", rows: [[1024, 20, 30], [1024, 60, 50]]}\n", "by_seq_len.rows[1]"},
      {"    by_seq_len: {source: \"b\", rows: [[1024, 20, 30], [4096, 600, 50]]}\n", "by_seq_len.rows[1]"},
      {"    by_seq_len: {source: \"b\", rows: [[1024, 20, 30], [4096, 60, 0]]}\n", "by_seq_len.rows[1]"},
      {"    by_seq_len: {source: \"b\", rows: [[0.5, 20, 30], [4096, 60, 50]]}\n", "by_seq_len.rows[0]"},
      {"    by_seq_len: {source: \"b\", note: [1], rows: [[1024, 20, 30], [4096, 60, 50]]}\n", "by_seq_len.note"},
      {"    by_seq_len: {source: \"b\", rows: [[1024, 20], [4096, 60, 50]]}\n", "by_seq_len.rows[0]"},
      {"    by_seq_len: {source: \"b\", rows: [[1024, 20, x], [4096, 60, 50]]}\n", "by_seq_len.rows[0]"},
      {"    by_seq_len: {source: \"b\", rows: 4096}\n", "by_seq_len.rows"},
      {"    by_seq_len: {rows: [[1024, 20, 30], [4096, 60, 50]]}\n", "by_seq_len.source"},
      {"    by_seq_len: {source: \"b\", rows: [[1024, 20, 30], [4096, 60, 50]], fit: 1}\n", "by_seq_len.fit"},
      {"    by_seq_len: [[1024, 20, 30]]\n", "by_seq_len"},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.curve);
    const std::string path = WriteFile(ScratchDir(), "bad-c.yaml",
                                       Replace(kValidHardware, "    scale_out: {unknown: true}\n", block + b.curve));
    StatusOr<HardwareSpec> r = LoadHardwareSpec(path);
    ASSERT_FALSE(r.ok());
    const std::string field = std::string("efficiency.fused_attention_tflops.") + b.field;
    EXPECT_TRUE(Contains(r.status().message(), path + ": " + field)) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << "one line";
  }
}

// Curves for several head dimensions come as a list; between two measured head dimensions the
// rates run linearly in log(head dim), beyond them the nearest curve holds.
TEST(HardwareSpecTest, AttentionCurvesByHeadDimension) {
  const std::string curves = "    by_seq_len:\n"
                             "      - {head_dim: 64, source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n"
                             "      - {head_dim: 256, source: \"b\", rows: [[1024, 30, 40], [4096, 50, 60]]}\n";
  StatusOr<HardwareSpec> h = LoadHardwareSpec(WriteFile(
      ScratchDir(), "hd.yaml", Replace(kValidHardware, "    scale_out: {unknown: true}\n", VendorAttention() + curves)));
  ASSERT_TRUE(h.ok()) << h.status().message();
  const AttentionCurves& c = h->attention_curves;
  ASSERT_EQ(c.by_head_dim.size(), 2u);
  EXPECT_DOUBLE_EQ(c.At(2048, 128).forward, 30);   // halfway in both log(length) and log(head dim)
  EXPECT_DOUBLE_EQ(c.At(2048, 128).backward, 40);
  EXPECT_DOUBLE_EQ(c.At(1024, 32).forward, 10);    // the smallest head dimension holds below it
  EXPECT_DOUBLE_EQ(c.At(4096, 512).backward, 60);  // the largest above it
  EXPECT_DOUBLE_EQ(c.Fastest().forward, 50);

  const struct {
    std::string curves;
    const char* field;
  } bad[] = {
      {"    by_seq_len:\n      - {source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n", "by_seq_len[0].head_dim"},
      {"    by_seq_len:\n      - {head_dim: 128, source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n"
       "      - {head_dim: 64, source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n",
       "by_seq_len[1].head_dim"},
      {"    by_seq_len:\n      - {head_dim: 0.5, source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n",
       "by_seq_len[0].head_dim"},
      {"    by_seq_len:\n      - {head_dim: 64, source: \"b\", rows: [[1024, 10, 20], [512, 30, 40]]}\n",
       "by_seq_len[0].rows[1]"},
      {"    by_seq_len:\n      - 64\n", "by_seq_len[0]"},
      {"    by_seq_len: []\n", "by_seq_len"},
      {"    by_seq_len:\n      - {head_dim: 64, source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n"
       "      - {head_dim: 64, source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n",
       "by_seq_len[1].head_dim"},
      {"    by_seq_len:\n      - {head_dim: 5000, source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n",
       "by_seq_len[0].head_dim"},
      {"    by_seq_len:\n      - {head_dim: 96.5, source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n",
       "by_seq_len[0].head_dim"},
      {"    by_seq_len: {head_dim: 0, source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n",
       "by_seq_len.head_dim"},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.curves);
    const std::string path = WriteFile(ScratchDir(), "bad-hd.yaml",
                                       Replace(kValidHardware, "    scale_out: {unknown: true}\n", VendorAttention() + b.curves));
    StatusOr<HardwareSpec> r = LoadHardwareSpec(path);
    ASSERT_FALSE(r.ok());
    const std::string field = std::string("efficiency.fused_attention_tflops.") + b.field;
    EXPECT_TRUE(Contains(r.status().message(), path + ": " + field + ":")) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << "one line";
  }
  // Three curves: a head dimension equal to the middle one's reads that curve alone.
  AttentionCurves three = c;
  AttentionCurve mid = c.by_head_dim[0];
  mid.head_dim = 128;
  for (AttentionCurve::Point& p : mid.points) p.forward = 99, p.backward = 98;
  three.by_head_dim.insert(three.by_head_dim.begin() + 1, mid);
  EXPECT_DOUBLE_EQ(three.At(2048, 128).forward, 99);
  EXPECT_DOUBLE_EQ(three.At(2048, 128).backward, 98);
}

// The catalog's Hopper parts carry the FlashAttention-3 paper's curves for every kernel they list.
TEST(CatalogTest, HopperAttentionKernelsHaveRatesBySequenceLength) {
  for (const char* id : {"h100-sxm-80gb", "h100-sxm-96gb-hbm2e", "h200-sxm-141gb"}) {
    SCOPED_TRACE(id);
    StatusOr<HardwareSpec> h = Catalog::Default().Hardware(id);
    ASSERT_TRUE(h.ok()) << h.status().message();
    for (const char* kernel : {"cudnn9", "fa3", "fa2"}) {
      const std::optional<HardwareSpec::AttentionKernel> k = h->AttentionRates(kernel);
      ASSERT_TRUE(k.has_value()) << kernel;
      ASSERT_EQ(k->curves.by_head_dim.size(), 2u) << kernel;
      EXPECT_EQ(k->curves.by_head_dim[0].head_dim, 64) << kernel;
      EXPECT_EQ(k->curves.by_head_dim[1].head_dim, 128) << kernel;
      for (const AttentionCurve& c : k->curves.by_head_dim) ASSERT_EQ(c.points.size(), 6u) << kernel;
      // The head-dim-128 curve passes through the long-sequence figure at 8k, and runs slower at
      // 512; heads of 64 run slower than heads of 128 at every length.
      EXPECT_DOUBLE_EQ(k->curves.At(8192, 128).forward, k->forward.value) << kernel;
      EXPECT_DOUBLE_EQ(k->curves.At(8192, 128).backward, k->backward.value) << kernel;
      EXPECT_LT(k->curves.At(512, 128).forward, 0.7 * k->forward.value) << kernel;
      const double at8k64[][2] = {{379, 432}, {460, 472}, {295, 287}};  // cuDNN, FA3, FA2 at head dim 64
      const int which = std::string(kernel) == "cudnn9" ? 0 : std::string(kernel) == "fa3" ? 1 : 2;
      EXPECT_DOUBLE_EQ(k->curves.At(8192, 64).forward, at8k64[which][0]) << kernel;
      EXPECT_DOUBLE_EQ(k->curves.At(8192, 64).backward, at8k64[which][1]) << kernel;
      for (double len : {512.0, 2048.0, 16384.0}) {
        EXPECT_LT(k->curves.At(len, 64).forward, k->curves.At(len, 128).forward) << kernel << " " << len;
        EXPECT_LT(k->curves.At(len, 64).backward, k->curves.At(len, 128).backward) << kernel << " " << len;
      }
    }
  }
}

TEST(HardwareSpecTest, MalformedYamlIsInvalidArgumentNamingFileAndLine) {
  std::string path =
      WriteFile(ScratchDir(), "broken.yaml", Replace(kValidHardware, "memory:\n", "memory: [\n"));
  StatusOr<HardwareSpec> h = LoadHardwareSpec(path);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(h.status().message(), path)) << h.status().message();
  EXPECT_TRUE(Contains(h.status().message(), "malformed YAML at line")) << h.status().message();
}

TEST(HardwareSpecTest, NonMappingRootIsInvalidArgument) {
  std::string path = WriteFile(ScratchDir(), "list.yaml", "- 1\n- 2\n");
  StatusOr<HardwareSpec> h = LoadHardwareSpec(path);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(h.status().message(), path));
  EXPECT_TRUE(Contains(h.status().message(), "mapping")) << h.status().message();
}

TEST(HardwareSpecTest, DtypeNamesRoundTrip) {
  for (int i = 0; i < kNumDtypes; ++i) {
    Dtype d;
    ASSERT_TRUE(ParseDtype(kDtypeNames[i], &d));
    EXPECT_EQ(DtypeIndex(d), i);
    EXPECT_EQ(DtypeName(d), kDtypeNames[i]);
  }
  Dtype d = Dtype::kBf16;
  EXPECT_FALSE(ParseDtype("bfloat16", &d));
  EXPECT_FALSE(ParseDtype("", &d));
  EXPECT_EQ(d, Dtype::kBf16) << "untouched on failure";
}

}  // namespace
}  // namespace preflight
