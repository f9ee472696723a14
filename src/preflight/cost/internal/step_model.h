// File: cost/internal/step_model.h
//
// Internal to the cost module (step_layer.cc, step_time.cc, step_pipeline.cc): the model that times
// a plan's step (StepModel) from the per-device work of one layer (LayerCost, step_parts.h). Callers use
// cost/step_time.h (EstimateStep, EstimatePipeline, FinishStep), not this header.

#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

#include "preflight/cost/internal/gemm_memo.h"
#include "preflight/cost/internal/step_parts.h"
#include "preflight/cost/step_time.h"

namespace preflight::cost_internal {

class StepModel {
 public:
  StepModel(const CostContext& ctx, const Plan& plan) : c_(ctx), a_(*ctx.arch), p_(plan) {
    tokens_ = static_cast<double>(plan.micro_batch * ctx.job.seq_len) / plan.cp;
    rep_tokens_ = plan.sp ? tokens_ / plan.tp : tokens_;
    local_share_ = a_.LocalLayerShare();
    t_ = static_cast<double>(plan.tp);
    in_bytes_ = ctx.fp4_gemms ? QuantizedCopyBytes(Dtype::kFp4) : ctx.fp8_gemms ? 1.0 : 2.0;
    if (UnfusedSoftmax(*ctx.arch, plan, ctx.job)) softmax_extra_ = UnfusedSoftmaxExtra(ctx.job.attention_softmax_in_fp32);
    elementwise_ = ElementwisePasses(*ctx.arch, ctx.job.elementwise_fusion);
    placed_ = PlacedDomain(ctx.fabric, ModelParallelBlock(plan.tp, plan.cp, plan.etp, plan.ep),
                           plan.tp * plan.cp * plan.dp * plan.pp);
    PlaceOnTorus();
  }

  PipelineTime Pipeline() const;
  StepTime Finish(const PipelineTime& pipe) const;
  LayerTime ExplainLayer(bool moe) const;  // EstimateLayers' figures for one kind of layer

