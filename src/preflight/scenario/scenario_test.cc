// Tests of scenario/scenario.h, loading one scenario: its fields, defaults and derived values,
// overrides applied to every run of a list, and the steps two loaded scenarios evaluate to.
// Elsewhere: the model, tables and host profile a scenario names and its measured block
// (scenario_references_test.cc), the validation files (validation_files_test.cc), overrides
// (override_test.cc), bad scenarios (scenario_error_test.cc) and Evaluate (evaluate_test.cc).
#include "preflight/scenario/scenario.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "preflight/base/test_support.h"
#include "preflight/catalog/catalog.h"
#include "preflight/scenario/evaluate.h"
#include "preflight/scenario/scenario_test_support.h"

namespace preflight {
namespace {

using test_support::Contains;
using test_support::kScenario;
using test_support::LoadText;
using test_support::Replace;
using test_support::ScratchDir;
using test_support::SourceDir;
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

// A model key that looks like a misspelling of one its reader looks up is named with that key (a
// warning of plan): an inline model's, here; the catalog's configs have none.
TEST(ScenarioTest, MisspeltModelKeysAreNamed) {
  StatusOr<Scenario> s = LoadText(Replace(kScenario, "model: llama-3.1-8b",
                                          "model: {model_type: llama, hidden_size: 4096, intermediate_size: 14336, "
                                          "num_attention_heads: 32, num_hidden_layers: 32, num_key_value_head: 8, "
                                          "vocab_size: 128256, torch_dtype: bfloat16}"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->idle_settings.size(), 1u);
  EXPECT_NE(s->idle_settings[0].find("model: 'num_key_value_head' is not a key model_type llama reads, so it changes "
                                     "nothing (did you mean 'num_key_value_heads'?)"),
            std::string::npos)
      << s->idle_settings[0];
  EXPECT_EQ(s->arch.kv_heads, 32);  // the key was not read
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

// training.weight_dtype and grad_reduce_dtype: 16-bit weights beside the master, and a reduction in
// the gradients' own dtype, unless stated (MaxText's fp32 parameters and bf16 reduce-scatter).
TEST(ScenarioTest, WeightAndReductionDtypesFollowTheRunUnlessStated) {
  StatusOr<Scenario> s = LoadText(Replace(kScenario, "precision: bf16", "precision: bf16, grad_dtype: bf16"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->job.Fp32Weights());
  EXPECT_EQ(s->job.GradReduceDtype(), Dtype::kBf16);
  s = LoadText(Replace(kScenario, "precision: bf16", "precision: bf16, weight_dtype: fp32, grad_reduce_dtype: bf16"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->job.Fp32Weights());
  EXPECT_EQ(s->job.grad_dtype, Dtype::kFp32);
  EXPECT_EQ(s->job.GradReduceDtype(), Dtype::kBf16);
  s = LoadText(Replace(kScenario, "precision: bf16", "precision: fp8, weight_dtype: bf16"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->job.Fp32Weights());
  // FP8 parameters where the device has FP8; 16 bits where it does not (its GEMMs fall back too).
  s = LoadText(Replace(kScenario, "precision: bf16", "precision: fp8, weight_dtype: fp8"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->job.Fp8Weights());
  s = LoadText(Replace(Replace(kScenario, "precision: bf16", "precision: fp8, weight_dtype: fp8"), "h100-sxm-80gb", "a100-sxm-80gb"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->job.Fp8Weights());
}

// parallel.zero3_gather names how ZeRO-3 gathers: Megatron-style layers unless stated, DeepSpeed's
// early per-parameter gathers, or PyTorch's FSDP1 or FSDP2 (layers, with their copies).
TEST(ScenarioTest, Zero3GatherNamesTheFramework) {
  const std::string zero3 = Replace(kScenario, "zero: 1,", "zero: 3,");
  StatusOr<Scenario> s = LoadText(zero3);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->plan.fsdp, Plan::Fsdp::kNone);
  EXPECT_FALSE(s->plan.zero3_gather_per_parameter);
  s = LoadText(Replace(zero3, "zero: 3,", "zero: 3, zero3_gather: fsdp1,"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->plan.fsdp, Plan::Fsdp::kFsdp1);
  s = LoadText(Replace(zero3, "zero: 3,", "zero: 3, zero3_gather: fsdp2, fsdp_gather_once: true,"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->plan.fsdp, Plan::Fsdp::kFsdp2);
  EXPECT_TRUE(s->plan.fsdp_gather_once);
  EXPECT_FALSE(s->plan.zero3_gather_per_parameter);
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
