// File: parallel/plan.h
//
// A parallel layout and the training job it runs, and the rules that make a layout valid.
// An invalid layout is an expected outcome (a value with a reason), not an error.
//
//   Plan p; p.tp = 8; p.pp = 16; p.dp = 128; p.sp = true; p.zero = 1;
//   TrainingJob job; job.seq_len = 8192; job.global_batch = 2048;
//   PlanCheck check = CheckPlan(arch, p, job, /*devices=*/16384);
//   if (!check.ok()) std::cout << check.message;
//
// Conventions: the device grid is TP × CP × DP × PP in Megatron's rank order (TP innermost, PP
// outermost: docs/cost-model.md); expert layers refold
// the same TP·CP·DP devices of a stage into ETP × EP × expert-DP (Megatron's MoE folding).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "preflight/catalog/hardware_spec.h"
#include "preflight/catalog/host_profile.h"
#include "preflight/model/architecture.h"

namespace preflight {

enum class Schedule { kGpipe, k1F1B, kInterleaved, kZbH1, kDualPipe };
// Activation recomputation: none; selective (Megatron's: the attention products); full (each
// layer from its input); selective-op (torchtitan's op-level policy: keep the outputs of the
// matrix products and fused attention except every second matrix product of a layer, recompute
// everything else); dots (JAX's checkpoint_dots_with_no_batch_dims, MaxText's remat_policy
// "minimal": keep the layer input and the outputs of the weight products, recompute the norms,
// RoPE, the attention products and the activation from them); names (JAX's save_only_these_names,
// MaxText's named checkpoints: remat_policy "custom", and "full" or "save_qkv_proj" as lists:
// keep the layer input and the named tensors, in device or host memory, and recompute in the
// backward only what the backward reads and nothing saved, as JAX's rematerialization drops dead
// code: the MLP's last product (whose output only the next layer reads) never runs again).
enum class Recompute { kNone, kSelective, kFull, kSelectiveOp, kDots, kNames };

// How full recompute spreads over a stage's layers: Megatron-LM's --recompute-method. uniform:
// every layer recomputed, its inputs checkpointed once per group of recompute_num_layers layers;
// block: the first recompute_num_layers layers of each model chunk recomputed, the rest keeping
// everything (no recompute).
enum class RecomputeMethod { kUniform, kBlock };

// What selective recompute recomputes: Megatron-Core's recompute_modules (TransformerConfig,
// --recompute-modules; default core_attn alone), as bits of Plan::recompute_modules.
// "Output-discarding" modules (layernorm, moe_act, mla_up_proj) keep their input, which another
// op saves anyway, and drop their output; the others keep only their input and drop everything
// inside them.
enum RecomputeModule : uint32_t {
  kModuleCoreAttn = 1u << 0,       // the attention products (softmax(QK^T)V)
  kModuleLayernorm = 1u << 1,      // input_layernorm and pre_mlp_layernorm: their outputs
  kModuleMoeAct = 1u << 2,         // the routed experts' activation function: its output
  kModuleMlaUpProj = 1u << 3,      // MLA's up-projections and RoPE: q, k and v
  kModuleMlp = 1u << 4,            // a dense layer's MLP
  kModuleMoe = 1u << 5,            // an MoE layer's router, dispatch, experts and combine
  kModuleSharedExperts = 1u << 6,  // an MoE layer's shared experts
};
inline constexpr uint32_t kAllRecomputeModules = (1u << 7) - 1;

// What recompute `names` keeps of a dense layer, by MaxText's checkpoint names (layers/llama2.py,
// attentions.py, linears.py: checkpoint_name), as bits of Plan::recompute_saved and
// recompute_offloaded. The layer input is kept in any case (the scan's carry); naming it among
// the offloaded moves it to host memory. qkv_proj (MaxText's fused QKV) names the three
// projections, mlpwi (its fused MLP input) both of a gated MLP's input products.
enum SavedTensor : uint32_t {
  kSavedQuery = 1u << 0,       // query_proj: the q projection's output
  kSavedKey = 1u << 1,         // key_proj
  kSavedValue = 1u << 2,       // value_proj
  kSavedOutProj = 1u << 3,     // out_proj: the attention output projection's output
  kSavedContext = 1u << 4,     // context: the attention product's output (with its log-sum-exp)
  kSavedMlpWi0 = 1u << 5,      // mlpwi_0: the MLP's (gate) input product
  kSavedMlpWi1 = 1u << 6,      // mlpwi_1: a gated MLP's up product
  kSavedMlpWo = 1u << 7,       // mlpwo: the MLP's output product
  kSavedLayerInput = 1u << 8,  // decoder_layer_input
};

std::string_view ScheduleName(Schedule s);
std::string_view RecomputeName(Recompute r);
bool ParseSchedule(std::string_view name, Schedule* out);
bool ParseRecompute(std::string_view name, Recompute* out);
// One module by Megatron-Core's name (core_attn, layernorm, moe_act, mla_up_proj, mlp, moe,
// shared_experts); false for any other name.
bool ParseRecomputeModule(std::string_view name, RecomputeModule* out);
// The set's names, comma-separated, in the order above.
std::string RecomputeModuleNames(uint32_t modules);
// One tensor (or the fused names' set) by MaxText's checkpoint name: query_proj, key_proj,
// value_proj, qkv_proj, out_proj, context, mlpwi_0, mlpwi_1, mlpwi, mlpwo, decoder_layer_input;
// false for any other name.
bool ParseSavedTensor(std::string_view name, uint32_t* bits);
// The set's names, comma-separated, in SavedTensor's order (each bit by its own name).
std::string SavedTensorNames(uint32_t bits);

// DeepSpeed's default reduce_bucket_size (its ZeRO configuration): the gradient elements its
// stage 2 and 3 reduce in one bucket, and hold in one buffer.
inline constexpr double kDeepSpeedReduceBucketElements = 5e8;

struct Plan {
  int64_t tp = 1;
  int64_t pp = 1;
  int64_t vpp = 1;  // virtual stages (model chunks) per device; > 1 only with kInterleaved
  int64_t dp = 1;
  int64_t cp = 1;
  int64_t ep = 1;   // expert parallel
  int64_t etp = 1;  // expert tensor parallel
  bool sp = false;  // sequence parallel (with TP)
  int zero = 0;     // 0 none, 1 optimizer states (= Megatron distributed optimizer), 2 +grads, 3 +weights (FSDP)
  // Hybrid sharding (HSDP: FSDP2's HYBRID_SHARD, torchtitan's data_parallel_shard_degree, MaxText's
  // FSDP inside a slice with data parallelism across slices, Megatron-Core's distributed optimizer
  // instances): ZeRO shards over groups of dp_shard consecutive data-parallel ranks (times CP),
  // replicated dp / dp_shard times, each replica group all-reducing its shard of the gradients
  // once a step. 0: over the whole data-parallel group.
  int64_t dp_shard = 0;
  Schedule schedule = Schedule::k1F1B;
  Recompute recompute = Recompute::kNone;
  // With kSelective: the modules recomputed (RecomputeModule bits); ignored otherwise.
  uint32_t recompute_modules = kModuleCoreAttn;
  // With kFull: Megatron-LM's --recompute-method and --recompute-num-layers (at least 1); the
  // default, uniform over groups of 1, recomputes each layer from its own input. Ignored otherwise.
  RecomputeMethod recompute_method = RecomputeMethod::kUniform;
  int64_t recompute_num_layers = 1;
  // With kNames: the tensors kept in device memory and those kept in host memory (SavedTensor
  // bits; a tensor in neither is recomputed where the backward reads it). Ignored otherwise.
  uint32_t recompute_saved = 0;
  uint32_t recompute_offloaded = 0;
  int64_t micro_batch = 1;         // sequences per micro-batch
  int64_t first_stage_layers = 0;  // 0: even split
  int64_t last_stage_layers = 0;   // 0: even split
  // When PP does not divide the layers: spread them as evenly as possible, the extra layers on
  // the middle stages first (the first and last stages also hold the embedding and the head),
  // as torchtitan and DeepSpeed's pipeline partitioner do.
  bool balanced_layers = false;
  // Framework overlaps (Megatron-LM flags in parentheses). Defaults follow Megatron-Core's
  // recommended settings; older runs (Megatron 2021, vTrain) set them off.
  bool overlap_grad_reduce = true;   // DP grads reduced during the last backward (--overlap-grad-reduce)
  bool overlap_param_gather = true;  // ZeRO param all-gather during forward (--overlap-param-gather)
  // ZeRO-3 / FSDP under a pipeline as torch.distributed.pipelining drives FSDP2 (torchtitan with
  // PP): a stage's parameters are gathered once per step and kept (reshard_after_forward and
  // reshard_after_backward off), and its gradients accumulate unsharded in the reduce dtype (fp32)
  // until the last micro-batch's backward reduce-scatters them.
  bool fsdp_gather_once = false;
  // ZeRO-3 as DeepSpeed ran it in early 2021 (partition_parameters.py `_allgather_param`, before
  // DeepSpeed PR #1188): one list all-gather per parameter tensor rather than per layer, each after
  // torch.cuda.synchronize(), parameters under stage3_param_persistence_threshold (1e5 elements)
  // left whole, and a third gather per micro-batch under full recompute (the recomputed forward's
  // hooks gather and release again before the backward's gather); its gradients, with that code's
  // default configuration, all-reduced whole in buckets of 5e8 elements every micro-batch.
  bool zero3_gather_per_parameter = false;
  // ZeRO-3 as PyTorch's FSDP runs it (`zero3_gather: fsdp1 | fsdp2`), for its copies and casts
  // beside the collectives, each a pass over a unit's unsharded parameters (the collectives
  // themselves are timed as for `layer`):
  //  - FSDP1 (torch/distributed/fsdp, FlatParameter): the module's weights are views split from
  //    the unit's flat parameter, so autograd's backward of that split concatenates their 16-bit
  //    gradients into one flat gradient, one copy per backward (the all-gather writes straight
  //    into the flat parameter); before each reduce-scatter its post-backward stream casts that
  //    gradient to the reduce dtype where that differs and pre-divides it in place.
  //  - FSDP2 (fully_shard, per-parameter DTensors; _fsdp_collectives.py): every all-gather is
  //    copied out of its flat output into the parameters (foreach_all_gather_copy_out,
  //    split_with_sizes_copy, on the current stream after the gather's event), and every
  //    reduction first copies the gradients into one reduce-scatter input in the reduce dtype
  //    (foreach_reduce's chunk_cat, on the current stream before the reduce-scatter stream waits),
  //    divided in place first only when it reduces in fp16.
  enum class Fsdp { kNone, kFsdp1, kFsdp2 };
  Fsdp fsdp = Fsdp::kNone;
  // DeepSpeed's engine at ZeRO 0 (engine.py allreduce_bucket / allreduce_and_copy): after the
  // backward it flattens the gradients into a bucket buffer (a copy), scales the all-reduced
  // bucket (a pass of its own when DP > 1) and copies it back into the gradients; it runs the
  // flatten and the copy back even at DP 1. Megatron's contiguous gradient buffer needs neither.
  bool grad_flatten = false;
  bool tp_comm_overlap = false;      // TP collectives pipelined with GEMMs (--tp-comm-overlap)
  bool ep_comm_overlap = false;      // EP all-to-all hidden behind another micro-batch (1F1B A2A overlap)
  // Megatron-Core's --moe-shared-expert-overlap: the shared experts run on a stream of their own
  // beside the token dispatcher, so each phase's expert all-to-alls (forward, recomputed forward,
  // backward) hide under that phase's shared-expert products (moe/shared_experts.py, which also
  // schedules their backward first). Nothing to hide under without shared experts.
  bool shared_expert_overlap = false;
  // Interleaved schedule's point-to-point sends under compute (--overlap-p2p-communication, on in
  // Megatron-Core); the 2021-22 Megatron sent them synchronously, each boundary on the critical path.
  bool overlap_p2p_comm = true;
  // Activation offloading to the host (Megatron-Core's cpu_offloading with
  // cpu_offloading_num_layers, activations only; Transformer Engine's double-buffered handler):
  // the first this-many layers copy the tensors Transformer Engine's modules save to host memory
  // during the forward and back during the backward. 0: off. Megatron-Core allows it below the
  // layer count, without pipeline parallelism and without recompute.
  int64_t cpu_offload_layers = 0;