 private:
  // Per micro-batch, the activation offload copies the stage's layers do not hide (0 without
  // offloading or with the host link unknown): Transformer Engine's handler copies each offloaded
  // layer's moved tensors on a stream of its own and waits for the copy layers/offloaded layers
  // later (its layer window), so each copy to the host runs beside that many layers' forward and
  // each copy back beside as many layers' backward; what is longer is exposed.
  struct OffloadWaits {
    double forward = 0, backward = 0;  // the copies to the host, and back
  };
  OffloadWaits OffloadSeconds(const StageSums& stage, int64_t layers) const;
  // The fewest ranks of a group (`size` ranks `stride` apart, inside a pipeline stage) that share
  // a scale-up domain, over the plan's groups of that kind, the job taking `placed_` devices of
  // each domain (collectives.h).
  int64_t PerDomain(int64_t stride, int64_t size) const {
    return RanksPerDomain(c_.fabric, stride, size, p_.tp * p_.cp * p_.dp, p_.pp, placed_);
  }
  // On a torus domain whose slice shapes the catalog gives, the plan's TP, CP and DP groups take
  // the axes of the slice its mesh gives them (PlaceTorusMesh), each timed on a fabric of its own;
  // elsewhere (and for expert groups) every group takes its best block of the torus.
  void PlaceOnTorus() {
    const Fabric& f = c_.fabric;
    if (f.torus_dimensions <= 0 || !f.torus_slices) return;
    const PlanOnTorus on = PlacePlanOnTorus(f, p_, placed_);
    if (!on.mesh.placed) return;
    if (on.tp > 1) tp_fabric_ = WithTorusGroup(f, on.tp, on.mesh.tp);
    if (on.cp > 1) cp_fabric_ = WithTorusGroup(f, on.cp, on.mesh.cp);
    if (on.dp > 1) dp_fabric_ = WithTorusGroup(f, on.dp, on.mesh.dp);
  }
  const Fabric& TpFabric() const { return tp_fabric_ ? *tp_fabric_ : c_.fabric; }
  const Fabric& CpFabric() const { return cp_fabric_ ? *cp_fabric_ : c_.fabric; }
  const Fabric& DpFabric() const { return dp_fabric_ ? *dp_fabric_ : c_.fabric; }
  // Whether the whole job, `ranks` of them, lies in one scale-up domain as it is placed.
  bool InOneDomain(int64_t ranks) const { return ranks <= placed_; }
  // A measured host profile whose layers make the host wait for the GPU in every forward.
  bool LayersWaitForGpu() const {
    return c_.job.host_profile && c_.job.host_profile->gpu_waits_per_layer_forward > 0;
  }
  // Forward time of `batch` GEMMs (a grouped GEMM) with M rows, K inputs, N outputs each:
  // a roofline whose compute side is divided by the wave utilization of the output tiles.
  double Gemm(double m, double k, double n, double batch = 1) const {
    return Roofline(m, k, n, batch, in_bytes_, GemmRate(m, k, n, batch)) + KernelFixed();
  }
  // The fixed GPU time of one GEMM kernel (a grouped GEMM is one kernel) beyond the wave model,
  // unless the dtype is priced from a measured table: its figures hold that time already, and so
  // do the times extrapolated from them (LongerReductionRate).
  double KernelFixed() const { return KernelFixedIn(c_.gemm_table.get(), c_.gemm_dtype); }
  double KernelFixedIn(const GemmTable* table, Dtype dtype) const {
    return table && table->Has(dtype) ? 0 : c_.gemm_kernel.value();
  }
  // A GEMM that stays in 16 bits in an FP8 run: Megatron-Core's output layer and MoE router are
  // not Transformer Engine modules, so FP8 autocast leaves them in BF16. Timed as a bf16 run times
  // it: the bf16 table by shape where the device has one, else the 16-bit rate and the wave model.
  double Gemm16(double m, double k, double n, double batch = 1) const {
    if (!c_.fp8_gemms) return Gemm(m, k, n, batch);
    const GemmTable* table = c_.gemm16_table.get();
    const double rate = TableRate(table, Dtype::kBf16, c_.attention_rate.value(), c_.gemm16_sustain, m, k, n, batch);
    return Roofline(m, k, n, batch, 2, rate) + KernelFixedIn(table, Dtype::kBf16);
  }
  // Backward time of the same GEMMs, each product at its own shape: the input gradient
  // dX = dY·Wᵀ (M rows, reducing over N, K outputs) and the weight gradient dW = Xᵀ·dY (K rows,
  // reducing over the M rows, N outputs; per group in a grouped GEMM, whose groups share one
  // kernel). A short reduction (an expert's few tokens) runs the weight gradient well below a
  // large GEMM's rate; the wave model (no table) sees only the output tiles of each.
  // `wgrad`, when given, gains the weight gradient's share.
  double GemmBwd(double m, double k, double n, double batch = 1, double* wgrad = nullptr) const {
    return BackwardOf<&StepModel::Gemm>(m, k, n, batch, wgrad);
  }
  double Gemm16Bwd(double m, double k, double n, double batch = 1, double* wgrad = nullptr) const {
    return BackwardOf<&StepModel::Gemm16>(m, k, n, batch, wgrad);
  }
  // Transformer Engine's userbuffers overlap (Megatron's --tp-comm-overlap, which needs sequence
  // parallelism) runs a TP block's GEMMs in pieces, each of a share of the rows (tokens), while the
  // previous piece's data moves: the all-gather GEMMs (QKV and FC1 forward, the input gradients of
  // the output projection and FC2) as a ring exchange of TP pieces, the reduce-scatter GEMMs (the
  // output projection and FC2 forward) as a pipeline of 4 (`initialize_ub` defaults, num_splits =
  // tp_size for ring_exchange and 4 for pipeline, transformer_engine/pytorch/module/base.py). The
  // bulk overlaps (the QKV and FC1 input and weight gradients) keep whole GEMMs.
  // Megatron accepts --tp-comm-overlap only with sequence parallelism: without it (or at TP 1)
  // nothing is overlapped and the GEMMs stay whole.
  bool UserbufferOverlap() const { return p_.tp_comm_overlap && p_.sp && p_.tp > 1; }
  double RingPieces() const { return UserbufferOverlap() ? t_ : 1; }
  double PipelinePieces() const { return UserbufferOverlap() ? kUserbufferPipelineSplits : 1; }
  double PiecewiseGemm(double pieces, double m, double k, double n) const {
    return pieces * Gemm(m / pieces, k, n);
  }
  // The backward of a GEMM whose input gradient runs in pieces (the weight gradient stays whole).
  double PiecewiseDgradBwd(double pieces, double m, double k, double n, double* wgrad) const {
    const double w = Gemm(k, m, n);
    if (wgrad) *wgrad += w;
    return PiecewiseGemm(pieces, m, n, k) + w;
  }
  // The local experts' GEMMs (`local` of them, M rows each): one grouped kernel, or with
  // TrainingJob::moe_gemm_per_expert Transformer Engine's GEMM per expert round-robin over its 4
  // compute streams, timed as rounds of 4 concurrent GEMMs and a last round of the rest, each
  // round a grouped GEMM of its own (its waves over the round's tiles, its own fixed kernel time).
  static constexpr double kTeComputeStreams = 4;
  struct ExpertRounds {
    double full = 0, rest = 0;  // rounds of kTeComputeStreams GEMMs; GEMMs in the last round
  };
  ExpertRounds RoundsOf(double local) const {
    if (!c_.job.moe_gemm_per_expert) return {0, local};
    const double full = std::floor(local / kTeComputeStreams);
    return {full, local - full * kTeComputeStreams};
  }
  double ExpertGemm(double m, double k, double n, double local) const {
    const ExpertRounds r = RoundsOf(local);
    return r.full * Gemm(m, k, n, kTeComputeStreams) + (r.rest > 0 ? Gemm(m, k, n, r.rest) : 0);
  }
  double ExpertGemmBwd(double m, double k, double n, double local, double* wgrad) const {
    const ExpertRounds r = RoundsOf(local);
    double t = 0, round_wgrad = 0, rest_wgrad = 0;
    if (r.full > 0) t += r.full * GemmBwd(m, k, n, kTeComputeStreams, &round_wgrad);
    if (r.rest > 0) t += GemmBwd(m, k, n, r.rest, &rest_wgrad);
    if (wgrad) *wgrad += r.full * round_wgrad + rest_wgrad;
    return t;
  }
  // A whole, odd number of elements (an average share of tokens, fractional, is not a width).
  // How many times longer a 16-bit GEMM of dimensions m, k, n takes for where its rows start: the
  // device's odd-width slowdown for an odd dimension, else its 2-mod-4 or 4-mod-8 one, the worst
  // of the three dimensions; 1 when all are multiples of 8 or nothing is measured.
  double WidthSlowdown(double m, double k, double n) const;
  using GemmTime = double (StepModel::*)(double, double, double, double) const;
  template <GemmTime gemm>  // a compile-time choice: the call inlines as before
  double BackwardOf(double m, double k, double n, double batch, double* wgrad) const {
    const double w = (this->*gemm)(k, m, n, batch);
    if (wgrad) *wgrad += w;
    return (this->*gemm)(m, n, k, batch) + w;
  }
  // max(FLOPs / rate, bytes / HBM rate), reading inputs and weights at `in_bytes` and writing a
  // 16-bit output. A 16-bit GEMM with a dimension no multiple of 8 runs at the rate over the
  // device's slowdown for it (WidthSlowdown). Only the widths k and n lead a row of an
  // operand, but the three products of a layer permute (m, k, n) among themselves, so the rule
  // reads all three and every product of the layer pays alike; token counts are even in practice.
  double Roofline(double m, double k, double n, double batch, double in_bytes, double rate) const {
    if (in_bytes == 2 && c_.width_slowdowns) rate /= WidthSlowdown(m, k, n);
    const double flops = 2 * m * k * n * batch;
    const double bytes = (in_bytes * (m * k + k * n) + 2 * m * n) * batch;
    return std::max(flops / rate, bytes / c_.hbm_rate.value());
  }
  // The FP8 casts around one GEMM of an FP8 run, as separate memory-bound passes (Transformer
  // Engine 1.x, transformer_engine/pytorch/module/{linear,layernorm_linear,layernorm_mlp}.py): the
  // forward casts the 16-bit input to FP8 together with its transpose for the weight-gradient GEMM
  // (read 2, write 1 + 1 bytes per input element) unless the producer (a fused norm, or in TE's own
  // LayerNormMLP the activation) writes FP8 itself, when only the transpose remains for the
  // backward (read 1, write 1); the backward casts the output gradient with its transpose (read 2,
  // write 1 + 1 per output element) unless an activation backward does it in the same pass (write
  // 1 + 1). With current scaling (Fp8Recipe::kCurrent) every cast first reads its 16-bit input
  // once more for the amax (2 bytes per element), and the fused-norm input is cast like any other.
  // MXFP8 (Fp8Recipe::kMxfp8) finds each block's scale inside the cast, casts the norm's output
  // like any other, and writes one E8M0 scale byte per 32 elements for each copy it writes; the
  // blockwise recipe (Fp8Recipe::kBlockwise) the same with an FP32 scale per 128 elements.
  // Where a GEMM's FP8 input comes from: a cast of its 16-bit input, a fused norm that writes FP8
  // (delayed scaling only), or tokens quantized before an MoE dispatch (cast where they were).
  enum class Fp8Input { kCast, kFusedNorm, kQuantized };
  void Fp8Casts(double m, double k, double n, double batch, Fp8Input input, bool grad_cast_fused,
                LayerCost* l) const {
    if (!c_.fp8_gemms) return;
    const double in = m * k * batch, grad = m * n * batch;
    const double q = QuantizedValueBytes();
    const double amax = Fp8AmaxBytes(), scales = 2 * Fp8ScaleBytes();  // two copies per cast
    const bool cast = input == Fp8Input::kCast || (input == Fp8Input::kFusedNorm && !Fp8NormWritesFp8());
    if (cast) {
      l->cast_fwd += Memory((2 + 2 * q + amax + scales) * in);
    } else {
      l->cast_bwd += Memory((2 * q + scales / 2) * in);  // the transpose for the weight gradient
    }
    l->cast_bwd += Memory(((grad_cast_fused ? 0 : 2) + 2 * q + amax + scales) * grad);
  }
  // Bytes per value of a quantized copy, its scales aside: FP8's 1, NVFP4's half.
  double QuantizedValueBytes() const { return c_.fp4_gemms ? 0.5 : 1.0; }
  // Per element a cast reads, beyond its input, for the amax: current scaling's pass of its own.
  // NVFP4's per-tensor FP32 scale comes from the tensor's amax, a pass of its own as under current
  // scaling.
  double Fp8AmaxBytes() const { return c_.fp4_gemms || c_.job.fp8_recipe == Fp8Recipe::kCurrent ? 2 : 0; }
  // Per element of each FP8 copy a cast writes, its scale: MXFP8's E8M0 byte per 32 elements, the
  // blockwise recipe's FP32 scale per 128.
  double Fp8ScaleBytes() const {
    if (c_.fp4_gemms) return 1.0 / kNvfp4Block;  // an E4M3 byte per 16 elements
    switch (c_.job.fp8_recipe) {
      case Fp8Recipe::kMxfp8: return 1.0 / kMxfp8Block;
      case Fp8Recipe::kBlockwise: return kFp32ScaleBytes / kFp8Block;
      case Fp8Recipe::kDelayed:
      case Fp8Recipe::kCurrent: return 0;
    }
    return 0;
  }
  // Whether a fused norm writes the FP8 input of the GEMM after it (delayed scaling only).
  bool Fp8NormWritesFp8() const { return !c_.fp4_gemms && c_.job.fp8_recipe == Fp8Recipe::kDelayed; }
  static constexpr double kMxfp8Block = 32;  // elements per E8M0 scale (the OCP MX formats)
  static constexpr double kFp8Block = 128;   // elements per FP32 scale (Float8BlockScaling's 1 x 128 tiles)
  static constexpr double kFp32ScaleBytes = 4;
  static constexpr double kNvfp4Block = 16;  // elements per E4M3 scale (NVFP4)
  double WaveUtilization(double m, double n, double batch) const;
  // Achieved rate for the shape: the catalog's measured table inside its range, and its edge
  // beyond the largest M or N at a measured reduction length; past the longest measured reduction,
  // extrapolated from the table (LongerReductionRate); without a table, the large-GEMM efficiency
  // times the wave utilization.
  double GemmRate(double m, double k, double n, double batch) const {
    return TableRate(c_.gemm_table.get(), c_.gemm_dtype, c_.gemm_rate.value(), c_.gemm_sustain, m, k, n, batch);
  }
  // The same for `dtype`'s grid of `table` (null: the wave model at `mamf`), the table scaled by
  // `sustain`.
  double TableRate(const GemmTable* table, Dtype d, double mamf, double sustain, double m, double k, double n,
                   double batch) const {
    if (!table) return mamf * WaveUtilization(m, n, batch);
    // The search asks for the same few thousand shapes millions of times (GemmMemo).
    const GemmTable& t = *table;
    const GemmMemo::Context ctx{t.serial(), d, mamf, c_.compute_units, sustain};
    const GemmMemo::Shape shape{m, k, n, batch};
    GemmMemo& memo = GemmMemo::ForThisThread();
    if (const double* rate = memo.Find(ctx, shape)) return *rate;
    const double rows = m * batch;
    const double measured = t.Rate(d, rows, n, k) * sustain;  // the table is a burst measurement
    // Beyond the largest measured outputs at a measured reduction length, the table's edge for
    // that length holds: more output tiles fill the waves no better than the edge's already do,
    // and each tile's reduction loop stays as short (an expert's weight gradient reduces over its
    // few tokens). A reduction longer than any measured is extrapolated (LongerReductionRate).
    const double rate = t.CoversReduction(d, k) || !t.Has(d)
                            ? measured
                            : LongerReductionRate(t, d, rows, n, k, sustain, mamf * WaveUtilization(m, n, batch));
    memo.Store(ctx, shape, rate);
    return rate;
  }
  // A reduction longer than the table's longest, K_max: the time at K_max plus the rest at the
  // marginal rate of the table's last step along K at these outputs (a tile's reduction loop
  // grows linearly with K; its fixed costs, held in the table's times, do not grow). So the time
  // runs on from the measured edge without a jump, and the rate rises towards the marginal one,
  // which is held between the edge's rate and the larger of it and `large` (the large-GEMM
  // efficiency times the waves of the output tiles: no GEMM beats the best one measured).
  static double LongerReductionRate(const GemmTable& t, Dtype d, double rows, double n, double k, double sustain,
                                    double large) {
    const auto [k_prev, k_max] = t.LongestReductions(d);
    const double edge = t.Rate(d, rows, n, k_max) * sustain;
    const double ceiling = std::max(edge, large);
    double marginal = edge;
    if (k_prev > 0) {
      const double prev = t.Rate(d, rows, n, k_prev) * sustain;
      const double step_time = k_max / edge - k_prev / prev;  // per 2·rows·n FLOPs
      marginal = step_time > 0 ? std::clamp((k_max - k_prev) / step_time, edge, ceiling) : ceiling;
    }
    return k / (k_max / edge + (k - k_max) / marginal);
  }
  double Memory(double bytes) const { return bytes / c_.hbm_rate.value(); }
  // One pass of DeepSpeed's early ZeRO-3 over a layer's parameters (Plan::zero3_gather_per_parameter):
  // for each tensor of at least stage3_param_persistence_threshold elements (DeepSpeed's default,
  // 1e5; smaller ones stay whole), the host builds one view per rank of the output (a Python loop
  // of narrow() calls, after torch.cuda.synchronize(): the GPU idles), then calls the list
  // all-gather, whose c10d implementation copies each rank's chunk back into its view (one copy
  // launched per rank, on the NCCL stream, while the gather runs). Each host op costs
  // host_overhead_per_kernel_us. Expert tensors count for the local experts (1/EP of them).
  double PerParameterGathers(bool moe, int64_t d, int64_t ed, double weight_bytes) const {
    double total = 0;
    for (const ParamTensor& t : moe ? c_.moe_layer_tensors : c_.dense_layer_tensors) {
      total += ParameterGather(t, d, ed, weight_bytes);
    }
    return total;
  }
  double ParameterGather(const ParamTensor& t, int64_t d, int64_t ed, double weight_bytes) const {
    constexpr double kPersistenceThreshold = 100000;  // compared with the rank's (TP-local) tensor
    const int64_t ranks = t.expert ? ed : d;
    const double local = static_cast<double>(t.elements) / static_cast<double>(t.expert ? p_.etp : (t.tp_split ? p_.tp : 1));
    if (local < kPersistenceThreshold || ranks <= 1) return 0;
    const int64_t per = PerDomain(t.expert ? p_.ep * p_.etp : p_.tp, ranks);
    const double host = static_cast<double>(ranks) * c_.host_per_kernel.value();
    const Fabric& fabric = !t.expert && p_.cp == 1 ? DpFabric() : c_.fabric;
    const double gather = AllGatherTime(fabric, Bytes(local * weight_bytes), ranks, per).value();
    // A routed expert's tensors: those of the rank's own experts, count / EP of them.
    const double tensors = static_cast<double>(t.count) / static_cast<double>(t.expert ? p_.ep : 1);
    return tensors * (host + std::max(gather, host));
  }
  // Forward FLOPs per token that selective recompute runs again, all layers (for HFU): the MTP
  // layers too, which are transformer layers of the same configuration (of the last layer's kind,
  // as the op list counts them), as the attention FLOPs already include them.
  double SelectiveRecomputeFlopsPerToken() const {
    const double h = static_cast<double>(a_.hidden), g = a_.gated_mlp ? 3 : 2;  // matrices per MLP
    const double mtp = static_cast<double>(a_.mtp_layers);
    const double all_layers = static_cast<double>(a_.layers) + mtp;
    const double moe_layers = static_cast<double>(a_.MoeLayerCount()) + (a_.IsMoeLayer(a_.layers - 1) ? mtp : 0.0);
    const double dense_layers = all_layers - moe_layers;
    double f = p_.Recomputes(kModuleCoreAttn) ? c_.attention_flops_per_token_fwd : 0;
    if (p_.Recomputes(kModuleMlaUpProj) && a_.attention == AttentionKind::kMla) {
      const MlaSpec& m = a_.mla;
      const double qk = static_cast<double>(m.nope_dim + m.rope_dim);
      const double q_in = static_cast<double>(m.q_lora_rank > 0 ? m.q_lora_rank : a_.hidden);
      f += 2.0 * all_layers * (q_in * a_.heads * qk + m.kv_lora_rank * a_.heads * (m.nope_dim + m.v_dim));
    }
    if (p_.Recomputes(kModuleMlp)) f += 2.0 * dense_layers * g * h * static_cast<double>(a_.ffn);
    if (a_.IsMoe()) {
      const MoeSpec& m = a_.moe;
      const double shared = 2.0 * g * h * static_cast<double>(m.shared_ffn);
      if (p_.Recomputes(kModuleMoe)) {
        f += moe_layers * (2.0 * h * m.experts + m.top_k * 2.0 * g * h * static_cast<double>(m.expert_ffn) + shared);
      } else if (p_.Recomputes(kModuleSharedExperts)) {
        f += moe_layers * shared;
      }
    }
    return f;
  }

