// Activation bytes one transformer layer keeps per micro-batch (ActivationBytesPerLayer in
// memory.h): the attention, norm, MLP and MoE tensors each recompute mode leaves for the backward,
// the working sets of recomputed modules, and the weight-gradient state ZB-H1 defers.

#include <algorithm>
#include <cstdint>
#include <utility>

#include "preflight/cost/internal/layer_gemms.h"
#include "preflight/cost/memory.h"

namespace preflight {
namespace {

// Bytes per element of the attention output: a fused kernel keeps it in 16 bits for its own
// backward, and under FP8 the output projection keeps its 1-byte cast besides; unfused
// attention's backward does not read it, and under selective recompute of the attention products
// the checkpoint keeps only the kernel's inputs, so only the projection's copy stays.
double AttentionOutputBytes(const Plan& p, const TrainingJob& j) {
  const bool kernel_keeps = j.flash_attention && !p.Recomputes(kModuleCoreAttn);
  const double usual = kernel_keeps ? 2.0 + (KeepsFp8Casts(j) ? QuantizedCopyBytes(j.precision) : 0.0) : SavedInputBytes(j);
  // DeepSeek-V3 keeps one E5M6 copy for both backward passes (never more than the usual copies).
  return j.low_precision_activations ? std::min(1.5, usual) : usual;
}

// Per-token bytes (split by TP) the attention core saves for its backward. Eager attention
// computes (and keeps) every score, masking a sliding window afterwards: the softmax's 16-bit
// output, and with dropout its 1-byte mask and output. An unfused softmax in fp32 keeps its fp32
// output for its own backward, besides the 16-bit copy the next product (or dropout's output)
// keeps: 2 bytes more with dropout, 4 without (in 16 bits it keeps what the fused kernel keeps).
// A fused kernel keeps its fp32 log-sum-exp per head.
double CoreAttentionBytes(const Architecture& a, const Plan& p, const TrainingJob& j) {
  const double unfused = UnfusedSoftmax(a, p, j) && j.attention_softmax_in_fp32 ? (a.dropout ? 2.0 : 4.0) : 0.0;
  return j.flash_attention ? 4.0 * a.heads
                           : ((a.dropout ? 5.0 : 2.0) + unfused) * a.heads * static_cast<double>(j.seq_len);
}

// Per-token bytes of the attention block: [replicated over TP unless SP, split by TP].
std::pair<double, double> AttentionBytes(const Architecture& a, const Plan& p,
                                         const TrainingJob& j) {
  const double h = static_cast<double>(a.hidden);
  const double drop = a.dropout ? h : 0;  // 1-byte mask after the output projection
  // The attention core's saved tensors: kept without recompute, and by the layer being recomputed
  // under the whole-layer modes (full, the op-level and dots policies, which use these bytes only
  // for that layer); dropped only by selective recompute of the attention products.
  const double core = p.Recomputes(kModuleCoreAttn) ? 0.0 : CoreAttentionBytes(a, p, j);
  const double input_bytes = SavedInputBytes(j), out_bytes = AttentionOutputBytes(p, j);
  if (a.attention == AttentionKind::kMla) {
    const MlaSpec& m = a.mla;
    const double qk = static_cast<double>(m.nope_dim + m.rope_dim);
    // The input norm's output feeds the q and kv down-projections: one 16-bit tensor, recomputed
    // under `layernorm` (RecomputesInputNorm); under FP8 each projection keeps its own cast, which
    // the recompute does not drop.
    const double norm_out = KeepsFp8Casts(j) ? 2 * SavedInputBytes(j) * h : (RecomputesInputNorm(a, p) ? 0 : 2 * h);
    // Each latent's norm is fused into its up-projection (Transformer Engine's LayerNormLinear),
    // which keeps the 16-bit latent and the norm's output (or its FP8 cast); `mla_up_proj`
    // checkpoints both up-projections and keeps only the latents, their input.
    const double latent_bytes = p.Recomputes(kModuleMlaUpProj) ? 2.0 : 2.0 + input_bytes;
    const double latents = latent_bytes * static_cast<double>(m.q_lora_rank + m.kv_lora_rank);
    double rep = 2 * h + norm_out + latents + 2.0 * m.rope_dim + drop;
    // q, k and v after the up-projections and RoPE, and the attention output; `mla_up_proj`
    // recomputes the first three from the latents.
    const double up = p.Recomputes(kModuleMlaUpProj) ? 0 : 4.0 * a.heads * qk + 2.0 * a.heads * m.v_dim;
    double split = up + out_bytes * a.heads * m.v_dim + core;
    return {rep, split};
  }
  // The input norm's output (the QKV input; the norm is fused into that GEMM).
  const double norm_out = input_bytes * h;
  const double q = static_cast<double>(a.heads * a.head_dim);
  const double kv = static_cast<double>(a.KvHeadsAcrossTp(p.tp) * a.head_dim);
  // Qwen3's q and k norms keep their 16-bit inputs (a fused norm; eager RMSNorm 4 bytes more, as
  // EagerExtraBytes counts for the layer's norms); their outputs go through RoPE into the
  // attention, which keeps its q and k.
  const double qk_norms = a.qk_norm ? (j.elementwise_fusion ? 2.0 : 6.0) * (q + kv) : 0;
  return {2 * h + norm_out + drop, 2 * (q + 2 * kv) + qk_norms + core + out_bytes * q};
}

// Bytes per element of the MLP width kept for the backward: the first GEMM's 16-bit output (gate
// and up for a gated MLP), which the activation saves, and the activation's output, the second
// GEMM's input (1 byte under FP8).
double MlpActivationWidth(const Architecture& a, const TrainingJob& j) {
  return (a.gated_mlp ? 4.0 : 2.0) + SavedInputBytes(j);
}

// What eager PyTorch's elementwise ops save beyond a fused kernel's, per token (torchtitan's and
// Hugging Face's code, op by op, bf16; autograd saves an operand of a product only where the other
// needs a gradient): RMSNorm saves x.float() (4 bytes per element, for pow and the product) and
// the normalised 16-bit output before the weight product, where a fused norm saves its 16-bit
// input: +4 per element of each norm; SwiGLU saves the SiLU output beside both products (+2 per
// element of the intermediate width). RoPE's product with the frequencies (a buffer) saves only
// the frequencies; LayerNorm and GeLU are one aten op either way; a dropout's mask is the same byte.
struct EagerExtra {
  double replicated = 0;  // per token, replicated over TP unless SP (the norms)
  double per_ffn = 0;     // per element of an MLP's intermediate width
};
EagerExtra EagerExtraBytes(const Architecture& a, const TrainingJob& j) {
  EagerExtra e;
  if (j.elementwise_fusion) return e;
  if (a.norm == NormKind::kRmsNorm) e.replicated = 4.0 * static_cast<double>(a.hidden * a.norms_per_layer);
  if (a.gated_mlp) e.per_ffn = 2.0;
  return e;
}

// Per token, an FP8 shared expert's own cast of the pre-MLP norm's output (its first GEMM's
// input), beside the 16-bit output the router keeps; none without FP8 casts or shared experts.
double SharedExpertCastBytes(const Architecture& a, const TrainingJob& j) {
  return KeepsFp8Casts(j) && a.moe.shared_ffn > 0 ? SavedInputBytes(j) * static_cast<double>(a.hidden) : 0;
}

// Per token, replicated over TP unless SP: the pre-MLP norm's input and output and the residual
// dropout mask. A dense MLP's first GEMM (the norm fused into it) keeps the output as its input;
// in an MoE layer the norm is a module of its own whose 16-bit output the router keeps (its GEMM
// stays in 16 bits) unless `layernorm` recomputes it, and an FP8 shared expert keeps its own cast
// unless `moe` or `shared_experts` recompute it. A recomputed norm keeps none of its eager
// intermediates either (`eager_per_norm`).
double PreMlpNormBytes(const Architecture& a, const Plan& p, const TrainingJob& j, bool moe,
                       double eager_per_norm) {
  const double h = static_cast<double>(a.hidden);
  const bool dropped = RecomputesPreMlpNorm(p, moe);
  double out = 0;
  if (!moe) {
    out = dropped ? 0 : SavedInputBytes(j) * h;
  } else {
    const bool shared_recomputed = p.Recomputes(kModuleMoe) || p.Recomputes(kModuleSharedExperts);
    out = (dropped ? 0 : 2 * h) + (shared_recomputed ? 0 : SharedExpertCastBytes(a, j));
  }
  return 2 * h + out + (a.dropout ? h : 0) - (dropped ? eager_per_norm : 0);
}

// Per token, an MoE block's internals that stay for the backward (`kept`) and what `moe` or
// `shared_experts` recompute, which one layer holds again while its backward runs (`dropped`).
struct MoeBlockBytes {
  double kept = 0, dropped = 0;
};
MoeBlockBytes MoeBlock(const Architecture& a, const Plan& p, const TrainingJob& j, double mlp_width,
                       double eager_per_ffn, double rep_div) {
  MoeBlockBytes b;
  const double h = static_cast<double>(a.hidden), k = static_cast<double>(a.moe.top_k);
  const double input_bytes = SavedInputBytes(j);
  const double router = 8.0 * a.moe.experts;  // fp32 router logits and probabilities
  // Each routed copy's FC1 input and activations; `moe_act` drops the activation's output (the
  // FC2 input: 2 bytes per element of the expert width, 1 as an FP8 cast) and its eager
  // intermediates. A GPU holds the copies of its share of the tokens: the sequence shard (1/TP) of
  // each EP rank it receives from, and with expert TP the whole expert-TP group's (x ETP) at 1/ETP
  // of the expert width (the step model's tokens per expert, k·ETP·EP/(TP·E) per token), times
  // the busiest expert rank's load, as the step model times it (TrainingJob::MoeExpertLoad:
  // `moe_imbalance` dropless, which keeps every copy it receives; at most the capacity factor
  // when dropping, exactly it when padded).
  const double act_out = p.Recomputes(kModuleMoeAct) ? input_bytes + eager_per_ffn : 0.0;
  const double routed = j.MoeExpertLoad() * k *
                        (input_bytes * h * p.etp + (mlp_width - act_out) * a.moe.expert_ffn) / p.tp;
  const double shared = mlp_width * a.moe.shared_ffn / p.tp;
  const double shared_cast = SharedExpertCastBytes(a, j) / rep_div;
  if (p.Recomputes(kModuleMoe)) {
    b.dropped = router / rep_div + routed + shared + shared_cast;
  } else {
    const bool shared_recomputed = p.Recomputes(kModuleSharedExperts);
    b.kept = router / rep_div + routed + (shared_recomputed ? 0 : shared);
    b.dropped = shared_recomputed ? shared + shared_cast : 0;
  }
  return b;
}

// Per token, what a layer's deferred weight-gradient pass reads: every weight GEMM's saved input
// (SavedInputBytes an element; the router's 16 bits) and its output's gradient (16 bits), at each
// GEMM's widths on one rank (cost/internal/layer_gemms.h). Inputs kept sequence-sharded with SP
// count 1/TP of their width (Megatron gathers them again for the weight gradient); the output
// gradients of the row-parallel GEMMs (the attention output projection, the MLP's second) arrive
// whole. [dense, moe].
double WeightGradStateOf(const cost_internal::LayerGemms& g, const Plan& p, const TrainingJob& j) {
  const double rep = p.sp ? static_cast<double>(p.tp) : 1.0;
  double bytes = 0;
  for (int i = 0; i < g.size; ++i) {
    const cost_internal::WeightGemm& w = g.at[static_cast<size_t>(i)];
    const double input_rows = w.sharded_input ? 1 / rep : w.rows;
    bytes += (w.sixteen_bit ? 2.0 : SavedInputBytes(j)) * w.k * input_rows + 2.0 * w.n * w.rows;
  }
  return bytes;
}
std::pair<double, double> WeightGradStateBytes(const Architecture& a, const Plan& p, const TrainingJob& j) {
  const double dense = WeightGradStateOf(cost_internal::WeightGemmsOf(a, p, j, false), p, j);
  const double moe = a.IsMoe() ? WeightGradStateOf(cost_internal::WeightGemmsOf(a, p, j, true), p, j) : 0.0;
  return {dense, moe};
}

// What named checkpoints keep of a dense layer in device memory (recompute `names`): the layer
// input unless offloaded, and each tensor recompute_saved names in 16 bits: q, k and v, the
// attention output with its fp32 log-sum-exp per head (fused attention only: KeepsAttentionOutput), the MLP's input products (the rank's
// columns), and the row-parallel outputs (the output projection's, the MLP's), sequence-sharded
// with SP. Offloaded tensors are in host memory.
double NamedCheckpointBytes(const Architecture& a, const Plan& p, const TrainingJob& j, double input, double tokens,
                            double rep_div) {
  const uint32_t on = p.recompute_saved & (KeepsAttentionOutput(p, j) ? ~0u : ~static_cast<uint32_t>(kSavedContext));
  const auto bit = [on](uint32_t b) { return (on & b) != 0 ? 1.0 : 0.0; };
  const double h = static_cast<double>(a.hidden), f = static_cast<double>(a.ffn);
  const double q = static_cast<double>(a.heads * a.head_dim);
  const double kv = static_cast<double>(a.KvHeadsAcrossTp(p.tp) * a.head_dim);
  const double column = 2 * q * bit(kSavedQuery) + 2 * kv * (bit(kSavedKey) + bit(kSavedValue)) +
                        (2 * q + 4.0 * a.heads) * bit(kSavedContext) +
                        2 * f * (bit(kSavedMlpWi0) + (a.gated_mlp ? bit(kSavedMlpWi1) : 0.0));
  const double row = 2 * h * (bit(kSavedOutProj) + bit(kSavedMlpWo));
  const double layer_input = (p.recompute_offloaded & kSavedLayerInput) != 0 ? 0.0 : input;
  return layer_input + tokens * (column / p.tp + row / rep_div);
}

// The policies that save tensors by kind (standard attention): torchtitan's op-level policy, JAX's
// dots policy and named checkpoints. Reads out->recompute_input.
void SetPolicyBytes(const Architecture& a, const Plan& p, const TrainingJob& j, double tokens, double rep_div,
                    LayerActivationBytes* out) {
  const double h = static_cast<double>(a.hidden);
  const double q = static_cast<double>(a.heads * a.head_dim);
  const double kv = static_cast<double>(a.KvHeadsAcrossTp(p.tp) * a.head_dim);
  // torchtitan's policy saves every odd matrix product of the layer (wq, wv, w1 and, gated, w2)
  // and every reduce-scatter's output (wo's and w2's with SP). w2's product is the row-parallel
  // partial sum, [tokens, hidden] on every TP rank before its reduction.
  const double down = a.gated_mlp ? 2.0 * h : 0.0;
  const double scattered = p.tp > 1 && p.sp ? 2 * (2.0 * h) / rep_div : 0.0;
  out->op_sac = out->recompute_input +
                tokens * ((2 * q + 2 * kv + 2 * q + 4.0 * a.heads + 2.0 * a.ffn) / p.tp + down + scattered);
  // The row-parallel products' outputs are [tokens, hidden], sequence-sharded with SP.
  const double column = 2 * (q + 2 * kv) + (a.gated_mlp ? 4.0 : 2.0) * a.ffn;
  out->dots = out->recompute_input + tokens * (column / p.tp + 2 * (2 * h) / rep_div);
  if (p.recompute == Recompute::kNames) {
    out->names = NamedCheckpointBytes(a, p, j, out->recompute_input, tokens, rep_div);
  }
}

// What recomputed modules hold again while their backward runs: a recomputed MLP, MoE block or
// shared expert its internals (`mlp_internal` per token of the dense MLP, `moe_dropped` of the MoE
// block), a dense MLP with the norm output it dropped (the norm fused into its first GEMM); core
// attention its scores; an output-discarding module what the layer keeps without it. Reads
// out->dense and out->moe, which must be set.
void SetRecomputeWorkingSets(const Architecture& a, const Plan& p, const TrainingJob& j, double tokens,
                             double rep_div, double mlp_internal, double moe_dropped, LayerActivationBytes* out) {
  const double mlp_norm_out = RecomputesPreMlpNorm(p, false) ? SavedInputBytes(j) * static_cast<double>(a.hidden) : 0;
  out->dense_module_working = p.Recomputes(kModuleMlp) ? tokens * (mlp_internal / p.tp + mlp_norm_out / rep_div) : 0;
  out->moe_module_working = tokens * moe_dropped;
  if (p.Recomputes(kModuleCoreAttn)) {
    // The scores' tensors and the 16-bit attention output (per head of the rank: its value width).
    const double value_width = a.attention == AttentionKind::kMla ? static_cast<double>(a.mla.v_dim)
                                                                   : static_cast<double>(a.head_dim);
    out->core_attn_working = tokens * (CoreAttentionBytes(a, p, j) + 2.0 * a.heads * value_width) / p.tp;
  }
  // What an output-discarding module drops is what the layer keeps without it, and what its
  // backward regenerates (at most three modules deep, each level one module fewer).
  for (const RecomputeModule m : {kModuleLayernorm, kModuleMoeAct, kModuleMlaUpProj}) {
    if (!p.Recomputes(m)) continue;
    Plan kept = p;
    kept.recompute_modules &= ~static_cast<uint32_t>(m);
    const LayerActivationBytes without = ActivationBytesPerLayer(a, kept, j);
    out->discarded_working_dense = std::max(out->discarded_working_dense, without.dense - out->dense);
    out->discarded_working_moe = std::max(out->discarded_working_moe, without.moe - out->moe);
  }
}

}  // namespace

LayerActivationBytes ActivationBytesPerLayer(const Architecture& a, const Plan& p,
                                             const TrainingJob& j) {
  const double tokens = static_cast<double>(p.micro_batch * j.seq_len) / p.cp;
  const double rep_div = p.sp ? static_cast<double>(p.tp) : 1.0;
  const double h = static_cast<double>(a.hidden);
  auto [attn_rep, attn_split] = AttentionBytes(a, p, j);
  // Eager intermediates of the norms (eager.replicated counts them over the layer's norms); a
  // recomputed norm keeps none of its own.
  const EagerExtra eager = EagerExtraBytes(a, j);
  const double per_norm_extra = a.norms_per_layer > 0 ? eager.replicated / static_cast<double>(a.norms_per_layer) : 0;
  attn_rep += eager.replicated - (RecomputesInputNorm(a, p) ? per_norm_extra : 0);
  const double mlp_width = MlpActivationWidth(a, j) + eager.per_ffn;
  // `mlp` keeps only the dense MLP's input.
  const double dense_mlp = p.Recomputes(kModuleMlp) ? 0 : mlp_width * a.ffn;
  const double dense = (attn_rep + PreMlpNormBytes(a, p, j, false, per_norm_extra)) / rep_div +
                       (attn_split + dense_mlp) / p.tp;
  MoeBlockBytes block;
  double moe = 0;
  if (a.IsMoe()) {
    // DeepSeek-V3's storage keeps the experts' SwiGLU inputs (gate and up) in FP8.
    const double swiglu_saving = j.low_precision_activations && a.gated_mlp ? 2.0 : 0.0;
    block = MoeBlock(a, p, j, mlp_width - swiglu_saving, eager.per_ffn, rep_div);
    moe = (attn_rep + PreMlpNormBytes(a, p, j, true, per_norm_extra)) / rep_div + attn_split / p.tp + block.kept;
  }
  LayerActivationBytes out;
  out.dense = tokens * dense;
  out.moe = tokens * moe;
  SetRecomputeWorkingSets(a, p, j, tokens, rep_div, mlp_width * a.ffn, block.dropped, &out);
  out.recompute_input = tokens * 2 * h / rep_div;
  const auto [w_dense, w_moe] = WeightGradStateBytes(a, p, j);
  out.weight_grad_dense = tokens * w_dense;
  out.weight_grad_moe = tokens * w_moe;
  const double masks = a.dropout ? 2 * h : 0;  // after the attention and after the MLP, 1 byte each
  // Megatron-Core's fused SwiGLU marks its saved input for offloading (fused_bias_swiglu.py,
  // cpu_offload_input); its bias-GeLU function has no such flag, so a GeLU's input stays.
  const double act_input = (a.gated_mlp ? 0.0 : 2.0) + eager.per_ffn;
  out.offload_resident = tokens * ((masks + eager.replicated) / rep_div + act_input * a.ffn / p.tp);
  if (a.attention != AttentionKind::kMla) SetPolicyBytes(a, p, j, tokens, rep_div, &out);
  return out;
}

}  // namespace preflight