  int64_t Devices() const { return tp * cp * pp * dp; }
  // The data-parallel ranks ZeRO shards over, and how many such groups replicate each other.
  int64_t ShardDp() const { return dp_shard > 0 ? dp_shard : dp; }
  int64_t DpReplicas() const { return dp / std::max<int64_t>(ShardDp(), 1); }
  // Whether the backward recomputes `module` (selective recompute naming it).
  bool Recomputes(RecomputeModule module) const {
    return recompute == Recompute::kSelective && (recompute_modules & module) != 0;
  }
  // Whether recompute `names` keeps `tensor` (in device or host memory).
  bool Keeps(SavedTensor tensor) const {
    return recompute == Recompute::kNames && ((recompute_saved | recompute_offloaded) & tensor) != 0;
  }
  // Activation offloading beside a pipeline or recompute, which Megatron-Core's TransformerConfig
  // refuses together (an invalid plan; a what-if that brings the pair drops the offload).
  bool OffloadsBesidePipelineOrRecompute() const {
    return cpu_offload_layers > 0 && (pp > 1 || recompute != Recompute::kNone);
  }
};

// The recompute mode for a one-word listing: "selective(layernorm,moe_act)" when selective
// recompute names other modules than Megatron-Core's default core_attn, "full(block 4)" or
// "full(uniform 2)" when full recompute is spread otherwise than one layer a group, else
// RecomputeName.
std::string RecomputeLabel(const Plan& plan);

// Megatron-Core's `layernorm` module recomputes only the norms that are modules of their own
// (TransformerLayer skips IdentityOp norms). In its Transformer Engine layer spec the input norm is
// fused into the QKV product except before MLA, and the pre-MLP norm into FC1 except before an MoE
// block; the checkpointed dense `mlp` then starts from the pre-MLP norm's input.
inline bool RecomputesInputNorm(const Architecture& arch, const Plan& plan) {
  return plan.Recomputes(kModuleLayernorm) && arch.attention == AttentionKind::kMla;
}
inline bool RecomputesPreMlpNorm(const Plan& plan, bool moe_layer) {
  return moe_layer ? plan.Recomputes(kModuleLayernorm) : plan.Recomputes(kModuleMlp);
}

// Where Megatron-Core runs its 1F1B all-to-all overlap (ep_comm_overlap): the combined schedule
// exists without a pipeline or interleaved only (DualPipe hides the all-to-alls itself), and its
// config refuses full recompute and recompute of the MoE block beside it (transformer_config.py:
// "disable full recomputation when enabling overlap_moe_expert_parallel_comm").
inline bool AllToAllOverlapSchedule(int64_t pp, Schedule schedule) {
  return pp == 1 || schedule == Schedule::kInterleaved || schedule == Schedule::kDualPipe;
}
inline bool AllToAllOverlapRecompute(const Plan& plan) {
  return plan.recompute != Recompute::kFull &&
         !(plan.recompute == Recompute::kSelective && plan.Recomputes(kModuleMoe));
}

// The scaling recipe of an FP8 run (TrainingJob::fp8_recipe).
enum class Fp8Recipe { kDelayed, kCurrent, kMxfp8, kBlockwise };

// The loss kernel (TrainingJob::cross_entropy): Megatron's vocab-parallel cross-entropy, PyTorch's
// eager F.cross_entropy on fp32 logits, or the same under torch.compile (Inductor).
enum class CrossEntropy { kMegatron, kPytorch, kCompiled };

// The attention softmax of a run without fused attention (TrainingJob::attention_softmax): one
// fused scale-mask-softmax kernel each way, PyTorch's ops (in fp32 or 16 bits, by
// TrainingJob::attention_softmax_in_fp32), or Megatron's choice between them by shape
// (UnfusedSoftmax).
enum class AttentionSoftmax { kFused, kUnfused, kMegatron };

// Whether a job of `precision` runs its GEMMs in a quantized format with casts (FP8 or NVFP4).
inline bool QuantizedPrecision(Dtype precision) { return precision == Dtype::kFp8 || precision == Dtype::kFp4; }

// Bytes per element of a quantized copy of a GEMM input, as memory holds it: FP8's 1 byte (its
// per-tensor scale is negligible; MXFP8's and the blockwise recipe's block scales are counted with
// the casts' traffic only), NVFP4's half byte and its E4M3 scale per 16 elements (1/16 byte).
inline double QuantizedCopyBytes(Dtype precision) { return precision == Dtype::kFp4 ? 0.5 + 1.0 / 16 : 1.0; }

struct TrainingJob {
  int64_t seq_len = 2048;
  int64_t global_batch = 0;  // sequences per optimizer step
  // bf16 or fp16; fp8 (FP8 GEMMs, training.fp8_recipe); fp4: NVFP4 GEMMs (Transformer Engine's
  // NVFP4BlockScaling, Megatron's --fp4-recipe nvfp4: E2M1 values, an E4M3 scale per 16 elements
  // and an FP32 one per tensor from its amax), only on a device with an FP4 rate (the scenario
  // refuses others).
  Dtype precision = Dtype::kBf16;
  double tokens = 0;  // total training tokens (0: not given)
  bool flash_attention = true;        // fused attention: score matrices are not stored
  // The fused-attention kernel the framework runs, by the catalog's name for it (e.g. "fa2");
  // empty: the catalog's default kernel for the device.
  std::string attention_kernel;
  Dtype grad_dtype = Dtype::kFp32;    // Megatron keeps fp32 main grads by default
  // The dtype the data-parallel gradient reduction moves, and that ZeRO-3 holds a layer's unsharded
  // gradient in before it (training.grad_reduce_dtype): unset, grad_dtype's (GradReduceDtype).
  // MaxText reduce-scatters bf16 gradients and keeps the sharded ones in fp32.
  std::optional<Dtype> grad_reduce_dtype;
  Dtype GradReduceDtype() const { return grad_reduce_dtype.value_or(grad_dtype); }
  Dtype optimizer_dtype = Dtype::kFp32;  // Adam m and v
  // How the parameters are held between steps (training.weight_dtype):
  // - kBf16 (the default; bf16 or fp16 alike, the run's 16-bit dtype): Megatron's and DeepSpeed's
  //   16-bit model weights beside the optimizer's fp32 master (and, in FP8, Transformer Engine's
  //   FP8 copy where fp8_weight_copy).
  // - kFp32: only in fp32, cast to the compute dtype at each use: JAX's MaxText (weight_dtype
  //   float32) and PyTorch FSDP2's mixed precision keep no 16-bit copy, and the optimizer has no
  //   master of its own (the parameter is it).
  // - kFp8: only as their FP8 casts (Megatron-Core's --fp8-param-gather, Transformer Engine's
  //   fp8_model_init): no 16-bit copy, the optimizer keeps the fp32 master, and ZeRO's parameter
  //   gathers move FP8; the embedding and the output layer, not Transformer Engine modules, stay
  //   16-bit. Precision fp8 only.
  // Memory, the parameter gathers' bytes and the optimizer's traffic.
  Dtype weight_dtype = Dtype::kBf16;
  bool Fp32Weights() const { return precision == Dtype::kFp32 || weight_dtype == Dtype::kFp32; }
  bool Fp8Weights() const { return weight_dtype == Dtype::kFp8; }
  bool fp8_weight_copy = true;  // with fp8: Transformer Engine keeps bf16 weights + an fp8 copy
  // With fp8: each FP8 GEMM keeps the FP8 cast of its input (1 byte an element) for its weight
  // gradient rather than the 16-bit input (Transformer Engine's Linear, LayerNormLinear and
  // GroupedLinear save `inputmat`/`ln_out` as cast). false: the 16-bit input (torchao's
  // Float8Linear of 2025 saves it). The scenario loader clears it on a device without FP8, whose
  // GEMMs fall back to 16 bits; a job built in code keeps what it is given. Memory only.
  bool fp8_saved_inputs = true;
  // With fp8: DeepSeek-V3's low-precision activation storage (its technical report, §3.3.3): the
  // attention output, which the attention's backward and the output projection's weight gradient
  // both read, kept once in a 12-bit format (E5M6: 1.5 bytes an element), and the inputs of the MoE
  // blocks' SwiGLU (gate and up) in FP8 (1 byte each). Memory only; false by default.
  bool low_precision_activations = false;
  // With fp8: the expert dispatch sends the tokens' FP8 casts (1 byte an element; the backward's
  // matching exchange, the activation gradient into the experts, too), as DeepSeek-V3's own
  // framework does (its report §3.3.3: dispatch in FP8, combine in BF16). false: 16 bits, as
  // Megatron-Core's all-to-all and DeepEP dispatchers send the hidden states they are given and
  // Transformer Engine casts inside the expert GEMMs (`MoEAlltoAllTokenDispatcher`).
  bool fp8_dispatch = false;
  // The 16-bit weight gradients autograd writes stay allocated beside the main gradients, unsharded:
  // DeepSpeed's BF16_Optimizer (2022-) frees them only when the next micro-batch's backward starts
  // (`clear_lp_grads()`, then `update_hp_grads(clear_lp_grads=False)` after it), so every parameter
  // of the stage holds 2 bytes of them at the end of each backward, on top of its fp32 gradient.
  // false: they are freed once added to the main gradients (Megatron's hooks) or never exist (the
  // fused accumulation). Memory only; 16-bit and FP8 precisions with fp32 main gradients, at ZeRO
  // 0 or 1 (the scenario rejects the other combinations; the memory model ignores it at ZeRO 2+).
  bool grad_16bit_copy = false;
  // How an FP8 run scales its casts (training.fp8_recipe):
  // - kDelayed: delayed scaling from the amax history (Transformer Engine's default recipe), whose
  //   amax comes out of the cast itself; a fused norm writes the FP8 input of QKV and FC1.
  // - kCurrent: scaling by the current tensor (Float8CurrentScaling, "FP8-CS" in NVIDIA's recipes):
  //   each cast first reads its 16-bit input for the amax in a kernel of its own
  //   (nvte_compute_amax, then nvte_compute_scale_from_amax, then nvte_quantize), and a norm cannot
  //   write the FP8 input itself.
  // - kMxfp8: MXFP8BlockScaling ("FP8-MX", Blackwell): one E8M0 scale per 32 consecutive elements,
  //   found inside the cast (no pass of its own), written for the rowwise and the columnwise copy;
  //   a norm writes MXFP8 only under cuDNN's norm backend (NVTE_NORM_FWD_USE_CUDNN=1,
  //   TransformerEngine PR #1487), not by default, so the norm's output is cast like any other.
  // - kBlockwise: Float8BlockScaling (DeepSeek-V3's recipe; Megatron's --fp8-recipe blockwise): one
  //   FP32 scale per 128 consecutive elements of activations and gradients (1 x 128 tiles, their
  //   transposed copy tiled the other way) and per 128 x 128 block of weights, found inside the
  //   cast and written for each copy (4 bytes per 128 elements; weight casts are not timed for any
  //   recipe); the norm's output is cast like any other. The GEMMs run at the device's FP8 rate: what the per-block scales cost inside them
  //   depends on the library and is not priced (the cost model warns).
  Fp8Recipe fp8_recipe = Fp8Recipe::kDelayed;
  // Weight gradients are accumulated into the main-gradient buffer by the weight-gradient GEMM itself
  // (Megatron's gradient_accumulation_fusion, Transformer Engine's fuse_wgrad_accumulation). When
  // false, every micro-batch adds each 16-bit weight gradient to the buffer in a separate pass
  // (Megatron's local DDP hook `main_grad.add_(grad)` before the fusion existed).
  bool grad_accumulation_fusion = true;
  // Norms, rotary embedding, the gated activation and dropout run as fused kernels (Megatron,
  // Transformer Engine, Apex, torch.compile). When false, as eager PyTorch writes them op by op
  // (torchtitan without torch.compile): RMSNorm as an fp32 copy, pow, mean, the scaling, the cast
  // back and the weight product; RoPE as an fp32 copy, a complex product and a cast back; SwiGLU
  // as SiLU and a product; dropout apart from the residual add. nn.LayerNorm and F.gelu are one
  // aten kernel either way. Step time and kernel count only; memory assumes the fused kernels.
  bool elementwise_fusion = true;
  // The loss: Megatron's vocab-parallel cross-entropy (an fp32 copy of the logits that becomes the
  // softmax in place: 4 bytes per logit kept), or PyTorch's F.cross_entropy on logits cast to fp32
  // (torchtitan): the 16-bit logits, their fp32 copy and log_softmax's fp32 output live together
  // in the forward, and the saved output, its gradient and the input gradient (12 bytes per logit)
  // in the backward. torch.compile'd F.cross_entropy (torchtitan with --training.compile since its
  // PR #1033, April 2025, which compiles the loss): Inductor fuses the fp32 upcast into the
  // log-sum-exp, so the forward keeps only the 16-bit logits and the backward adds their 16-bit
  // gradient (4 bytes per logit, as Megatron's), and moves 8 bytes per logit where the other two
  // move about 52 (cost/step_time.cc).
  CrossEntropy cross_entropy = CrossEntropy::kMegatron;
  // The softmax between the attention products when flash_attention is false:
  // - kFused: one scale-mask-softmax kernel each way, reading and writing the 16-bit scores.
  // - kUnfused: Megatron's fallback, PyTorch op by op (FusedScaleMaskSoftmax's
  //   forward_torch_softmax): mask and softmax, in fp32 with casts and the layer-number scale
  //   around them where attention_softmax_in_fp32 is set, and their backward.
  // - kMegatron: Megatron's FusedScaleMaskSoftmax, which runs its fused kernel only where the
  //   kernel's constraints hold and falls back to the unfused ops otherwise (UnfusedSoftmax).
  // Both settings are read only without fused attention (flash_attention false).
  AttentionSoftmax attention_softmax = AttentionSoftmax::kFused;
  // The unfused softmax runs in fp32 (Megatron's attention_softmax_in_fp32, which query-key layer
  // scaling forces on: the default of Megatron-LM until 2023 and of Megatron-DeepSpeed), with a
  // cast to fp32, the layer-number scale and a cast back around the mask and softmax; false: in
  // 16 bits, mask and softmax alone (Megatron-LM's defaults since query-key layer scaling became
  // opt-in, --apply-query-key-layer-scaling, in 2023).
  bool attention_softmax_in_fp32 = false;
  // The longest key length Megatron's fused softmax kernel takes (kMegatron): 2048 in Megatron-LM
  // of 2021 and the copy vTrain runs, 4096 in Megatron-DeepSpeed of 2023, 16384 in Megatron-LM
  // since 2023 (megatron/training/initialize.py's check of the same constraints).
  int64_t fused_softmax_max_keys = 16384;
  // Busiest expert-parallel rank's load over the mean. No published measurement of dropless
  // training imbalance was found (NVIDIA's MoE benchmarks force balance), so 1.0 by default.
  double moe_imbalance = 1.0;
  // Token dropping (Megatron-Core --moe-expert-capacity-factor, training.moe_capacity_factor):
  // each rank keeps at most ceil(CF · T·k / E) of its T tokens' routed copies per expert
  // (moe_utils.get_capacity, applied before the dispatch), the rest are dropped; 0: dropless.
  // With moe_pad_to_capacity (--moe-pad-expert-input-to-capacity) every expert's rows are padded
  // to that capacity, so each rank dispatches and computes exactly CF · T·k rows
  // (cost-model-notes §3.2 "Capacity / padding").
  double moe_capacity_factor = 0.0;
  bool moe_pad_to_capacity = false;
  // How the local experts' GEMMs run (training.moe_grouped_gemm). false ("one_kernel"): one grouped
  // kernel for all of them (DeepGEMM, CUTLASS grouped GEMM, torch._grouped_mm). true
  // ("per_expert"): Transformer Engine's GroupedLinear (Megatron-Core's TEGroupedMLP), whose only
  // backend is multi-stream cuBLAS: one GEMM launch per local expert, round-robin over TE's 4
  // compute streams (nvte_multi_stream_cublas_gemm; num_compute_streams = 4 in
  // transformer_engine/common/util/multi_stream.h).
  bool moe_gemm_per_expert = false;
  // How expert parallelism moves tokens. false: an all-to-all of every routed copy (Megatron's
  // alltoall dispatcher, NCCL: a token bound for two experts on one remote GPU goes twice). true:
  // DeepEP (Megatron's flex dispatcher, DeepSeek's own kernels): a token crosses the network once
  // per destination node, to the GPU of the same index there, and NVLink forwards it to the GPUs
  // holding its experts; combine reduces on the NVLink side before the network (DeepSeek-V3 report
  // §3.2.2; cost-model-notes §4.6).
  bool ep_node_dedup = false;
  // Compute units (SMs) DeepEP's dispatch and combine kernels hold while they run
  // (training.ep_comm_units): compute overlapped with them runs on the rest. DeepEP's default
  // (deep_ep/buffer.py `Buffer.num_sms = 20`; Megatron-Core `moe_deepep_num_sms` 20; the
  // DeepSeek-V3 report §3.2.2: "20 of the 132 SMs" on the H800). Used with ep_node_dedup only;
  // the all-to-all dispatcher's NCCL kernels hold the catalog's collective_compute_units.
  static constexpr int64_t kDeepEpDefaultUnits = 20;
  int64_t ep_comm_units = kDeepEpDefaultUnits;
  // Host (CPU) time to dispatch and launch one kernel in eager PyTorch. A step whose kernels are
  // shorter than this is launch-bound. Published range "~5-25 µs of CPU-side work per op"
  // (jiahuanglin.xyz, "From PyTorch op to kernel launch"); the lower bound is the default. CUDA
  // graphs or a compiled step lower it: set training.host_overhead_per_kernel_us.
  double host_overhead_per_kernel_us = 5.0;
  // Measured host time per layer of the user's stack (training.host_profile, data/host/): when
  // set, it replaces the kernel count x host_overhead_per_kernel_us estimate, and adds the host
  // time around the layers (embedding, head, loss) per micro-batch.
  std::shared_ptr<const HostProfile> host_profile;