  double AttentionLength() const;
  double FlashCausalShare() const;
  // The fused kernel's rates for this plan's attention calls, averaged over the layers' work
  // (sliding-window layers read the curve at their own, shorter length).
  FlashRates LayerFlashRates() const;
  // Eager (unfused) attention's forward and backward time, per kernel (step_layer.cc).
  struct UnfusedTimes {
    double forward = 0, backward = 0;
  };
  UnfusedTimes UnfusedAttention(double core_flops) const;
  struct AttentionProjections {  // an attention block's projections, and its score FLOPs
    double fwd = 0, bwd = 0, core_flops = 0;
  };
  AttentionProjections MlaProjections(LayerCost* l) const;
  AttentionProjections StandardProjections(LayerCost* l) const;
  void Attention(LayerCost* l) const;
  void DenseMlp(LayerCost* l) const;
  void Moe(LayerCost* l) const;
  void Elementwise(bool moe, LayerCost* l) const;
  void TensorComm(bool moe, LayerCost* l) const;
  // The attention block's TP collectives, per micro-batch (seconds): its pair each way, the
  // forward's all-gather and the one its backward runs again (MLA: of its latents).
  struct AttentionTpComm {
    double fwd = 0, bwd = 0, gather = 0, regather = 0;
  };
  AttentionTpComm AttentionTp(double one, double gather) const;
  // With expert TP, the routed experts' pair over the expert-TP group and its all-gather (seconds).
  struct RoutedTpComm {
    double pair = 0, gather = 0;
  };
  RoutedTpComm RoutedExpertsTp() const;
  // The TP collectives around the layers, per micro-batch (seconds; zero at TP 1).
  struct AroundLayersComm {
    double embedding_fwd = 0, embedding_bwd = 0;  // first stage (and each MTP layer's re-embedding)
    double head_fwd = 0, head_bwd = 0;            // last stage: output layer(s) and loss
    double embedding_calls = 0, head_calls = 0;   // the host calls they take
  };
  AroundLayersComm AroundLayers(double heads) const;
  void ContextComm(LayerCost* l) const;
  LayerCost Layer(bool moe) const;

