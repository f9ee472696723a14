// Tests of scenario/scenario.h and scenario/evaluate.h: every validation file loads, overrides
// apply before parsing, bad scenarios fail with a Status naming file and field, and the memory
// model is compared (reported, not asserted) with the measured peaks of
// data/validation/memory.yaml.
#include "preflight/scenario/scenario.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "preflight/scenario/evaluate.h"
#include "preflight/base/test_support.h"

namespace preflight {
namespace {

namespace fs = std::filesystem;

std::string SourceDir() { return PREFLIGHT_SOURCE_DIR; }
std::string ValidationDir() { return SourceDir() + "/data/validation"; }

std::string ScratchDir() { return test_support::ScratchDir("preflight_scenario_"); }

using test_support::WriteFile;

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Whether any of the plan's warnings contains `part`.
bool Warns(const PlanResult& r, const std::string& part) {
  return std::any_of(r.warnings.begin(), r.warnings.end(), [&](const std::string& w) { return Contains(w, part); });
}

// A small valid scenario; the tests below break one thing at a time.
constexpr const char* kScenario = R"(name: small
model: llama-3.1-8b
hardware: h100-sxm-80gb
cluster: {devices: 8, devices_per_node: 8}
parallel: {tp: 2, pp: 1, dp: 4, sp: true, zero: 1, schedule: 1f1b, recompute: selective}
training: {seq_len: 4096, global_batch: 64, micro_batch: 1, precision: bf16}
source: "unit test"
)";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "test bug: '" << from << "' not in the template";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

StatusOr<Scenario> LoadText(const std::string& text, std::string* path_out = nullptr,
                            const std::vector<Override>& overrides = {}) {
  std::string path = WriteFile(ScratchDir(), "scenario.yaml", text);
  if (path_out != nullptr) *path_out = path;
  return LoadScenarioFile(path, Catalog::Default(), overrides);
}

// ---------------------------------------------------------------------------------------------
// The validation files.

TEST(ValidationFilesTest, EveryFileLoads) {
  const std::map<std::string, size_t> exact = {{"vtrain-multi.yaml", 109},
                                               {"vtrain-single.yaml", 1440}};
  int files = 0;
  for (const auto& entry : fs::directory_iterator(ValidationDir())) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    const std::string name = entry.path().filename().string();
    StatusOr<std::vector<Scenario>> runs =
        LoadScenarioList(entry.path().string(), Catalog::Default());
    ASSERT_TRUE(runs.ok()) << runs.status().message();
    EXPECT_FALSE(runs->empty()) << name;
    auto it = exact.find(name);
    if (it != exact.end()) {
      EXPECT_EQ(runs->size(), it->second) << name;
    }
    for (const Scenario& s : *runs) {
      EXPECT_FALSE(s.name.empty()) << name;
      EXPECT_FALSE(s.source.empty()) << name << ": " << s.name << " names its source";
      EXPECT_FALSE(s.measured.metrics.empty())
          << name << ": " << s.name << " carries a measurement";
      EXPECT_EQ(s.file, entry.path().string());
      EXPECT_GT(s.cluster.devices, 0);
    }
  }
  EXPECT_GE(files, 6);
}

TEST(ValidationFilesTest, RunNamesAreUniqueAcrossFiles) {
  std::map<std::string, std::string> seen;
  for (const auto& entry : fs::directory_iterator(ValidationDir())) {
    if (entry.path().extension() != ".yaml") continue;
    StatusOr<std::vector<Scenario>> runs =
        LoadScenarioList(entry.path().string(), Catalog::Default());
    ASSERT_TRUE(runs.ok()) << runs.status().message();
    for (const Scenario& s : *runs) {
      auto [it, fresh] = seen.emplace(s.name, entry.path().filename().string());
      EXPECT_TRUE(fresh) << s.name << " in " << entry.path().filename() << " and " << it->second;
    }
  }
}

TEST(ValidationFilesTest, EveryRunWithAPlanEvaluates) {
  int evaluated = 0, invalid = 0;
  for (const auto& entry : fs::directory_iterator(ValidationDir())) {
    if (entry.path().extension() != ".yaml") continue;
    StatusOr<std::vector<Scenario>> runs =
        LoadScenarioList(entry.path().string(), Catalog::Default());
    ASSERT_TRUE(runs.ok()) << runs.status().message();
    for (const Scenario& s : *runs) {
      if (s.auto_parallel) continue;
      PlanResult r = Evaluate(s, {});
      ++evaluated;
      EXPECT_GT(r.params.total, 0) << s.name;
      EXPECT_GT(r.ops.model_flops_per_token, 0) << s.name;
      EXPECT_EQ(r.has_memory, r.check.ok()) << s.name;
      if (!r.check.ok()) {
        ++invalid;
        std::printf("  invalid plan: %s: %s\n", s.name.c_str(), r.check.message.c_str());
        continue;
      }
      EXPECT_GT(r.memory.worst.Total().value(), 0) << s.name;
    }
  }
  std::printf("%d validation runs evaluated, %d with an invalid plan\n", evaluated, invalid);
  EXPECT_GT(evaluated, 1600);
}

// data/validation/memory.yaml: predicted vs measured peak memory, printed as a table. Only that
// every run evaluates and every prediction is positive is asserted.
TEST(ValidationFilesTest, MemoryTable) {
  StatusOr<std::vector<Scenario>> runs =
      LoadScenarioList(ValidationDir() + "/memory.yaml", Catalog::Default());
  ASSERT_TRUE(runs.ok()) << runs.status().message();
  ASSERT_FALSE(runs->empty());
  std::printf("\n%-62s %10s %10s %8s\n", "run (data/validation/memory.yaml)", "predicted",
              "measured", "error");
  double sum_abs = 0;
  int predicted = 0, invalid = 0;
  for (const Scenario& s : *runs) {
    ASSERT_FALSE(s.auto_parallel) << s.name << ": memory runs state their plan";
    double measured = 0;
    for (const auto& [metric, v] : s.measured.metrics) {
      if (metric == "peak_memory_gib") measured = v;
    }
    ASSERT_GT(measured, 0) << s.name << ": peak_memory_gib";
    PlanResult r = Evaluate(s, {});
    if (!r.check.ok()) {
      ++invalid;
      std::printf("%-62s %10s %10.2f %8s  (%s: %s)\n", s.name.c_str(), "INVALID", measured, "-",
                  std::string(PlanIssueName(r.check.issue)).c_str(), r.check.message.c_str());
      continue;
    }
    const double gib = r.memory.worst.Total().gib();
    EXPECT_GT(gib, 0) << s.name;
    const double error = (gib - measured) / measured;
    sum_abs += std::fabs(error);
    ++predicted;
    std::printf("%-62s %10.2f %10.2f %+7.1f%%\n", s.name.c_str(), gib, measured, 100 * error);
  }
  std::printf("mean absolute error %.1f%% over %d runs (%d runs with a plan the rules reject)\n\n",
              predicted > 0 ? 100 * sum_abs / predicted : 0.0, predicted, invalid);
  EXPECT_GT(predicted, 0);
}

