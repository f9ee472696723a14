// A property test of the rule that bad input gets one line and the library never aborts: every
// scalar of every bundled example scenario (examples/*.yaml) and of the first run of every
// validation file (data/validation/*.yaml) is replaced, one at a time, by each of
// a set of hostile values (negative, zero, huge, not a number, infinite, fractional, empty, a list,
// a mapping, a word), and the scenario is parsed and evaluated through the library. Each mutant
// must either fail with one line that names the file (InvalidArgument or NotFound), or load, in
// which case its plan evaluates with finite, non-negative figures: a step time, memory and the
// campaign's days, hours and cost where it gives them.
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "preflight/catalog/catalog.h"
#include "preflight/catalog/reliability_profile.h"
#include "preflight/scenario/evaluate.h"
#include "preflight/scenario/scenario.h"
#include "preflight/scenario/scenario_test_support.h"
#include "preflight/base/test_support.h"

namespace preflight {
namespace {

namespace fs = std::filesystem;

// The values each scalar is replaced by, as YAML text.
const std::vector<std::string>& HostileValues() {
  static const std::vector<std::string> kValues = {
      "-1", "0", "1e400", ".nan", ".inf", "-.inf", "0.5", "99999999999999999999", "''", "[]", "{}", "yes",
      "'no such thing'"};
  return kValues;
}

// The path of every scalar under `node` (keys of mappings, indices of sequences).
struct ScalarPath {
  std::vector<std::string> keys;  // a sequence index as its decimal text
  std::string Text() const {
    std::string out;
    for (const std::string& k : keys) out += (out.empty() ? "" : ".") + k;
    return out;
  }
};

void CollectScalars(const YAML::Node& node, ScalarPath path, std::vector<ScalarPath>* out) {
  if (node.IsScalar()) {
    out->push_back(path);
  } else if (node.IsMap()) {
    for (const auto& kv : node) {
      ScalarPath next = path;
      next.keys.push_back(kv.first.Scalar());
      CollectScalars(kv.second, next, out);
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      ScalarPath next = path;
      next.keys.push_back(std::to_string(i));
      CollectScalars(node[i], next, out);
    }
  }
}

// A deep copy of `root` with the scalar at `path` replaced by the YAML `value`.
YAML::Node Mutated(const YAML::Node& root, const ScalarPath& path, const std::string& value) {
  YAML::Node copy = YAML::Clone(root);
  YAML::Node at = copy;
  for (const std::string& k : path.keys) {
    at.reset(at.IsSequence() ? at[std::stoul(k)] : at[k]);
  }
  at = YAML::Load(value);
  return copy;
}

bool FiniteNonNegative(double v) { return std::isfinite(v) && v >= 0; }

// What the mutant's plan gives that is not a finite, non-negative number; empty when all are.
std::string BadFigures(const PlanResult& r) {
  std::string bad;
  const auto check = [&bad](const char* what, double v) {
    if (!FiniteNonNegative(v)) bad += std::string(bad.empty() ? "" : ", ") + what + " " + std::to_string(v);
  };
  if (r.has_memory) check("memory", r.memory.worst.Total().value());
  if (r.has_time) {
    check("step_s", r.time.step.value());
    check("mfu", r.time.mfu);
    check("days_ideal", r.campaign.days_ideal);
    check("device_hours", r.campaign.device_hours);
    if (r.campaign.cost_known) check("cost_usd_high", r.campaign.cost_usd_high);
    if (r.campaign.energy_known) check("energy_mwh", r.campaign.energy_mwh);
  }
  return bad;
}

// The property for one mutant scenario: one line naming `named` (a file of the mutant) where it
// is refused, else a plan of finite, non-negative figures. Returns whether it was refused.
bool ExpectOneLineOrFinitePlan(const YAML::Node& scenario, const std::string& file, const std::string& named,
                               bool simulate_failures = false) {
  EvaluateOptions options;
  options.simulate_failures = simulate_failures;  // off by default: the property is about the input
  const StatusOr<Scenario> s = ParseScenario(scenario, file, "", Catalog::Default());
  if (!s.ok()) {
    const std::string m = s.status().message();
    EXPECT_TRUE(s.status().code() == StatusCode::kInvalidArgument || s.status().code() == StatusCode::kNotFound) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_NE(m.find(named), std::string::npos) << m;
    return true;
  }
  EXPECT_EQ(BadFigures(Evaluate(*s, options)), "");
  return false;
}

// The scenarios mutated: every bundled example, and the first run of every validation file
// (inline Hugging Face models, measured collective tables, host profiles, `measured` figures).
struct Original {
  std::string file;
  YAML::Node root;
};
std::vector<Original> Originals() {
  std::vector<Original> out;
  for (const char* dir : {"/examples", "/data/validation"}) {
    for (const auto& entry : fs::directory_iterator(test_support::SourceDir() + dir)) {
      if (entry.path().extension() != ".yaml") continue;
      const YAML::Node root = YAML::LoadFile(entry.path().string());
      out.push_back({entry.path().string(), root.IsSequence() ? root[0] : root});
    }
  }
  return out;
}

TEST(ScenarioMutationTest, EveryHostileScalarIsOneLineOrAFinitePlan) {
  int mutants = 0, refused = 0;
  for (const Original& original : Originals()) {
    const std::string& file = original.file;
    const YAML::Node& root = original.root;
    ASSERT_TRUE(root.IsMap()) << file;
    std::vector<ScalarPath> scalars;
    const ScalarPath top;
    CollectScalars(root, top, &scalars);
    ASSERT_GT(scalars.size(), 5u) << file;
    for (const ScalarPath& path : scalars) {
      for (const std::string& value : HostileValues()) {
        SCOPED_TRACE(file + ": " + path.Text() + " = " + value);
        ++mutants;
        refused += ExpectOneLineOrFinitePlan(Mutated(root, path, value), file, fs::path(file).filename().string());
      }
    }
  }
  // Most hostile values are refused; the count guards against a walk that mutates nothing.
  EXPECT_GT(mutants, 1000);
  EXPECT_GT(refused, mutants / 2);
}

// The keys of the format's sections (scenario/*_fields.cc and scenario.cc read them), each set
// to every hostile value in two examples that leave most of them out (a dense model and an MoE
// model with MLA): a key added where the file has none must keep the same property.
std::vector<std::string> FormatKeys() {
  std::vector<std::string> keys;
  for (const char* k : {"seq_len", "global_batch", "global_batch_tokens", "micro_batch", "precision", "tokens",
                        "flash_attention", "grad_dtype", "grad_reduce_dtype", "weight_dtype", "optimizer_dtype", "fp8_weight_copy", "fp8_saved_inputs",
                        "low_precision_activations", "fp8_dispatch", "grad_16bit_copy", "fp8_recipe", "moe_imbalance",
                        "moe_capacity_factor", "moe_pad_to_capacity", "moe_grouped_gemm", "host_overhead_per_kernel_us",
                        "attention_kernel", "grad_accumulation_fusion", "elementwise_fusion", "cross_entropy",
                        "ep_dispatcher", "ep_comm_units", "host_profile", "attention_softmax",
                        "attention_softmax_in_fp32", "fused_softmax_max_keys"}) {
    keys.push_back(std::string("training.") + k);
  }
  for (const char* k : {"tp", "pp", "vpp", "dp", "cp", "ep", "etp", "sp", "zero", "dp_shard", "schedule", "recompute",
                        "recompute_modules", "recompute_saved", "recompute_offloaded", "recompute_method",
                        "recompute_num_layers", "first_stage_layers",
                        "last_stage_layers", "overlap_grad_reduce", "overlap_param_gather", "fsdp_gather_once",
                        "zero3_gather", "tp_comm_overlap", "ep_comm_overlap", "shared_expert_overlap", "grad_flatten",
                        "overlap_p2p_comm", "layer_split", "cpu_offload_layers"}) {
    keys.push_back(std::string("parallel.") + k);
  }
  for (const char* k : {"devices", "devices_per_node", "scale_up_domain", "scale_out_gbits_per_s_per_device",
                        "hbm_capacity_gib", "pue", "scale_up_busbw_gbytes_per_s", "scale_out_busbw_gbytes_per_s",
                        "gemm_table", "collective_table"}) {
    keys.push_back(std::string("cluster.") + k);
  }
  keys.push_back("reliability.profile");
  for (const std::string& k : ReliabilityFigureKeys()) keys.push_back("reliability." + k);
  return keys;
}

TEST(ScenarioMutationTest, EveryKeyOfTheFormatTakesHostileValues) {
  int mutants = 0;
  for (const char* example : {"/examples/llama3.1-70b-h100.yaml", "/examples/deepseek-v3-h800.yaml"}) {
    const std::string file = test_support::SourceDir() + example;
    const YAML::Node root = YAML::LoadFile(file);
    for (const std::string& key : FormatKeys()) {
      const std::string section = key.substr(0, key.find('.')), name = key.substr(key.find('.') + 1);
      for (const std::string& value : HostileValues()) {
        SCOPED_TRACE(file + ": " + key + " = " + value);
        ++mutants;
        YAML::Node mutant = YAML::Clone(root);
        if (!mutant[section].IsMap()) mutant[section] = YAML::Node(YAML::NodeType::Map);
        mutant[section][name] = YAML::Load(value);
        ExpectOneLineOrFinitePlan(mutant, file, fs::path(file).filename().string());
      }
    }
  }
  EXPECT_GT(mutants, 2000);
}


// A hardware file is user input too ("how to add hardware"): every scalar of three catalog
// devices of three vendors, replaced by the hostile values that are numbers or of the wrong kind,
// in a copy the scenario names by its path.
TEST(ScenarioMutationTest, EveryHostileHardwareScalarIsOneLineOrAFinitePlan) {
  const std::string dir = test_support::ScratchDir("preflight_mutation_");
  const std::string example = test_support::SourceDir() + "/examples/llama3.1-70b-h100.yaml";
  const YAML::Node scenario = YAML::LoadFile(example);
  int mutants = 0;
  for (const char* id : {"h100-sxm-80gb", "mi300x", "tpu-v5p"}) {
    const YAML::Node root = YAML::LoadFile(test_support::SourceDir() + "/data/hardware/" + id + ".yaml");
    std::vector<ScalarPath> scalars;
    const ScalarPath top;
    CollectScalars(root, top, &scalars);
    for (const ScalarPath& path : scalars) {
      for (const char* value : {"-1", "0", ".nan", ".inf", "1e400", "[]", "'not a number'"}) {
        SCOPED_TRACE(std::string(id) + ": " + path.Text() + " = " + value);
        ++mutants;
        YAML::Emitter out;
        out << Mutated(root, path, value);
        const std::string hw = test_support::WriteFile(dir, std::string(id) + ".yaml", out.c_str());
        YAML::Node mutant = YAML::Clone(scenario);
        mutant["hardware"] = hw;
        ExpectOneLineOrFinitePlan(mutant, example, std::string(id) + ".yaml");
      }
    }
  }
  EXPECT_GT(mutants, 1000);
}

// A Hugging Face config.json is user input: every key of three catalog models (dense, MoE, MLA
// with MoE and MTP) set to each hostile JSON value, in a copy the scenario names by its path.
TEST(ScenarioMutationTest, EveryHostileModelKeyIsOneLineOrAFinitePlan) {
  const std::string dir = test_support::ScratchDir("preflight_mutation_");
  const std::string example = test_support::SourceDir() + "/examples/deepseek-v3-h800.yaml";
  const YAML::Node scenario = YAML::LoadFile(example);
  const std::vector<nlohmann::json> values = {-1, 0, 0.5, 1e308, 99999999999999999999.0, "x", nlohmann::json::array(),
                                              nlohmann::json::object(), true, nullptr};
  int mutants = 0;
  for (const char* id : {"llama-3.1-8b", "mixtral-8x7b", "deepseek-v3"}) {
    std::ifstream in(test_support::SourceDir() + "/data/models/" + id + ".json");
    const nlohmann::json config = nlohmann::json::parse(in);
    for (const auto& item : config.items()) {
      for (const nlohmann::json& value : values) {
        SCOPED_TRACE(std::string(id) + ": " + item.key() + " = " + value.dump());
        ++mutants;
        nlohmann::json mutated = config;
        mutated[item.key()] = value;
        const std::string path = test_support::WriteFile(dir, "config.json", mutated.dump());
        YAML::Node mutant = YAML::Clone(scenario);
        mutant["model"] = path;
        ExpectOneLineOrFinitePlan(mutant, example, "config.json");
      }
    }
  }
  EXPECT_GT(mutants, 500);
}

// The measured tables a scenario may name are user input: every scalar of a host profile, a
// collective table, a reliability profile (with the failure Monte Carlo on) and a GEMM table,
// replaced by each hostile value, in a copy the scenario names by its path in place of the
// catalog's.
TEST(ScenarioMutationTest, EveryHostileTableScalarIsOneLineOrAFinitePlan) {
  const std::string dir = test_support::ScratchDir("preflight_mutation_");
  const std::string data = test_support::SourceDir() + "/data/";
  struct Table {
    const char* file;      // under data/
    const char* scenario;  // under the source dir: the example that names such a table
    const char* section;   // the scenario key that names it
    const char* key;
    bool failures;         // run the campaign's Monte Carlo, which reads the reliability figures
  };
  const Table tables[] = {
      {"host/megatron-deepspeed-gpt-eager-h200-gpuhost-nofr.yaml", "/examples/gpt2-small-a100-unpadded.yaml",
       "training", "host_profile", false},
      {"collectives/azure-nd-a100-v4.yaml", "/examples/gpt3-175b-a100.yaml", "cluster", "collective_table", false},
      {"reliability/llama3-h100-16k.yaml", "/examples/llama3.1-70b-h100.yaml", "reliability", "profile", true},
      {"gemm/h100-sxm-80gb.yaml", "/examples/llama3.1-70b-h100.yaml", "cluster", "gemm_table", false},
  };
  int mutants = 0;
  for (const Table& t : tables) {
    const std::string example = test_support::SourceDir() + t.scenario;
    const YAML::Node scenario = YAML::LoadFile(example);
    const YAML::Node root = YAML::LoadFile(data + t.file);
    std::vector<ScalarPath> scalars;
    const ScalarPath top;
    CollectScalars(root, top, &scalars);
    const std::string name = fs::path(t.file).filename().string();
    // The header and the first rows: the rows of a long table repeat one shape (a GEMM table has
    // 500 scalars), and each mutant loads the whole table again.
    if (scalars.size() > 80) scalars.resize(80);
    for (const ScalarPath& path : scalars) {
      for (const char* value : {"-1", "0", ".nan", ".inf", "1e400", "[]", "'not a number'"}) {
        SCOPED_TRACE(std::string(t.file) + ": " + path.Text() + " = " + value);
        ++mutants;
        YAML::Emitter out;
        out << Mutated(root, path, value);
        const std::string copy = test_support::WriteFile(dir, name, out.c_str());
        YAML::Node mutant = YAML::Clone(scenario);
        if (!mutant[t.section].IsMap()) mutant[t.section] = YAML::Node(YAML::NodeType::Map);
        mutant[t.section][t.key] = copy;
        ExpectOneLineOrFinitePlan(mutant, example, name, t.failures);
      }
    }
  }
  EXPECT_GT(mutants, 1000);
}

}  // namespace
}  // namespace preflight
