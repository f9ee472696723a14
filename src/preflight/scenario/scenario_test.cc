// Tests of scenario/scenario.h, loading one scenario: its fields, defaults and derived values, the
// model, tables and host profile it names beside the file or in the catalog, its measured block,
// and overrides applied to every run of a list. Elsewhere: the validation files
// (validation_files_test.cc), overrides (override_test.cc), bad scenarios (scenario_error_test.cc)
// and Evaluate (evaluate_test.cc).
#include "preflight/scenario/scenario.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

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
using test_support::SourceDir;
using test_support::Warns;
using test_support::WriteFile;

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
  EXPECT_EQ(s->job.cross_entropy, CrossEntropy::kMegatron) << "Megatron's loss unless the file says otherwise";
  s = LoadText(Replace(kScenario, "seq_len: 4096,", "seq_len: 4096, cross_entropy: pytorch,"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->job.cross_entropy, CrossEntropy::kPytorch);
  s = LoadText(Replace(kScenario, "seq_len: 4096,", "seq_len: 4096, cross_entropy: compiled,"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->job.cross_entropy, CrossEntropy::kCompiled);
  EXPECT_EQ(s->job.attention_softmax, AttentionSoftmax::kFused) << "one fused kernel unless the file says otherwise";
  s = LoadText(Replace(kScenario, "seq_len: 4096,",
                       "seq_len: 4096, flash_attention: false, attention_softmax: megatron, fused_softmax_max_keys: 2048,"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->job.attention_softmax, AttentionSoftmax::kMegatron);
  EXPECT_EQ(s->job.fused_softmax_max_keys, 2048);
  EXPECT_FALSE(s->job.attention_softmax_in_fp32) << "Megatron-LM's default since 2023";
  s = LoadText(Replace(kScenario, "seq_len: 4096,", "seq_len: 4096, flash_attention: false, attention_softmax_in_fp32: true,"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->job.attention_softmax_in_fp32);
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

// MaxText's checkpoint names for recompute `names`: kept in device memory (recompute_saved) or in
// host memory (recompute_offloaded), the fused names as their sets; none named keeps nothing but
// the layer input.
TEST(ScenarioTest, NamedCheckpoints) {
  StatusOr<Scenario> s = LoadText(Replace(kScenario, "recompute: selective}",
                                          "recompute: names, recompute_saved: [qkv_proj, context], "
                                          "recompute_offloaded: \"decoder_layer_input, mlpwi\"}"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->plan.recompute, Recompute::kNames);
  EXPECT_EQ(s->plan.recompute_saved, kSavedQuery | kSavedKey | kSavedValue | kSavedContext);
  EXPECT_EQ(s->plan.recompute_offloaded, kSavedLayerInput | kSavedMlpWi0 | kSavedMlpWi1);
  EXPECT_TRUE(s->plan.Keeps(kSavedMlpWi1));
  EXPECT_FALSE(s->plan.Keeps(kSavedOutProj));
  EXPECT_EQ(SavedTensorNames(s->plan.recompute_saved), "query_proj,key_proj,value_proj,context");
  EXPECT_EQ(RecomputeLabel(s->plan), "names(query_proj,key_proj,value_proj,context,mlpwi_0,mlpwi_1,decoder_layer_input)");
  s = LoadText(Replace(kScenario, "recompute: selective}", "recompute: names, recompute_saved: []}"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->plan.recompute_saved | s->plan.recompute_offloaded, 0u);
  EXPECT_EQ(RecomputeLabel(s->plan), "names(none)");
  s->plan.recompute = Recompute::kDots;
  s->plan.recompute_saved = kSavedQuery;
  EXPECT_FALSE(s->plan.Keeps(kSavedQuery)) << "used by recompute names only";
}

// Megatron-LM's --recompute-method and --recompute-num-layers, beside full recompute only.
TEST(ScenarioTest, RecomputeMethodAndLayers) {
  StatusOr<Scenario> s = LoadText(Replace(kScenario, "recompute: selective}", "recompute: full}"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->plan.recompute_method, RecomputeMethod::kUniform);
  EXPECT_EQ(s->plan.recompute_num_layers, 1);
  s = LoadText(Replace(kScenario, "recompute: selective}",
                       "recompute: full, recompute_method: block, recompute_num_layers: 3}"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->plan.recompute_method, RecomputeMethod::kBlock);
  EXPECT_EQ(s->plan.recompute_num_layers, 3);
  EXPECT_TRUE(RecomputesByBlock(s->plan));
  EXPECT_EQ(RecomputeLabel(s->plan), "full(block 3)");
  s = LoadText(Replace(kScenario, "recompute: selective}", "recompute: selective, recompute_num_layers: 3}"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("parallel.recompute_num_layers: expected recompute: full beside it"),
            std::string::npos)
      << s.status().message();
  s = LoadText(Replace(kScenario, "recompute: selective}", "recompute: full, recompute_method: chunks}"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("parallel.recompute_method: expected uniform or block"), std::string::npos)
      << s.status().message();
  s = LoadText(Replace(kScenario, "recompute: selective}", "recompute: full, recompute_num_layers: 0}"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("parallel.recompute_num_layers: expected a whole number of layers from 1"),
            std::string::npos)
      << s.status().message();
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

// Settings given that change nothing for the scenario are named (plan repeats them as warnings):
// an FP8 recipe beside bf16, MoE options on a dense model, recompute modules without selective
// recompute; none where each does something, nor for settings left out.
TEST(ScenarioTest, IdleSettingsAreNamed) {
  StatusOr<Scenario> s = LoadText(kScenario);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->idle_settings.empty());
  s = LoadText(Replace(Replace(kScenario, "precision: bf16}", "precision: bf16, fp8_recipe: current, moe_imbalance: 2}"),
                       "recompute: selective}", "recompute: none, recompute_modules: [mlp]}"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->idle_settings.size(), 3u);
  EXPECT_NE(s->idle_settings[0].find("training.fp8_recipe does nothing with precision: bf16"), std::string::npos);
  EXPECT_NE(s->idle_settings[1].find("training.moe_imbalance does nothing on a dense model"), std::string::npos);
  EXPECT_NE(s->idle_settings[2].find("parallel.recompute_modules does nothing without recompute: selective"),
            std::string::npos);
  s = LoadText(Replace(Replace(kScenario, "precision: bf16}", "precision: fp8, fp8_recipe: current, moe_imbalance: 2}"),
                       "model: llama-3.1-8b", "model: qwen3-30b-a3b"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->idle_settings.empty()) << s->idle_settings.front();
  // The FP8 copies beside bf16, and the softmax settings where no unfused softmax can run: under
  // fused attention, or a fused softmax's limit where the softmax is always unfused. They went
  // unnamed.
  s = LoadText(Replace(kScenario, "seq_len: 4096,",
                       "seq_len: 4096, fp8_weight_copy: false, fp8_saved_inputs: false, fused_softmax_max_keys: 2048, "
                       "attention_softmax_in_fp32: true,"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->idle_settings.size(), 4u);
  EXPECT_NE(s->idle_settings[0].find("training.fp8_weight_copy does nothing with precision: bf16"), std::string::npos);
  EXPECT_NE(s->idle_settings[1].find("training.fp8_saved_inputs does nothing"), std::string::npos);
  EXPECT_NE(s->idle_settings[2].find("training.attention_softmax_in_fp32 does nothing with flash_attention: true"),
            std::string::npos);
  EXPECT_NE(s->idle_settings[3].find("training.fused_softmax_max_keys does nothing"), std::string::npos);
  s = LoadText(Replace(kScenario, "seq_len: 4096,",
                       "seq_len: 4096, flash_attention: false, attention_softmax: unfused, fused_softmax_max_keys: 2048,"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->idle_settings.size(), 1u);
  EXPECT_NE(s->idle_settings[0].find("with attention_softmax: unfused"), std::string::npos);
  s = LoadText(Replace(kScenario, "seq_len: 4096,",
                       "seq_len: 4096, flash_attention: false, attention_softmax: megatron, fused_softmax_max_keys: 2048,"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->idle_settings.empty()) << s->idle_settings.front();
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

// FP8 GEMMs keep FP8 casts of their inputs (training.fp8_saved_inputs, default true) and an FP8
// copy of the weights (fp8_weight_copy); on a device without FP8 the GEMMs fall back to 16 bits,
// and keep neither.
TEST(ScenarioTest, Fp8SavedInputsFollowTheDevice) {
  const std::string fp8 = Replace(kScenario, "precision: bf16", "precision: fp8");
  StatusOr<Scenario> s = LoadText(fp8);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->job.fp8_saved_inputs);
  EXPECT_TRUE(s->job.fp8_weight_copy);
  s = LoadText(Replace(fp8, "precision: fp8", "precision: fp8, fp8_saved_inputs: false"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->job.fp8_saved_inputs);
  s = LoadText(Replace(fp8, "hardware: h100-sxm-80gb", "hardware: a100-sxm-80gb"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->job.fp8_saved_inputs);
  EXPECT_FALSE(s->job.fp8_weight_copy);
}

// training.precision fp4 (NVFP4) on a device with an FP4 rate; refused, naming the device, on one
// without (the H100), rather than run in another format.
TEST(ScenarioTest, Fp4NeedsADeviceWithAnFp4Rate) {
  const std::string fp4 = Replace(kScenario, "precision: bf16", "precision: fp4");
  StatusOr<Scenario> s = LoadText(Replace(fp4, "hardware: h100-sxm-80gb", "hardware: gb200-nvl72"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->job.precision, Dtype::kFp4);
  s = LoadText(Replace(Replace(fp4, "hardware: h100-sxm-80gb", "hardware: gb200-nvl72"), "precision: fp4",
                       "precision: fp4, fp8_dispatch: true"));
  ASSERT_FALSE(s.ok()) << "DeepSeek-V3's FP8 dispatch is an FP8 scheme";
  EXPECT_NE(s.status().message().find("training.fp8_dispatch"), std::string::npos) << s.status().message();
  s = LoadText(fp4);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("training.precision"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("h100-sxm-80gb, which has no FP4 rate"), std::string::npos)
      << s.status().message();
  EXPECT_NE(s.status().message().find("expected fp8, bf16 or fp16"), std::string::npos) << s.status().message();
  // Where the device has no FP8 either, the message offers the 16-bit formats alone.
  s = LoadText(Replace(fp4, "hardware: h100-sxm-80gb", "hardware: a100-sxm-80gb"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("expected bf16 or fp16 on a100-sxm-80gb"), std::string::npos)
      << s.status().message();
  // An FP8 scaling recipe is not NVFP4's: stating one is refused rather than ignored.
  s = LoadText(Replace(Replace(fp4, "hardware: h100-sxm-80gb", "hardware: gb200-nvl72"), "precision: fp4",
                       "precision: fp4, fp8_recipe: blockwise"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("training.fp8_recipe"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("no FP8 recipe with precision: fp4"), std::string::npos) << s.status().message();
}

// training.fp8_recipe: delayed scaling unless "current", "mxfp8" or "blockwise" is stated; another name is
// refused.
TEST(ScenarioTest, Fp8RecipeIsDelayedUnlessStated) {
  StatusOr<Scenario> s = LoadText(Replace(kScenario, "precision: bf16", "precision: fp8"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->job.fp8_recipe, Fp8Recipe::kDelayed);
  s = LoadText(Replace(kScenario, "precision: bf16", "precision: fp8, fp8_recipe: current"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->job.fp8_recipe, Fp8Recipe::kCurrent);
  s = LoadText(Replace(kScenario, "precision: bf16", "precision: fp8, fp8_recipe: mxfp8"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->job.fp8_recipe, Fp8Recipe::kMxfp8);
  s = LoadText(Replace(kScenario, "precision: bf16", "precision: fp8, fp8_recipe: blockwise"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->job.fp8_recipe, Fp8Recipe::kBlockwise);
  s = LoadText(Replace(kScenario, "precision: bf16", "precision: fp8, fp8_recipe: tensorwise"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("delayed, current, mxfp8 or blockwise"), std::string::npos)
      << s.status().message();
}

// training.moe_grouped_gemm: one grouped kernel unless per_expert (Transformer Engine's) is stated.
TEST(ScenarioTest, MoeGroupedGemmIsOneKernelUnlessStated) {
  StatusOr<Scenario> s = LoadText(kScenario);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->job.moe_gemm_per_expert);
  s = LoadText(Replace(kScenario, "precision: bf16", "precision: bf16, moe_grouped_gemm: per_expert"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->job.moe_gemm_per_expert);
  s = LoadText(Replace(kScenario, "precision: bf16", "precision: bf16, moe_grouped_gemm: cutlass"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("training.moe_grouped_gemm: expected one_kernel or per_expert"), std::string::npos)
      << s.status().message();
}

// training.grad_16bit_copy (DeepSpeed's BF16_Optimizer keeps the 16-bit gradients): off unless stated.
TEST(ScenarioTest, Grad16BitCopyIsOffUnlessStated) {
  StatusOr<Scenario> s = LoadText(kScenario);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->job.grad_16bit_copy);
  s = LoadText(Replace(kScenario, "precision: bf16", "precision: bf16, grad_16bit_copy: true"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->job.grad_16bit_copy);
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
  EXPECT_TRUE(Contains(bad.status().message(), "cudnn9, fa3, fa2")) << bad.status().message();
}

// validate --set: overrides apply to every run of a list, and a bad value names the run's field.
TEST(ScenarioTest, ListOverridesApplyToEveryRun) {
  std::string dir = ScratchDir();
  const std::string run = std::string(kScenario) + "measured: {step_time_s: 1.0}\n";
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
  EXPECT_TRUE(Contains(list.status().message(), "(the value given on the command line: cluster.collective_table=azure-nd-a100-v4)"))
      << list.status().message();
  // The cluster's own checks name the run too.
  list = LoadScenarioList(path, Catalog::Default(), {{"cluster.devices", "0"}});
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().message(), path + ": [0].cluster.devices: expected a positive number, got 0 "
                                            "(the value given on the command line: cluster.devices=0)");
}

// A bad value that an override set names the file and the field, and says it came from the
// command line; an error in a field no override touched says nothing of the kind.
TEST(ScenarioTest, OverrideErrorsSayTheValueCameFromTheCommandLine) {
  std::string path;
  ASSERT_TRUE(LoadText(kScenario, &path).ok());
  StatusOr<Scenario> s = LoadScenarioFile(path, Catalog::Default(), {{"parallel.tp", "0"}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), path + ": parallel.tp: expected a whole number from 1 to 16777216, got '0' "
                                         "(the value given on the command line: parallel.tp=0)");
  s = LoadScenarioFile(path, Catalog::Default(), {{"parallel.tp", "2"}, {"training.seq_len", "-1"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), "training.seq_len=-1)")) << s.status().message();
  EXPECT_FALSE(Contains(s.status().message(), "parallel.tp=2")) << s.status().message();
  s = LoadScenarioFile(path, Catalog::Default(), {{"parallel.tp", "3"}});  // an invalid plan, not bad input
  EXPECT_TRUE(s.ok()) << s.status().message();
}

// --set takes YAML flow collections where a field holds one: a list (`[core_attn, mlp]`) or a
// mapping (`{devices: 16, devices_per_node: 8}`, which replaces the block); a malformed one is
// bad input named by file and key.
TEST(ScenarioTest, OverridesTakeFlowCollections) {
  std::string path;
  ASSERT_TRUE(LoadText(kScenario, &path).ok());
  StatusOr<Scenario> s = LoadScenarioFile(path, Catalog::Default(), {{"parallel.recompute_modules", "[core_attn, mlp]"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->plan.recompute_modules, kModuleCoreAttn | kModuleMlp);
  s = LoadScenarioFile(path, Catalog::Default(),
                       {{"cluster", "{devices: 16, devices_per_node: 8}"}, {"parallel.dp", "8"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->cluster.devices, 16);
  s = LoadScenarioFile(path, Catalog::Default(), {{"parallel.recompute_modules", "[core_attn, mlp"}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.status().message(), path + ": parallel.recompute_modules: expected a YAML flow sequence ([a, b]), got '[core_attn, mlp'"))
      << s.status().message();
  EXPECT_TRUE(Contains(s.status().message(), "(the value given on the command line)")) << s.status().message();
  // Text after the collection is not dropped: it is bad input.
  for (const char* trailing : {"[core_attn] mlp", "[core_attn], [mlp]", "[core_attn]]"}) {
    SCOPED_TRACE(trailing);
    s = LoadScenarioFile(path, Catalog::Default(), {{"parallel.recompute_modules", trailing}});
    EXPECT_FALSE(s.ok());
  }
  s = LoadScenarioFile(path, Catalog::Default(), {{"cluster", "{devices: 16, devices_per_node: 8} junk"}});
  EXPECT_FALSE(s.ok());
  s = LoadScenarioFile(path, Catalog::Default(), {{"parallel.recompute_modules", "[]"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), "got an empty list")) << s.status().message();
  // A value that only looks like one is not: a scalar text stays text.
  s = LoadScenarioFile(path, Catalog::Default(), {{"name", "run [1]"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
}

// Recomputing more never shortens a step. Under DualPipe the slowest rank is the one whose
// micro-batches and bubble take longest together: adding the dense MLP to DeepSeek-V3's recompute
// lengthens the dense stage, whose rank then leaves a smaller bubble; judged by its total alone
// it was picked as the slowest and the step fell.
TEST(ScenarioTest, DualPipeStepDoesNotFallWhenMoreIsRecomputed) {
  const std::string path = SourceDir() + "/examples/deepseek-v3-h800.yaml";
  auto step = [&](const std::string& modules) {
    StatusOr<Scenario> s = LoadScenarioFile(
        path, Catalog::Default(), {{"cluster.hbm_capacity_gib", "1000"}, {"parallel.recompute_modules", modules}});
    EXPECT_TRUE(s.ok()) << s.status().message();
    if (!s.ok()) return 0.0;
    const PlanResult r = Evaluate(*s, {});
    EXPECT_TRUE(r.has_time);
    return r.time.step.value();
  };
  EXPECT_GE(step("[layernorm, mla_up_proj, moe_act, moe, mlp]"), step("[layernorm, mla_up_proj, moe_act, moe]"));
  EXPECT_GE(step("[core_attn, mlp, moe]"), step("[core_attn, moe]"));
}

// Under 1F1B one micro-batch makes every rank's step alike (the bubble is the rest of the sum):
// the breakdown still shows the heaviest stage, as with two.
TEST(ScenarioTest, OneMicroBatchShowsTheHeaviestStage) {
  auto compute = [](const char* batch) {
    StatusOr<Scenario> s = LoadText(std::string("model: llama-3.1-8b\nhardware: h100-sxm-80gb\n"
                                                "cluster: {devices: 8, devices_per_node: 8}\n"
                                                "parallel: {tp: 1, pp: 4, dp: 2, schedule: 1f1b}\n"
                                                "training: {seq_len: 4096, micro_batch: 1, global_batch: ") +
                                    batch + "}\n");
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? Evaluate(*s, {}).time.compute.value() : 0.0;
  };
  EXPECT_NEAR(compute("2"), compute("4") / 2, 1e-9);
}

}  // namespace
}  // namespace preflight