// ---------------------------------------------------------------------------------------------
// Loading one scenario.

TEST(ScenarioTest, LoadsFields) {
  std::string path;
  StatusOr<Scenario> s = LoadText(kScenario, &path);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->name, "small");
  EXPECT_EQ(s->file, path);
  EXPECT_EQ(s->source, "unit test");
  EXPECT_EQ(s->arch.name, "llama-3.1-8b");
  EXPECT_EQ(s->arch.hidden, 4096);
  EXPECT_EQ(s->cluster.spec.id, "h100-sxm-80gb");
  EXPECT_EQ(s->cluster.devices, 8);
  EXPECT_FALSE(s->auto_parallel);
  EXPECT_EQ(s->plan.tp, 2);
  EXPECT_EQ(s->plan.dp, 4);
  EXPECT_TRUE(s->plan.sp);
  EXPECT_EQ(s->plan.zero, 1);
  EXPECT_EQ(s->plan.schedule, Schedule::k1F1B);
  EXPECT_EQ(s->plan.recompute, Recompute::kSelective);
  EXPECT_EQ(s->plan.micro_batch, 1);
  EXPECT_EQ(s->job.seq_len, 4096);
  EXPECT_EQ(s->job.global_batch, 64);
  EXPECT_EQ(s->job.precision, Dtype::kBf16);
  EXPECT_TRUE(s->measured.metrics.empty());
  EXPECT_TRUE(s->plan.overlap_p2p_comm) << "Megatron-Core's default";
  s = LoadText(Replace(kScenario, "recompute: selective}", "recompute: selective, overlap_p2p_comm: false}"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->plan.overlap_p2p_comm);
  EXPECT_TRUE(s->job.elementwise_fusion) << "fused unless the file says otherwise";
  s = LoadText(Replace(kScenario, "seq_len: 4096,", "seq_len: 4096, elementwise_fusion: false,"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->job.elementwise_fusion);
  EXPECT_FALSE(s->job.pytorch_cross_entropy) << "Megatron's loss unless the file says otherwise";
  s = LoadText(Replace(kScenario, "seq_len: 4096,", "seq_len: 4096, cross_entropy: pytorch,"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->job.pytorch_cross_entropy);
}

// Megatron-Core's recompute_modules, as a YAML list or as one comma-separated string (--set).
TEST(ScenarioTest, RecomputeModules) {
  StatusOr<Scenario> s = LoadText(kScenario);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->plan.recompute_modules, kModuleCoreAttn) << "Megatron-Core's default";
  s = LoadText(Replace(kScenario, "recompute: selective}", "recompute: selective, recompute_modules: [moe_act, layernorm]}"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->plan.recompute_modules, kModuleMoeAct | kModuleLayernorm);
  EXPECT_EQ(RecomputeModuleNames(s->plan.recompute_modules), "layernorm,moe_act");
  s = LoadText(Replace(kScenario, "recompute: selective}", "recompute: selective, recompute_modules: \"mla_up_proj, mlp\"}"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->plan.recompute_modules, kModuleMlaUpProj | kModuleMlp);
  EXPECT_TRUE(s->plan.Recomputes(kModuleMlp));
  s->plan.recompute = Recompute::kFull;
  EXPECT_FALSE(s->plan.Recomputes(kModuleMlp)) << "used by selective recompute only";
}

TEST(ScenarioTest, EpDispatcher) {
  StatusOr<Scenario> s = LoadText(kScenario);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->job.ep_node_dedup) << "Megatron's alltoall dispatcher unless the file says otherwise";
  s = LoadText(Replace(kScenario, "seq_len: 4096,", "seq_len: 4096, ep_dispatcher: deepep,"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->job.ep_node_dedup);
  EXPECT_EQ(s->job.ep_comm_units, 20) << "DeepEP's Buffer.num_sms unless the file says otherwise";
  s = LoadText(Replace(kScenario, "seq_len: 4096,",
                       "seq_len: 4096, ep_dispatcher: deepep, ep_comm_units: 24,"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->job.ep_comm_units, 24);
  for (const char* bad : {"ep_dispatcher: deepep, ep_comm_units: 0,", "ep_comm_units: 24,",
                          "ep_dispatcher: deepep, ep_comm_units: 2.5,"}) {
    s = LoadText(Replace(kScenario, "seq_len: 4096,", std::string("seq_len: 4096, ") + bad));
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find("training.ep_comm_units"), std::string::npos)
        << s.status().message();
  }
}

TEST(ScenarioTest, DefaultsAndDerivedValues) {
  // No name: the file stem. No dp: devices / (tp·cp·pp). Tokens-based batch.
  std::string text = Replace(kScenario, "name: small\n", "");
  text = Replace(text, "dp: 4, ", "");
  text = Replace(text, "global_batch: 64", "global_batch_tokens: 262144");
  StatusOr<Scenario> s = LoadText(text);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->name, "scenario");
  EXPECT_EQ(s->plan.dp, 4);
  EXPECT_EQ(s->job.global_batch, 64);
}

TEST(ScenarioTest, VppImpliesInterleaved) {
  StatusOr<Scenario> s = LoadText(Replace(kScenario, "pp: 1, dp: 4", "pp: 2, vpp: 2, dp: 2"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->plan.schedule, Schedule::kInterleaved);
}

TEST(ScenarioTest, LayerSplit) {
  StatusOr<Scenario> even = LoadText(kScenario);
  ASSERT_TRUE(even.ok()) << even.status().message();
  EXPECT_FALSE(even->plan.balanced_layers) << "even by default";
  StatusOr<Scenario> balanced =
      LoadText(Replace(kScenario, "tp: 2,", "tp: 2, layer_split: balanced,"));
  ASSERT_TRUE(balanced.ok()) << balanced.status().message();
  EXPECT_TRUE(balanced->plan.balanced_layers);
}

TEST(ScenarioTest, AutoParallel) {
  for (const char* replacement : {"parallel: auto", ""}) {
    std::string text = Replace(
        kScenario,
        "parallel: {tp: 2, pp: 1, dp: 4, sp: true, zero: 1, schedule: 1f1b, recompute: selective}",
        replacement);
    StatusOr<Scenario> s = LoadText(text);
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_TRUE(s->auto_parallel) << "'" << replacement << "'";
  }
}

TEST(ScenarioTest, InlineModelAndModelPathBesideTheFile) {
  std::string dir = ScratchDir();
  WriteFile(dir, "tiny.json", R"({"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 512, "vocab_size": 1000})");
  fs::create_directories(fs::path(dir) / "mymodel");
  WriteFile(dir, "mymodel/config.json",
            R"({"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4,
    "vocab_size": 100})");
  std::string by_path =
      WriteFile(dir, "a.yaml", Replace(kScenario, "model: llama-3.1-8b", "model: ./tiny.json"));
  StatusOr<Scenario> s = LoadScenarioFile(by_path, Catalog::Default(), {});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->arch.name, "tiny");
  EXPECT_EQ(s->arch.hidden, 256);
  std::string by_dir = WriteFile(
      dir, "b.yaml", Replace(kScenario, "model: llama-3.1-8b", "model: mymodel/config.json"));
  s = LoadScenarioFile(by_dir, Catalog::Default(), {});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->arch.name, "mymodel") << "a config.json is named after its folder";
  std::string inline_model = WriteFile(
      dir, "c.yaml",
      Replace(kScenario, "model: llama-3.1-8b",
              "model: {model_type: gpt2, n_embd: 64, n_layer: 2, n_head: 4, vocab_size: 100}"));
  s = LoadScenarioFile(inline_model, Catalog::Default(), {});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->arch.model_type, "gpt2");
  EXPECT_EQ(s->arch.layers, 2);
}