  int64_t GlobalBatchTokens() const { return global_batch * seq_len; }
  // The busiest expert rank's routed rows over the balanced mean (T·k·EP/E per rank): dropless,
  // moe_imbalance; dropping at a capacity factor, no more than CF (each expert's copies are cut
  // to CF times the mean, below it when CF < 1 even where routing is balanced); padded, exactly CF.
  double MoeExpertLoad() const {
    if (moe_capacity_factor <= 0) return moe_imbalance;
    return moe_pad_to_capacity ? moe_capacity_factor : std::min(moe_imbalance, moe_capacity_factor);
  }
  // Rows a rank permutes and dispatches over T·k: CF where padded to capacity; dropping, at most
  // min(1, CF) (Megatron-Core drops before the dispatch, keeping ⌈CF·T·k/E⌉ copies per expert:
  // below CF = 1 fewer than T·k in all; how many more an unbalanced router drops is not known).
  double MoeDispatchRows() const {
    if (moe_capacity_factor <= 0) return 1.0;
    return moe_pad_to_capacity ? moe_capacity_factor : std::min(1.0, moe_capacity_factor);
  }
  // The share of the busiest expert rank's routed copies dropped, at least: 1 − CF / moe_imbalance
  // where the capacity factor is below the load (0 dropless or with room to spare); the capacity
  // is per expert, the imbalance per rank, so a rank's busiest expert may drop more.
  double MoeDroppedShare() const {
    return moe_capacity_factor > 0 && moe_capacity_factor < moe_imbalance ? 1.0 - moe_capacity_factor / moe_imbalance
                                                                           : 0.0;
  }
};

// Whether FP8 GEMMs keep the FP8 cast of their input for the weight gradient
// (TrainingJob::fp8_saved_inputs; the scenario clears it on a device without FP8).
inline bool KeepsFp8Casts(const TrainingJob& j) { return QuantizedPrecision(j.precision) && j.fp8_saved_inputs; }

// Bytes per element of a GEMM input kept for the weight gradient: its FP8 or NVFP4 cast, or its
// 16 bits.
inline double SavedInputBytes(const TrainingJob& j) { return KeepsFp8Casts(j) ? QuantizedCopyBytes(j.precision) : 2.0; }

// Why a plan is invalid; kValid when it is not.
enum class PlanIssue {
  kValid = 0,
  kNonPositiveDegree,
  kDeviceCount,        // TP·CP·PP·DP != devices
  kTpHeads,            // TP does not divide the query heads
  kTpKvHeads,          // KV heads neither divisible by TP nor dividing it
  kTpFfn,              // TP does not divide the MLP width
  kPpLayers,           // PP·VPP does not divide the layers (or the explicit split is wrong)
  kVppSchedule,        // VPP > 1 without the interleaved schedule, or interleaved with PP == 1
  kMicroBatches,       // global batch not divisible by DP·micro-batch
  kInterleavedMicroBatches,  // interleaved needs micro-batches divisible by PP
  kDualPipe,           // DualPipe needs an even PP and an even number of micro-batches, at least 2·PP
  kExpertParallel,     // EP with a dense model, EP not dividing experts, or EP·ETP not dividing TP·CP·DP
  kContextParallel,    // CP does not divide the sequence into 2·CP chunks
  kZeroStage,          // ZeRO stage outside 0..3
  kSequenceParallel,   // SP without TP
  kRecomputeMode,      // selective-op or dots outside dense layers with standard attention
                       // (selective-op also needs fused attention)
  kCpuOffload,         // offloaded layers not below the layer count, with PP > 1 or recompute, or
                       // outside dense layers with standard, fused attention
  kDpShard,            // dp_shard not dividing dp, or below dp without ZeRO, on an MoE model, or
                       // beside DeepSpeed's per-parameter ZeRO-3 gathers
  kCount,
};

std::string_view PlanIssueName(PlanIssue issue);  // a stable snake_case key

struct PlanCheck {
  PlanIssue issue = PlanIssue::kValid;
  std::string message;  // a sentence naming the numbers; empty when valid
  bool ok() const { return issue == PlanIssue::kValid; }
};

// Checks every rule and returns the first broken one with a reason. REQUIRES: nothing; any
// input gives an answer.
PlanCheck CheckPlan(const Architecture& arch, const Plan& plan, const TrainingJob& job,
                    int64_t devices);

// The same check without building a message (for search loops).
PlanIssue FindPlanIssue(const Architecture& arch, const Plan& plan, const TrainingJob& job,
                        int64_t devices);

// Whether named checkpoints keep the attention output: `context` names the fused attention
// kernel's output (MaxText tags its splash and cuDNN kernels' output and log-sum-exp so; its
// eager dot-product attention tags nothing), so without fused attention it is recomputed anyway.
inline bool KeepsAttentionOutput(const Plan& plan, const TrainingJob& job) {
  return plan.Keeps(kSavedContext) && job.flash_attention;
}
// Under named checkpoints, the width of q, k and v the backward recomputes (the projections not
// kept, of widths q and kv), and how many of the MLP's input products (gate and up, or a non-gated
// MLP's one) it recomputes. The output projection reruns unless out_proj is kept; the MLP's output
// product never does.
inline double RecomputedQkvWidth(const Plan& plan, double q, double kv) {
  return (plan.Keeps(kSavedQuery) ? 0 : q) + (plan.Keeps(kSavedKey) ? 0 : kv) + (plan.Keeps(kSavedValue) ? 0 : kv);
}
inline double RecomputedMlpInputs(const Plan& plan, bool gated_mlp) {
  return (plan.Keeps(kSavedMlpWi0) ? 0 : 1) + (gated_mlp && !plan.Keeps(kSavedMlpWi1) ? 1 : 0);
}

// Micro-batches per pipeline per step: global_batch / (dp · micro_batch).
int64_t MicroBatches(const Plan& plan, const TrainingJob& job);

// The highest ZeRO stage the job's stack runs: 1 with DeepSpeed's 16-bit gradient copy
// (grad_16bit_copy: its BF16_Optimizer is its own ZeRO-1), else 3. A scenario refuses a plan
// above it; the search does not go above it. (Its callers' messages name grad_16bit_copy, the
// only cause today.)
int MaxZeroStage(const TrainingJob& job);

// True when plan `p`'s ZeRO groups hold one rank each: DP x CP of 1 for the dense parameters and,
// in an MoE model, an expert-data-parallel group (DP x CP x TP / (EP x ETP)) of 1 for the experts. Every ZeRO stage
// of such a plan shards, gathers and reduces nothing, so it is the same plan as ZeRO 0 (the memory
// and step-time models give the same figures; the search tries it once, at ZeRO 0).
bool ZeroShardsNothing(const Architecture& arch, const Plan& p);

// The output layer's columns on one tensor-parallel rank: the vocabulary over TP, rounded up where
// TP does not divide it (the largest shard, which the step waits for). A Megatron run pads the
// vocabulary first (--make-vocab-size-divisible-by, to a multiple of 128 x TP by default): a
// scenario states that by giving the padded size as the model's vocabulary.
int64_t OutputColumnsPerRank(const Architecture& a, const Plan& p);

// Whether the attention softmax runs unfused (TrainingJob::attention_softmax; never with fused
// attention). Under kMegatron, the fused kernel needs 16 < keys <= fused_softmax_max_keys, queries
// and keys a multiple of 4, and the micro-batch's score matrices on a rank (micro-batch x heads /
// TP) a multiple of 4 (Megatron's FusedScaleMaskSoftmax.is_kernel_available; later versions also
// ask a causal mask's count to divide by the kernel's batches per block, 4 for keys over 128, 8 at
// 128 and under, which is not checked here); otherwise Megatron runs the unfused ops, and its
// start-up prints "constraints for invoking optimized fused softmax kernel are not met".
bool UnfusedSoftmax(const Architecture& a, const Plan& p, const TrainingJob& j);

// Of those constraints, the key length's: over 16, at most fused_softmax_max_keys, a multiple of 4.
bool FusedSoftmaxTakesKeys(const TrainingJob& j);

// Score matrices of one micro-batch on one tensor-parallel rank: micro-batch x heads / TP.
int64_t ScoreMatricesPerRank(const Architecture& a, const Plan& p);

// Transformer layers held by pipeline stage `stage` (0-based), counting all its virtual chunks.
int64_t LayersOnStage(const Architecture& arch, const Plan& plan, int64_t stage);

// Whether only some layers are recomputed: full recompute by block.
inline bool RecomputesByBlock(const Plan& plan) {
  return plan.recompute == Recompute::kFull && plan.recompute_method == RecomputeMethod::kBlock;
}
// The model chunks a stage holds: vpp under the interleaved schedule, else 1.
int64_t ChunksPerStage(const Plan& plan);
// The layers one chunk of a stage holding `layers` holds, rounded up (chunks taken as equal).
int64_t LayersPerChunk(const Plan& plan, int64_t layers);
// Of the `layers` a stage holds, those full recompute runs again: all of them, but by block the
// first recompute_num_layers of each model chunk (vpp chunks under the interleaved schedule, each
// taken to hold an equal share). 0 without full recompute.
int64_t RecomputedLayers(const Plan& plan, int64_t layers);
// The same over every stage: the model's recomputed layers.
int64_t RecomputedLayersInModel(const Architecture& arch, const Plan& plan);
// The most layers one model chunk holds (a stage's layers over its vpp chunks under the
// interleaved schedule, rounded up): the recompute_num_layers at which block is full recompute.
int64_t MostLayersPerChunk(const Architecture& arch, const Plan& plan);
// Whether the stages hold their layers chunk by chunk: under the interleaved schedule with even
// stages (pp x vpp dividing the layers), Megatron-Core places model chunk c of stage s at layer
// c L/v + s L/(p v) (get_transformer_layer_offset), so a stage's chunks lie one pass of L/v layers
// apart. Otherwise a stage's layers are contiguous (a balanced split that pp x vpp does not
// divide, which Megatron-Core refuses, is taken as contiguous too).
bool PlacedByChunk(const Architecture& arch, const Plan& plan);
// Index of the first layer of model chunk `chunk` (0-based, below ChunksPerStage) of `stage`.
int64_t FirstLayerOfChunk(const Architecture& arch, const Plan& plan, int64_t stage, int64_t chunk);
// Index of the first layer held by `stage`: its first chunk's.
int64_t FirstLayerOfStage(const Architecture& arch, const Plan& plan, int64_t stage);
// MoE layers among the layers `stage` holds, over all its chunks.
int64_t MoeLayersOnStage(const Architecture& arch, const Plan& plan, int64_t stage);
// MoE layers among the layers of `stage` that full recompute by block runs again (the first
// recompute_num_layers of each chunk); 0 unless recomputing by block.
int64_t RecomputedMoeLayersOnStage(const Architecture& arch, const Plan& plan, int64_t stage);

// The pipeline stages that can be the most loaded (in memory or time): the first, the second,
// the last, and the first one past a dense prefix of an MoE model. Writes them (sorted, unique)
// to `out` and returns how many; returns 0 when every stage must be examined (MoE layers
// interleaved with dense ones). REQUIRES: out has room for 5.
int CandidateStages(const Architecture& arch, const Plan& plan, int64_t* out);

}  // namespace preflight