  // The pipeline from the layers' costs (step_time.cc; the stages and bubble, step_pipeline.cc).
  struct LayerComm {  // one layer's exposed collectives and the compute slowed by hidden ones
    double tp = 0, ep = 0, cp = 0, contention = 0, contention_fwd = 0;
    // Of tp + ep + cp, what falls in the forward phase: each kind's forward collectives beyond the
    // compute hiding them, at most that kind's exposure; for paired all-to-alls (ep_comm_overlap,
    // DualPipe) the forward's share of what they outlast their window, plus the unpaired forwards'.
    double exposed_fwd = 0;
    double tp_again = 0, ep_again = 0, cp_again = 0;  // the collectives recomputation runs again
    // Of the layer's weight-gradient products, what a zero-bubble schedule can move into its
    // bubble and shorten the layer by: all of them, unless the expert all-to-alls hide behind
    // the whole layer; then only the compute they do not need (moving the rest out leaves the
    // layer as long, bound by the all-to-alls).
    double wgrad_free = 0;
  };
  struct HeadWork {  // the output head(s), loss and MTP projection on the last stage, and the TP
                     // collectives around the layers (the embedding's on the first stage)
    double fwd = 0, bwd = 0, wgrad = 0, loss = 0, loss_fwd = 0;
    // The memory-bound passes around the layers (HeadPasses): the embedding's on the first stage,
    // the final norm's on the last (0 for a model without one), one norm's (an MTP module runs
    // three), and with tied embeddings on one stage the sum of the shared weight's two gradients;
    // each whole (forward and backward) and its forward share.
    // Of the embedding's, the DDP hook's addition of the table's gradient into the main one (with
    // grad_accumulation_fusion), and what autograd's sum of two gradients of the table moves.
    double embedding = 0, embedding_fwd = 0, final_norm = 0, final_norm_fwd = 0, norm = 0, norm_fwd = 0,
           tied_sum = 0, embedding_hook = 0, embedding_sum = 0;
    AroundLayersComm comm;
  };
  void HeadPasses(HeadWork* w) const;
  struct StageParts {  // one dense and one MoE layer's sums, and the head
    StageSums dense, moe;
    // Under full recompute by block, a layer that is not recomputed (the rest of each chunk).
    StageSums dense_kept, moe_kept;
    HeadWork head;
  };
  // A stage's layers: all of them and its MoE ones, and of each those full recompute runs again.
  struct LayerCounts { int64_t layers = 0, moe = 0, recomputed = 0, recomputed_moe = 0; };
  LayerCounts CountsOnStage(int64_t stage) const;
  // A per-layer quantity as each recompute mode runs it a second time; a mode left out runs
  // none of it. Written with designated initializers: Again({.full = x, .dots = y}).
  struct PerRecompute {
    double full = 0;       // full recompute
    double selective = 0;  // selective recompute of modules
    double op_sac = 0;     // torchtitan's op-level policy
    double dots = 0;       // JAX's dots policy
    double names = 0;      // JAX's named checkpoints
  };
  // What the plan's recompute mode runs a second time (0 without recompute).
  double Again(const PerRecompute& per_mode) const;
  // The collectives recomputation runs again (LayerComm's *_again) and, in *core_again, the
  // attention products it runs again, under which CP's exchange hides.
  LayerComm RecomputedComm(const LayerCost& l, double* core_again) const;
  LayerComm ExposedLayerComm(const LayerCost& l) const;
  double RopeElementsPerToken() const;
  // Elements per token of the norms inside the attention block: Qwen3's q and k norms (the heads
  // this TP rank holds), MLA's q and kv latent norms (whole latents, on the rank's own rows);
  // 0 for other models.
  double InnerNormElementsPerToken() const;
  double LayerHostSeconds(const LayerCost& l) const;
  // Forward kernels a host profile's layer times: all but the collectives (their calls cost their
  // own time) and the kernels it does not run (LayerCost::kernels_unprofiled).
  double ProfiledKernels(const LayerCost& l) const;
  // Host time of each kernel a host profile's layer does not run (LayerCost::kernels_unprofiled):
  // the profile's measured unfused_softmax_op where it has one, else the profile's forward host
  // time per kernel of its layer (as the kernels selective recompute launches again).
  double UnprofiledKernelSeconds(const LayerCost& l) const;
  // Of LayerHostSeconds, the part before the backward starts (the forward's kernels and calls).
  double LayerHostForwardSeconds(const LayerCost& l) const;
  // With layers that wait for the GPU: what the GPU idles per layer and micro-batch while the
  // host, back from each wait, reaches its next launch: in the forward phase, or (`recomputed`) in
  // the backward phase, whose forward full recompute runs again (0 without full recompute).
  // REQUIRES: a host profile with gpu_waits_per_layer_forward > 0.
  double WaitGapSeconds(const LayerCost& l, bool recomputed) const;
  // Whether the schedule runs the weight gradients as a pass of their own (ZB-H1, DualPipe).
  bool DefersWeightGradients() const {
    return p_.schedule == Schedule::kZbH1 || p_.schedule == Schedule::kDualPipe;
  }
  // Of the host's backward phase (`host_bwd`, recomputed forward included), the launches of the
  // deferred weight-gradient kernels: their share of the phase's kernels, times the share of the
  // weight gradients deferred (`deferred` of l.wgrad; those the expert all-to-alls hide under stay
  // in the backward, and so do their launches).
  double WgradHostSeconds(const LayerCost& l, double host_bwd, double deferred) const;
  // The products a layer's recompute mode runs again (forward products, per micro-batch).
  double RecomputedProducts(const LayerCost& l) const;
  // Adds n layers of cost `l` to the stage's sums: compute, elementwise passes, exposed
  // collectives, the deferred weight-gradient pass and the GPU's waits for the host.
  void AddLayer(const LayerCost& l, double n, StageSums* s) const;
  // Under a schedule that defers the weight gradients, their pass apart from the backward (bound
  // by its slower side, the GPU's `w_gpu` or the host's launches of it), added n times to *s.
  // Returns the host seconds of that pass, which the rest of the layer no longer holds.
  double AddDeferredWeightGradients(const LayerCost& l, double n, double w_gpu, double host_bwd, StageSums* s) const;
  // What the GPU waits for the host in n layers (seconds each way: `host` and `gpu` for the
  // layer, `host_fwd` and `gpu_fwd` for its forward phase), and the slack the host leaves.
  void AddHostPacing(const LayerCost& l, double n, double host, double host_fwd, double gpu, double gpu_fwd,
                     StageSums* s) const;
  HeadWork Head() const;
  void AddHead(const StageParts& parts, bool first, StageSums* st) const;
  StageSums StageTotals(const StageParts& parts, const LayerCounts& n, bool first, bool last) const;
  double InputPathSeconds(double slack) const;
  void AddInputPath(const StageParts& parts, int64_t first, int64_t n, StageSums* st) const;
  // The sums over all stages per micro-batch (SumWithInputs): their time, and of it their
  // weight-gradient credits (StageSums::wgrad).
  struct AllStages {
    double total = 0, wgrad = 0, forward = 0;
  };
  // The bubble with `worst` the pacing rank's sums, which hold the last stage when `last` is set.
  double Bubble(const AllStages& all, const StageSums& worst, bool last) const;
  double PipelineSendsExposed(double micro_batches) const;
  // Pipeline()'s parts (step_pipeline.cc): one dense and one MoE layer's sums with the head; a stage's
  // sums with its input path; a rank's (DualPipe: the mean of its two stages); the sum over all
  // stages, each running the input path beside its own GPU work (`whole`: all of them on one
  // stage); how slow a rank is, given that sum; the slowest rank.
  StageParts LayerParts() const;
  StageSums StageSumsOf(const StageParts& parts, int64_t stage) const;
  StageSums RankSums(const StageParts& parts, int64_t stage) const;
  AllStages SumWithInputs(const StageParts& parts, const StageSums& whole) const;
  double Slowness(const StageSums& st, const AllStages& all, bool last) const;
  StageSums SlowestRank(const StageParts& parts, const AllStages& all, bool* last) const;