// cluster.gemm_table: a user's own measured table beside the scenario replaces the catalog's.
TEST(ScenarioTest, ClusterGemmTableReplacesTheCatalogs) {
  std::string dir = ScratchDir();
  auto table = [&](const std::string& file, const std::string& id, int tflops) {
    WriteFile(dir, file, "id: " + id + "\nsource: \"my microbenchmark\"\nshapes:\n  bf16:\n    - [1024, 1024, 1024, " +
                             std::to_string(tflops) + "]\n");
  };
  table("mine.yaml", "h100-sxm-80gb", 400);
  table("other.yaml", "a100-sxm-80gb", 200);
  const std::string cluster = "cluster: {devices: 8, devices_per_node: 8}";
  std::string path = WriteFile(
      dir, "g.yaml", Replace(kScenario, cluster, "cluster: {devices: 8, devices_per_node: 8, gemm_table: mine.yaml}"));
  StatusOr<Scenario> s = LoadScenarioFile(path, Catalog::Default(), {});
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_NE(s->cluster.spec.gemm_table, nullptr);
  EXPECT_EQ(s->cluster.spec.gemm_table->source, "my microbenchmark");
  EXPECT_DOUBLE_EQ(s->cluster.spec.gemm_table->Rate(Dtype::kBf16, 8192, 8192, 8192), 400e12);

  std::string wrong = WriteFile(
      dir, "w.yaml", Replace(kScenario, cluster, "cluster: {devices: 8, devices_per_node: 8, gemm_table: other.yaml}"));
  s = LoadScenarioFile(wrong, Catalog::Default(), {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.status().message(), wrong + ": cluster.gemm_table")) << s.status().message();
  EXPECT_TRUE(Contains(s.status().message(), "id: expected 'h100-sxm-80gb'")) << s.status().message();
}

// cluster.collective_table: collective times measured on the user's cluster, beside the scenario.
TEST(ScenarioTest, ClusterCollectiveTableIsLoadedBesideTheScenario) {
  std::string dir = ScratchDir();
  WriteFile(dir, "node.yaml",
            "source: \"nccl-tests on our node\"\n"
            "collectives:\n  - {op: all_reduce, ranks: 8, rows: [[1048576, 40], [4194304, 80]]}\n");
  WriteFile(dir, "bad.yaml", "source: x\ncollectives: [{op: all_reduce, ranks: 8, rows: [[1048576, 40]]}]\n");
  const std::string cluster = "cluster: {devices: 8, devices_per_node: 8}";
  std::string path = WriteFile(
      dir, "c.yaml", Replace(kScenario, cluster, "cluster: {devices: 8, devices_per_node: 8, collective_table: node.yaml}"));
  StatusOr<Scenario> s = LoadScenarioFile(path, Catalog::Default(), {});
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_NE(s->cluster.collectives, nullptr);
  EXPECT_EQ(s->cluster.collectives->source, "nccl-tests on our node");
  EXPECT_NEAR(s->cluster.collectives->Time(CollectiveOp::kAllReduce, 8, 8, Bytes(4194304))->value(), 80e-6, 1e-12);

  std::string bad = WriteFile(
      dir, "b.yaml", Replace(kScenario, cluster, "cluster: {devices: 8, devices_per_node: 8, collective_table: bad.yaml}"));
  s = LoadScenarioFile(bad, Catalog::Default(), {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.status().message(), bad + ": cluster.collective_table")) << s.status().message();
  EXPECT_TRUE(Contains(s.status().message(), "collectives[0]: expected at least two")) << s.status().message();
}

