// Tests of the errors of scenario/scenario.h: a bad scenario fails with a Status of one line naming
// the file and the field; a missing, malformed or misshapen file and a bad run of a list are named;
// a valid input with an invalid plan is a plan issue reported by Evaluate, not a load error.
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
using test_support::WriteFile;

struct BadScenario {
  const char* what;
  const char* from;
  const char* to;
  StatusCode code;
  const char* field;  // the message must contain "<file>: <field>"
};

// DeepSpeed's BF16_Optimizer runs its own ZeRO-1: a given ZeRO-3 plan contradicts the 16-bit copy,
// a searched one (parallel: auto) does not.
TEST(ScenarioErrorTest, Grad16BitCopyNeedsZeroAtMostOne) {
  const std::string copy = Replace(kScenario, "precision: bf16", "precision: bf16, grad_16bit_copy: true");
  ASSERT_TRUE(LoadText(copy).ok());
  StatusOr<Scenario> s = LoadText(Replace(copy, "zero: 1,", "zero: 3,"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.status().message(), "training.grad_16bit_copy")) << s.status().message();
  EXPECT_TRUE(Contains(s.status().message(), "zero 2 or 3")) << s.status().message();
}

// Capacity settings Megatron-Core refuses on an MoE model: padding with the flex (DeepEP)
// dispatcher, and a capacity factor above experts / top-k (Mixtral: 8 / 2 = 4), where a rank's
// capacity per expert exceeds the tokens it routes. The same settings load on a dense model, where
// they do nothing (idle settings).
TEST(ScenarioErrorTest, CapacitySettingsMegatronRefuses) {
  const std::string moe = Replace(kScenario, "model: llama-3.1-8b", "model: mixtral-8x7b");
  const std::string capacity = Replace(moe, "precision: bf16", "precision: bf16, moe_capacity_factor: 4");
  ASSERT_TRUE(LoadText(capacity).ok()) << LoadText(capacity).status().message();
  StatusOr<Scenario> s = LoadText(Replace(moe, "precision: bf16", "precision: bf16, moe_capacity_factor: 4.5"));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), "training.moe_capacity_factor")) << s.status().message();
  EXPECT_TRUE(Contains(s.status().message(), "at most experts / top-k = 4")) << s.status().message();
  s = LoadText(Replace(capacity, "moe_capacity_factor: 4", "moe_capacity_factor: 1.25, moe_pad_to_capacity: true, ep_dispatcher: deepep"));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), "training.moe_pad_to_capacity")) << s.status().message();
  EXPECT_TRUE(LoadText(Replace(kScenario, "precision: bf16", "precision: bf16, moe_capacity_factor: 4.5")).ok());
}

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
      {"a newline in the name", "name: small", "name: \"a\\nb\"", StatusCode::kInvalidArgument,
       "name: expected a name without control characters"},
      // Unicode's C1 controls: NEL (U+0085) breaks a line, CSI (U+009B) starts a terminal sequence.
      {"a C1 control in the name", "name: small", "name: \"a\\x85b\"", StatusCode::kInvalidArgument,
       "name: expected a name without control characters"},
      {"a CSI in the name", "name: small", "name: \"a\xc2\x9b[31mb\"", StatusCode::kInvalidArgument,
       "name: expected a name without control characters"},
      {"a line separator in the name", "name: small", "name: \"a\xe2\x80\xa8" "b\"", StatusCode::kInvalidArgument,
       "name: expected a name without control characters"},
      // A right-to-left override (U+202E) shows what follows it reversed in the report.
      {"a bidirectional control in the name", "name: small", "name: \"a\xe2\x80\xae" "b\"",
       StatusCode::kInvalidArgument, "name: expected a name without control characters"},
      // Bounds of sanity: beyond them products overflow (a SIGFPE once) or figures turn inf or NaN.
      {"tp past the largest cluster", "tp: 2,", "tp: 4294967296,", StatusCode::kInvalidArgument, "parallel.tp"},
      {"tp*cp*pp past the largest cluster", "tp: 2,", "tp: 8192, cp: 8192,", StatusCode::kInvalidArgument,
       "parallel.cp"},
      {"a cp that takes tp*cp*pp past the largest cluster", "tp: 2,", "tp: 4, cp: 16777216,",
       StatusCode::kInvalidArgument, "parallel.cp: expected tp*cp*pp"},
      {"a pp that takes tp*cp*pp past the largest cluster", "pp: 1,", "pp: 16777216,",
       StatusCode::kInvalidArgument, "parallel.pp: expected tp*cp*pp"},
      {"pue of 1e300", "devices_per_node: 8", "devices_per_node: 8, pue: 1e300", StatusCode::kInvalidArgument,
       "cluster.pue"},
      {"HBM of 1e300 GiB", "devices_per_node: 8", "devices_per_node: 8, hbm_capacity_gib: 1e300",
       StatusCode::kInvalidArgument, "cluster.hbm_capacity_gib"},
      {"vanishing bus bandwidth", "devices_per_node: 8", "devices_per_node: 8, scale_up_busbw_gbytes_per_s: 1e-300",
       StatusCode::kInvalidArgument, "cluster.scale_up_busbw_gbytes_per_s"},
      {"moe_imbalance of 1e300", "seq_len: 4096,", "seq_len: 4096, moe_imbalance: 1e300,",
       StatusCode::kInvalidArgument, "training.moe_imbalance"},
      {"capacity factor of 0", "seq_len: 4096,", "seq_len: 4096, moe_capacity_factor: 0,",
       StatusCode::kInvalidArgument, "training.moe_capacity_factor"},
      {"padding without a capacity", "seq_len: 4096,", "seq_len: 4096, moe_pad_to_capacity: true,",
       StatusCode::kInvalidArgument, "training.moe_pad_to_capacity"},
      {"host overhead of 1e300", "seq_len: 4096,", "seq_len: 4096, host_overhead_per_kernel_us: 1e300,",
       StatusCode::kInvalidArgument, "training.host_overhead_per_kernel_us"},
      {"DeepSeek's FP8 storage without FP8", "seq_len: 4096,", "seq_len: 4096, low_precision_activations: true,",
       StatusCode::kInvalidArgument, "training.low_precision_activations"},
      {"FP8 dispatch without FP8", "seq_len: 4096,", "seq_len: 4096, fp8_dispatch: true,",
       StatusCode::kInvalidArgument, "training.fp8_dispatch"},
      {"DeepEP holding every SM", "seq_len: 4096,", "seq_len: 4096, ep_dispatcher: deepep, ep_comm_units: 200,",
       StatusCode::kInvalidArgument, "training.ep_comm_units"},
      {"unknown reliability key", "source:", "reliability: {mtbf_h: 3}\nsource:", StatusCode::kInvalidArgument,
       "reliability.mtbf_h"},
      {"unknown reliability profile", "source:", "reliability: {profile: lemon-cluster}\nsource:",
       StatusCode::kNotFound, "reliability.profile"},
      {"reliability a number", "source:", "reliability: 3\nsource:", StatusCode::kInvalidArgument, "reliability"},
      {"negative failure rate", "source:", "reliability: {failures_per_node_day: -1}\nsource:",
       StatusCode::kInvalidArgument, "reliability.failures_per_node_day"},
      {"restart of no time", "source:", "reliability: {restart_min: 0}\nsource:", StatusCode::kInvalidArgument,
       "reliability.restart_min"},
      {"checkpoint size not a number", "source:", "reliability: {checkpoint_bytes_per_param: lots}\nsource:",
       StatusCode::kInvalidArgument, "reliability.checkpoint_bytes_per_param"},
      {"a key given twice", "tp: 2,", "tp: 2, tp: 8,", StatusCode::kInvalidArgument, "parallel.tp"},
      {"zero tokens", "seq_len: 4096,", "seq_len: 4096, tokens: 0,", StatusCode::kInvalidArgument,
       "training.tokens"},
      {"MFU above one", "source:", "measured: {mfu: 5}\nsource:", StatusCode::kInvalidArgument, "measured.mfu"},
      {"vanishing step time", "source:", "measured: {step_time_s: 1e-300}\nsource:", StatusCode::kInvalidArgument,
       "measured.step_time_s"},
      {"model path a directory", "model: llama-3.1-8b", "model: /tmp", StatusCode::kInvalidArgument, "model"},
      {"an empty name", "name: small", "name: \"\"", StatusCode::kInvalidArgument, "name"},
      {"a blank name", "name: small", "name: \"   \"", StatusCode::kInvalidArgument, "name"},
      {"inline model nesting without end", "model: llama-3.1-8b", "model: &m {a: *m}",
       StatusCode::kInvalidArgument, "model"},
      {"zero pp", "pp: 1,", "pp: 0,", StatusCode::kInvalidArgument, "parallel.pp"},
      {"fractional dp", "dp: 4,", "dp: 2.5,", StatusCode::kInvalidArgument, "parallel.dp"},
      {"zero stage 5", "zero: 1,", "zero: 5,", StatusCode::kInvalidArgument, "parallel.zero"},
      {"unknown schedule", "schedule: 1f1b", "schedule: pipedream", StatusCode::kInvalidArgument,
       "parallel.schedule"},
      {"unknown recompute", "recompute: selective", "recompute: some", StatusCode::kInvalidArgument,
       "parallel.recompute"},
      {"sp not a bool", "sp: true", "sp: maybe", StatusCode::kInvalidArgument, "parallel.sp"},
      {"elementwise_fusion not a bool", "seq_len: 4096,",
       "seq_len: 4096, elementwise_fusion: eager,", StatusCode::kInvalidArgument,
       "training.elementwise_fusion"},
      {"unknown cross_entropy", "seq_len: 4096,", "seq_len: 4096, cross_entropy: fused,",
       StatusCode::kInvalidArgument, "training.cross_entropy"},
      {"unknown attention_softmax", "seq_len: 4096,",
       "seq_len: 4096, flash_attention: false, attention_softmax: apex,", StatusCode::kInvalidArgument,
       "training.attention_softmax: expected fused, unfused or megatron"},
      {"attention_softmax_in_fp32 not a bool", "seq_len: 4096,",
       "seq_len: 4096, flash_attention: false, attention_softmax_in_fp32: yes please,", StatusCode::kInvalidArgument,
       "training.attention_softmax_in_fp32"},
      {"fused_softmax_max_keys too small", "seq_len: 4096,",
       "seq_len: 4096, flash_attention: false, attention_softmax: megatron, fused_softmax_max_keys: 16,",
       StatusCode::kInvalidArgument, "training.fused_softmax_max_keys"},
      {"fp8_saved_inputs not a bool", "seq_len: 4096,", "seq_len: 4096, fp8_saved_inputs: maybe,",
       StatusCode::kInvalidArgument, "training.fp8_saved_inputs"},
      {"grad_16bit_copy not a bool", "seq_len: 4096,", "seq_len: 4096, grad_16bit_copy: yes please,",
       StatusCode::kInvalidArgument, "training.grad_16bit_copy"},
      {"unknown fp8_recipe", "seq_len: 4096,", "seq_len: 4096, fp8_recipe: tensorwise,",
       StatusCode::kInvalidArgument, "training.fp8_recipe"},
      {"fp32 training", "precision: bf16", "precision: fp32", StatusCode::kInvalidArgument,
       "training.precision: expected one of bf16, fp16, fp8, fp4 (fp32 training is not modelled)"},
      {"grad_16bit_copy with bf16 main gradients", "precision: bf16",
       "precision: bf16, grad_dtype: bf16, grad_16bit_copy: true", StatusCode::kInvalidArgument,
       "training.grad_16bit_copy"},
      {"unknown zero3_gather", "tp: 2,", "tp: 2, zero3_gather: tensor,",
       StatusCode::kInvalidArgument, "parallel.zero3_gather"},
      {"zero3_gather parameter without zero 3", "tp: 2,", "tp: 2, zero3_gather: parameter,",
       StatusCode::kInvalidArgument, "parallel.zero3_gather"},
      {"zero3_gather fsdp2 without zero 3", "tp: 2,", "tp: 2, zero3_gather: fsdp2,",
       StatusCode::kInvalidArgument, "parallel.zero3_gather"},
      {"zero3_gather fsdp1 without zero 3", "tp: 2,", "tp: 2, zero3_gather: fsdp1,",
       StatusCode::kInvalidArgument, "parallel.zero3_gather"},
      {"zero3_gather fsdp1 gathering once", "zero: 1,", "zero: 3, fsdp_gather_once: true, zero3_gather: fsdp1,",
       StatusCode::kInvalidArgument, "parallel.zero3_gather"},
      {"grad_flatten with ZeRO (the scenario's zero 1)", "tp: 2,", "tp: 2, grad_flatten: true,",
       StatusCode::kInvalidArgument, "parallel.grad_flatten"},
      {"grad_flatten not a bool", "tp: 2,", "tp: 2, grad_flatten: maybe,",
       StatusCode::kInvalidArgument, "parallel.grad_flatten"},
      {"unknown ep_dispatcher", "seq_len: 4096,", "seq_len: 4096, ep_dispatcher: flex,",
       StatusCode::kInvalidArgument, "training.ep_dispatcher"},
      {"unknown recompute module", "recompute: selective",
       "recompute: selective, recompute_modules: [core_attn, attn]", StatusCode::kInvalidArgument,
       "parallel.recompute_modules"},
      {"empty recompute modules", "recompute: selective",
       "recompute: selective, recompute_modules: []", StatusCode::kInvalidArgument,
       "parallel.recompute_modules"},
      {"a recompute module given twice", "recompute: selective",
       "recompute: selective, recompute_modules: [mlp, core_attn, mlp]", StatusCode::kInvalidArgument,
       "parallel.recompute_modules: expected a list of core_attn, layernorm, moe_act, mla_up_proj, mlp, moe, "
       "shared_experts, each once ('mlp' is given twice)"},
      {"recompute modules as a mapping", "recompute: selective",
       "recompute: selective, recompute_modules: {mlp: 1}", StatusCode::kInvalidArgument,
       "parallel.recompute_modules"},
      {"dp_shard of none", "tp: 2,", "tp: 2, dp_shard: 0,", StatusCode::kInvalidArgument,
       "parallel.dp_shard: expected a whole number of data-parallel ranks from 1 to the cluster's"},
      {"dp_shard not a number", "tp: 2,", "tp: 2, dp_shard: half,", StatusCode::kInvalidArgument,
       "parallel.dp_shard"},
      {"unknown checkpoint name", "recompute: selective",
       "recompute: names, recompute_saved: [query_proj, mlp_out]", StatusCode::kInvalidArgument,
       "parallel.recompute_saved: expected a list of query_proj, key_proj, value_proj, qkv_proj, out_proj, context, "
       "mlpwi_0, mlpwi_1, mlpwi, mlpwo, decoder_layer_input ('mlp_out' is none of them)"},
      {"a checkpoint both saved and offloaded", "recompute: selective",
       "recompute: names, recompute_saved: [qkv_proj], recompute_offloaded: [key_proj]",
       StatusCode::kInvalidArgument, "parallel.recompute_offloaded: expected a list of query_proj"},
      {"checkpoint names as a mapping", "recompute: selective",
       "recompute: names, recompute_offloaded: {out_proj: 1}", StatusCode::kInvalidArgument,
       "parallel.recompute_offloaded"},
      {"fsdp_gather_once without zero 3", "tp: 2,", "tp: 2, fsdp_gather_once: true,",
       StatusCode::kInvalidArgument, "parallel.fsdp_gather_once"},
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
      {"negative tokens", "global_batch: 64", "global_batch_tokens: -4096",
       StatusCode::kInvalidArgument, "training.global_batch_tokens: expected a positive multiple"},
      {"zero seq_len", "seq_len: 4096", "seq_len: 0", StatusCode::kInvalidArgument,
       "training.seq_len"},
      {"negative micro-batch", "micro_batch: 1", "micro_batch: -1", StatusCode::kInvalidArgument,
       "training.micro_batch"},
      {"int8 precision", "precision: bf16", "precision: int8", StatusCode::kInvalidArgument,
       "training.precision"},
      {"fp4 gradients", "precision: bf16", "precision: bf16, grad_dtype: fp4",
       StatusCode::kInvalidArgument, "training.grad_dtype"},
      {"fp8 optimizer moments", "precision: bf16", "precision: bf16, optimizer_dtype: fp8",
       StatusCode::kInvalidArgument, "training.optimizer_dtype"},
      {"weights in the other 16-bit dtype", "precision: bf16", "precision: bf16, weight_dtype: fp16",
       StatusCode::kInvalidArgument, "training.weight_dtype: expected fp32 or bf16"},
      {"fp16 weights of an fp16 run are its default; bf16 are not", "precision: bf16",
       "precision: fp16, weight_dtype: bf16", StatusCode::kInvalidArgument, "training.weight_dtype: expected fp32 or fp16"},
      {"fp8 weights without fp8 GEMMs", "precision: bf16", "precision: bf16, weight_dtype: fp8",
       StatusCode::kInvalidArgument, "training.weight_dtype: expected fp32 or bf16"},
      {"fp8 gradient reduction", "precision: bf16", "precision: bf16, grad_reduce_dtype: fp8",
       StatusCode::kInvalidArgument, "training.grad_reduce_dtype"},
      {"sequence long enough to overflow token counts", "seq_len: 4096", "seq_len: 4294967296",
       StatusCode::kInvalidArgument, "training.seq_len"},
      {"step of more than 2^40 tokens", "global_batch: 64", "global_batch: 1099511627776",
       StatusCode::kInvalidArgument, "training.global_batch"},
      {"micro-batch above the global batch", "micro_batch: 1", "micro_batch: 65",
       StatusCode::kInvalidArgument, "training.micro_batch"},
      {"negative first-stage layers", "tp: 2,", "tp: 2, first_stage_layers: -3,",
       StatusCode::kInvalidArgument, "parallel.first_stage_layers"},
      {"more last-stage layers than any model has", "tp: 2,", "tp: 2, last_stage_layers: 2147483648,",
       StatusCode::kInvalidArgument, "parallel.last_stage_layers: expected a whole number of layers from 0 (an even split) to 100000"},
      {"negative offloaded layers", "tp: 2,", "tp: 2, cpu_offload_layers: -1,",
       StatusCode::kInvalidArgument, "parallel.cpu_offload_layers"},
      {"offloaded layers not a number", "tp: 2,", "tp: 2, cpu_offload_layers: half,",
       StatusCode::kInvalidArgument, "parallel.cpu_offload_layers"},
      {"more offloaded layers than any model has", "tp: 2,", "tp: 2, cpu_offload_layers: 200000,",
       StatusCode::kInvalidArgument, "parallel.cpu_offload_layers: expected a whole number of layers from 0 (off) to 100000"},
      {"negative last-stage layers", "tp: 2,", "tp: 2, last_stage_layers: -1,",
       StatusCode::kInvalidArgument, "parallel.last_stage_layers"},
      {"unknown precision", "precision: bf16", "precision: bf17", StatusCode::kInvalidArgument,
       "training.precision"},
      {"negative tokens", "precision: bf16", "precision: bf16, tokens: -5",
       StatusCode::kInvalidArgument, "training.tokens"},
      {"attention kernel the catalog did not measure", "precision: bf16",
       "precision: bf16, attention_kernel: fa9", StatusCode::kInvalidArgument,
       "training.attention_kernel"},
      {"attention kernel without fused attention", "precision: bf16",
       "precision: bf16, flash_attention: false, attention_kernel: fa2",
       StatusCode::kInvalidArgument, "training.attention_kernel"},
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
  // A single scenario given where a list is expected says so (not "name: unknown field").
  std::string single = WriteFile(dir, "single.yaml", kScenario);
  l = LoadScenarioList(single, Catalog::Default());
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().message(), single + ": expected a list of scenarios (or runs: [...]), got a mapping");
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