  // The step around the pipeline (step_time.cc).
  struct LocalParams {  // the parameters a device holds and updates, and the bytes they move in
    double dense = 0, expert = 0;  // per device (TP, PP; EP and ETP for the experts)
    int64_t d = 1, ed = 1;         // the data-parallel and expert-data-parallel group sizes
    double grad_bytes = 0, weight_bytes = 0;  // per element: the gradient buffer's, the 16-bit weights'
    double reduce_bytes = 0;                  // per element the gradient reduction moves (GradReduceDtype)
  };
  struct DataParallelComm {
    double exposed = 0, contention = 0;
  };
  LocalParams Local(int64_t stage) const;  // of the device holding pipeline stage `stage`
  double AccumulationBubble(const PipelineTime& pipe) const;
  double OptimizerSeconds(const LocalParams& lp) const;
  void AddDataParallelTime(const Fabric& fabric, const LocalParams& lp, double local, int64_t ranks, int64_t stride,
                           int64_t bucket_ranks, double m, double* grads, double* params) const;
  double Zero3PerParameterGatherSeconds(const LocalParams& lp, double m) const;
  double ReplicaGradientSeconds(const LocalParams& lp, double m) const;  // HSDP's all-reduce across replicas
  double TiedEmbeddingSeconds(double grad_bytes) const;
  DataParallelComm DataParallel(const LocalParams& lp, const PipelineTime& pipe) const;
  DataParallelComm ZeroThreeExposure(double grads, double params, const PipelineTime& pipe) const;
  // Bytes of a weight gradient as the backward's GEMMs write it: the training precision's 16 bits.
  double WeightGradBytes() const { return c_.job.precision == Dtype::kFp32 ? 4 : 2; }
  double AccumulationSeconds(const LocalParams& lp) const;
  double FlattenSeconds(const LocalParams& lp) const;
  struct PassSeconds {
    double per_micro_batch = 0, per_step = 0;
  };
  // Whether FSDP's passes (PyTorch's FSDP at ZeRO 3) and autocast's casts (fp32 weights at ZeRO
  // 0-2, 16-bit compute) apply: the conditions FsdpCopySeconds, CastAtUseSeconds and the bubble
  // they lengthen share.
  bool FsdpPasses() const { return p_.zero == 3 && p_.fsdp != Plan::Fsdp::kNone; }
  bool CastsAtUse() const {
    return p_.zero != 3 && c_.job.weight_dtype == Dtype::kFp32 && c_.job.precision != Dtype::kFp32;
  }
  PassSeconds FsdpCopySeconds(const LocalParams& lp) const;  // FSDP's copies and casts beside its collectives
  double CastAtUseSeconds(const LocalParams& lp) const;  // autocast's weight casts over fp32 weights (ZeRO 0-2)
  double MicroBatchPassSeconds(const LocalParams& lp) const;  // accumulation, FSDP copies and casts, each micro-batch
  double StepPassSeconds(const LocalParams& lp) const;        // gradient flattening and FSDP copies, each step
  double RecomputeFlopsPerToken() const;
  // The routed experts' FLOPs per token beyond top-k (padding to a capacity, or dropping below it).
  double ExpertRowFlopsPerToken() const;
  // Of the model's layers, the share full recompute runs again (a layer's FLOPs taken alike).
  double RecomputedShare() const;