// cluster.collective_table may name a table the catalog holds (data/collectives/); one measured on
// other hardware, or an unknown name, is an error naming the field.
TEST(ScenarioTest, ClusterCollectiveTableNamesACatalogTable) {
  std::string dir = ScratchDir();
  const std::string cluster = "cluster: {devices: 8, devices_per_node: 8}";
  std::string path = WriteFile(dir, "h.yaml",
                               Replace(kScenario, cluster,
                                       "cluster: {devices: 8, devices_per_node: 8, collective_table: azure-nd-h100-v5}"));
  StatusOr<Scenario> s = LoadScenarioFile(path, Catalog::Default(), {});
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_NE(s->cluster.collectives, nullptr);
  EXPECT_EQ(s->cluster.collectives->hardware, "h100-sxm-80gb");
  // The source's 8 GiB row: 478.87 GB/s.
  const double at_8g = 1.75 * 8589934592.0 / 478.87e9;
  EXPECT_NEAR(s->cluster.collectives->Time(CollectiveOp::kAllReduce, 8, 8, Bytes(8589934592.0))->value(), at_8g, 1e-9);

  std::string other = WriteFile(dir, "a.yaml",
                                Replace(kScenario, cluster,
                                        "cluster: {devices: 8, devices_per_node: 8, collective_table: azure-nd-a100-v4}"));
  s = LoadScenarioFile(other, Catalog::Default(), {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.status().message(), other + ": cluster.collective_table: expected a table measured on h100-sxm-80gb"))
      << s.status().message();

  std::string unknown = WriteFile(dir, "u.yaml",
                                  Replace(kScenario, cluster,
                                          "cluster: {devices: 8, devices_per_node: 8, collective_table: our-cluster}"));
  s = LoadScenarioFile(unknown, Catalog::Default(), {});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), unknown + ": cluster.collective_table")) << s.status().message();
  EXPECT_TRUE(Contains(s.status().message(), "azure-nd-h100-v5")) << s.status().message();
}

// A small model in eager PyTorch launches kernels shorter than the host can launch them: at the
// upper end of published per-kernel host costs the step grows by more than 10%, and plan says so.
// A large model's kernels are long enough that the host cost does not matter.
TEST(EvaluateTest, ShortKernelsAreFlaggedAsPossiblyHostBound) {
  auto host_bound = [](const PlanResult& r) { return Warns(r, "possibly host-bound"); };
  StatusOr<Scenario> small = LoadText(
      "model: {model_type: gpt2, n_embd: 1024, n_layer: 24, n_head: 16, n_positions: 1024, vocab_size: 50304}\n"
      "hardware: a100-sxm-80gb\n"
      "cluster: {devices: 8, devices_per_node: 8}\n"
      "parallel: {tp: 8, pp: 1, dp: 1, recompute: full}\n"
      "training: {seq_len: 1024, global_batch: 16, micro_batch: 1, precision: fp16, flash_attention: false}\n");
  ASSERT_TRUE(small.ok()) << small.status().message();
  const PlanResult r = Evaluate(*small, {});
  ASSERT_TRUE(r.has_time);
  EXPECT_TRUE(host_bound(r));
  // Stating a measured host cost at the published upper end removes the doubt.
  Scenario measured = *small;
  measured.job.host_overhead_per_kernel_us = kHostPerKernelHighUs;
  EXPECT_FALSE(host_bound(Evaluate(measured, {})));

  StatusOr<Scenario> large = LoadScenarioFile(SourceDir() + "/examples/llama3.1-70b-h100.yaml",
                                              Catalog::Default(), {});
  ASSERT_TRUE(large.ok()) << large.status().message();
  EXPECT_FALSE(host_bound(Evaluate(*large, {})));
}

// training.host_profile names a measured host profile (data/host/) or a file; it replaces the
// per-kernel estimate, so a scenario gives one or the other, and plan no longer doubts the host.
// MFU counts full attention while causal kernels run half of it: where attention is much of the
// work (an MLA model at 8k tokens) and the device runs near the catalog's rates (the H20 has only
// datasheet ones), MFU passes 100%, and the plan says why. A dense model at 4k stays below it,
// without the warning.
TEST(ScenarioTest, AnMfuAboveOneIsExplained) {
  auto mfu_warning = [](const PlanResult& r) { return Warns(r, "is above 100%: the convention counts full"); };
  const std::string text =
      "model: deepseek-v2\nhardware: HW\ncluster: {devices: 8}\n"
      "parallel: {tp: 1, pp: 2, ep: 4, zero: 2, schedule: dualpipe, recompute: none}\n"
      "training: {seq_len: 8192, global_batch: 64, micro_batch: 1, precision: bf16}\n";
  StatusOr<Scenario> datasheet = LoadText(Replace(text, "HW", "h20-96gb"));
  ASSERT_TRUE(datasheet.ok()) << datasheet.status().message();
  const PlanResult r = Evaluate(*datasheet, {});
  ASSERT_TRUE(r.has_time);
  EXPECT_GT(r.time.mfu, 1.0);
  EXPECT_TRUE(mfu_warning(r));
  StatusOr<Scenario> measured = LoadText(
      "model: llama-3.1-8b\nhardware: h100-sxm-80gb\ncluster: {devices: 8, devices_per_node: 8}\nparallel: {tp: 1}\n"
      "training: {seq_len: 4096, global_batch: 64}\n");
  ASSERT_TRUE(measured.ok()) << measured.status().message();
  const PlanResult m = Evaluate(*measured, {});
  EXPECT_LT(m.time.mfu, 1.0);
  EXPECT_FALSE(mfu_warning(m));
}

