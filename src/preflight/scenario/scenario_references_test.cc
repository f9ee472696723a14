// Tests of scenario/scenario.h for what a scenario names beside its file or in the catalog: an
// inline model or a model path, a GEMM or collective table, a host profile, an attention kernel;
// and its measured block, with the MFU it states and the FLOP convention it names. The rest of
// loading a scenario: scenario_test.cc.
#include "preflight/scenario/scenario.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "preflight/base/test_support.h"
#include "preflight/catalog/catalog.h"
#include "preflight/scenario/evaluate.h"
#include "preflight/scenario/scenario_test_support.h"

namespace preflight {
namespace {

namespace fs = std::filesystem;

using test_support::Contains;
using test_support::kScenario;
using test_support::LoadText;
using test_support::Replace;
using test_support::ScratchDir;
using test_support::Warns;
using test_support::WriteFile;

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
  // Beside the scenario, the folder is the scenario's: named by the path made absolute, not the
  // empty or "." folder the reference gives.
  for (const char* ref : {"config.json", "./config.json", "../mymodel/config.json"}) {
    const std::string beside =
        WriteFile(dir, "mymodel/d.yaml", Replace(kScenario, "model: llama-3.1-8b", std::string("model: ") + ref));
    s = LoadScenarioFile(beside, Catalog::Default(), {});
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_EQ(s->arch.name, "mymodel") << ref;
  }
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

  // A table measured on another device says which, and names a device of the catalog.
  WriteFile(dir, "self.yaml", "id: h100-sxm-80gb\nsource: x\nproxy_of: h100-sxm-80gb\nshapes:\n  bf16:\n    - [1024, 1024, 1024, 400]\n");
  std::string self = WriteFile(
      dir, "s.yaml", Replace(kScenario, cluster, "cluster: {devices: 8, devices_per_node: 8, gemm_table: self.yaml}"));
  s = LoadScenarioFile(self, Catalog::Default(), {});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), self + ": cluster.gemm_table: " + dir)) << s.status().message();
  EXPECT_TRUE(Contains(s.status().message(), "self.yaml: proxy_of: expected the catalog id of another device"))
      << s.status().message();
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
  // none switches a file's table off, as a what-if (--set cluster.collective_table=none).
  s = LoadScenarioFile(path, Catalog::Default(), {{"cluster.collective_table", "none"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->cluster.collectives, nullptr);

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
  auto evaluate = [](const std::string& scenario) {
    StatusOr<Scenario> s = LoadText(scenario);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? Evaluate(*s, {}) : PlanResult{};
  };
  const PlanResult r = evaluate(Replace(text, "HW", "h20-96gb"));
  ASSERT_TRUE(r.has_time);
  EXPECT_GT(r.time.mfu, 1.0);
  EXPECT_TRUE(mfu_warning(r));
  const PlanResult m = evaluate(
      "model: llama-3.1-8b\nhardware: h100-sxm-80gb\ncluster: {devices: 8, devices_per_node: 8}\nparallel: {tp: 1}\n"
      "training: {seq_len: 4096, global_batch: 64}\n");
  ASSERT_TRUE(m.has_time);
  EXPECT_LT(m.time.mfu, 1.0);
  EXPECT_FALSE(mfu_warning(m));
  // HFU adds the recomputed forward: with full recompute at 32k tokens it passes 100% where MFU
  // does not, and is explained the same way.
  const PlanResult h = evaluate(
      "model: llama-3.1-8b\nhardware: h20-96gb\ncluster: {devices: 8, devices_per_node: 8, hbm_capacity_gib: 100000}\n"
      "parallel: {tp: 1, zero: 3, recompute: full}\ntraining: {seq_len: 32768, global_batch: 8, micro_batch: 1}\n");
  ASSERT_TRUE(h.has_time);
  EXPECT_LT(h.time.mfu, 1.0);
  EXPECT_GT(h.time.hfu, 1.0);
  EXPECT_TRUE(Warns(h, "HFU ")) << "HFU above 100% is explained too";
  EXPECT_TRUE(mfu_warning(h));
}

// training.host_profile names a measured host profile (data/host/) or a file; it replaces the
// per-kernel estimate, so a scenario gives one or the other, and plan no longer doubts the host.
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
      std::string(kScenario) + "measured: {step_time_s: 1.5, mfu: 0.4, flop_convention: nvidia-recipe}\n";
  StatusOr<Scenario> s = LoadText(text);
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->measured.metrics.size(), 2u);
  EXPECT_EQ(s->measured.metrics[0].first, "step_time_s");
  EXPECT_DOUBLE_EQ(s->measured.metrics[0].second, 1.5);
  EXPECT_EQ(s->measured.flop_convention, "nvidia-recipe");
}

// An MFU is compared with preflight's own count, so it names a count that is the same; any other
// named count may label a step time converted from it; a name nobody defined is a typo.
TEST(ScenarioTest, AFlopConventionIsNamedAndAnMfuCountsAsPreflightDoes) {
  struct Case {
    const char* measured;
    bool ok;
  } cases[] = {
      {"{mfu: 0.4, flop_convention: maxtext}", true},
      {"{tflops_per_device: 400, flop_convention: korthikanti-mfu}", true},
      {"{step_time_s: 1.5, flop_convention: palm}", true},
      {"{step_time_s: 1.5}", true},
      {"{mfu: 0.4}", false},
      {"{mfu: 0.4, flop_convention: palm}", false},
      {"{tflops_per_device: 400, flop_convention: megatron-full-recompute}", false},
      {"{step_time_s: 1.5, flop_convention: bogus}", false},
      {"{mfu: 0.4, flop_convention: 6}", false},
  };
  for (const Case& c : cases) {
    std::string path;
    StatusOr<Scenario> s = LoadText(std::string(kScenario) + "measured: " + c.measured + "\n", &path);
    EXPECT_EQ(s.ok(), c.ok) << c.measured;
    if (!s.ok()) {
      EXPECT_TRUE(Contains(s.status().message(), path + ": measured.flop_convention: expected")) << s.status().message();
    }
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
  EXPECT_TRUE(Contains(bad.status().message(), "cudnn9, fa3, fa1, fa2")) << bad.status().message();
}

}  // namespace
}  // namespace preflight