  // A layer's TP collectives by phase (the forward with what recomputation runs again, and the
  // backward) and the GEMM time each phase's overlapped collectives hide under (negative: none).
  struct TpPhases {
    double forward = 0, backward = 0;  // forward: the first forward's collectives and those run again
    double forward_window = -1, backward_window = -1;
    double first_forward_window = -1;  // of forward_window, the first forward's own products
  };
  TpPhases TpByPhase(const LayerCost& l, double tp_again) const;
  // A layer's EP all-to-alls and the compute each part hides under (negative: none). With
  // ep_comm_overlap or DualPipe those of the paired passes hide under the layer's forward and
  // backward and the `stalls` (exposed TP and CP time, while the all-to-alls run on) in part 0,
  // and those of the passes ep_comm_overlap leaves unpaired (EpUnpairedShare) stand exposed in
  // part 1; with
  // shared_expert_overlap each phase's (forward, recomputed forward, backward) under that phase's
  // shared-expert products; otherwise nothing hides.
  struct EpParts {
    double comm[3] = {0, 0, 0};
    double window[3] = {-1, -1, -1};
    double busy[3] = {-1, -1, -1};        // of each window, the compute (the SMs the all-to-alls share)
    double forward_share[3] = {0, 0, 0};  // of each part's hidden compute, the forward's share
    bool whole_layer = false;
    double unpaired = 0;  // whole_layer: the passes' share left unpaired (EpUnpairedShare), in part 1
  };
  EpParts EpByPhase(const LayerCost& l, double ep_again, double stalls) const;
  // Of the layer passes on the pipeline's first rank, the share Megatron-Core's 1F1B all-to-all
  // overlap (ep_comm_overlap) runs unpaired, its all-to-alls exposed: the combined schedule pairs
  // one micro-batch's forward with another's backward, so without a pipeline the first forward
  // and the last backward run alone (combined_1f1b_schedule_for_no_pipelining), and in the
  // interleaved schedule the warm-up forwards and the cool-down backwards do,
  // (PP - 1)·2 + (VPP - 1)·PP + 1 of the M·VPP chunk passes each way on the first rank
  // (schedules.py's warm-up count at its default microbatch_group_size_per_vp_stage = PP, one
  // more under the overlap). 0 under DualPipe, which pairs its own. A 1F1B pipeline without
  // interleaving, where Megatron-Core has no combined schedule (plan warns), is timed by the
  // interleaved formula at VPP 1.
  double EpUnpairedShare() const;
  double WeightGradientsFree(const LayerCost& l, const EpParts& ep) const;
  static double Exposed(double comm, double window) { return window < 0 ? comm : std::max(0.0, comm - window); }
  // What a collective of `comm` seconds, overlapped with `window` seconds of compute, adds beyond
  // max(comm, window) by holding `share` of the compute units while it runs (NCCL's
  // collective_share unless given): the compute runs at (1 - share) until the collective ends, so
  // both end at max(comm, window + share * comm). Nothing when the collective outlasts even the
  // slowed compute, or is not overlapped at all.
  double Contention(double comm, double window) const {
    return Contention(comm, window, c_.collective_share);
  }
  static double Contention(double comm, double window, double share) {
    if (window < 0 || comm <= 0) return 0;
    return std::max(0.0, window + share * comm - std::max(comm, window));
  }
  // The same where only `busy` seconds of the window are compute and the rest are waits (for
  // exposed TP and CP collectives) that the collective runs through and slows nothing: the compute,
  // taken first, ends at min(busy / (1 - share), busy + share * comm), the waits after it.
  static double Contention(double comm, double window, double share, double busy) {
    if (window < 0 || comm <= 0) return 0;
    if (busy >= window) return Contention(comm, window, share);
    const double stalls = window - busy;
    double compute_end = busy + share * comm;
    if (busy <= 0) compute_end = 0;
    else if (comm * (1 - share) >= busy) compute_end = busy / (1 - share);  // done under the collective
    return std::max(0.0, std::max(comm, compute_end + stalls) - std::max(comm, window));
  }