TEST(ScenarioTest, TrainingHostProfileNamesACatalogProfile) {
  const std::string text =
      "model: {model_type: gpt2, n_embd: 1024, n_layer: 24, n_head: 16, n_positions: 1024, vocab_size: 50304}\n"
      "hardware: a100-sxm-80gb\n"
      "cluster: {devices: 8, devices_per_node: 8}\n"
      "parallel: {tp: 8, pp: 1, dp: 1, recompute: full}\n"
      "training: {seq_len: 1024, global_batch: 16, micro_batch: 1, precision: fp16, flash_attention: false";
  StatusOr<Scenario> s = LoadText(text + ", host_profile: megatron-deepspeed-gpt-eager-zen3}\n");
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_NE(s->job.host_profile, nullptr);
  EXPECT_EQ(s->job.host_profile->id, "megatron-deepspeed-gpt-eager-zen3");
  const PlanResult r = Evaluate(*s, {});
  EXPECT_GT(r.time.host_launch.value(), 0) << "these layers are shorter than the measured host time";
  EXPECT_FALSE(Warns(r, "possibly host-bound"));

  // The profile timed a GPT layer: a Llama layer (RMSNorm, SwiGLU) gets a warning, this GPT one not.
  auto layer_warning = [](const PlanResult& p) { return Warns(p, "timed a GPT layer"); };
  EXPECT_FALSE(layer_warning(r));
  StatusOr<Scenario> llama = LoadText(
      "model: llama-3.1-8b\nhardware: h100-sxm-80gb\ncluster: {devices: 8, devices_per_node: 8}\nparallel: {tp: 8}\n"
      "training: {seq_len: 4096, global_batch: 64, host_profile: megatron-deepspeed-gpt-eager-zen3}\n");
  ASSERT_TRUE(llama.ok()) << llama.status().message();
  const PlanResult lr = Evaluate(*llama, {});
  EXPECT_TRUE(layer_warning(lr));
  EXPECT_TRUE(Warns(lr, "RMSNorm, a gated MLP"));

  std::string dir = ScratchDir();
  std::string both = WriteFile(dir, "both.yaml", text + ", host_profile: megatron-deepspeed-gpt-eager-zen3, host_overhead_per_kernel_us: 9}\n");
  s = LoadScenarioFile(both, Catalog::Default(), {});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), both + ": training.host_profile: expected either host_profile or"))
      << s.status().message();
  // `none` switches a profile off (so the per-kernel figure may be given); an empty value is an error.
  s = LoadText(text + ", host_profile: none, host_overhead_per_kernel_us: 9}\n");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->job.host_profile, nullptr);
  EXPECT_DOUBLE_EQ(s->job.host_overhead_per_kernel_us, 9.0);
  std::string empty = WriteFile(dir, "empty.yaml", text + ", host_profile: ~}\n");
  s = LoadScenarioFile(empty, Catalog::Default(), {});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), empty + ": training.host_profile: expected a host profile name or path, or none"))
      << s.status().message();
  std::string unknown = WriteFile(dir, "unknown.yaml", text + ", host_profile: our-cluster}\n");
  s = LoadScenarioFile(unknown, Catalog::Default(), {});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), unknown + ": training.host_profile")) << s.status().message();
  EXPECT_TRUE(Contains(s.status().message(), "megatron-deepspeed-gpt-eager-zen3")) << s.status().message();
}

TEST(ScenarioTest, ValidationMeasuredBlock) {
  std::string text =
      std::string(kScenario) + "measured: {step_time_s: 1.5, mfu: 0.4, flop_convention: palm}\n";
  StatusOr<Scenario> s = LoadText(text);
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->measured.metrics.size(), 2u);
  EXPECT_EQ(s->measured.metrics[0].first, "step_time_s");
  EXPECT_DOUBLE_EQ(s->measured.metrics[0].second, 1.5);
  EXPECT_EQ(s->measured.flop_convention, "palm");
}

// ---------------------------------------------------------------------------------------------
// Overrides.

TEST(OverrideTest, ApplyOverrideSetsNestedKeys) {
  YAML::Node root = YAML::Load("parallel: {tp: 2}\nmodel: llama-3.1-8b\n");
  ASSERT_TRUE(ApplyOverride(root, {"parallel.tp", "8"}).ok());
  ASSERT_TRUE(ApplyOverride(root, {"parallel.pp", "4"}).ok());
  ASSERT_TRUE(ApplyOverride(root, {"model", "llama-3.1-70b"}).ok());
  ASSERT_TRUE(ApplyOverride(root, {"training.seq_len", "8192"}).ok())
      << "creates the missing mapping";
  ASSERT_TRUE(ApplyOverride(root, {"a.b.c", "x"}).ok());
  EXPECT_EQ(root["parallel"]["tp"].Scalar(), "8");
  EXPECT_EQ(root["parallel"]["pp"].Scalar(), "4");
  EXPECT_EQ(root["model"].Scalar(), "llama-3.1-70b");
  EXPECT_EQ(root["training"]["seq_len"].Scalar(), "8192");
  EXPECT_EQ(root["a"]["b"]["c"].Scalar(), "x");
}

TEST(OverrideTest, ScalarBecomesMappingWhenAKeyIsSetInside) {
  YAML::Node root = YAML::Load("parallel: auto\n");
  ASSERT_TRUE(ApplyOverride(root, {"parallel.tp", "8"}).ok());
  ASSERT_TRUE(root["parallel"].IsMap());
  EXPECT_EQ(root["parallel"]["tp"].Scalar(), "8");
}

// A scenario gives one of global_batch and global_batch_tokens (of host_profile and
// host_overhead_per_kernel_us): overriding one replaces the other, as --global-batch on a file that
// states tokens means to.
TEST(OverrideTest, OverrideReplacesItsAlternative) {
  YAML::Node root = YAML::Load("training: {global_batch_tokens: 16777216, host_profile: x}\n");
  ASSERT_TRUE(ApplyOverride(root, {"training.global_batch", "1024"}).ok());
  EXPECT_FALSE(root["training"]["global_batch_tokens"]);
  EXPECT_EQ(root["training"]["global_batch"].Scalar(), "1024");
  ASSERT_TRUE(ApplyOverride(root, {"training.global_batch_tokens", "8192"}).ok());
  EXPECT_FALSE(root["training"]["global_batch"]);
  ASSERT_TRUE(ApplyOverride(root, {"training.host_overhead_per_kernel_us", "10"}).ok());
  EXPECT_FALSE(root["training"]["host_profile"]);
  EXPECT_EQ(root["training"]["host_overhead_per_kernel_us"].Scalar(), "10");
  ASSERT_TRUE(ApplyOverride(root, {"training.host_profile", "none"}).ok());
  EXPECT_EQ(root["training"]["host_overhead_per_kernel_us"].Scalar(), "10")
      << "none switches the profile off and keeps the per-kernel figure";
  ASSERT_TRUE(ApplyOverride(root, {"training.seq_len", "4096"}).ok());
  EXPECT_TRUE(root["training"]["global_batch_tokens"]) << "other keys leave it alone";
}

