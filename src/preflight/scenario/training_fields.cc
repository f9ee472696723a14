// The `training:` section of a scenario file (scenario/internal/fields.h).
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "preflight/catalog/yaml_reader.h"
#include "preflight/scenario/internal/fields.h"
#include "preflight/scenario/scenario.h"

namespace preflight::scenario_internal {

namespace {

// Bounds that keep token counts (and the byte counts made from them) far from int64 overflow:
// 128M tokens per sequence, 2^40 tokens per step.
constexpr int64_t kMaxSeqLen = int64_t{1} << 27;
constexpr int64_t kMaxBatchTokens = int64_t{1} << 40;

// A dtype name out of `allowed`; `expected` names them for the error.
StatusOr<Dtype> ReadDtype(const MapReader& r, std::string_view key, Dtype fallback,
                          std::initializer_list<Dtype> allowed, const char* expected) {
  if (!r.Has(key)) return fallback;
  ASSIGN_OR_RETURN(std::string name, r.String(key));
  Dtype d;
  if (!ParseDtype(name, &d) || std::find(allowed.begin(), allowed.end(), d) == allowed.end()) {
    return r.Error(key, expected);
  }
  return d;
}

// training: the sequence, the global and micro-batch (sequences).
Status ReadBatch(const MapReader& t, TrainingJob* j, int64_t* micro_batch) {
  ASSIGN_OR_RETURN(j->seq_len, t.Int("seq_len"));
  if (j->seq_len <= 0 || j->seq_len > kMaxSeqLen) {
    return t.Error("seq_len", "a positive whole number up to " + std::to_string(kMaxSeqLen));
  }
  if (t.Has("global_batch") == t.Has("global_batch_tokens")) {
    return t.Error("global_batch", "exactly one of global_batch (sequences) or global_batch_tokens");
  }
  if (t.Has("global_batch")) {
    ASSIGN_OR_RETURN(j->global_batch, t.Int("global_batch"));
  } else {
    ASSIGN_OR_RETURN(int64_t tokens, t.Int("global_batch_tokens"));
    if (tokens <= 0 || tokens % j->seq_len != 0) {
      return t.Error("global_batch_tokens", "a positive multiple of seq_len");
    }
    j->global_batch = tokens / j->seq_len;
  }
  if (j->global_batch <= 0 || j->global_batch > kMaxBatchTokens / j->seq_len) {
    const char* field = t.Has("global_batch") ? "global_batch" : "global_batch_tokens";
    return t.Error(field, "a positive whole number, at most " + std::to_string(kMaxBatchTokens) + " tokens per step");
  }
  ASSIGN_OR_RETURN(*micro_batch, t.IntOr("micro_batch", 1));
  if (*micro_batch <= 0 || *micro_batch > j->global_batch) {
    return t.Error("micro_batch", "a positive whole number, at most global_batch");
  }
  return Status::Ok();
}

// training: the precision and the tokens to train.
Status ReadPrecision(const MapReader& t, TrainingJob* j) {
  // fp32 training is refused, not priced half-way: the step model sizes activations, elementwise
  // passes and messages for 16-bit tensors, and its MFU would divide TF32 GEMM work by the
  // non-tensor FP32 peak (above 100%).
  ASSIGN_OR_RETURN(j->precision,
                   ReadDtype(t, "precision", Dtype::kBf16, {Dtype::kBf16, Dtype::kFp16, Dtype::kFp8, Dtype::kFp4},
                             "one of bf16, fp16, fp8, fp4 (fp32 training is not modelled)"));
  ASSIGN_OR_RETURN(j->tokens, t.NumberOr("tokens", 0));
  if (t.Has("tokens") && (j->tokens < 1 || j->tokens > 1e18)) {
    return t.Error("tokens", "a number of tokens from 1 to 1e18 (leave it out for 1e12)");
  }
  return Status::Ok();
}

// training: fused attention and the kernel whose measured rates time it.
// A kernel ruled out (by flash_attention: false, or a device it was not measured on) is refused, or
// dropped for the device's default where the command line rules it out (Drops).
Status ReadAttentionKernel(const MapReader& t, const HardwareSpec& spec, Drops* drops, TrainingJob* j) {
  ASSIGN_OR_RETURN(j->flash_attention, t.BoolOr("flash_attention", true));
  ASSIGN_OR_RETURN(j->attention_kernel, t.StringOr("attention_kernel", ""));
  if (!j->attention_kernel.empty() && !j->flash_attention) {
    RETURN_IF_ERROR(drops->DropOrRefuse(t, "attention_kernel", "no fused-attention kernel with flash_attention: false",
                                        "flash_attention: true (it names a fused-attention kernel)"));
    j->attention_kernel.clear();
    return Status::Ok();
  }
  // Given, a name must name a kernel: an empty one (`--set training.attention_kernel=`) is not the
  // device's default kernel silently kept.
  const bool given_empty = t.Has("attention_kernel") && j->attention_kernel.empty();
  if (given_empty || (!j->attention_kernel.empty() && !spec.AttentionRates(j->attention_kernel))) {
    const std::string names = spec.AttentionKernelNames();
    const std::string expected = names.empty() ? "no kernel name: the catalog measured no named kernel for " + spec.id
                                               : "one of the kernels measured for " + spec.id + ": " + names;
    if (given_empty) return t.Error("attention_kernel", expected);
    RETURN_IF_ERROR(drops->DropOrRefuse(t, "attention_kernel", expected,
                                        "a device the catalog measured it on (" + spec.id + "'s kernels: " +
                                            (names.empty() ? std::string("none named") : names) + ")"));
    j->attention_kernel.clear();
  }
  return Status::Ok();
}

// A key naming one of `choices` (absent: the first); the error lists them ("a, b or c").
template <typename E>
Status ReadChoice(const MapReader& t, std::string_view key,
                  std::initializer_list<std::pair<std::string_view, E>> choices, E* out) {
  ASSIGN_OR_RETURN(std::string name, t.StringOr(key, std::string(choices.begin()->first)));
  std::string expected;
  size_t i = 0;
  for (const auto& [choice, value] : choices) {
    if (name == choice) {
      *out = value;
      return Status::Ok();
    }
    expected += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + std::string(choice);
    ++i;
  }
  return t.Error(key, expected);
}

// training: the softmax between unfused attention's products, and the longest key length
// Megatron's fused softmax kernel takes.
// Both are read whatever the attention (a --set of flash_attention or attention_softmax leaves the
// file's other settings valid); plan warns where they have no effect.
Status ReadAttentionSoftmax(const MapReader& t, TrainingJob* j) {
  RETURN_IF_ERROR(ReadChoice(t, "attention_softmax",
                             {{"fused", AttentionSoftmax::kFused}, {"unfused", AttentionSoftmax::kUnfused},
                              {"megatron", AttentionSoftmax::kMegatron}},
                             &j->attention_softmax));
  ASSIGN_OR_RETURN(j->attention_softmax_in_fp32, t.BoolOr("attention_softmax_in_fp32", false));
  if (!t.Has("fused_softmax_max_keys")) return Status::Ok();
  ASSIGN_OR_RETURN(j->fused_softmax_max_keys, t.Int("fused_softmax_max_keys"));
  if (j->fused_softmax_max_keys < 17 || j->fused_softmax_max_keys > 1'000'000) {
    return t.Error("fused_softmax_max_keys", "an integer from 17 to 1000000 (the longest key length the kernel takes)");
  }
  return Status::Ok();
}

// training: gradient and optimizer dtypes, FP8's copies, casts and recipe, the 16-bit gradient
// copy.
Status ReadNumerics(const MapReader& t, const HardwareSpec& spec, Drops* drops, TrainingJob* j) {
  ASSIGN_OR_RETURN(j->grad_dtype, ReadDtype(t, "grad_dtype", Dtype::kFp32, {Dtype::kFp32, Dtype::kBf16, Dtype::kFp16},
                                               "fp32, bf16 or fp16"));
  if (t.Has("grad_reduce_dtype")) {
    ASSIGN_OR_RETURN(j->grad_reduce_dtype, ReadDtype(t, "grad_reduce_dtype", j->grad_dtype,
                                                        {Dtype::kFp32, Dtype::kBf16, Dtype::kFp16}, "fp32, bf16 or fp16"));
  }
  ASSIGN_OR_RETURN(j->optimizer_dtype, ReadDtype(t, "optimizer_dtype", Dtype::kFp32, {Dtype::kFp32, Dtype::kBf16},
                                                    "fp32 or bf16"));
  // The parameters' own dtype: fp32 (cast at each use, no 16-bit copy), the run's 16-bit one, or
  // with precision fp8 their FP8 casts (Megatron-Core's --fp8-param-gather).
  const Dtype sixteen = j->precision == Dtype::kFp16 ? Dtype::kFp16 : Dtype::kBf16;
  const bool fp8 = j->precision == Dtype::kFp8;
  const char* weight_choices = sixteen == Dtype::kFp16 ? "fp32 or fp16" : (fp8 ? "fp32, bf16 or fp8" : "fp32 or bf16");
  ASSIGN_OR_RETURN(const Dtype weights,
                   fp8 ? ReadDtype(t, "weight_dtype", sixteen, {Dtype::kFp32, sixteen, Dtype::kFp8}, weight_choices)
                       : ReadDtype(t, "weight_dtype", sixteen, {Dtype::kFp32, sixteen}, weight_choices));
  j->weight_dtype = weights == Dtype::kFp16 ? Dtype::kBf16 : weights;  // 16 bits either way
  ASSIGN_OR_RETURN(j->fp8_weight_copy, t.BoolOr("fp8_weight_copy", true));
  ASSIGN_OR_RETURN(j->fp8_saved_inputs, t.BoolOr("fp8_saved_inputs", true));
  // NVFP4 is refused where the device has no FP4 rate rather than run in another format: its
  // copies, casts and memory differ from FP8's, and no FP4 on the chip is the answer to give.
  if (j->precision == Dtype::kFp4 && !spec.peak(Dtype::kFp4).known()) {
    return t.Error("precision", std::string(spec.peak(Dtype::kFp8).known() ? "fp8, bf16" : "bf16") + " or fp16 on " +
                                    spec.id + ", which has no FP4 rate in the catalog (fp4 needs one)");
  }
  // GEMMs in FP8: the training precision, on a device that has it (DeepSeek-V3's FP8 storage and
  // dispatch are FP8 schemes: NVFP4 runs refuse them). Ruled out by the command line's device or
  // precision, they are dropped, as the FP8 copies are below (Drops).
  const bool fp8_gemms = j->precision == Dtype::kFp8 && spec.peak(Dtype::kFp8).known();
  constexpr std::string_view fp8_needs = "precision: fp8 on a device with an FP8 rate";
  ASSIGN_OR_RETURN(j->low_precision_activations, t.BoolOr("low_precision_activations", false));
  if (j->low_precision_activations && !fp8_gemms) {
    RETURN_IF_ERROR(drops->DropOrRefuse(t, "low_precision_activations",
                                        "precision: fp8 on a device with FP8 beside it (DeepSeek-V3's FP8 storage)", fp8_needs));
    j->low_precision_activations = false;
  }
  ASSIGN_OR_RETURN(j->fp8_dispatch, t.BoolOr("fp8_dispatch", false));
  if (j->fp8_dispatch && !fp8_gemms) {
    RETURN_IF_ERROR(drops->DropOrRefuse(t, "fp8_dispatch",
                                        "precision: fp8 on a device with FP8 beside it (tokens dispatched as FP8 casts)", fp8_needs));
    j->fp8_dispatch = false;
  }
  // A device without FP8 runs FP8 GEMMs in 16 bits (the cost model warns), so they keep 16-bit
  // inputs and no FP8 copy of the weights; NVFP4 (refused above without FP4) asks for FP4 alone.
  const Dtype low = j->precision == Dtype::kFp4 ? Dtype::kFp4 : Dtype::kFp8;
  if (!QuantizedPrecision(spec.GemmDtype(low))) {
    j->fp8_saved_inputs = false, j->fp8_weight_copy = false;
    if (j->Fp8Weights()) j->weight_dtype = Dtype::kBf16;  // FP8 parameters fall back to 16 bits too
  }
  // NVFP4 scales per 16 elements in its own way: an FP8 scaling recipe does not apply to it. Where
  // the command line's precision rules the file's recipe out, it is idle (IdleSettings says so).
  if (j->precision == Dtype::kFp4 && t.Has("fp8_recipe") && !drops->MayDrop("fp8_recipe")) {
    return t.Error("fp8_recipe", "no FP8 recipe with precision: fp4 (NVFP4 scales each 16 elements its own way)");
  }
  RETURN_IF_ERROR(ReadChoice(t, "fp8_recipe",
                             {{"delayed", Fp8Recipe::kDelayed}, {"current", Fp8Recipe::kCurrent},
                              {"mxfp8", Fp8Recipe::kMxfp8}, {"blockwise", Fp8Recipe::kBlockwise}},
                             &j->fp8_recipe));
  ASSIGN_OR_RETURN(j->grad_16bit_copy, t.BoolOr("grad_16bit_copy", false));
  if (j->grad_16bit_copy && j->grad_dtype != Dtype::kFp32) {
    return t.Error("grad_16bit_copy", "false with grad_dtype bf16 (the 16-bit gradients are then the main ones)");
  }
  return Status::Ok();
}

// training: the framework's fusions and loss.
Status ReadFusions(const MapReader& t, TrainingJob* j) {
  ASSIGN_OR_RETURN(j->grad_accumulation_fusion, t.BoolOr("grad_accumulation_fusion", true));
  ASSIGN_OR_RETURN(j->elementwise_fusion, t.BoolOr("elementwise_fusion", true));
  return ReadChoice(t, "cross_entropy",
                    {{"megatron", CrossEntropy::kMegatron}, {"pytorch", CrossEntropy::kPytorch},
                     {"compiled", CrossEntropy::kCompiled}},
                    &j->cross_entropy);
}

// training: MoE token dropping at a capacity factor, and padding to it.
Status ReadMoeCapacity(const MapReader& t, TrainingJob* j) {
  if (t.Has("moe_capacity_factor")) {
    ASSIGN_OR_RETURN(j->moe_capacity_factor, t.Number("moe_capacity_factor"));
    if (!(j->moe_capacity_factor > 0) || j->moe_capacity_factor > 1e3) {
      return t.Error("moe_capacity_factor", "a number above 0, at most 1000 (each expert's capacity over the mean)");
    }
  }
  ASSIGN_OR_RETURN(j->moe_pad_to_capacity, t.BoolOr("moe_pad_to_capacity", false));
  if (j->moe_pad_to_capacity && j->moe_capacity_factor <= 0) {
    return t.Error("moe_pad_to_capacity", "false without training.moe_capacity_factor (padding is to the capacity)");
  }
  return Status::Ok();
}

}  // namespace

// MoE capacity settings Megatron-Core refuses: padding with the flex (DeepEP) dispatcher
// (MoEFlexTokenDispatcher asserts against --moe-pad-expert-input-to-capacity), and a capacity
// above the tokens a rank routes (⌈CF·T·k/E⌉ > T, CF > E/k: the router's top-k over T tokens
// per expert cannot pick more than T).
Status CheckMoeCapacity(const MapReader& root, const Scenario& s) {
  const TrainingJob& j = s.job;
  if (!s.arch.IsMoe() || j.moe_capacity_factor <= 0) return Status::Ok();
  ASSIGN_OR_RETURN(MapReader t, root.Map("training"));
  if (j.moe_pad_to_capacity && j.ep_node_dedup) {
    return t.Error("moe_pad_to_capacity", "false with ep_dispatcher: deepep (Megatron-Core's flex dispatcher does not pad)");
  }
  const double most = static_cast<double>(s.arch.moe.experts) / static_cast<double>(s.arch.moe.top_k);
  if (j.moe_capacity_factor > most) {
    std::ostringstream want;
    want << "at most experts / top-k = " << most << " (a larger capacity exceeds the tokens a rank routes)";
    return t.Error("moe_capacity_factor", want.str());
  }
  return Status::Ok();
}

namespace {

// training: MoE's dispatcher, its SMs, load imbalance and grouped GEMM.
Status ReadMoeOptions(const MapReader& t, const HardwareSpec& spec, Drops* drops, TrainingJob* j) {
  ASSIGN_OR_RETURN(std::string dispatcher, t.StringOr("ep_dispatcher", "alltoall"));
  if (dispatcher != "alltoall" && dispatcher != "deepep") return t.Error("ep_dispatcher", "alltoall or deepep");
  j->ep_node_dedup = dispatcher == "deepep";
  if (t.Has("ep_comm_units") && !j->ep_node_dedup) {
    constexpr std::string_view kDeepEp = "ep_dispatcher: deepep (the SMs DeepEP's kernels hold)";
    RETURN_IF_ERROR(drops->DropOrRefuse(t, "ep_comm_units", kDeepEp, kDeepEp));
  } else if (t.Has("ep_comm_units")) {
    ASSIGN_OR_RETURN(j->ep_comm_units, t.Int("ep_comm_units"));
    const Figure& units = spec.compute_units;
    if (j->ep_comm_units < 1 || (units.known() && static_cast<double>(j->ep_comm_units) >= units.value)) {
      return t.Error("ep_comm_units", "an integer >= 1 and below the device's " +
                                          (units.known() ? std::to_string(static_cast<int64_t>(units.value)) : std::string("")) +
                                          " compute units (SMs held by DeepEP's kernels)");
    }
  }
  ASSIGN_OR_RETURN(j->moe_imbalance, t.NumberOr("moe_imbalance", 1.0));
  if (j->moe_imbalance < 1.0 || j->moe_imbalance > 1e3) {
    return t.Error("moe_imbalance", "a number from 1 to 1000 (busiest rank over mean)");
  }
  RETURN_IF_ERROR(ReadMoeCapacity(t, j));
  ASSIGN_OR_RETURN(std::string grouped, t.StringOr("moe_grouped_gemm", "one_kernel"));
  if (grouped != "one_kernel" && grouped != "per_expert") return t.Error("moe_grouped_gemm", "one_kernel or per_expert");
  j->moe_gemm_per_expert = grouped == "per_expert";
  return Status::Ok();
}

}  // namespace

Status ReadTraining(const MapReader& root, const HardwareSpec& spec, Drops* drops, TrainingJob* j, int64_t* micro_batch) {
  ASSIGN_OR_RETURN(MapReader t, root.Map("training"));
  RETURN_IF_ERROR(t.CheckKnownKeys({"seq_len", "global_batch", "global_batch_tokens", "micro_batch",
                                    "precision", "tokens", "flash_attention", "grad_dtype", "grad_reduce_dtype", "weight_dtype",
                                    "optimizer_dtype", "fp8_weight_copy", "fp8_saved_inputs", "low_precision_activations", "fp8_dispatch", "grad_16bit_copy", "fp8_recipe",
                                    "moe_imbalance", "moe_capacity_factor", "moe_pad_to_capacity", "moe_grouped_gemm", "host_overhead_per_kernel_us", "attention_kernel",
                                    "grad_accumulation_fusion", "elementwise_fusion", "cross_entropy",
                                    "ep_dispatcher", "ep_comm_units", "host_profile", "attention_softmax",
                                    "attention_softmax_in_fp32", "fused_softmax_max_keys"}));
  RETURN_IF_ERROR(ReadBatch(t, j, micro_batch));
  RETURN_IF_ERROR(ReadPrecision(t, j));
  RETURN_IF_ERROR(ReadAttentionKernel(t, spec, drops, j));
  RETURN_IF_ERROR(ReadAttentionSoftmax(t, j));
  RETURN_IF_ERROR(ReadNumerics(t, spec, drops, j));
  RETURN_IF_ERROR(ReadFusions(t, j));
  RETURN_IF_ERROR(ReadMoeOptions(t, spec, drops, j));
  ASSIGN_OR_RETURN(j->host_overhead_per_kernel_us, t.NumberOr("host_overhead_per_kernel_us", 5.0));
  if (j->host_overhead_per_kernel_us < 0 || j->host_overhead_per_kernel_us > 1e6) {
    return t.Error("host_overhead_per_kernel_us", "a number of microseconds from 0 to 1e6");
  }
  return Status::Ok();
}

}  // namespace preflight::scenario_internal