  // How much later the compute of a `window` (of which `busy` seconds are compute) ends for a
  // collective of `comm` seconds running under it: the first term of Contention before the
  // collective's own end is taken; summed over windows and set against the exposure already
  // charged, it gives the contention of streams that share one step.
  static double ComputeDelay(double comm, double window, double share, double busy) {
    if (window < 0 || comm <= 0 || busy <= 0) return 0;
    const double compute = std::min(busy, window);
    if (comm * (1 - share) >= compute) return compute * share / (1 - share);
    return share * comm;
  }

  const CostContext& c_;
  const Architecture& a_;
  const Plan& p_;
  double tokens_ = 0, rep_tokens_ = 0, t_ = 1, in_bytes_ = 2;
  double local_share_ = 0;  // the share of the layers inside a sliding window (Architecture::LocalLayerShare)
  int64_t placed_ = 1;  // the devices the job takes of each scale-up domain (PlacedDomain)
  std::optional<Fabric> tp_fabric_, cp_fabric_, dp_fabric_;  // PlaceOnTorus's, where it places them
  UnfusedSoftmaxWork softmax_extra_;  // what an unfused attention softmax adds (zero when fused)
  ElementwiseBytes elementwise_;  // this job's bytes and kernels per elementwise pass
};

}  // namespace preflight::cost_internal