TEST(OverrideTest, EmptyKeyIsInvalidArgument) {
  YAML::Node root = YAML::Load("a: 1\n");
  Status s = ApplyOverride(root, {"", "8"});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "key=value")) << s.message();
}

TEST(OverrideTest, LoadScenarioFileAppliesOverridesBeforeParsing) {
  const std::vector<Override> overrides = {{"model", "llama-3.1-70b"},
                                           {"parallel.tp", "8"},
                                           {"parallel.dp", "1"},
                                           {"training.seq_len", "8192"},
                                           {"parallel.schedule", "gpipe"}};
  StatusOr<Scenario> s = LoadText(kScenario, nullptr, overrides);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->arch.name, "llama-3.1-70b");
  EXPECT_EQ(s->plan.tp, 8);
  EXPECT_EQ(s->plan.dp, 1);
  EXPECT_EQ(s->job.seq_len, 8192);
  EXPECT_EQ(s->plan.schedule, Schedule::kGpipe);
}

TEST(OverrideTest, OverridesAreCheckedLikeTheFile) {
  std::string path;
  StatusOr<Scenario> s = LoadText(kScenario, &path, {{"parallel.tp", "-1"}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message().rfind(path + ": parallel.tp:", 0), 0u) << s.status().message();
  s = LoadText(kScenario, &path, {{"parallel.colour", "red"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), "parallel.colour")) << s.status().message();
}

TEST(OverrideTest, ExampleFilesLoad) {
  for (const auto& entry : fs::directory_iterator(SourceDir() + "/examples")) {
    if (entry.path().extension() != ".yaml") continue;
    StatusOr<Scenario> s = LoadScenarioFile(entry.path().string(), Catalog::Default(), {});
    ASSERT_TRUE(s.ok()) << s.status().message();
    if (s->auto_parallel) continue;
    PlanResult r = Evaluate(*s, {});
    EXPECT_TRUE(r.check.ok()) << entry.path() << ": " << r.check.message;
  }
}

// ---------------------------------------------------------------------------------------------
// Errors: one line naming the file and field.

struct BadScenario {
  const char* what;
  const char* from;
  const char* to;
  StatusCode code;
  const char* field;  // the message must contain "<file>: <field>"
};

TEST(ScenarioErrorTest, BadFilesNameFileAndField) {
  const BadScenario cases[] = {
      {"unknown model id", "model: llama-3.1-8b", "model: gpt-17", StatusCode::kNotFound, "model"},
      {"unknown hardware id", "hardware: h100-sxm-80gb", "hardware: h999", StatusCode::kNotFound,
       "hardware"},
      {"unknown top-level key", "source:", "colour: red\nsource:", StatusCode::kInvalidArgument,
       "colour"},
      {"unknown parallel key", "tp: 2,", "tp: 2, tq: 2,", StatusCode::kInvalidArgument,
       "parallel.tq"},
      {"unknown training key", "seq_len: 4096,", "seq_len: 4096, seq_length: 4096,",
       StatusCode::kInvalidArgument, "training.seq_length"},
      {"unknown cluster key", "devices_per_node: 8", "devices_per_node: 8, gpus: 8",
       StatusCode::kInvalidArgument, "cluster.gpus"},
      {"negative tp", "tp: 2,", "tp: -2,", StatusCode::kInvalidArgument, "parallel.tp"},
      {"zero pp", "pp: 1,", "pp: 0,", StatusCode::kInvalidArgument, "parallel.pp"},
      {"fractional dp", "dp: 4,", "dp: 2.5,", StatusCode::kInvalidArgument, "parallel.dp"},
      {"zero stage 5", "zero: 1,", "zero: 5,", StatusCode::kInvalidArgument, "parallel.zero"},
      {"unknown schedule", "schedule: 1f1b", "schedule: pipedream", StatusCode::kInvalidArgument,
       "parallel.schedule"},
      {"unknown recompute", "recompute: selective", "recompute: some", StatusCode::kInvalidArgument,
       "parallel.recompute"},
      {"sp not a bool", "sp: true", "sp: maybe", StatusCode::kInvalidArgument, "parallel.sp"},
      {"elementwise_fusion not a bool", "seq_len: 4096,", "seq_len: 4096, elementwise_fusion: eager,",
       StatusCode::kInvalidArgument, "training.elementwise_fusion"},
      {"unknown cross_entropy", "seq_len: 4096,", "seq_len: 4096, cross_entropy: fused,",
       StatusCode::kInvalidArgument, "training.cross_entropy"},
      {"unknown zero3_gather", "tp: 2,", "tp: 2, zero3_gather: tensor,", StatusCode::kInvalidArgument,
       "parallel.zero3_gather"},
      {"zero3_gather parameter without zero 3", "tp: 2,", "tp: 2, zero3_gather: parameter,",
       StatusCode::kInvalidArgument, "parallel.zero3_gather"},
      {"grad_flatten with ZeRO (the scenario's zero 1)", "tp: 2,", "tp: 2, grad_flatten: true,",
       StatusCode::kInvalidArgument,
       "parallel.grad_flatten"},
      {"grad_flatten not a bool", "tp: 2,", "tp: 2, grad_flatten: maybe,", StatusCode::kInvalidArgument,
       "parallel.grad_flatten"},
      {"unknown ep_dispatcher", "seq_len: 4096,", "seq_len: 4096, ep_dispatcher: flex,", StatusCode::kInvalidArgument,
       "training.ep_dispatcher"},
      {"unknown recompute module", "recompute: selective", "recompute: selective, recompute_modules: [core_attn, attn]",
       StatusCode::kInvalidArgument, "parallel.recompute_modules"},
      {"empty recompute modules", "recompute: selective", "recompute: selective, recompute_modules: []",
       StatusCode::kInvalidArgument, "parallel.recompute_modules"},
      {"recompute modules as a mapping", "recompute: selective", "recompute: selective, recompute_modules: {mlp: 1}",
       StatusCode::kInvalidArgument, "parallel.recompute_modules"},
      {"fsdp_gather_once without zero 3", "tp: 2,", "tp: 2, fsdp_gather_once: true,", StatusCode::kInvalidArgument,
       "parallel.fsdp_gather_once"},
      {"unknown layer_split", "tp: 2,", "tp: 2, layer_split: odd,", StatusCode::kInvalidArgument,
       "parallel.layer_split"},
      {"unknown model_type inline", "model: llama-3.1-8b",
       "model: {model_type: transformer9, hidden_size: 64}", StatusCode::kInvalidArgument,
       "model_type"},
      {"both batch forms", "global_batch: 64,", "global_batch: 64, global_batch_tokens: 262144,",
       StatusCode::kInvalidArgument, "training.global_batch"},
      {"no batch", "global_batch: 64, ", "", StatusCode::kInvalidArgument, "training.global_batch"},
      {"tokens not a multiple of seq_len", "global_batch: 64", "global_batch_tokens: 1000",
       StatusCode::kInvalidArgument, "training.global_batch_tokens"},
      {"zero seq_len", "seq_len: 4096", "seq_len: 0", StatusCode::kInvalidArgument,
       "training.seq_len"},
      {"negative micro-batch", "micro_batch: 1", "micro_batch: -1", StatusCode::kInvalidArgument,
       "training.micro_batch"},
      {"int8 precision", "precision: bf16", "precision: int8", StatusCode::kInvalidArgument,
       "training.precision"},
      {"unknown precision", "precision: bf16", "precision: bf17", StatusCode::kInvalidArgument,
       "training.precision"},
      {"negative tokens", "precision: bf16", "precision: bf16, tokens: -5",
       StatusCode::kInvalidArgument, "training.tokens"},
      {"attention kernel the catalog did not measure", "precision: bf16",
       "precision: bf16, attention_kernel: fa9", StatusCode::kInvalidArgument, "training.attention_kernel"},
      {"attention kernel without fused attention", "precision: bf16",
       "precision: bf16, flash_attention: false, attention_kernel: fa2", StatusCode::kInvalidArgument,
       "training.attention_kernel"},
      {"zero devices", "devices: 8", "devices: 0", StatusCode::kInvalidArgument, "cluster.devices"},
      {"missing cluster", "cluster: {devices: 8, devices_per_node: 8}\n", "",
       StatusCode::kInvalidArgument, "cluster"},
      {"missing hardware", "hardware: h100-sxm-80gb\n", "", StatusCode::kInvalidArgument,
       "hardware"},
      {"missing model", "model: llama-3.1-8b\n", "", StatusCode::kInvalidArgument, "model"},
      {"negative measurement", "source:", "measured: {step_time_s: -1}\nsource:",
       StatusCode::kInvalidArgument, "measured.step_time_s"},
      {"unknown measurement",
       "source:", "measured: {speed: 1}\nsource:", StatusCode::kInvalidArgument, "measured.speed"},
  };
  for (const BadScenario& c : cases) {
    SCOPED_TRACE(c.what);
    std::string path;
    StatusOr<Scenario> s = LoadText(Replace(kScenario, c.from, c.to), &path);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), c.code) << s.status().message();
    EXPECT_TRUE(Contains(s.status().message(), path)) << s.status().message();
    EXPECT_TRUE(Contains(s.status().message(), std::string(": ") + c.field))
        << s.status().message();
    EXPECT_FALSE(Contains(s.status().message(), "\n")) << "one line";
  }
}

