// Kernel and collective-call counts of one layer's forward and of what each recompute mode
// launches again (CountKernels, declared in cost/internal/step_parts.h).

#include "preflight/cost/internal/step_model.h"

namespace preflight::cost_internal {

namespace {

// Tensor-parallel blocks of an MoE layer's MLP side, each an all-reduce pair (or all-gather and
// reduce-scatter with SP): the routed experts' when they run with TP, and the shared experts'
// (Megatron-Core's SharedExpertMLP is a TP MLP of its own, whatever the experts' TP).
double MoeTpBlocks(const Architecture& a, const Plan& p) {
  return (p.etp > 1 ? 1 : 0) + (a.moe.shared_ffn > 0 ? 1 : 0);
}

// Tensor-parallel blocks of a layer: attention, and the MLP (or the MoE layer's blocks above).
double TpBlocks(const Architecture& a, const Plan& p, bool moe) {
  if (p.tp <= 1) return 0;
  return 1 + (moe ? MoeTpBlocks(a, p) : 1);
}

// Named checkpoints launch again the dots policy's kernels (`dots`), less the attention products
// (`core` kernels) where the attention output is kept (KeepsAttentionOutput), plus each product recomputed (the fused QKV, the output
// projection, the MLP's input) and the output projection's collective.
double NamedRelaunches(const Architecture& a, const Plan& p, const TrainingJob& job, double core, double dots) {
  const bool qkv = RecomputedQkvWidth(p, 1, 1) > 0;  // one fused QKV kernel if any of them reruns
  const bool wi = RecomputedMlpInputs(p, a.gated_mlp) > 0;
  const bool out = !p.Keeps(kSavedOutProj);
  return dots - (KeepsAttentionOutput(p, job) ? core : 0) + (qkv ? 1 : 0) + (wi ? 1 : 0) + (out ? 1 + (p.tp > 1 ? 1 : 0) : 0);
}

// A layer's kernel counts that selective recompute's relaunches read (CountKernels').
struct KernelParts {
  double core = 0, mlp_block = 0, activation_extra = 0, a2a = 0, inner_norms = 0;
  bool shared = false, mla = false;
};

// Selective recompute launches the recomputed modules' kernels and calls again.
void CountSelectiveRelaunches(const Architecture& a, const Plan& p, const ElementwiseBytes& e, bool moe,
                              const KernelParts& k, LayerCost* l) {
  const double core = k.core, mlp_block = k.mlp_block, activation_extra = k.activation_extra, a2a = k.a2a;
  const double inner_norms = k.inner_norms;
  const bool shared = k.shared, mla = k.mla;
  double sel = 0, sel_calls = 0;
  if (p.Recomputes(kModuleCoreAttn)) sel += core;
  sel += e.norm_kernels * ((RecomputesInputNorm(a, p) ? 1 : 0) + (RecomputesPreMlpNorm(p, moe) ? 1 : 0));
  if (p.Recomputes(kModuleMlaUpProj) && mla) {
    sel += 3 + inner_norms;  // q and kv up, RoPE, the latents' norms (fused into the up-projections)
    if (p.sp && p.tp > 1) sel += 2, sel_calls += 2;  // the q and kv latents' all-gathers
  }
  if (moe && p.Recomputes(kModuleMoe)) {
    const double pairs = p.tp > 1 ? MoeTpBlocks(a, p) : 0;  // the block's tensor-parallel pairs
    sel += mlp_block + activation_extra + pairs * (p.sp ? 2 : 1);
    sel_calls += a2a + pairs * (p.sp ? 2 : 1);
  } else if (moe) {
    if (p.Recomputes(kModuleMoeAct)) sel += e.activation_kernels;
    if (p.Recomputes(kModuleSharedExperts) && shared) {
      const double pair = p.tp > 1 ? 1 : 0;  // the shared experts' tensor-parallel pair
      sel += 2 + e.activation_kernels + pair * (p.sp ? 2 : 1);
      sel_calls += pair * (p.sp ? 2 : 1);
    }
  } else if (p.Recomputes(kModuleMlp)) {
    const double pair = p.tp > 1 ? 1 : 0;  // the MLP's tensor-parallel block
    sel += 2 + e.activation_kernels + pair * (p.sp ? 2 : 1);
    sel_calls += pair * (p.sp ? 2 : 1);
  }
  l->kernels_sel = sel;
  l->calls_sel = sel_calls;
}

}  // namespace

// Kernels one layer's forward launches (unfused eager framework): norm, QKV, RoPE, the attention
// products (one fused kernel, or two batched GEMMs, softmax, dropout and two layout copies),
// projection, residual add; norm, MLP GEMMs, activation, residual add; TP collectives; for MoE
// the router, top-k, permutation, grouped expert GEMMs, unpermutation and all-to-alls. With FP8,
// the separate casts of GEMM inputs (the backward's casts follow from its usual share). `softmax`:
// what an unfused attention softmax adds (StepModel's, zero when the kernel runs).
void CountKernels(const Architecture& a, const Plan& p, const TrainingJob& job, bool fp8, bool moe,
                  const ElementwiseBytes& e, const UnfusedSoftmaxWork& softmax, LayerCost* l) {
  const bool flash = job.flash_attention;
  // An unfused softmax runs more kernels than the fused one (`softmax`, zero when fused).
  const double unprofiled = softmax.forward_kernels;
  double core = flash ? 1 : 6 + (a.dropout ? 1 : 0) + unprofiled;
  const double a2a = moe && p.ep > 1 ? 2 : 0;  // the expert all-to-alls
  const bool shared = moe && a.moe.shared_ffn > 0;
  double n = 1 + 1 + (a.Rotary() ? 1 : 0) + core + 1 + 1;  // attention block
  // MLA projects through latents: q's down and up (or one q projection), kv's down and up, where
  // other attention has one QKV GEMM; each latent has its norm. Qwen3 norms q and k.
  const bool mla = a.attention == AttentionKind::kMla;
  const double mla_gemms = mla ? (a.mla.q_lora_rank > 0 ? 3 : 2) : 0;
  const double inner_norms = (mla ? (a.mla.q_lora_rank > 0 ? 2 : 1) : (a.qk_norm ? 2 : 0)) * e.norm_kernels;
  n += mla_gemms + inner_norms;
  // The experts' two GEMMs and activation: two grouped kernels, or a GEMM per local expert.
  const double local = moe ? static_cast<double>(a.moe.experts) / static_cast<double>(p.ep) : 0;
  const double experts = job.moe_gemm_per_expert ? 2 * local + 1 : 3;
  const double mlp_block = moe ? 1 + 2 + 1 + experts + 1 + 1 + (shared ? 3 : 0) + a2a : 1 + 1 + 1 + 1 + 1;
  // Eager elementwise work splits each activation pass into its ops.
  const double activation_extra = (e.activation_kernels - 1) * (shared ? 2 : 1);
  n += mlp_block + a.norms_per_layer * (e.norm_kernels - 1) + 2 * (e.residual_kernels - 1) +
       (a.Rotary() ? e.rope_kernels - 1 : 0) + activation_extra;
  const double tp_blocks = TpBlocks(a, p, moe);
  // Forward, per TP block: one all-reduce, or with SP an all-gather and a reduce-scatter.
  const double tp_kernels = tp_blocks * (p.sp ? 2 : 1);
  n += tp_kernels;
  if (fp8) {
    n += a.attention == AttentionKind::kMla ? 3 : 1;                       // projections fed 16 bits
    n += moe ? 2 + (a.moe.shared_ffn > 0 ? 2 : 0) : 1;                     // expert inputs; FC2
  }
  l->kernels_fwd = n;
  l->kernels_core = core;
  l->kernels_unprofiled = unprofiled;
  l->kernels_unprofiled_bwd = softmax.backward_kernels;
  // The calls of the blocks TensorComm times, and the expert all-to-alls.
  l->calls_fwd = tp_blocks * (p.sp ? 2 : 1) + a2a;
  l->calls_bwd = tp_blocks * (p.sp ? 3 : 1) + a2a;
  l->calls_op_sac = tp_blocks;
  // torchtitan's op-level policy launches again all but the attention products, the four GEMM
  // kernels counted here (QKV, projection, FC1, FC2) and the collectives it saves, plus the three
  // products it recomputes (wk, wo, and w3 or w2), each its own kernel there.
  // (Transformer Engine's per-expert GEMMs: each local expert's two products are kernels of their own.)
  const double weight_gemms = moe && job.moe_gemm_per_expert ? 2 + 2 * local : 4;
  l->kernels_op_sac = n - core - weight_gemms - tp_kernels + 3 + l->calls_op_sac;
  // The dots policy launches again all but the weight products and the collectives.
  l->kernels_dots = n - weight_gemms - mla_gemms - tp_kernels;
  if (p.recompute == Recompute::kNames && !moe && !mla) l->kernels_names = NamedRelaunches(a, p, job, core, l->kernels_dots);
  // Each weight product has a weight-gradient kernel in the backward, the router's and the
  // shared experts' included.
  l->kernels_wgrad = weight_gemms + mla_gemms + (moe ? 1 + (shared ? 2 : 0) : 0);
  CountSelectiveRelaunches(a, p, e, moe, {core, mlp_block, activation_extra, a2a, inner_norms, shared, mla}, l);
}

}  // namespace preflight::cost_internal