// One run anchored and repeated by alias costs a few bytes a run in the file and a whole scenario
// in memory: the count is bounded, and so is the number of searches (runs without a layout).
TEST(ScenarioErrorTest, AValidationFileHoldsABoundedNumberOfRuns) {
  std::string dir = ScratchDir();
  auto repeated = [](const std::string& run, size_t n) {
    std::string text = "- &r\n";
    for (size_t start = 0, end; start < run.size(); start = end + 1) {
      end = run.find('\n', start);
      if (end == std::string::npos) end = run.size();
      text += "  " + run.substr(start, end - start) + "\n";
    }
    for (size_t i = 1; i < n; ++i) text += "- *r\n";
    return text;
  };
  const std::string good = std::string(kScenario) + "measured: {step_time_s: 1.0}\n";
  std::string many = WriteFile(dir, "many.yaml", repeated(good, kMaxValidationRuns + 1));
  StatusOr<std::vector<Scenario>> l = LoadScenarioList(many, Catalog::Default());
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().message(), many + ": the list: expected at most " + std::to_string(kMaxValidationRuns) +
                                      " runs, got " + std::to_string(kMaxValidationRuns + 1));
  const std::string searched = Replace(good, "parallel: {tp: 2, pp: 1, dp: 4, sp: true, zero: 1, schedule: 1f1b, recompute: selective}",
                                       "parallel: auto");
  std::string few = WriteFile(dir, "auto.yaml", repeated(searched, 2));
  l = LoadScenarioList(few, Catalog::Default());
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_TRUE((*l)[1].auto_parallel);
  const std::string cap = "].parallel: expected at most " + std::to_string(kMaxAutoValidationRuns) +
                          " runs without a layout";
  const std::string index = "[" + std::to_string(kMaxAutoValidationRuns);
  std::string over = WriteFile(dir, "auto_over.yaml", repeated(searched, kMaxAutoValidationRuns + 1));
  l = LoadScenarioList(over, Catalog::Default());
  ASSERT_FALSE(l.ok());
  EXPECT_TRUE(Contains(l.status().message(), over + ": " + index + cap)) << l.status().message();
  // A null `parallel` is searched too.
  std::string null = WriteFile(dir, "null_over.yaml",
                               repeated(Replace(searched, "parallel: auto", "parallel: ~"), kMaxAutoValidationRuns + 1));
  l = LoadScenarioList(null, Catalog::Default());
  ASSERT_FALSE(l.ok());
  EXPECT_TRUE(Contains(l.status().message(), null + ": " + index + cap)) << l.status().message();
  // A key set inside `parallel` makes a layout of every run: none is searched, so the first run's
  // own error (here: not measured) comes, not the cap's.
  std::string unmeasured = WriteFile(dir, "auto_unmeasured.yaml",
                                     repeated(std::string(kScenario), kMaxAutoValidationRuns + 1));
  l = LoadScenarioList(unmeasured, Catalog::Default(), {{"parallel", "auto"}, {"parallel.tp", "1"}});
  ASSERT_FALSE(l.ok());
  EXPECT_TRUE(Contains(l.status().message(), unmeasured + ": [0].measured")) << l.status().message();
  l = LoadScenarioList(unmeasured, Catalog::Default(), {{"parallel", "auto"}, {"training.seq_len", "2048"}});
  ASSERT_FALSE(l.ok());
  EXPECT_TRUE(Contains(l.status().message(), unmeasured + ": " + index + cap)) << l.status().message();
  // The override made them searches, and the message says which one (not the seq_len after it).
  EXPECT_TRUE(Contains(l.status().message(), "got more (the value given on the command line: parallel=auto)"))
      << l.status().message();
  // The file's own `auto` runs are not the command line's.
  l = LoadScenarioList(over, Catalog::Default(), {{"training.seq_len", "2048"}});
  ASSERT_FALSE(l.ok());
  EXPECT_FALSE(Contains(l.status().message(), "command line")) << l.status().message();
}

TEST(ScenarioErrorTest, ListErrorsNameTheRun) {
  std::string dir = ScratchDir();
  const std::string good = std::string(kScenario) + "measured: {step_time_s: 1.0}\n";
  const std::string bad = Replace(good, "tp: 2,", "tp: 0,");
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
  // Every run of a validation file is measured: a run without figures is named, not dropped.
  std::string unmeasured = WriteFile(dir, "unmeasured.yaml", ListItem(good, "") + ListItem(kScenario, ""));
  StatusOr<std::vector<Scenario>> u = LoadScenarioList(unmeasured, Catalog::Default());
  ASSERT_FALSE(u.ok());
  EXPECT_TRUE(Contains(u.status().message(), unmeasured + ": [1].measured: expected the run's measured figures, a number for at least one of step_time_s"))
      << u.status().message();
  // Beside `runs:` the file holds nothing else (a key there would be read as nothing).
  std::string extra = WriteFile(dir, "extra.yaml", "source: x\nruns:\n" + ListItem(good, "  "));
  StatusOr<std::vector<Scenario>> e = LoadScenarioList(extra, Catalog::Default());
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(Contains(e.status().message(), extra + ": source: unknown field")) << e.status().message();
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

}  // namespace
}  // namespace preflight