// training.attention_kernel picks one of the kernels the catalog measured on the device; the error
// for another name lists them.
TEST(ScenarioTest, AttentionKernelIsOneTheCatalogMeasured) {
  std::string path;
  StatusOr<Scenario> s = LoadText(Replace(kScenario, "precision: bf16", "precision: bf16, attention_kernel: fa2"), &path);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->job.attention_kernel, "fa2");
  StatusOr<Scenario> bad = LoadText(Replace(kScenario, "precision: bf16", "precision: bf16, attention_kernel: fa9"), &path);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(Contains(bad.status().message(), "cudnn9, fa3, fa2")) << bad.status().message();
}

// validate --set: overrides apply to every run of a list, and a bad value names the run's field.
TEST(ScenarioTest, ListOverridesApplyToEveryRun) {
  std::string dir = ScratchDir();
  const std::string run = std::string(kScenario);
  std::string indented;
  for (size_t start = 0; start < run.size();) {
    size_t end = run.find('\n', start);
    if (end == std::string::npos) end = run.size();
    indented += (start == 0 ? "- " : "  ") + run.substr(start, end - start) + "\n";
    start = end + 1;
  }
  std::string path = WriteFile(dir, "runs.yaml", indented + indented);
  StatusOr<std::vector<Scenario>> list =
      LoadScenarioList(path, Catalog::Default(), {{"training.host_overhead_per_kernel_us", "20"}});
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_EQ(list->size(), 2u);
  for (const Scenario& s : *list) EXPECT_DOUBLE_EQ(s.job.host_overhead_per_kernel_us, 20.0);
  list = LoadScenarioList(path, Catalog::Default(), {{"cluster.collective_table", "azure-nd-a100-v4"}});
  ASSERT_FALSE(list.ok());
  EXPECT_TRUE(Contains(list.status().message(), path + ": [0].cluster.collective_table: expected a table measured on h100"))
      << list.status().message();
}

TEST(ScenarioErrorTest, MissingFileIsNotFound) {
  std::string path = ScratchDir() + "/nope.yaml";
  StatusOr<Scenario> s = LoadScenarioFile(path, Catalog::Default(), {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(s.status().message(), path));
  StatusOr<std::vector<Scenario>> list = LoadScenarioList(path, Catalog::Default());
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), StatusCode::kNotFound);
}

TEST(ScenarioErrorTest, MalformedYaml) {
  std::string path;
  StatusOr<Scenario> s =
      LoadText(Replace(kScenario, "cluster: {devices: 8,", "cluster: {devices: [8,"), &path);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.status().message(), path + ": malformed YAML")) << s.status().message();
}

