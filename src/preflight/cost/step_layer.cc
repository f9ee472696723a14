// The work of one layer for one micro-batch: GEMMs, attention, elementwise passes, kernel counts
// and the collectives inside the layer (StepModel::Layer and what it calls).

#include "preflight/cost/internal/step_model.h"

#include <algorithm>
#include <cstdint>

namespace preflight::cost_internal {

ElementwiseBytes ElementwisePasses(const Architecture& a, bool fused) {
  ElementwiseBytes e;
  const bool rms = a.norm == NormKind::kRmsNorm;
  e.norm = fused || !rms ? 4 : 6 + 8 + 4 + 8 + 6 + 4;
  e.norm_kernels = fused || !rms ? 1 : 8;
  e.residual = a.dropout ? (fused ? 7 : 5 + 6) : 6;
  e.residual_kernels = a.dropout && !fused ? 2 : 1;
  e.rope = fused ? 4 : 6 + 8 + 6;
  e.rope_kernels = fused ? 1 : 2 * 3;  // one fused kernel for q and k; eager, three each
  if (a.gated_mlp) {
    e.activation = fused ? 6 : 4 + 6;
    e.activation_kernels = fused ? 1 : 2;
  } else {
    e.activation = 4;
  }
  return e;
}

// A 16-bit dimension that is no multiple of 8 starts its rows off the 16-byte boundaries the fast
// kernels load from (an odd one on 2-byte ones): the worst of the three dimensions sets the factor.
double StepModel::WidthSlowdown(double m, double k, double n) const {
  double worst = 1;
  for (const double x : {m, k, n}) {
    const double r = std::fmod(x, 8.0);
    if (r == 0 || r != std::floor(r)) continue;  // aligned, or an average count of no one width
    worst = std::max(worst, c_.width_slowdown[static_cast<size_t>(r)]);
  }
  return worst;
}

// The output is cut into tiles, one SM (CU) each; the last wave runs partly empty. The measured
// large-GEMM efficiency is reached at full waves, so other shapes lose the idle share. cuBLAS
// picks among tile shapes (NVIDIA, "Matrix Multiplication Background User's Guide", §2.3 and §3.2:
// from 256x128 down to 64x64); the better filled of the largest and the smallest is assumed
// (intermediate shapes fall between them).
double StepModel::WaveUtilization(double m, double n, double batch) const {
  const int64_t units = static_cast<int64_t>(c_.compute_units);
  if (units <= 0) return 1.0;
  // Rows, columns and GEMMs in whole tiles' worth: an average below one row (an expert that gets
  // half a token per micro-batch) still occupies a tile.
  auto whole = [](double x) {  // ceil, at least 1 (integer arithmetic: libm's ceil is a call here)
    int64_t i = static_cast<int64_t>(x);
    if (static_cast<double>(i) < x) ++i;
    return std::max<int64_t>(1, i);
  };
  const int64_t mi = whole(m), ni = whole(n), bi = whole(batch);
  auto fill = [units](int64_t tiles) {
    const int64_t waves = (tiles + units - 1) / units;
    return static_cast<double>(tiles) / static_cast<double>(waves * units);
  };
  const int64_t large = ((mi + 255) / 256) * ((ni + 127) / 128) * bi;
  const int64_t small = ((mi + 63) / 64) * ((ni + 63) / 64) * bi;
  return std::max(fill(large), fill(small));
}

FlashRates StepModel::LayerFlashRates() const {
  const double block = FlashBlockLength(c_.job, p_), d = FlashHeadDim(a_);
  if (a_.sliding_window <= 0) return FlashRatesAt(c_, block, d);
  // AttentionLength's layers: a share f attend to the window (half of them under gemma2's
  // alternation), the rest to the whole sequence; each share of the work runs at the rate for its
  // keys per query (the window or the CP block, when shorter).
  const double s = static_cast<double>(c_.job.seq_len);
  const double w = std::min(s, static_cast<double>(a_.sliding_window));
  const double f = local_share_;
  // Each kind's share of the scores a causal kernel computes: s·w − w²/2 for a window, s²/2 global.
  const double local_scores = f * (w - w * w / (2 * s));
  const double local_share = local_scores / (local_scores + (1 - f) * s / 2);
  const FlashRates local = FlashRatesAt(c_, std::min(w, block), d), global = FlashRatesAt(c_, block, d);
  const auto mix = [&](FlopsPerSecond l, FlopsPerSecond g) {
    return FlopsPerSecond(1 / (local_share / l.value() + (1 - local_share) / g.value()));
  };
  return {mix(local.forward, global.forward), mix(local.backward, global.backward)};
}

double StepModel::AttentionLength() const {
  const double s = static_cast<double>(c_.job.seq_len);
  if (a_.sliding_window <= 0) return s;
  return std::min(s, static_cast<double>(a_.sliding_window)) * local_share_ + s * (1 - local_share_);
}

// The share of AttentionLength's scores a causal fused kernel computes: half of a global layer's
// (s²/2 of s²), and of a sliding-window layer's s·w − w²/2 (each query sees min(i + 1, w) keys),
// averaged over gemma2's alternating layers.
double StepModel::FlashCausalShare() const {
  const double s = static_cast<double>(c_.job.seq_len);
  if (a_.sliding_window <= 0 || a_.sliding_window >= s) return kFlashCausalShare;
  const double w = static_cast<double>(a_.sliding_window), f = local_share_;
  return ((1 - f) * kFlashCausalShare * s + f * (w - w * w / (2 * s))) / ((1 - f) * s + f * w);
}

// Eager attention (Megatron's unfused path), pass by pass. Per head, the scores S = QKᵀ and the
// context C = P·V are batched GEMMs (one kernel each, with its fixed time); the first writes the
// score matrix (2 bytes a score), the softmax reads and writes it (2 + 2), dropout, where the
// model has it, reads it and writes it with a 1-byte mask (2 + 2 + 1), and the second GEMM reads
// it (2): 13 bytes a score forward. The backward runs four batched GEMMs, dP = dC·Vᵀ (writes dP),
// dV = Pᵀ·dC (reads P), dQ = dS·K and dK = dSᵀ·Q (each reads dS), twice the forward's FLOPs;
// dropout's backward reads dP and the mask and writes (2 + 1 + 2) and the softmax's reads its
// gradient and its output and writes (2 + 2 + 2): 19 bytes a score, where twice the forward (26)
// was charged before. The GEMMs' FLOP time adds to the bytes: with a reduction of one head
// dimension (64-128) a tile's few steps of arithmetic and its write of the output do not overlap.
// Where the softmax runs unfused (UnfusedSoftmax), its ops move more (UnfusedSoftmaxWork).
StepModel::UnfusedTimes StepModel::UnfusedAttention(double core_flops) const {
  const double scores = tokens_ * static_cast<double>(c_.job.seq_len) * static_cast<double>(a_.heads) / t_;
  const double rate = c_.attention_rate.value(), fixed = c_.gemm_kernel.value();
  const double softmax_fwd = softmax_extra_.forward_bytes, softmax_bwd = softmax_extra_.backward_bytes;
  UnfusedTimes u;
  u.forward = core_flops / rate + Memory(scores * ((a_.dropout ? 13.0 : 8.0) + softmax_fwd)) + 2 * fixed;
  u.backward = 2 * core_flops / rate + Memory(scores * ((a_.dropout ? 19.0 : 14.0) + softmax_bwd)) + 4 * fixed;
  return u;
}

// MLA's low-rank projections (DeepSeek-V2/V3): q through its latent (or straight from the input),
// the shared kv latent with its RoPE key, kv's up-projection and the output projection.
StepModel::AttentionProjections StepModel::MlaProjections(LayerCost* l) const {
  const double h = static_cast<double>(a_.hidden), T = tokens_;
  const MlaSpec& m = a_.mla;
  const double qk = static_cast<double>(m.nope_dim + m.rope_dim);
  AttentionProjections p;
  auto both_on = [&](double rows, double k, double n) {
    p.fwd += Gemm(rows, k, n);
    p.bwd += GemmBwd(rows, k, n, 1, &l->wgrad);
  };
  auto both = [&](double k, double n) { both_on(T, k, n); };
  // The down-projections are replicated over TP (Megatron-Core builds them as duplicated
  // linears): with SP each rank runs them on its own sequence shard, and the latents are
  // gathered after them.
  const double down_rows = rep_tokens_;
  if (m.q_lora_rank > 0) {
    both_on(down_rows, h, m.q_lora_rank);
    both(m.q_lora_rank, a_.heads * qk / t_);
  } else {
    both(h, a_.heads * qk / t_);
  }
  both_on(down_rows, h, m.kv_lora_rank + m.rope_dim);
  both(m.kv_lora_rank, a_.heads * (m.nope_dim + m.v_dim) / t_);
  both(a_.heads * m.v_dim / t_, h);
  if (p_.Recomputes(kModuleMlaUpProj)) {
    // q's up-projection (without a q latent, its one projection from the input) and kv's.
    const double q_up = m.q_lora_rank > 0 ? Gemm(T, m.q_lora_rank, a_.heads * qk / t_)
                                          : Gemm(T, h, a_.heads * qk / t_);
    l->sel_fwd += q_up + Gemm(T, m.kv_lora_rank, a_.heads * (m.nope_dim + m.v_dim) / t_);
  }
  p.core_flops = 2 * T * AttentionLength() * a_.heads * (qk + m.v_dim) / t_;
  if (m.q_lora_rank > 0) {
    Fp8Casts(down_rows, h, m.q_lora_rank, 1, Fp8Input::kCast, false, l);
    Fp8Casts(T, m.q_lora_rank, a_.heads * qk / t_, 1, Fp8Input::kFusedNorm, false, l);  // after the fused q norm
  } else {
    Fp8Casts(T, h, a_.heads * qk / t_, 1, Fp8Input::kCast, false, l);
  }
  Fp8Casts(down_rows, h, m.kv_lora_rank + m.rope_dim, 1, Fp8Input::kCast, false, l);
  // After the fused kv norm.
  Fp8Casts(T, m.kv_lora_rank, a_.heads * (m.nope_dim + m.v_dim) / t_, 1, Fp8Input::kFusedNorm, false, l);
  Fp8Casts(T, a_.heads * m.v_dim / t_, h, 1, Fp8Input::kCast, false, l);
  return p;
}

// Multi-head or grouped-query attention: the QKV and output projections (in pieces under
// Transformer Engine's TP overlap).
StepModel::AttentionProjections StepModel::StandardProjections(LayerCost* l) const {
  const double h = static_cast<double>(a_.hidden), T = tokens_;
  const double q = static_cast<double>(a_.heads * a_.head_dim);
  // With fewer KV heads than TP ranks each rank keeps one whole KV head (replicated), so the
  // rank's K and V width is the larger of kv / t and one head.
  const double kv = static_cast<double>(a_.KvHeadsAcrossTp(p_.tp) * a_.head_dim);
  AttentionProjections p;
  const double out_proj = PiecewiseGemm(PipelinePieces(), T, q / t_, h);
  p.fwd = PiecewiseGemm(RingPieces(), T, h, (q + 2 * kv) / t_) + out_proj;
  p.bwd = GemmBwd(T, h, (q + 2 * kv) / t_, 1, &l->wgrad) +
          PiecewiseDgradBwd(RingPieces(), T, q / t_, h, &l->wgrad);
  // torchtitan's op-level policy counts wq, wk, wv, wo in call order and recomputes the second
  // and fourth (wk and wo), each its own GEMM there.
  if (p_.recompute == Recompute::kSelectiveOp) l->op_sac_fwd += Gemm(T, h, kv / t_) + out_proj;
  // Named checkpoints recompute each projection the plan does not keep: q, k and v for the
  // attention's backward, the output projection for the pre-MLP norm's input.
  if (p_.recompute == Recompute::kNames) {
    const double again = RecomputedQkvWidth(p_, q, kv);
    if (again > 0) l->names_fwd += Gemm(T, h, again / t_);
    if (!p_.Keeps(kSavedOutProj)) l->names_fwd += Gemm(T, q / t_, h);
  }
  p.core_flops = 4 * T * AttentionLength() * q / t_;
  Fp8Casts(T, h, (q + 2 * kv) / t_, 1, Fp8Input::kFusedNorm, false, l);  // QKV after the fused input norm
  Fp8Casts(T, q / t_, h, 1, Fp8Input::kCast, false, l);            // output projection
  return p;
}

void StepModel::Attention(LayerCost* l) const {
  const AttentionProjections p =
      a_.attention == AttentionKind::kMla ? MlaProjections(l) : StandardProjections(l);
  double core = 0, core_bwd = 0;
  if (c_.job.flash_attention) {
    // Causal fused attention skips the masked half; its backward is 2.5× the forward
    // (FlashAttention benchmark convention, cost-model-notes §1.1), each at its measured rate for
    // the blocks the kernel runs on (FlashBlockLength).
    const FlashRates rates = LayerFlashRates();
    const double share = FlashCausalShare();
    core = share * p.core_flops / rates.forward.value();
    core_bwd = kFlashBackwardFactor * share * p.core_flops / rates.backward.value();
  } else {
    // Eager attention computes every score and masks the window afterwards.
    const double s = static_cast<double>(c_.job.seq_len);
    const UnfusedTimes u = UnfusedAttention(p.core_flops * s / AttentionLength());
    core = u.forward;
    core_bwd = u.backward;
  }
  l->fwd_compute += p.fwd + core;
  l->bwd_compute += p.bwd + core_bwd;
  l->core_fwd = core;
  l->core_bwd = core_bwd;
  if (p_.Recomputes(kModuleCoreAttn)) l->sel_fwd += core;
  if (p_.recompute == Recompute::kNames && !KeepsAttentionOutput(p_, c_.job)) l->names_fwd += core;
}

void StepModel::DenseMlp(LayerCost* l) const {
  const double h = static_cast<double>(a_.hidden), f = static_cast<double>(a_.ffn) / t_;
  double fwd = PiecewiseGemm(RingPieces(), tokens_, h, (a_.gated_mlp ? 2 : 1) * f) +
               PiecewiseGemm(PipelinePieces(), tokens_, f, h);
  const double bwd = GemmBwd(tokens_, h, (a_.gated_mlp ? 2 : 1) * f, 1, &l->wgrad) +
                     PiecewiseDgradBwd(RingPieces(), tokens_, f, h, &l->wgrad);
  // ... then w1, w3, w2 (gated) or w1, w2: the sixth product, w3 or w2, is recomputed.
  if (p_.recompute == Recompute::kSelectiveOp) l->op_sac_fwd += a_.gated_mlp ? Gemm(tokens_, h, f) : Gemm(tokens_, f, h);
  // Megatron-Core's MLP: FC1 is a LayerNormLinear (the norm writes its FP8 input); the activation
  // runs in Megatron and writes 16 bits, so FC2's input and FC1's output gradient are cast apart.
  Fp8Casts(tokens_, h, (a_.gated_mlp ? 2 : 1) * f, 1, Fp8Input::kFusedNorm, false, l);
  Fp8Casts(tokens_, f, h, 1, Fp8Input::kCast, false, l);
  l->fwd_compute += fwd;
  l->bwd_compute += bwd;
  if (p_.Recomputes(kModuleMlp)) l->sel_fwd += fwd;  // its collectives: TensorComm
  // Named checkpoints recompute the input products the plan does not keep (the activation's
  // backward reads them); the output product's output only the next layer reads.
  if (p_.recompute == Recompute::kNames) {
    const double again = RecomputedMlpInputs(p_, a_.gated_mlp);
    if (again > 0) l->names_fwd += Gemm(tokens_, h, again * f);
  }
}

void StepModel::Moe(LayerCost* l) const {
  const MoeSpec& m = a_.moe;
  const double h = static_cast<double>(a_.hidden);
  const double g = a_.gated_mlp ? 2 : 1;
  double fwd = Gemm16(rep_tokens_, h, static_cast<double>(m.experts));  // router
  double bwd = Gemm16Bwd(rep_tokens_, h, static_cast<double>(m.experts), 1, &l->wgrad);
  double shared = 0;
  const double local_experts = static_cast<double>(m.experts) / p_.ep;
  const double tokens_per_expert = tokens_ * m.top_k * p_.etp * p_.ep / (t_ * m.experts) * c_.job.MoeExpertLoad();
  const double fe = static_cast<double>(m.expert_ffn) / p_.etp;
  fwd += ExpertGemm(tokens_per_expert, h, g * fe, local_experts) + ExpertGemm(tokens_per_expert, fe, h, local_experts);
  bwd += ExpertGemmBwd(tokens_per_expert, h, g * fe, local_experts, &l->wgrad) +
         ExpertGemmBwd(tokens_per_expert, fe, h, local_experts, &l->wgrad);
  // With `fp8_dispatch` the up-projection input is quantized once per token before the dispatch,
  // which then moves FP8 (DeepSeek-V3 report §3.3; read 2, write 1 byte per element), and
  // transposed per routed token for the weight gradient; otherwise the dispatch moves 16 bits and
  // Transformer Engine's grouped GEMM casts each routed copy. The down-projection takes the
  // activation's 16-bit output. The shared expert takes 16-bit inputs.
  // Current scaling reads the tokens once more for the amax; MXFP8 writes their scales.
  const bool quantized = c_.job.fp8_dispatch;
  if (c_.fp8_gemms && quantized) {
    l->cast_fwd += Memory((2 + QuantizedValueBytes() + Fp8AmaxBytes() + Fp8ScaleBytes()) * rep_tokens_ * h);
  }
  Fp8Casts(tokens_per_expert, h, g * fe, local_experts, quantized ? Fp8Input::kQuantized : Fp8Input::kCast, false, l);
  Fp8Casts(tokens_per_expert, fe, h, local_experts, Fp8Input::kCast, false, l);
  if (m.shared_ffn > 0) {
    const double fs = static_cast<double>(m.shared_ffn) / t_;
    shared = Gemm(tokens_, h, g * fs) + Gemm(tokens_, fs, h);
    fwd += shared;
    l->shared_fwd = shared;
    const double wgrad_before = l->wgrad;
    l->shared_bwd = GemmBwd(tokens_, h, g * fs, 1, &l->wgrad) + GemmBwd(tokens_, fs, h, 1, &l->wgrad);
    l->shared_wgrad = l->wgrad - wgrad_before;
    bwd += l->shared_bwd;
    Fp8Casts(tokens_, h, g * fs, 1, Fp8Input::kCast, false, l);
    Fp8Casts(tokens_, fs, h, 1, Fp8Input::kCast, false, l);
  }
  l->fwd_compute += fwd;
  l->bwd_compute += bwd;
  // All-to-all: dispatch and combine forward, the reverse pair backward (cost-model-notes §4.6);
  // padded to capacity, each rank sends CF times the routed copies each way. An exchange ends with
  // its busiest rank, which receives the load factor times the mean in the dispatch and sends as
  // much back in the combine (moe_imbalance, where its GEMMs' rows are scaled the same way).
  if (p_.ep > 1) {
    const int64_t per_domain = PerDomain(p_.etp, p_.ep);
    const bool dedup = c_.job.ep_node_dedup;
    const double sent = rep_tokens_ * std::max(c_.job.MoeDispatchRows(), c_.job.MoeExpertLoad());
    const double dispatch =
        ExpertExchangeTime(c_.fabric, m, sent, h, DispatchElementBytes(c_), p_.ep, per_domain, dedup).value();
    const double combine = ExpertExchangeTime(c_.fabric, m, sent, h, 2, p_.ep, per_domain, dedup).value();
    l->ep_fwd = dispatch + combine;
    l->ep_bwd = dispatch + combine;
  }
  if (p_.Recomputes(kModuleMoe)) {
    l->sel_fwd += fwd;
    l->sel_ep += l->ep_fwd;
  } else if (p_.Recomputes(kModuleSharedExperts)) {
    l->sel_fwd += shared;
  }
}

// Elements RoPE rotates per token on one TP rank: every head's q and k, or under MLA only the
// rotary part of each head's q and the one rotary key all heads share (DeepSeek-V2 §2.1.3), which
// every rank computes whole.
double StepModel::RopeElementsPerToken() const {
  if (a_.attention == AttentionKind::kMla) {
    const double r = static_cast<double>(a_.mla.rope_dim);
    return a_.heads * r / t_ + r;
  }
  return static_cast<double>(a_.heads + a_.KvHeadsAcrossTp(p_.tp)) * a_.head_dim / t_;
}

double StepModel::InnerNormElementsPerToken() const {
  if (a_.attention == AttentionKind::kMla) return static_cast<double>(a_.mla.q_lora_rank + a_.mla.kv_lora_rank);
  return a_.qk_norm ? RopeElementsPerToken() : 0;  // the rank's q and k heads, which RoPE rotates too
}

void StepModel::Elementwise(bool moe, LayerCost* l) const {
  const double h = static_cast<double>(a_.hidden);
  const ElementwiseBytes& e = elementwise_;
  const double norm = rep_tokens_ * h * e.norm;
  double bytes = a_.norms_per_layer * norm + 2 * rep_tokens_ * h * e.residual;
  const double rope = a_.Rotary() ? tokens_ * RopeElementsPerToken() * e.rope : 0;
  bytes += rope;
  // Norms inside the attention block, at the norm's bytes per element: Qwen3's per-head RMSNorm
  // of q and k (every head this rank holds, before RoPE), and MLA's RMSNorm of each latent (q's
  // and kv's, on the rank's own rows: Transformer Engine's LayerNormLinear normalises before it
  // gathers the sequence), which `mla_up_proj` runs again with the up-projections.
  const bool mla = a_.attention == AttentionKind::kMla;
  const double inner_norms = (mla ? rep_tokens_ : tokens_) * InnerNormElementsPerToken() * e.norm;
  bytes += inner_norms;
  const double act_per = e.activation;
  // Selective recompute's elementwise passes: the norms (layernorm), RoPE with the MLA
  // up-projections, and the activations inside a recomputed block.
  double again = 0;
  if (RecomputesInputNorm(a_, p_)) again += norm;
  if (RecomputesPreMlpNorm(p_, moe)) again += norm;
  if (p_.Recomputes(kModuleMlaUpProj) && mla) again += rope + inner_norms;
  if (moe) {
    const MoeSpec& m = a_.moe;
    // The busiest expert rank's activation: T·k·etp/t rows (its experts' share of the routed
    // copies, as the grouped GEMMs count them) of F_e/etp columns, whatever the expert TP.
    const double routed =
        tokens_ * m.top_k / t_ * static_cast<double>(m.expert_ffn) * c_.job.MoeExpertLoad() * act_per;
    // Permute, unpermute, weighted combine: of the rows the rank dispatches (CF·T·k padded).
    const double permute = tokens_ * m.top_k * c_.job.MoeDispatchRows() / t_ * h * 2 * 3;
    const double shared = tokens_ * static_cast<double>(m.shared_ffn) / t_ * act_per;
    bytes += routed + permute + shared;
    if (p_.Recomputes(kModuleMoe)) {
      again += routed + permute + shared;
    } else {
      if (p_.Recomputes(kModuleMoeAct)) again += routed;
      if (p_.Recomputes(kModuleSharedExperts)) again += shared;
    }
  } else {
    const double act = tokens_ * static_cast<double>(a_.ffn) / t_ * act_per;
    bytes += act;
    if (p_.Recomputes(kModuleMlp)) again += act;
  }
  l->fwd_memory += Memory(bytes);
  l->sel_memory += Memory(again);
}

// MLA's attention block gathers its latents (q's, or without one the input, and kv's with the
// RoPE key), not the input, since its down-projections run before the gather; its output side
// is the usual h. Without SP the backward all-reduces the latents' gradients.
// The column-parallel up-projections' inputs (the q and kv latents, not the RoPE key) are what
// their backward gathers again for the weight gradient, and what `mla_up_proj` recompute
// gathers again. Other attention moves the layer's h like the MLP (`one`, `gather`).
StepModel::AttentionTpComm StepModel::AttentionTp(double one, double gather) const {
  AttentionTpComm c{one, one, gather, gather};
  if (a_.attention != AttentionKind::kMla) return c;
  const Bytes full(tokens_ * a_.hidden * 2.0);
  const int64_t per_domain = PerDomain(1, p_.tp);
  const MlaSpec& m = a_.mla;
  const double up_inputs = static_cast<double>((m.q_lora_rank > 0 ? m.q_lora_rank : a_.hidden) + m.kv_lora_rank);
  const Bytes latents(tokens_ * (up_inputs + static_cast<double>(m.rope_dim)) * 2.0);
  if (p_.sp) {
    c.gather = AllGatherTime(TpFabric(), latents, p_.tp, per_domain).value();
    c.regather = AllGatherTime(TpFabric(), Bytes(tokens_ * up_inputs * 2.0), p_.tp, per_domain).value();
    const double reduce = ReduceScatterTime(TpFabric(), full, p_.tp, per_domain).value();
    c.fwd = c.gather + reduce;
    c.bwd = gather + ReduceScatterTime(TpFabric(), latents, p_.tp, per_domain).value();
  } else {
    c.bwd = AllReduceTime(TpFabric(), latents, p_.tp, per_domain).value();
  }
  return c;
}

// With expert TP the routed experts' pair moves the dispatched copies: Megatron-Core gathers over
// the expert-TP group the tokens the all-to-all brought each rank (token_dispatcher.py,
// dispatch_postprocess: gather_from_sequence_parallel_region on the received tokens) and
// reduce-scatters them at the combine, the TP group's tokens times top_k, times the busiest rank's
// load (as its GEMMs' rows) and the ETP share of the TP group.
StepModel::RoutedTpComm StepModel::RoutedExpertsTp() const {
  const Bytes copies(tokens_ * a_.moe.top_k * c_.job.MoeExpertLoad() * static_cast<double>(p_.etp) / t_ *
                     a_.hidden * 2.0);
  const int64_t etp_per_domain = PerDomain(1, p_.etp);
  const Fabric& etp_fabric = p_.etp == p_.tp ? TpFabric() : c_.fabric;  // the TP group's axes when it is the TP group
  RoutedTpComm r;
  r.gather = p_.sp ? AllGatherTime(etp_fabric, copies, p_.etp, etp_per_domain).value() : 0;
  r.pair = p_.sp ? r.gather + ReduceScatterTime(etp_fabric, copies, p_.etp, etp_per_domain).value()
                 : AllReduceTime(etp_fabric, copies, p_.etp, etp_per_domain).value();
  return r;
}

void StepModel::TensorComm(bool moe, LayerCost* l) const {
  if (p_.tp == 1) return;
  const Bytes full(tokens_ * a_.hidden * 2.0);
  const int64_t per_domain = PerDomain(1, p_.tp);
  // An all-reduce (or an all-gather + reduce-scatter pair with SP) per TP block each way: attention
  // and the MLP; an MoE layer has attention's, the shared experts' and, with expert TP, the
  // routed experts' (TpBlocks).
  // With SP each pair is an all-gather and a reduce-scatter (rings held to the link rate, where an
  // all-reduce may use NVLS in-switch reduction).
  const double gather = p_.sp ? AllGatherTime(TpFabric(), full, p_.tp, per_domain).value() : 0;
  const double one = p_.sp ? gather + ReduceScatterTime(TpFabric(), full, p_.tp, per_domain).value()
                           : AllReduceTime(TpFabric(), full, p_.tp, per_domain).value();
  const AttentionTpComm attn = AttentionTp(one, gather);
  // The MLP side's pairs: a dense MLP's and the shared experts' move the layer's tokens, as
  // attention's do; with expert TP the routed experts' pair too (RoutedExpertsTp).
  const bool shared = moe && a_.moe.shared_ffn > 0;
  double side = moe ? (shared ? one : 0) : one, side_gather = moe ? (shared ? gather : 0) : gather;
  if (moe && p_.etp > 1) {
    const RoutedTpComm routed = RoutedExpertsTp();
    side += routed.pair;
    side_gather += routed.gather;
  }
  l->tp_fwd = attn.fwd + side;
  l->tp_bwd = attn.bwd + side;
  // torchtitan's op-level policy saves reduce-scatter outputs but not all-gathers or all-reduces:
  // its recomputed forward runs those again.
  l->tp_op_sac = p_.sp ? attn.gather + side_gather : attn.fwd + side;
  // A recomputed dense MLP runs its block's pair again; a recomputed MoE block its pairs (expert
  // TP, shared experts), recomputed shared experts theirs.
  if (moe) {
    if (p_.Recomputes(kModuleMoe)) {
      l->sel_tp = side;
    } else if (shared && p_.Recomputes(kModuleSharedExperts)) {
      l->sel_tp = one;
    }
  } else if (p_.Recomputes(kModuleMlp)) {
    l->sel_tp = one;
  }
  // A recomputed output projection (named checkpoints without `out_proj`) reduces its output
  // again: the reduce-scatter with SP, else the all-reduce.
  if (p_.recompute == Recompute::kNames && !moe && !p_.Keeps(kSavedOutProj)) l->names_tp = one - attn.gather;
  // Recomputing MLA's up-projections (`mla_up_proj`) runs their input's all-gather again.
  if (a_.attention == AttentionKind::kMla && p_.sp && p_.Recomputes(kModuleMlaUpProj)) l->sel_tp += attn.regather;
  // With SP the column-parallel GEMMs keep only their sequence-sharded input, so the backward
  // all-gathers it again for the weight gradient (Korthikanti et al. 2022 §4.2.2): one more
  // all-gather per all-reduce pair (MLA's attention: of its up-projections' latents).
  l->tp_bwd += attn.regather + side_gather;
}

// Megatron's vocab-parallel embedding sums its partial lookups over the TP group (an all-reduce;
// with SP a reduce-scatter to the sequence shards, whose backward all-gathers the gradient). The
// output layer (a column-parallel linear) gathers its input from the sequence shards with SP (an
// all-gather; its backward gathers the input again for the weight gradient and reduce-scatters
// the input gradient), or without SP has its input gradient summed in the backward (an
// all-reduce: the copy to the TP region). The vocab-parallel cross-entropy sums three fp32 values
// per token over the group in the forward: the logits' maximum, the sum of exponentials and the
// target logit (megatron/core/tensor_parallel/cross_entropy.py; its fused variant sends two).
// Each output head (with MTP, several) does the same; each MTP layer embeds its input again on
// the last stage (its projection's own collectives are not counted).
StepModel::AroundLayersComm StepModel::AroundLayers(double heads) const {
  AroundLayersComm c;
  if (p_.tp == 1) return c;
  const Bytes act(tokens_ * static_cast<double>(a_.hidden) * 2.0);
  const int64_t per = PerDomain(1, p_.tp);
  const double all_reduce = AllReduceTime(TpFabric(), act, p_.tp, per).value();
  const double gather = p_.sp ? AllGatherTime(TpFabric(), act, p_.tp, per).value() : 0;
  const double scatter = p_.sp ? ReduceScatterTime(TpFabric(), act, p_.tp, per).value() : 0;
  const double loss = 3 * AllReduceTime(TpFabric(), Bytes(tokens_ * 4.0), p_.tp, per).value();
  c.embedding_fwd = p_.sp ? scatter : all_reduce;
  c.embedding_bwd = gather;
  c.head_fwd = heads * ((p_.sp ? gather : 0) + loss);
  c.head_bwd = heads * (p_.sp ? scatter + gather : all_reduce);
  c.embedding_calls = p_.sp ? 2 : 1;
  // The loss's three all-reduces run at any TP (Megatron's vocab-parallel cross-entropy does not
  // skip them at TP 1), so a host profile's per-micro-batch time, taken at TP 1, holds the main
  // head's: only the MTP heads' are calls the plan adds.
  c.head_calls = heads * (p_.sp ? 3 : 1) + 3 * (heads - 1);
  return c;
}

void StepModel::ContextComm(LayerCost* l) const {
  if (p_.cp == 1) return;
  double kv_per_token = 0;
  if (a_.attention == AttentionKind::kMla) {
    kv_per_token = a_.heads * (a_.mla.nope_dim + a_.mla.rope_dim + a_.mla.v_dim) * 2.0;
  } else {
    kv_per_token = 2.0 * static_cast<double>(a_.KvHeadsAcrossTp(p_.tp) * a_.head_dim) * 2.0;
  }
  const Bytes all_kv(tokens_ * p_.cp * kv_per_token / t_);
  const int64_t per_domain = PerDomain(p_.tp, p_.cp);
  const double gather = AllGatherTime(CpFabric(), all_kv, p_.cp, per_domain).value();
  l->cp_fwd = gather;
  l->cp_bwd = gather + ReduceScatterTime(CpFabric(), all_kv, p_.cp, per_domain).value();  // re-gather KV, reduce-scatter dKV
}

LayerCost StepModel::Layer(bool moe) const {
  LayerCost l;
  CountKernels(a_, p_, c_.job, c_.fp8_gemms, moe, elementwise_, softmax_extra_, &l);
  Attention(&l);
  if (moe) {
    Moe(&l);
  } else {
    DenseMlp(&l);
  }
  Elementwise(moe, &l);
  TensorComm(moe, &l);
  ContextComm(&l);
  return l;
}

}  // namespace preflight::cost_internal
