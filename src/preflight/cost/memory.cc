#include "preflight/cost/memory.h"

#include <algorithm>
#include <cmath>

namespace preflight {
namespace {

double DtypeBytes(Dtype d) {
  switch (d) {
    case Dtype::kFp64: return 8;
    case Dtype::kFp32:
    case Dtype::kTf32: return 4;
    case Dtype::kBf16:
    case Dtype::kFp16: return 2;
    case Dtype::kFp8:
    case Dtype::kInt8: return 1;
    case Dtype::kFp4: return 0.5;
  }
  return 2;
}

// Bytes per parameter of each model state before sharding.
struct StateBytes {
  double weights = 2;
  double gradients = 4;
  double optimizer = 12;
};

StateBytes StateBytesPerParam(const TrainingJob& job) {
  StateBytes b;
  const bool fp32 = job.precision == Dtype::kFp32;
  b.weights = fp32 ? 4 : 2;
  if (QuantizedPrecision(job.precision) && job.fp8_weight_copy) b.weights += QuantizedCopyBytes(job.precision);
  b.gradients = DtypeBytes(job.grad_dtype);
  b.optimizer = (fp32 ? 0 : 4) + 2 * DtypeBytes(job.optimizer_dtype);  // master + m + v
  return b;
}

// Whether the last stage holds a copy of the word embedding on another stage than the embedding:
// Megatron's output layer of a tied embedding, and the MTP modules' input embedding (shared with
// the main model, DeepSeek-V3 §2.2); DualPipe's end rank holds the embedding itself.
bool EmbeddingCopyOnLastStage(const Architecture& a, const Plan& p) {
  return (a.tied_embeddings || a.mtp_layers > 0) && p.pp > 1 && p.schedule != Schedule::kDualPipe;
}

// Parameters held by one device of `stage` (without DualPipe's mirror): non-expert parameters
// split by TP but for those it replicates (norms, MLA's down-projections, the router, learned
// positions), and routed experts split over EP x ETP.
DeviceParams ParamsOnStage(const Architecture& a, const ParamCounts& c, const Plan& p,
                           int64_t stage) {
  const int64_t first = FirstLayerOfStage(a, p, stage);
  const int64_t n = LayersOnStage(a, p, stage);
  const int64_t moe = a.MoeLayersIn(first, n);
  const double n_dense = static_cast<double>(n - moe), n_moe = static_cast<double>(moe);
  double dense = n_dense * c.dense_layer + n_moe * (c.moe_layer - c.routed_experts_per_moe_layer);
  double replicated = n_dense * c.dense_layer_replicated + n_moe * c.moe_layer_replicated;
  double expert = n_moe * c.routed_experts_per_moe_layer;
  if (stage == 0) {
    dense += c.embedding;
    replicated += static_cast<double>(a.position_rows * a.hidden);
  }
  if (stage == p.pp - 1) {
    dense += c.final_norm + c.lm_head;
    replicated += c.final_norm;
    if (EmbeddingCopyOnLastStage(a, p)) dense += a.vocab * a.hidden;
    const bool mtp_moe = a.IsMoeLayer(a.layers - 1);
    const double mtp = static_cast<double>(a.mtp_layers);
    const double mtp_expert = mtp_moe ? mtp * c.routed_experts_per_moe_layer : 0;
    dense += c.mtp - mtp_expert;
    // Each MTP module's block replicates what its layer kind does, and its three norms.
    replicated += mtp * ((mtp_moe ? c.moe_layer_replicated : c.dense_layer_replicated) + 3.0 * a.hidden);
    expert += mtp_expert;
  }
  // With fewer KV heads than TP ranks each rank holds one whole K and V head (and its biases).
  if (a.attention == AttentionKind::kStandard && a.kv_heads < p.tp) {
    const double layers_here = static_cast<double>(n) + (stage == p.pp - 1 ? static_cast<double>(a.mtp_layers) : 0.0);
    const double per_head = 2.0 * static_cast<double>(a.head_dim) * (static_cast<double>(a.hidden) + (a.qkv_bias ? 1.0 : 0.0));
    dense += layers_here * per_head * static_cast<double>(p.tp - a.kv_heads);
  }
  return DeviceParams{(dense - replicated) / p.tp + replicated, expert / (p.ep * p.etp)};
}

// The embedding and output-layer parameters a device of `stage` holds (with DualPipe's mirror):
// Transformer Engine keeps no FP8 copy of them (Megatron's embedding and output layer are not TE
// modules, and run in 16 bits).
double EmbeddingAndHeadOnStage(const Architecture& a, const ParamCounts& c, const Plan& p, int64_t stage) {
  double n = 0;
  if (stage == 0) n += static_cast<double>(c.embedding);
  if (stage == p.pp - 1) {
    n += static_cast<double>(c.lm_head);
    if (EmbeddingCopyOnLastStage(a, p)) n += static_cast<double>(a.vocab * a.hidden);
  }
  return n / static_cast<double>(p.tp);
}

// What ZeRO-3 gathers whole on a device of `stage`, in parameters per device: the largest unit
// (one transformer layer of a kind the stage holds, the embedding on the first stage, the output
// layer on the last: each wrapped on its own, as FSDP and Megatron-FSDP wrap them), the largest
// layer (the unit beside any other), and the largest single tensor (DeepSpeed's per-parameter
// gathers). A part sharded over one rank (DP x CP of 1 for dense parameters, an expert-data-
// parallel group of 1 for experts) is never gathered and counts nothing.
struct GatheredUnits {
  double largest = 0;
  double layer = 0;
  double tensor = 0;
};

GatheredUnits GatheredOnStage(const Architecture& a, const ParamCounts& c, const Plan& p, int64_t stage) {
  const double tp = static_cast<double>(p.tp);
  const double dense_on = p.dp * p.cp > 1 ? 1.0 : 0.0, expert_on = p.dp * p.cp * p.tp > p.ep * p.etp ? 1.0 : 0.0;
  const int64_t first = FirstLayerOfStage(a, p, stage);
  const int64_t n = LayersOnStage(a, p, stage);
  const int64_t moe = a.MoeLayersIn(first, n);
  GatheredUnits g;
  // A layer per device: its TP-split part, its replicated part, and its routed experts over EP x ETP.
  auto layer = [&](double whole, double replicated, double routed) {
    return dense_on * ((whole - routed - replicated) / tp + replicated) +
           expert_on * routed / static_cast<double>(p.ep * p.etp);
  };
  if (n - moe > 0) g.layer = layer(static_cast<double>(c.dense_layer), static_cast<double>(c.dense_layer_replicated), 0);
  if (moe > 0) {
    g.layer = std::max(g.layer, layer(static_cast<double>(c.moe_layer), static_cast<double>(c.moe_layer_replicated),
                                      static_cast<double>(c.routed_experts_per_moe_layer)));
  }
  g.largest = g.layer;
  const double vocab = dense_on * static_cast<double>(a.vocab * a.hidden) / tp;
  if (stage == 0) g.largest = std::max(g.largest, dense_on * static_cast<double>(c.embedding) / tp);
  if (stage == p.pp - 1) {
    g.largest = std::max(g.largest, c.lm_head > 0 ? dense_on * static_cast<double>(c.lm_head) / tp : vocab);
  }
  if (!p.zero3_gather_per_parameter) return g;  // the tensors matter to per-parameter gathers alone
  for (const bool is_moe : {false, true}) {
    if (is_moe ? moe == 0 : n - moe == 0) continue;
    for (const ParamTensor& t : LayerParameterTensors(a, is_moe)) {
      const double split = t.tp_split ? (t.expert ? static_cast<double>(p.etp) : tp) : 1.0;
      g.tensor = std::max(g.tensor, (t.expert ? expert_on : dense_on) * static_cast<double>(t.elements) / split);
    }
  }
  if (stage == 0 || stage == p.pp - 1) g.tensor = std::max(g.tensor, vocab);
  return g;
}

// The pipeline stage DualPipe places beside `stage` on one rank: rank r holds stages r and
// pp - 1 - r, two copies of the model in all (DeepSeek-V3 §3.2.2 and Table 2; DualPipe's
// example_dualpipe.py), so the ends pair the embedding with the head. Other schedules: none (-1).
int64_t DualPipeMirror(const Plan& p, int64_t stage) {
  return p.schedule == Schedule::kDualPipe && p.pp > 1 ? p.pp - 1 - stage : -1;
}

}  // namespace

DeviceParams ParamsOnDevice(const Architecture& a, const ParamCounts& c, const Plan& p,
                            int64_t stage) {
  DeviceParams s = ParamsOnStage(a, c, p, stage);
  if (const int64_t mirror = DualPipeMirror(p, stage); mirror >= 0) {
    const DeviceParams m = ParamsOnStage(a, c, p, mirror);
    s.dense += m.dense, s.expert += m.expert;
  }
  return s;
}

namespace {

// Whether FP8 GEMMs keep the FP8 cast of their input for the weight gradient
// (TrainingJob::fp8_saved_inputs; the scenario clears it on a device without FP8).
bool KeepsFp8Casts(const TrainingJob& j) { return QuantizedPrecision(j.precision) && j.fp8_saved_inputs; }

// Bytes per element of a GEMM input kept for the weight gradient: its FP8 or NVFP4 cast, or its
// 16 bits.
double SavedInputBytes(const TrainingJob& j) { return KeepsFp8Casts(j) ? QuantizedCopyBytes(j.precision) : 2.0; }

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

// Per-token bytes of the attention block: [replicated over TP unless SP, split by TP].
std::pair<double, double> AttentionBytes(const Architecture& a, const Plan& p,
                                         const TrainingJob& j) {
  const double h = static_cast<double>(a.hidden);
  const double drop = a.dropout ? h : 0;  // 1-byte mask after the output projection
  // The attention core's saved tensors: kept without recompute, and by the layer being recomputed
  // under the whole-layer modes (full, the op-level and dots policies, which use these bytes only
  // for that layer); dropped only by selective recompute of the attention products.
  double core = 0;
  if (!(p.recompute == Recompute::kSelective && p.Recomputes(kModuleCoreAttn))) {
    // Eager attention computes (and keeps) every score, masking a sliding window afterwards:
    // the softmax's 16-bit output, and with dropout its 1-byte mask and output. An unfused
    // softmax in fp32 keeps its fp32 output for its own backward, besides the 16-bit copy the
    // next product (or dropout's output) keeps: 2 bytes more with dropout, 4 without (in 16
    // bits it keeps what the fused kernel keeps).
    const double unfused = UnfusedSoftmax(a, p, j) && j.attention_softmax_in_fp32 ? (a.dropout ? 2.0 : 4.0) : 0.0;
    core = j.flash_attention ? 4.0 * a.heads  // fp32 log-sum-exp per head
                             : ((a.dropout ? 5.0 : 2.0) + unfused) * a.heads * static_cast<double>(j.seq_len);
  }
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

}  // namespace

namespace {

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
// (SavedInputBytes an element) and its output's gradient (16 bits), at each GEMM's widths on one
// rank. Inputs of width h are sequence-sharded with SP (Megatron keeps them so and gathers them
// again for the weight gradient); the output gradients of the row-parallel GEMMs (the attention
// output projection, the MLP's second) arrive whole. [dense, moe].
std::pair<double, double> WeightGradStateBytes(const Architecture& a, const Plan& p, const TrainingJob& j) {
  const double h = static_cast<double>(a.hidden), t = static_cast<double>(p.tp);
  const double rep = p.sp ? t : 1.0;
  const double in = SavedInputBytes(j), g = a.gated_mlp ? 2.0 : 1.0;
  auto gemm = [&](double input_width, double output_width) { return in * input_width + 2.0 * output_width; };
  double attention = 0;
  if (a.attention == AttentionKind::kMla) {
    const MlaSpec& m = a.mla;
    const double qk = static_cast<double>(m.nope_dim + m.rope_dim);
    const double heads = static_cast<double>(a.heads);
    // Down-projections replicated over TP (on the rank's sequence shard with SP), up-projections
    // and the output projection split by TP; the latents, the up-projections' inputs, kept
    // sequence-sharded as AttentionBytes keeps them.
    if (m.q_lora_rank > 0) {
      attention += gemm(h / rep, static_cast<double>(m.q_lora_rank) / rep) +
                   gemm(static_cast<double>(m.q_lora_rank) / rep, heads * qk / t);
    } else {
      attention += gemm(h / rep, heads * qk / t);
    }
    attention += gemm(h / rep, static_cast<double>(m.kv_lora_rank + m.rope_dim) / rep) +
                 gemm(static_cast<double>(m.kv_lora_rank) / rep, heads * static_cast<double>(m.nope_dim + m.v_dim) / t) +
                 gemm(heads * static_cast<double>(m.v_dim) / t, h);
  } else {
    const double q = static_cast<double>(a.heads * a.head_dim);
    const double kv = static_cast<double>(a.KvHeadsAcrossTp(p.tp) * a.head_dim);
    attention = gemm(h / rep, (q + 2 * kv) / t) + gemm(q / t, h);
  }
  auto mlp = [&](double width) { return gemm(h / rep, g * width / t) + gemm(width / t, h); };
  const double dense = attention + mlp(static_cast<double>(a.ffn));
  double moe = 0;
  if (a.IsMoe()) {
    const MoeSpec& e = a.moe;
    const double fe = static_cast<double>(e.expert_ffn);
    // The router (16 bits), the busiest rank's routed copies as MoeBlock holds them, the shared experts.
    const double router = 2.0 * h / rep + 2.0 * static_cast<double>(e.experts) / rep;
    const double routed = j.MoeExpertLoad() * static_cast<double>(e.top_k) *
                          (in * (h * p.etp + fe) + 2.0 * (g * fe + h * p.etp)) / t;
    moe = attention + router + routed + (e.shared_ffn > 0 ? mlp(static_cast<double>(e.shared_ffn)) : 0.0);
  }
  return {dense, moe};
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
  // A recomputed MLP, MoE block or shared expert holds its internals again while its backward runs.
  out.dense_module_working = p.Recomputes(kModuleMlp) ? tokens * mlp_width * a.ffn / p.tp : 0;
  out.moe_module_working = tokens * block.dropped;
  out.recompute_input = tokens * 2 * h / rep_div;
  const auto [w_dense, w_moe] = WeightGradStateBytes(a, p, j);
  out.weight_grad_dense = tokens * w_dense;
  out.weight_grad_moe = tokens * w_moe;
  const double masks = a.dropout ? 2 * h : 0;  // after the attention and after the MLP, 1 byte each
  // Megatron-Core's fused SwiGLU marks its saved input for offloading (fused_bias_swiglu.py,
  // cpu_offload_input); its bias-GeLU function has no such flag, so a GeLU's input stays.
  const double act_input = (a.gated_mlp ? 0.0 : 2.0) + eager.per_ffn;
  out.offload_resident = tokens * ((masks + eager.replicated) / rep_div + act_input * a.ffn / p.tp);
  if (a.attention != AttentionKind::kMla) {
    const double q = static_cast<double>(a.heads * a.head_dim);
    const double kv = static_cast<double>(a.KvHeadsAcrossTp(p.tp) * a.head_dim);
    out.op_sac = out.recompute_input + tokens * (2 * q + 2 * kv + 2 * q + 4.0 * a.heads + 2.0 * a.ffn) / p.tp;
    // The row-parallel products' outputs are [tokens, hidden], sequence-sharded with SP.
    const double column = 2 * (q + 2 * kv) + (a.gated_mlp ? 4.0 : 2.0) * a.ffn;
    out.dots = out.recompute_input + tokens * (column / p.tp + 2 * (2 * h) / rep_div);
  }
  return out;
}

double InFlightMicroBatches(const Plan& p, int64_t micro_batches, int64_t stage) {
  const double m = static_cast<double>(micro_batches);
  if (p.pp == 1) return 1;
  switch (p.schedule) {
    case Schedule::kGpipe: return m;
    case Schedule::k1F1B:
    case Schedule::kZbH1: return std::min(static_cast<double>(p.pp - stage), m);
    case Schedule::kInterleaved: {
      // Megatron's warm-up (get_pp_rank_microbatches) and the steady state's forward before its
      // backward. The 1F1B all-to-all overlap (ep_comm_overlap) warms up one forward more
      // (cost-model-notes §3.3) in place of that one: each steady step then runs a forward layer
      // beside a backward layer that releases its state (combined_1f1b's schedule plan), so the
      // peak stays within a layer of this count and is not raised.
      double chunks = 2.0 * (p.pp - stage - 1) + (p.vpp - 1.0) * p.pp + 1.0;
      return std::min(chunks, m * p.vpp) / p.vpp;
    }
    case Schedule::kDualPipe: return std::min(static_cast<double>(p.pp + 1), m);
  }
  return m;
}

namespace {

// One stage's activations with `in_flight` micro-batches through it: what it keeps per
// micro-batch in flight (its layers' stacks and the edge terms kept per micro-batch), and the
// working set that exists once (the layer whose backward runs, the head's backward peak).
struct ChunkActivations {
  double kept = 0;
  double working = 0;
};

// What the last stage's deferred weight-gradient pass keeps per micro-batch beyond its layers:
// the output layer's input (16 bits, sequence-sharded with SP; Megatron's ColumnParallelLinear
// gathers it again for the weight gradient) and its logits' gradient (16 bits, the rank's vocabulary
// columns), once per output head, and each MTP module's layer and its projection (input 2h, output
// h / TP). The zero-bubble scheme defers every linear layer's W, the output layer's included.
double HeadWeightGradStateBytes(const Architecture& a, const Plan& p, const TrainingJob& j,
                                const LayerActivationBytes& layer) {
  const double tokens = static_cast<double>(p.micro_batch * j.seq_len) / p.cp;
  const double rep_div = p.sp ? static_cast<double>(p.tp) : 1.0;
  const double h = static_cast<double>(a.hidden);
  const double heads = static_cast<double>(1 + a.mtp_layers);
  const double columns = static_cast<double>(OutputColumnsPerRank(a, p));
  double state = heads * tokens * (2.0 * h / rep_div + 2.0 * columns);
  if (a.mtp_layers > 0) {
    const double mtp_layer = a.IsMoeLayer(a.layers - 1) ? layer.weight_grad_moe : layer.weight_grad_dense;
    const double projection = tokens * (2.0 * 2.0 * h / rep_div + 2.0 * h / static_cast<double>(p.tp));
    state += static_cast<double>(a.mtp_layers) * (mtp_layer + projection);
  }
  return state;
}

ChunkActivations StageActivations(const Architecture& a, const Plan& p, const TrainingJob& j,
                                  int64_t stage, double in_flight, const LayerActivationBytes& layer);

MemoryBreakdown StageMemory(const Architecture& a, const ParamCounts& c, const Plan& p,
                            const TrainingJob& j, int64_t stage, const MemoryOptions& options,
                            const LayerActivationBytes& layer) {
  MemoryBreakdown b;
  const DeviceParams params = ParamsOnDevice(a, c, p, stage);
  const StateBytes bytes = StateBytesPerParam(j);
  const double d_dense = static_cast<double>(p.dp * p.cp);
  const double d_expert = static_cast<double>(p.dp * p.cp * p.tp) / (p.ep * p.etp);
  auto shard = [&](double per_param, int min_stage) {
    if (p.zero < min_stage) return per_param * (params.dense + params.expert);
    return per_param * (params.dense / d_dense + params.expert / d_expert);
  };
  b.weights = Bytes(shard(bytes.weights, 3));
  if (QuantizedPrecision(j.precision) && j.fp8_weight_copy) {
    // The FP8 copy is of the GEMM weights: not of the embedding and output layer (dense
    // parameters, sharded as they are at ZeRO-3).
    double head = EmbeddingAndHeadOnStage(a, c, p, stage);
    if (const int64_t mirror = DualPipeMirror(p, stage); mirror >= 0) head += EmbeddingAndHeadOnStage(a, c, p, mirror);
    b.weights = b.weights - Bytes(QuantizedCopyBytes(j.precision) * (p.zero >= 3 ? head / d_dense : head));
  }
  b.gradients = Bytes(shard(bytes.gradients, 2));
  if (p.zero == 3 && p.fsdp_gather_once) {
    // The stage's 16-bit parameters stay gathered for the step, and its gradients accumulate
    // unsharded in fp32 (FSDP2's reduce dtype) until the last micro-batch.
    const double local = params.dense + params.expert;
    b.weights += Bytes(local * (j.precision == Dtype::kFp32 ? 4.0 : 2.0));
    b.gradients += Bytes(local * 4.0);
  }
  b.optimizer = Bytes(shard(bytes.optimizer, 1));
  // DeepSpeed's BF16_Optimizer keeps the stage's 16-bit gradients until the next backward; it runs
  // at ZeRO 0 or 1 only (a searched plan of ZeRO 2 or 3 is another optimizer).
  if (j.grad_16bit_copy && j.precision != Dtype::kFp32 && p.zero <= 1) {
    b.gradients += Bytes(2.0 * (params.dense + params.expert));
  }

  const double in_flight = InFlightMicroBatches(p, MicroBatches(p, j), stage);
  double act = 0;
  if (const int64_t mirror = DualPipeMirror(p, stage); mirror >= 0) {
    // DualPipe's PP + 1 micro-batches in flight (Table 2, in stage units) fall on the two stages
    // rank r holds as each direction's 1F1B would place them: pp - r on stage r, where its
    // direction's micro-batches enter r stages in, and r + 1 on stage pp - 1 - r; one layer's
    // backward runs at a time.
    const int64_t r = std::min(stage, mirror);
    const double scale = in_flight / static_cast<double>(p.pp + 1);  // fewer micro-batches than that
    const ChunkActivations first = StageActivations(a, p, j, r, scale * static_cast<double>(p.pp - r), layer);
    const ChunkActivations second = StageActivations(a, p, j, p.pp - 1 - r, scale * static_cast<double>(r + 1), layer);
    act = first.kept + second.kept + std::max(first.working, second.working);
  } else {
    const ChunkActivations own = StageActivations(a, p, j, stage, in_flight, layer);
    act = own.kept + own.working;
  }
  b.activations = Bytes(act);
  b.other = options.runtime_reserved + Bytes(act * options.activation_temporaries_fraction);
  if (p.zero == 3 && !p.fsdp_gather_once) {
    // Transient buffers, not model states (weights and gradients stay the ZeRO paper's shards).
    // Gathered unit by unit (FSDP, Megatron-FSDP): at the peak the unit whose backward runs and
    // the next one, prefetched, are whole in 16 bits, and the running unit's gradient is whole
    // until its reduce-scatter. DeepSpeed's early per-parameter gathers hold one tensor at a time
    // and reduce through a bucket of reduce_bucket_size elements. DualPipe's rank holds the units
    // of both its stages.
    GatheredUnits g = GatheredOnStage(a, c, p, stage);
    if (const int64_t mirror = DualPipeMirror(p, stage); mirror >= 0) {
      const GatheredUnits m = GatheredOnStage(a, c, p, mirror);
      g = {std::max(g.largest, m.largest), std::max(g.layer, m.layer), std::max(g.tensor, m.tensor)};
    }
    const double weight_bytes = j.precision == Dtype::kFp32 ? 4.0 : 2.0;
    const double held = p.zero3_gather_per_parameter
                            ? g.tensor * weight_bytes + std::min(g.layer, kDeepSpeedReduceBucketElements) * bytes.gradients
                            : (g.largest + g.layer) * weight_bytes + g.largest * bytes.gradients;
    b.other += Bytes(held);
  }
  return b;
}

// What one layer of the given kind keeps per micro-batch in flight under the plan's recompute
// mode: its input alone under full recompute, the saved set of the op-level and dots policies
// (counted for dense layers), else its activations.
double KeptPerLayer(const Plan& p, const LayerActivationBytes& layer, bool moe) {
  switch (p.recompute) {
    case Recompute::kFull: return layer.recompute_input;
    case Recompute::kSelectiveOp: return layer.op_sac;
    case Recompute::kDots: return layer.dots;
    case Recompute::kNone:
    case Recompute::kSelective: break;
  }
  return moe ? layer.moe : layer.dense;
}

ChunkActivations StageActivations(const Architecture& a, const Plan& p, const TrainingJob& j,
                                  int64_t stage, double in_flight, const LayerActivationBytes& layer) {
  const int64_t first = FirstLayerOfStage(a, p, stage);
  const int64_t n = LayersOnStage(a, p, stage);
  const int64_t n_moe = a.MoeLayersIn(first, n);
  const double n_dense = static_cast<double>(n - n_moe);
  // One micro-batch through this stage's layers, and one layer's full activations (the
  // working set of the layer being recomputed during backward).
  double stack = n_dense * KeptPerLayer(p, layer, false) +
                 static_cast<double>(n_moe) * KeptPerLayer(p, layer, true);
  // Full recompute by groups keeps one input a group, the groups formed inside each model chunk;
  // by block only the recomputed layers (the first of each chunk) keep their input alone, the
  // others everything.
  const int64_t chunks = ChunksPerStage(p);
  const int64_t per_chunk = std::max<int64_t>(LayersPerChunk(p, n), 1);
  const int64_t group = p.recompute == Recompute::kFull && !RecomputesByBlock(p)
                            ? std::min(std::max<int64_t>(p.recompute_num_layers, 1), per_chunk)
                            : 1;
  if (group > 1) {
    const int64_t groups = std::min(n, chunks * ((per_chunk + group - 1) / group));
    stack = static_cast<double>(groups) * layer.recompute_input;
  }
  // The kinds of layer a backward recomputes: all the stage's, or by block its first r.
  bool dense_again = n_dense > 0, moe_again = n_moe > 0;
  if (RecomputesByBlock(p)) {
    const int64_t r = RecomputedLayers(p, n), r_moe = a.MoeLayersIn(first, r);
    stack = static_cast<double>(r) * layer.recompute_input +
            (n_dense - static_cast<double>(r - r_moe)) * layer.dense + static_cast<double>(n_moe - r_moe) * layer.moe;
    dense_again = r - r_moe > 0, moe_again = r_moe > 0;
  }
  if (p.cpu_offload_layers > 0) {
    // Offloaded layers keep only what the handler leaves; its double buffer holds one offloaded
    // layer's moved tensors at the peak (the group being copied while the last layer runs, or
    // the first reloaded at the start of the backward: docs/memory-model.md).
    const double moved = layer.dense - layer.offload_resident;
    stack -= static_cast<double>(std::min(p.cpu_offload_layers, n)) * moved - moved;
  }
  // A group recomputes its layers together: their activations all exist before its backward.
  double working = static_cast<double>(group) * std::max(dense_again ? layer.dense : 0.0, moe_again ? layer.moe : 0.0);
  // Under the op-level and dots policies the stack already holds what the recomputed layer saved;
  // its backward adds the rest of the layer's activations (dense layers only).
  if (p.recompute == Recompute::kSelectiveOp) working = std::max(0.0, layer.dense - layer.op_sac);
  if (p.recompute == Recompute::kDots) working = std::max(0.0, layer.dense - layer.dots);
  const double tokens = static_cast<double>(p.micro_batch * j.seq_len) / p.cp;
  const double rep_div = p.sp ? static_cast<double>(p.tp) : 1.0;
  ChunkActivations c;
  double& act = c.kept;
  act = in_flight * stack;
  if (p.schedule == Schedule::kZbH1 && p.pp > 1) {
    // ZB-H1: worker i of p holds (p − i + 1)·M_B + (i − 1)·M_W (cost-model-notes §3.3, the
    // zero-bubble paper's Table 2): stage s keeps the weight-gradient state of the s micro-batches
    // whose W it has put off, and with fewer micro-batches than stages no more than those not in
    // flight (the M a step has, in all).
    const double micro_batches = static_cast<double>(MicroBatches(p, j));
    const double deferred = std::min(static_cast<double>(stage), std::max(0.0, micro_batches - in_flight));
    double state = n_dense * layer.weight_grad_dense + static_cast<double>(n_moe) * layer.weight_grad_moe;
    if (stage == p.pp - 1) state += HeadWeightGradStateBytes(a, p, j, layer);
    act += deferred * state;
  }
  const bool whole_layers = p.recompute == Recompute::kFull || p.recompute == Recompute::kSelectiveOp ||
                            p.recompute == Recompute::kDots;
  if (whole_layers) c.working = working;
  if (p.recompute == Recompute::kSelective) {
    c.working = std::max(n_dense > 0 ? layer.dense_module_working : 0.0, n_moe > 0 ? layer.moe_module_working : 0.0);
  }
  if (stage == 0 && a.dropout) act += in_flight * tokens * a.hidden / rep_div;  // embedding dropout
  if (stage == p.pp - 1) {
    // Final norm input, head input, and the loss's fp32 logits per output head (Megatron's copy,
    // Korthikanti §4.3, or PyTorch's saved log_softmax output), kept per micro-batch until its
    // backward: one at a time under the 1F1B schedules, where the last stage runs each
    // micro-batch's backward right after its forward, all of them under GPipe. PyTorch's
    // cross-entropy adds at its backward peak the output's gradient and the input gradient.
    // The head's peak (its logits and the loss's backward) and a layer's (its recompute or
    // backward working set) come at different times: the head's backward ends, freeing the
    // logits, before the last layer's backward recomputes it. The larger of the two counts.
    const double heads = static_cast<double>(1 + a.mtp_layers);
    const double columns = static_cast<double>(OutputColumnsPerRank(a, p));
    const double head = heads * tokens * (4.0 * a.hidden / rep_div + 4.0 * columns);
    double head_peak = 0;
    if (p.schedule == Schedule::kGpipe) {
      act += in_flight * head;
    } else {
      head_peak += head;
    }
    if (j.cross_entropy == CrossEntropy::kPytorch) head_peak += heads * tokens * 8.0 * columns;
    // Each MTP module's transformer layer keeps what a main layer of its kind keeps, and its
    // projection's input (the normalised hidden state and embedding, 2h); the modules sit after
    // the last layer (DeepSeek-V3 §2.2), so like the head they hold one micro-batch at a time but
    // under GPipe.
    if (a.mtp_layers > 0) {
      const bool mtp_moe = a.IsMoeLayer(a.layers - 1);
      // Megatron-Core's MTP layer skips recompute by block ("not supported for MTP yet"): it
      // keeps everything.
      const double per_layer = RecomputesByBlock(p) ? (mtp_moe ? layer.moe : layer.dense) : KeptPerLayer(p, layer, mtp_moe);
      const double mtp = static_cast<double>(a.mtp_layers) * (per_layer + tokens * 4.0 * a.hidden / rep_div);
      if (p.schedule == Schedule::kGpipe) {
        act += in_flight * mtp;
      } else {
        head_peak += mtp;  // kept until their backward, which ends before the main layers'
      }
    }
    c.working = std::max(c.working, head_peak);
  }
  return c;
}

}  // namespace

MemoryBreakdown EstimateStageMemory(const Architecture& a, const ParamCounts& c, const Plan& p,
                                    const TrainingJob& j, int64_t stage,
                                    const MemoryOptions& options) {
  return StageMemory(a, c, p, j, stage, options, ActivationBytesPerLayer(a, p, j));
}

MemoryEstimate EstimateMemory(const Architecture& a, const ParamCounts& c, const Plan& p,
                              const TrainingJob& j, Bytes capacity, const MemoryOptions& options) {
  MemoryEstimate e;
  const LayerActivationBytes layer = ActivationBytesPerLayer(a, p, j);
  e.capacity = capacity;
  // Only a few stages can be the most loaded (activations in flight fall along the pipeline,
  // middle stages are alike, the last holds the head); all of them when MoE layers alternate.
  bool first = true;
  ForEachCandidateDevice(a, p, [&](int64_t s) {
    MemoryBreakdown b = StageMemory(a, c, p, j, s, options, layer);
    if (first || b.Total() > e.worst.Total()) {
      e.worst = b;
      e.worst_stage = s;
      first = false;
    }
  });
  e.in_flight_micro_batches = InFlightMicroBatches(p, MicroBatches(p, j), e.worst_stage);
  e.fits = e.worst.Total() <= capacity;
  e.headroom_fraction = capacity.value() > 0 ? (capacity - e.worst.Total()) / capacity : -1;
  return e;
}

int64_t FewestBlockLayersWithin(const Architecture& a, const ParamCounts& c, const Plan& plan,
                                const TrainingJob& j, Bytes budget, const MemoryOptions& options) {
  Plan p = plan;
  p.recompute = Recompute::kFull, p.recompute_method = RecomputeMethod::kBlock;
  const auto bytes = [&](int64_t n) {
    p.recompute_num_layers = n;
    return EstimateMemory(a, c, p, j, budget, options).worst.Total().value();
  };
  const int64_t most = MostLayersPerChunk(a, p);
  if (most <= 1) return 0;
  const double at_most = bytes(most), at_one = bytes(1), limit = budget.value();
  if (at_most > limit) return 0;
  if (at_one <= limit) return 1;
  // Each stage's bytes fall linearly with the count until its chunks are all recomputed, then stay:
  // their maximum is convex, under the chord from 1 to `most`, where the chord meets the budget
  // the count fits. Where the MoE layers' order bends that, a bisection above it.
  int64_t lo = 1, hi = most;  // lo does not fit, hi does
  const double share = (at_one - limit) / (at_one - at_most);
  const int64_t chord = std::clamp<int64_t>(1 + static_cast<int64_t>(std::ceil(share * static_cast<double>(most - 1))), 2, most);
  (bytes(chord) <= limit ? hi : lo) = chord;
  if (hi - lo > 1) (bytes(hi - 1) <= limit ? hi : lo) = hi - 1;  // convex: the fewest is near the chord
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (bytes(mid) <= limit ? hi : lo) = mid;
  }
  return hi < most ? hi : 0;
}

}  // namespace preflight