TEST(ScenarioErrorTest, NonMappingScenarioAndNonListFile) {
  std::string dir = ScratchDir();
  std::string list = WriteFile(dir, "list.yaml", "- 1\n- 2\n");
  StatusOr<Scenario> s = LoadScenarioFile(list, Catalog::Default(), {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  std::string scalar = WriteFile(dir, "scalar.yaml", "just words\n");
  StatusOr<std::vector<Scenario>> l = LoadScenarioList(scalar, Catalog::Default());
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(l.status().message(), scalar));
}

// Indents `text` (one scenario) as an item of a YAML list, `indent` spaces deep.
std::string ListItem(const std::string& text, const std::string& indent) {
  std::string out;
  bool first = true;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out += indent + (first ? "- " : "  ") + text.substr(start, end - start) + "\n";
    first = false;
    start = end + 1;
  }
  return out;
}

TEST(ScenarioErrorTest, ListErrorsNameTheRun) {
  std::string dir = ScratchDir();
  const std::string good = kScenario;
  const std::string bad = Replace(kScenario, "tp: 2,", "tp: 0,");
  std::string path =
      WriteFile(dir, "runs.yaml", "runs:\n" + ListItem(good, "  ") + ListItem(bad, "  "));
  StatusOr<std::vector<Scenario>> runs = LoadScenarioList(path, Catalog::Default());
  ASSERT_FALSE(runs.ok());
  EXPECT_TRUE(Contains(runs.status().message(), path + ": runs[1].parallel.tp"))
      << runs.status().message();
  // Two good runs as a bare list.
  std::string bare =
      WriteFile(dir, "bare.yaml",
                ListItem(good, "") + ListItem(Replace(good, "name: small", "name: second"), ""));
  StatusOr<std::vector<Scenario>> ok = LoadScenarioList(bare, Catalog::Default());
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[0].name, "small");
  EXPECT_EQ((*ok)[1].name, "second");
  // And the bad run in a bare list: "[1]".
  std::string bare_bad = WriteFile(dir, "bare_bad.yaml", ListItem(good, "") + ListItem(bad, ""));
  StatusOr<std::vector<Scenario>> b = LoadScenarioList(bare_bad, Catalog::Default());
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(Contains(b.status().message(), bare_bad + ": [1].parallel.tp"))
      << b.status().message();
}

// A batch that DP·micro-batch does not divide is a valid input with an invalid plan: an expected
// outcome reported by Evaluate, not a load error.
TEST(ScenarioErrorTest, NonDivisibleBatchIsAPlanIssue) {
  StatusOr<Scenario> s = LoadText(Replace(kScenario, "global_batch: 64", "global_batch: 66"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  PlanResult r = Evaluate(*s, {});
  EXPECT_EQ(r.check.issue, PlanIssue::kMicroBatches);
  EXPECT_FALSE(r.has_memory);
  EXPECT_EQ(r.ExitCode(), 1);
  EXPECT_TRUE(Contains(r.check.message, "66")) << r.check.message;
}

// Likewise, degrees that do not multiply to the device count.
TEST(ScenarioErrorTest, DegreesNotMatchingDevicesIsAPlanIssue) {
  StatusOr<Scenario> s = LoadText(Replace(kScenario, "tp: 2, pp: 1, dp: 4", "tp: 3, pp: 1"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  PlanResult r = Evaluate(*s, {});
  EXPECT_FALSE(r.check.ok());
  EXPECT_EQ(r.ExitCode(), 1);
}

// ---------------------------------------------------------------------------------------------
// Evaluate.

TEST(EvaluateTest, ValidPlanHasMemoryAndFits) {
  StatusOr<Scenario> s = LoadText(kScenario);
  ASSERT_TRUE(s.ok()) << s.status().message();
  PlanResult r = Evaluate(*s, {});
  EXPECT_TRUE(r.check.ok()) << r.check.message;
  EXPECT_TRUE(r.has_memory);
  EXPECT_EQ(r.params.total, 8'030'261'248);
  EXPECT_DOUBLE_EQ(r.memory.capacity.gib(), 80);
  EXPECT_TRUE(r.memory.fits);
  EXPECT_EQ(r.ExitCode(), 0);
}

TEST(EvaluateTest, DoesNotFitIsExitOne) {
  StatusOr<Scenario> s =
      LoadText(kScenario, nullptr,
               {{"model", "llama-3.1-405b"}, {"parallel.tp", "8"}, {"parallel.dp", "1"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  PlanResult r = Evaluate(*s, {});
  EXPECT_TRUE(r.check.ok()) << r.check.message;
  EXPECT_FALSE(r.memory.fits);
  EXPECT_EQ(r.ExitCode(), 1);
}

TEST(EvaluateTest, Warnings) {
  // TP without SP, and FP8 on a device without it.
  StatusOr<Scenario> s = LoadText(
      kScenario, nullptr,
      {{"parallel.sp", "false"}, {"hardware", "a100-sxm-80gb"}, {"training.precision", "fp8"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  PlanResult r = Evaluate(*s, {});
  bool sp = false, fp8 = false;
  for (const std::string& w : r.warnings) {
    sp = sp || Contains(w, "sequence parallelism");
    fp8 = fp8 || Contains(w, "FP8");
  }
  EXPECT_TRUE(sp);
  EXPECT_TRUE(fp8);
  // Recompute modules the model has nothing for: Llama has no MLA, no MoE layers and no norm of
  // its own (fused in Megatron-Core's Transformer Engine spec).
  s = LoadText(kScenario, nullptr, {{"parallel.recompute_modules", "core_attn,mla_up_proj,moe_act,layernorm"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  r = Evaluate(*s, {});
  EXPECT_TRUE(Warns(r, "mla_up_proj (no MLA) recomputes nothing"));
  EXPECT_TRUE(Warns(r, "moe_act/moe (no MoE layers) recomputes nothing"));
  EXPECT_TRUE(Warns(r, "layernorm (both norms fused"));
  EXPECT_EQ(RecomputeLabel(s->plan), "selective(core_attn,layernorm,moe_act,mla_up_proj)");
  s->plan.recompute_modules = kModuleCoreAttn;
  EXPECT_EQ(RecomputeLabel(s->plan), "selective");
}

}  // namespace
}  // namespace preflight
