#include "preflight/cost/step_time.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace preflight {
namespace {

double Rate(const Figure& peak, const Figure& fraction, const std::string& what,
            std::vector<std::string>* warnings) {
  double f = fraction.known() ? fraction.value : 1.0;
  if (!fraction.known()) {
    warnings->push_back("no measured " + what + " efficiency in the catalog: using the datasheet peak "
                        "(times are a lower bound)");
  }
  return peak.value * 1e12 * f;
}

}  // namespace

double OptimizerBytesPerParameter(const TrainingJob& job, double weight_bytes) {
  const double moments = 2 * (job.optimizer_dtype == Dtype::kFp32 ? 4 : 2);
  if (job.precision == Dtype::kFp32) return 2 * (4 + moments) + 4 /* Adam's gradient */ + 4 /* norm */ + 4 /* zero */;
  const double grad = job.grad_dtype == Dtype::kFp32 ? 4 : 2;  // the model's gradient buffer
  const double to_fp32 = grad < 4 ? grad + 4 : 0;
  const double unscale = job.precision == Dtype::kFp16 ? 4 + 4 : 0;
  const double norm = 4;
  const double adam = 2 * (4 + moments) + 4;
  const double to_model = 4 + weight_bytes;
  return to_fp32 + unscale + norm + adam + to_model + grad /* zeroed */;
}

double SustainedRatio(const HardwareSpec& h, Dtype d) {
  const Figure& burst = h.gemm_fraction[DtypeIndex(d)];
  const Figure& sustained = h.sustained_fraction[DtypeIndex(d)];
  if (!burst.known() || !sustained.known() || burst.value <= 0) return 1.0;
  return std::min(1.0, sustained.value / burst.value);
}

CostContext MakeCostContext(const Architecture& arch, const ParamCounts& params,
                            const TrainingJob& job, const Cluster& cluster) {
  CostContext c;
  c.arch = &arch;
  c.params = params;
  c.dense_layer_tensors = LayerParameterTensors(arch, false);
  if (arch.IsMoe()) c.moe_layer_tensors = LayerParameterTensors(arch, true);
  c.job = job;
  c.devices = cluster.devices;
  c.fabric = FabricFromCluster(cluster, &c.warnings);
  const HardwareSpec& h = cluster.spec;
  Dtype gemm = job.precision == Dtype::kFp16 ? Dtype::kFp16 : Dtype::kBf16;
  if (job.precision == Dtype::kFp32) gemm = Dtype::kTf32;
  if (job.precision == Dtype::kFp8) {
    if (h.peak(Dtype::kFp8).known()) {
      gemm = Dtype::kFp8;
      c.fp8_gemms = true;
    } else {
      c.warnings.push_back(h.id + " has no FP8: FP8 GEMMs fall back to BF16");
    }
  }
  Figure peak = h.peak(gemm);
  if (!peak.known()) {
    peak = h.peak(Dtype::kBf16);
    c.warnings.push_back(h.id + ": no peak for " + std::string(DtypeName(gemm)) + "; using bf16");
  }
  const bool fp16_as_bf16 = gemm == Dtype::kFp16 && !h.gemm_fraction[DtypeIndex(gemm)].known() &&
                           !h.sustained_fraction[DtypeIndex(gemm)].known();
  const Dtype frac_dtype = fp16_as_bf16 ? Dtype::kBf16 : gemm;
  // Burst benchmarks (MAMF, the shape table, attention kernels) run at boost clock; a step runs
  // at the power limit: large GEMMs at the sustained rate, burst tables scaled by sustained / burst.
  // (Without a burst figure the sustained one is the large-GEMM fraction itself.)
  Figure frac = h.gemm_fraction[DtypeIndex(frac_dtype)];
  if (!frac.known()) frac = h.sustained_fraction[DtypeIndex(frac_dtype)];
  const double sustain = SustainedRatio(h, frac_dtype);  // 1 without both figures
  c.gemm_rate = FlopsPerSecond(Rate(peak, frac, std::string(DtypeName(gemm)) + " GEMM", &c.warnings) * sustain);
  c.gemm_rate_max = c.gemm_rate;
  if (h.gemm_table) {
    const Dtype table_dtype = (gemm == Dtype::kFp16 && !h.gemm_table->Has(Dtype::kFp16)) ? Dtype::kBf16 : gemm;
    if (h.gemm_table->Has(table_dtype)) {
      c.gemm_table = h.gemm_table;
      c.gemm_dtype = table_dtype;
      c.gemm_sustain = h.gemm_table->sustained ? 1.0 : sustain;
      c.gemm_rate_max =
          FlopsPerSecond(std::max(c.gemm_rate.value(), h.gemm_table->MaxRate(table_dtype) * c.gemm_sustain));
    }
  }
  const Figure& bf16 = h.peak(Dtype::kBf16).known() ? h.peak(Dtype::kBf16) : peak;
  const double sustain16 = SustainedRatio(h, Dtype::kBf16);
  const Figure& burst16 = h.gemm_fraction[DtypeIndex(Dtype::kBf16)];
  const Figure& sustained16 = h.sustained_fraction[DtypeIndex(Dtype::kBf16)];
  const double frac16 = burst16.known() ? burst16.value * sustain16 : (sustained16.known() ? sustained16.value : 1.0);
  c.attention_rate = FlopsPerSecond(bf16.value * 1e12 * frac16);
  if (h.gemm_table && h.gemm_table->Has(Dtype::kBf16)) {
    c.gemm16_table = h.gemm_table;
    c.gemm16_sustain = h.gemm_table->sustained ? 1.0 : sustain16;
  }
  c.flash_fwd_rate = c.attention_rate;
  c.flash_bwd_rate = c.attention_rate;
  // The scenario loader checked the name; the default kernel's rates otherwise.
  std::optional<HardwareSpec::AttentionKernel> kernel = h.AttentionRates(job.attention_kernel);
  if (!kernel) kernel = h.AttentionRates("");
  if (kernel->forward.known()) c.flash_fwd_rate = FlopsPerSecond::TFlops(kernel->forward.value * sustain16);
  if (kernel->backward.known()) c.flash_bwd_rate = FlopsPerSecond::TFlops(kernel->backward.value * sustain16);
  c.flash_curves = kernel->curves;
  c.flash_curves.Scale(sustain16);
  if (job.flash_attention && !(kernel->forward.known() && kernel->backward.known()) && kernel->curves.empty()) {
    c.warnings.push_back(h.id + ": no measured fused-attention throughput in the catalog; attention runs "
                         "at the GEMM rate (times are a lower bound)");
  }
  const Figure& mfu_peak = h.peak(job.precision).known() ? h.peak(job.precision) : peak;
  c.peak_rate = FlopsPerSecond::TFlops(mfu_peak.value);
  const double bw = h.hbm_bandwidth_tbytes_per_s.known() ? h.hbm_bandwidth_tbytes_per_s.value : 1.0;
  if (!h.hbm_bandwidth_tbytes_per_s.known()) c.warnings.push_back(h.id + ": HBM bandwidth unknown; assuming 1 TB/s");
  c.hbm_rate = BytesPerSecond(Rate(Figure::Known(bw, ""), h.hbm_fraction, "HBM bandwidth", &c.warnings));
  OpList ops = BuildOps(arch, job.seq_len);
  c.model_flops_per_token = ops.model_flops_per_token;
  c.host_per_kernel = Seconds(job.host_overhead_per_kernel_us * 1e-6);
  if (h.gemm_kernel_us.known()) c.gemm_kernel = Seconds(h.gemm_kernel_us.value * 1e-6);
  if (h.compute_units.known()) c.compute_units = h.compute_units.value;
  if (h.compute_units.known() && h.collective_compute_units.known()) {
    c.collective_share = h.collective_compute_units.value / h.compute_units.value;
  }
  c.ep_collective_share = c.collective_share;
  if (h.compute_units.known() && job.ep_node_dedup) {
    const double units = static_cast<double>(job.ep_comm_units);
    if (units >= h.compute_units.value) {
      const auto all = static_cast<int64_t>(h.compute_units.value);
      c.warnings.push_back(h.id + ": training.ep_comm_units " + std::to_string(job.ep_comm_units) +
                           " is not below its " + std::to_string(all) +
                           " compute units; hidden expert traffic stops its compute");
    }
    c.ep_collective_share = std::min(1.0, units / h.compute_units.value);
  }
  c.attention_flops_per_token_fwd = ops.attention_fwd_flops_per_token;
  return c;
}

double FlashBlockLength(const TrainingJob& job, const Plan& p) {
  return static_cast<double>(job.seq_len) / static_cast<double>(std::max<int64_t>(1, p.cp));
}

double FlashHeadDim(const Architecture& a) {
  if (a.attention == AttentionKind::kMla) return static_cast<double>(a.mla.nope_dim + a.mla.rope_dim);
  return static_cast<double>(a.head_dim);
}

FlashRates FlashRatesAt(const CostContext& c, double seq_len, double head_dim) {
  if (c.flash_curves.empty()) return {c.flash_fwd_rate, c.flash_bwd_rate};
  const AttentionCurve::Point p = c.flash_curves.At(seq_len, head_dim);
  return {FlopsPerSecond::TFlops(p.forward), FlopsPerSecond::TFlops(p.backward)};
}

double FlashSecondsPerFlop(const CostContext& c) {
  double fwd = c.flash_fwd_rate.value(), bwd = c.flash_bwd_rate.value();
  if (!c.flash_curves.empty()) {
    const AttentionCurve::Point p = c.flash_curves.Fastest();
    fwd = std::max(fwd, p.forward * 1e12);
    bwd = std::max(bwd, p.backward * 1e12);
  }
  return kFlashCausalShare / fwd + kFlashBackwardFactor * kFlashCausalShare / bwd;
}

namespace {

// Pieces of a reduce-scatter GEMM under Transformer Engine's userbuffers "pipeline" overlap
// (`initialize_ub` default num_splits, transformer_engine/pytorch/module/base.py); its ring
// exchange cuts the all-gather GEMMs into TP pieces.
constexpr double kUserbufferPipelineSplits = 4;

// Per-device work of one layer for one micro-batch, split by kind.
struct LayerCost {
  double fwd_compute = 0;  // GEMMs and attention products
  double bwd_compute = 0;
  double wgrad = 0;        // of bwd_compute, the weight-gradient products (zero-bubble schedules move them)
  double fwd_memory = 0;   // memory-bound elementwise and norm work
  double cast_fwd = 0, cast_bwd = 0;  // FP8 cast and transpose passes (Transformer Engine)
  double core_fwd = 0;     // attention products alone (for selective recompute and CP overlap)
  double op_sac_fwd = 0;   // the matrix products torchtitan's op-level policy recomputes
  double kernels_op_sac = 0;  // kernels that policy launches again
  double core_bwd = 0;
  // What selective recompute runs again, by Plan::recompute_modules: products (the attention
  // products, MLA up-projections, a dense MLP, an MoE block or its shared experts), elementwise
  // passes (norms, the experts' activation, RoPE), the collectives inside a recomputed MLP or MoE
  // block, and the kernels and collective calls the host launches for them.
  double sel_fwd = 0, sel_memory = 0, sel_tp = 0, sel_ep = 0, kernels_sel = 0, calls_sel = 0;
  double kernels_fwd = 0;  // kernels launched by the forward (backward launches about twice as many)
  double kernels_core = 0; // of which the attention products
  double tp_fwd = 0, tp_bwd = 0;  // collective times before overlap
  double tp_op_sac = 0;  // of the forward's, what torchtitan's op-level policy runs again
  double ep_fwd = 0, ep_bwd = 0;
  double cp_fwd = 0, cp_bwd = 0;
  // Collective calls the host issues, as TensorComm and the EP model count them: per
  // tensor-parallel block one all-reduce each way, or with SP an all-gather and a reduce-scatter
  // forward and three backward (the input gathered again for the weight gradient); two expert
  // all-to-alls each way. The op-level policy runs the forward's all-reduces, or with SP its
  // all-gathers, again (it saves reduce-scatter outputs only). Context parallelism's ring
  // exchanges are not counted (the stacks whose host is profiled have none).
  double calls_fwd = 0, calls_bwd = 0, calls_op_sac = 0;
};

// HBM bytes per element of one layer's forward elementwise work, 16-bit activations.
struct ElementwiseBytes {
  double norm = 0;        // per element of a normalised [tokens, hidden] tensor
  double residual = 0;    // per element of one residual add (with its dropout, if any)
  double rope = 0;        // per element of q and k
  double activation = 0;  // per element of the MLP's intermediate (ffn) width
  int norm_kernels = 1, residual_kernels = 1, rope_kernels = 1, activation_kernels = 1;
};

// Fused (Megatron, Transformer Engine, Apex, torch.compile): a norm reads and writes once; a
// residual add reads both and writes (Megatron's bias-dropout-add also writes its 1-byte mask);
// RoPE reads and writes q and k; the activation reads its input(s) and writes once.
// Eager PyTorch, op by op as torchtitan writes it: RMSNorm is x.float() (read 2, write 4), pow
// (4, 4), mean (4), x * rsqrt (4, 4), the cast back (4, 2) and the weight product (2, 2): 36 bytes
// in 8 kernels (with the per-row add and rsqrt); LayerNorm (nn.LayerNorm) and GeLU (F.gelu) are
// one aten kernel either way; RoPE is an fp32 copy (2, 4), a complex product (4, 4) and a cast
// back (4, 2), per q and k; SwiGLU is SiLU (2, 2) and a product (4, 2); dropout is its own pass
// (2, 2 and the 1-byte mask) before the add. (Hugging Face's Llama RMSNorm is the same; its RoPE,
// q*cos + rotate_half(q)*sin in 16 bits, moves about as many bytes in more kernels; GPT-2's
// tanh GeLU written op by op is not counted.) What eager ops save for their backward is the
// memory model's (cost/memory.cc, EagerExtraBytes).
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

class StepModel {
 public:
  StepModel(const CostContext& ctx, const Plan& plan) : c_(ctx), a_(*ctx.arch), p_(plan) {
    tokens_ = static_cast<double>(plan.micro_batch * ctx.job.seq_len) / plan.cp;
    rep_tokens_ = plan.sp ? tokens_ / plan.tp : tokens_;
    t_ = static_cast<double>(plan.tp);
    in_bytes_ = ctx.fp8_gemms ? 1.0 : 2.0;
    elementwise_ = ElementwisePasses(*ctx.arch, ctx.job.elementwise_fusion);
  }

  PipelineTime Pipeline() const;
  StepTime Finish(const PipelineTime& pipe) const;

 private:
  // A measured host profile whose layers make the host wait for the GPU in every forward.
  bool LayersWaitForGpu() const {
    return c_.job.host_profile && c_.job.host_profile->gpu_waits_per_layer_forward > 0;
  }
  // Forward time of `batch` GEMMs (a grouped GEMM) with M rows, K inputs, N outputs each:
  // a roofline whose compute side is divided by the wave utilization of the output tiles.
  double Gemm(double m, double k, double n, double batch = 1) const {
    return Roofline(m, k, n, batch, in_bytes_, GemmRate(m, k, n, batch)) + KernelFixed(k);
  }
  // The fixed GPU time of one GEMM kernel (a grouped GEMM is one kernel) beyond the wave model,
  // unless the shape is priced from a measured table (inside it, or at its edge for a reduction
  // length it measured): its figures hold that time already.
  double KernelFixed(double k) const { return KernelFixedIn(c_.gemm_table.get(), c_.gemm_dtype, k); }
  double KernelFixedIn(const GemmTable* table, Dtype dtype, double k) const {
    const double fixed = c_.gemm_kernel.value();
    if (fixed == 0) return 0;
    if (table && table->CoversReduction(dtype, k)) return 0;
    return fixed;
  }
  // A GEMM that stays in 16 bits in an FP8 run: Megatron-Core's output layer and MoE router are
  // not Transformer Engine modules, so FP8 autocast leaves them in BF16. Timed as a bf16 run times
  // it: the bf16 table by shape where the device has one, else the 16-bit rate and the wave model.
  double Gemm16(double m, double k, double n, double batch = 1) const {
    if (!c_.fp8_gemms) return Gemm(m, k, n, batch);
    const GemmTable* table = c_.gemm16_table.get();
    const double rate = TableRate(table, Dtype::kBf16, c_.attention_rate.value(), c_.gemm16_sustain, m, k, n, batch);
    return Roofline(m, k, n, batch, 2, rate) + KernelFixedIn(table, Dtype::kBf16, k);
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
  using GemmTime = double (StepModel::*)(double, double, double, double) const;
  template <GemmTime gemm>  // a compile-time choice: the call inlines as before
  double BackwardOf(double m, double k, double n, double batch, double* wgrad) const {
    const double w = (this->*gemm)(k, m, n, batch);
    if (wgrad) *wgrad += w;
    return (this->*gemm)(m, n, k, batch) + w;
  }
  // max(FLOPs / rate, bytes / HBM rate), reading inputs and weights at `in_bytes` and writing a
  // 16-bit output.
  double Roofline(double m, double k, double n, double batch, double in_bytes, double rate) const {
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
  // 1 + 1).
  void Fp8Casts(double m, double k, double n, double batch, bool input_from_fp8_producer,
                bool grad_cast_fused, LayerCost* l) const {
    if (!c_.fp8_gemms) return;
    const double in = m * k * batch, grad = m * n * batch;
    if (input_from_fp8_producer) {
      l->cast_bwd += Memory(2 * in);
    } else {
      l->cast_fwd += Memory(4 * in);
    }
    l->cast_bwd += Memory((grad_cast_fused ? 2 : 4) * grad);
  }
  double WaveUtilization(double m, double n, double batch) const;
  // Achieved rate for the shape: the catalog's measured table inside its range, and its edge
  // beyond the largest M or N at a measured reduction length; past the longest measured reduction
  // (and without a table) the large-GEMM efficiency times the wave utilization, never below the
  // table's edge.
  double GemmRate(double m, double k, double n, double batch) const {
    return TableRate(c_.gemm_table.get(), c_.gemm_dtype, c_.gemm_rate.value(), c_.gemm_sustain, m, k, n, batch);
  }
  // The same for `dtype`'s grid of `table` (null: the wave model at `mamf`), the table scaled by
  // `sustain`.
  double TableRate(const GemmTable* table, Dtype d, double mamf, double sustain, double m, double k, double n,
                   double batch) const {
    if (!table) return mamf * WaveUtilization(m, n, batch);
    // The search asks for the same few shapes millions of times: a small per-thread memo.
    struct Entry {
      uint64_t table = 0;  // GemmTable::serial() (0: empty)
      Dtype dtype = Dtype::kBf16;
      double mamf = 0, units = 0, sustain = 0;  // the wave model's inputs beyond the table
      double m = 0, k = 0, n = 0, batch = 0, rate = 0;
    };
    thread_local Entry memo[64];
    auto bits = [](double x) { return std::bit_cast<uint64_t>(x); };
    const uint64_t h = (bits(m) ^ (bits(n) * 0x9E3779B97F4A7C15ull) ^ (bits(k) >> 7) ^ (bits(batch) << 3)) * 0xBF58476D1CE4E5B9ull;
    Entry& e = memo[h >> 58];
    const GemmTable& t = *table;
    const double units = c_.compute_units;
    if (e.table == t.serial() && e.dtype == d && e.mamf == mamf && e.units == units && e.sustain == sustain &&
        e.m == m && e.k == k && e.n == n && e.batch == batch) {
      return e.rate;
    }
    const double rows = m * batch;
    const double measured = t.Rate(d, rows, n, k) * sustain;  // the table is a burst measurement
    // Beyond the largest measured outputs at a measured reduction length, the table's edge for
    // that length holds: more output tiles fill the waves no better than the edge's already do,
    // and each tile's reduction loop stays as short (an expert's weight gradient reduces over its
    // few tokens). Only a reduction longer than any measured falls back to the wave model.
    const double rate = t.CoversReduction(d, k) ? measured
                                                : std::max(measured, mamf * WaveUtilization(m, n, batch));
    e = Entry{t.serial(), d, mamf, units, sustain, m, k, n, batch, rate};
    return rate;
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
    const int64_t per = RanksPerDomain(c_.fabric, t.expert ? p_.ep * p_.etp : p_.tp, ranks);
    const double host = static_cast<double>(ranks) * c_.host_per_kernel.value();
    const double gather = AllGatherTime(c_.fabric, Bytes(local * weight_bytes), ranks, per).value();
    // A routed expert's tensors: those of the rank's own experts, count / EP of them.
    const double tensors = static_cast<double>(t.count) / static_cast<double>(t.expert ? p_.ep : 1);
    return tensors * (host + std::max(gather, host));
  }
  // Forward FLOPs per token that selective recompute runs again, all layers (for HFU).
  double SelectiveRecomputeFlopsPerToken() const {
    const double h = static_cast<double>(a_.hidden), g = a_.gated_mlp ? 3 : 2;  // matrices per MLP
    const double moe_layers = static_cast<double>(a_.MoeLayerCount());
    const double dense_layers = static_cast<double>(a_.layers) - moe_layers;
    double f = p_.Recomputes(kModuleCoreAttn) ? c_.attention_flops_per_token_fwd : 0;
    if (p_.Recomputes(kModuleMlaUpProj) && a_.attention == AttentionKind::kMla) {
      const MlaSpec& m = a_.mla;
      const double qk = static_cast<double>(m.nope_dim + m.rope_dim);
      const double q_in = static_cast<double>(m.q_lora_rank > 0 ? m.q_lora_rank : a_.hidden);
      f += 2.0 * a_.layers * (q_in * a_.heads * qk + m.kv_lora_rank * a_.heads * (m.nope_dim + m.v_dim));
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
  // The fused kernel's rates for this plan's attention calls, averaged over the layers' work
  // (sliding-window layers read the curve at their own, shorter length).
  FlashRates LayerFlashRates() const;
  // Eager (unfused) attention's forward and backward time, per kernel (definition below).
  struct UnfusedTimes {
    double forward = 0, backward = 0;
  };
  UnfusedTimes UnfusedAttention(double core_flops) const;
  void Attention(LayerCost* l) const;
  void DenseMlp(LayerCost* l) const;
  void Moe(LayerCost* l) const;
  void Elementwise(bool moe, LayerCost* l) const;
  void TensorComm(bool moe, LayerCost* l) const;
  // The TP collectives around the layers, per micro-batch (seconds; zero at TP 1).
  struct AroundLayersComm {
    double embedding_fwd = 0, embedding_bwd = 0;  // first stage (and each MTP layer's re-embedding)
    double head_fwd = 0, head_bwd = 0;            // last stage: output layer(s) and loss
    double embedding_calls = 0, head_calls = 0;   // the host calls they take
  };
  AroundLayersComm AroundLayers(double heads) const;
  void ContextComm(LayerCost* l) const;
  LayerCost Layer(bool moe) const;

  // The compute a layer's overlapped TP collectives can hide under (its forward GEMMs), and its
  // EP all-to-alls (its forward and backward); negative when the collective is not overlapped.
  double TpWindow(const LayerCost& l) const {
    return UserbufferOverlap() ? l.fwd_compute - l.core_fwd : -1;
  }
  double EpWindow(const LayerCost& l) const {
    const bool hidden = p_.ep_comm_overlap || p_.schedule == Schedule::kDualPipe;
    return hidden ? l.fwd_compute + l.bwd_compute : -1;
  }
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

  const CostContext& c_;
  const Architecture& a_;
  const Plan& p_;
  double tokens_ = 0, rep_tokens_ = 0, t_ = 1, in_bytes_ = 2;
  ElementwiseBytes elementwise_;  // this job's bytes and kernels per elementwise pass
};

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
  // AttentionLength's layers: half attend to the window, half to the whole sequence; each share of
  // the work runs at the rate for its keys per query (the window or the CP block, when shorter).
  const double s = static_cast<double>(c_.job.seq_len);
  const double w = std::min(s, static_cast<double>(a_.sliding_window));
  const double local_share = w / (w + s);
  const FlashRates local = FlashRatesAt(c_, std::min(w, block), d), global = FlashRatesAt(c_, block, d);
  const auto mix = [&](FlopsPerSecond l, FlopsPerSecond g) {
    return FlopsPerSecond(1 / (local_share / l.value() + (1 - local_share) / g.value()));
  };
  return {mix(local.forward, global.forward), mix(local.backward, global.backward)};
}

double StepModel::AttentionLength() const {
  const double s = static_cast<double>(c_.job.seq_len);
  if (a_.sliding_window <= 0) return s;
  return std::min(s, static_cast<double>(a_.sliding_window)) * 0.5 + s * 0.5;
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
StepModel::UnfusedTimes StepModel::UnfusedAttention(double core_flops) const {
  const double scores = tokens_ * AttentionLength() * static_cast<double>(a_.heads) / t_;
  const double rate = c_.attention_rate.value(), fixed = c_.gemm_kernel.value();
  UnfusedTimes u;
  u.forward = core_flops / rate + Memory(scores * (a_.dropout ? 13.0 : 8.0)) + 2 * fixed;
  u.backward = 2 * core_flops / rate + Memory(scores * (a_.dropout ? 19.0 : 14.0)) + 4 * fixed;
  return u;
}

void StepModel::Attention(LayerCost* l) const {
  const double h = static_cast<double>(a_.hidden), T = tokens_;
  const double s = AttentionLength();
  double proj = 0, proj_bwd = 0, core_flops = 0;
  if (a_.attention == AttentionKind::kMla) {
    const MlaSpec& m = a_.mla;
    const double qk = static_cast<double>(m.nope_dim + m.rope_dim);
    auto both = [&](double k, double n) {
      proj += Gemm(T, k, n);
      proj_bwd += GemmBwd(T, k, n, 1, &l->wgrad);
    };
    if (m.q_lora_rank > 0) {
      both(h, m.q_lora_rank);
      both(m.q_lora_rank, a_.heads * qk / t_);
    } else {
      both(h, a_.heads * qk / t_);
    }
    both(h, m.kv_lora_rank + m.rope_dim);
    both(m.kv_lora_rank, a_.heads * (m.nope_dim + m.v_dim) / t_);
    both(a_.heads * m.v_dim / t_, h);
    if (p_.Recomputes(kModuleMlaUpProj)) {
      // q's up-projection (without a q latent, its one projection from the input) and kv's.
      l->sel_fwd += (m.q_lora_rank > 0 ? Gemm(T, m.q_lora_rank, a_.heads * qk / t_) : Gemm(T, h, a_.heads * qk / t_)) +
                    Gemm(T, m.kv_lora_rank, a_.heads * (m.nope_dim + m.v_dim) / t_);
    }
    core_flops = 2 * T * s * a_.heads * (qk + m.v_dim) / t_;
    if (m.q_lora_rank > 0) {
      Fp8Casts(T, h, m.q_lora_rank, 1, false, false, l);
      Fp8Casts(T, m.q_lora_rank, a_.heads * qk / t_, 1, true, false, l);  // after the fused q norm
    } else {
      Fp8Casts(T, h, a_.heads * qk / t_, 1, false, false, l);
    }
    Fp8Casts(T, h, m.kv_lora_rank + m.rope_dim, 1, false, false, l);
    Fp8Casts(T, m.kv_lora_rank, a_.heads * (m.nope_dim + m.v_dim) / t_, 1, true, false, l);  // fused kv norm
    Fp8Casts(T, a_.heads * m.v_dim / t_, h, 1, false, false, l);
  } else {
    const double q = static_cast<double>(a_.heads * a_.head_dim);
    const double kv = static_cast<double>(a_.kv_heads * a_.head_dim);
    const double out_proj = PiecewiseGemm(PipelinePieces(), T, q / t_, h);
    proj += PiecewiseGemm(RingPieces(), T, h, (q + 2 * kv) / t_) + out_proj;
    proj_bwd += GemmBwd(T, h, (q + 2 * kv) / t_, 1, &l->wgrad) +
                PiecewiseDgradBwd(RingPieces(), T, q / t_, h, &l->wgrad);
    // torchtitan's op-level policy counts wq, wk, wv, wo in call order and recomputes the second
    // and fourth (wk and wo), each its own GEMM there.
    if (p_.recompute == Recompute::kSelectiveOp) l->op_sac_fwd += Gemm(T, h, kv / t_) + out_proj;
    core_flops = 4 * T * s * q / t_;
    Fp8Casts(T, h, (q + 2 * kv) / t_, 1, true, false, l);  // QKV after the fused input norm
    Fp8Casts(T, q / t_, h, 1, false, false, l);             // output projection
  }
  double core = 0, core_bwd = 0;
  if (c_.job.flash_attention) {
    // Causal fused attention skips the masked half; its backward is 2.5× the forward
    // (FlashAttention benchmark convention, cost-model-notes §1.1), each at its measured rate for
    // the blocks the kernel runs on (FlashBlockLength).
    const FlashRates rates = LayerFlashRates();
    core = kFlashCausalShare * core_flops / rates.forward.value();
    core_bwd = kFlashBackwardFactor * kFlashCausalShare * core_flops / rates.backward.value();
  } else {
    const UnfusedTimes u = UnfusedAttention(core_flops);
    core = u.forward;
    core_bwd = u.backward;
  }
  l->fwd_compute += proj + core;
  l->bwd_compute += proj_bwd + core_bwd;
  l->core_fwd = core;
  l->core_bwd = core_bwd;
  if (p_.Recomputes(kModuleCoreAttn)) l->sel_fwd += core;
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
  Fp8Casts(tokens_, h, (a_.gated_mlp ? 2 : 1) * f, 1, true, false, l);
  Fp8Casts(tokens_, f, h, 1, false, false, l);
  l->fwd_compute += fwd;
  l->bwd_compute += bwd;
  if (p_.Recomputes(kModuleMlp)) l->sel_fwd += fwd;  // its collectives: TensorComm
}

void StepModel::Moe(LayerCost* l) const {
  const MoeSpec& m = a_.moe;
  const double h = static_cast<double>(a_.hidden);
  const double g = a_.gated_mlp ? 2 : 1;
  double fwd = Gemm16(rep_tokens_, h, static_cast<double>(m.experts));  // router
  double bwd = Gemm16Bwd(rep_tokens_, h, static_cast<double>(m.experts), 1, &l->wgrad);
  double shared = 0;
  const double local_experts = static_cast<double>(m.experts) / p_.ep;
  const double tokens_per_expert = tokens_ * m.top_k * p_.etp * p_.ep / (t_ * m.experts) * c_.job.moe_imbalance;
  const double fe = static_cast<double>(m.expert_ffn) / p_.etp;
  fwd += Gemm(tokens_per_expert, h, g * fe, local_experts) + Gemm(tokens_per_expert, fe, h, local_experts);
  bwd += GemmBwd(tokens_per_expert, h, g * fe, local_experts, &l->wgrad) +
         GemmBwd(tokens_per_expert, fe, h, local_experts, &l->wgrad);
  // The up-projection input is quantized once per token before the dispatch, which then moves FP8
  // (DeepSeek-V3 report §3.3; read 2, write 1 byte per element), and transposed per routed token
  // for the weight gradient; the down-projection takes the activation's 16-bit output. The shared
  // expert takes 16-bit inputs.
  if (c_.fp8_gemms) l->cast_fwd += Memory(3 * rep_tokens_ * h);
  Fp8Casts(tokens_per_expert, h, g * fe, local_experts, true, false, l);
  Fp8Casts(tokens_per_expert, fe, h, local_experts, false, false, l);
  if (m.shared_ffn > 0) {
    const double fs = static_cast<double>(m.shared_ffn) / t_;
    shared = Gemm(tokens_, h, g * fs) + Gemm(tokens_, fs, h);
    fwd += shared;
    bwd += GemmBwd(tokens_, h, g * fs, 1, &l->wgrad) + GemmBwd(tokens_, fs, h, 1, &l->wgrad);
    Fp8Casts(tokens_, h, g * fs, 1, false, false, l);
    Fp8Casts(tokens_, fs, h, 1, false, false, l);
  }
  l->fwd_compute += fwd;
  l->bwd_compute += bwd;
  // All-to-all: dispatch and combine forward, the reverse pair backward (cost-model-notes §4.6).
  if (p_.ep > 1) {
    const int64_t per_domain = RanksPerDomain(c_.fabric, p_.etp, p_.ep);
    const bool dedup = c_.job.ep_node_dedup;
    const double dispatch = ExpertExchangeTime(c_.fabric, m, rep_tokens_, h, in_bytes_, p_.ep, per_domain, dedup).value();
    const double combine = ExpertExchangeTime(c_.fabric, m, rep_tokens_, h, 2, p_.ep, per_domain, dedup).value();
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

void StepModel::Elementwise(bool moe, LayerCost* l) const {
  const double h = static_cast<double>(a_.hidden);
  const ElementwiseBytes& e = elementwise_;
  const double norm = rep_tokens_ * h * e.norm;
  double bytes = a_.norms_per_layer * norm + 2 * rep_tokens_ * h * e.residual;
  const double rope = a_.Rotary() ? tokens_ * (a_.heads + a_.kv_heads) * a_.head_dim / t_ * e.rope : 0;  // q, k
  bytes += rope;
  const double act_per = e.activation;
  // Selective recompute's elementwise passes: the norms (layernorm), RoPE with the MLA
  // up-projections, and the activations inside a recomputed block.
  double again = 0;
  if (RecomputesInputNorm(a_, p_)) again += norm;
  if (RecomputesPreMlpNorm(p_, moe)) again += norm;
  if (p_.Recomputes(kModuleMlaUpProj) && a_.attention == AttentionKind::kMla) again += rope;
  if (moe) {
    const MoeSpec& m = a_.moe;
    const double routed = tokens_ * m.top_k / t_ * (static_cast<double>(m.expert_ffn) / p_.etp) * act_per;
    const double permute = tokens_ * m.top_k / t_ * h * 2 * 3;  // permute, unpermute, weighted combine
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

// Tensor-parallel blocks of a layer, each an all-reduce pair (or all-gather and reduce-scatter
// with SP): attention, and the MLP unless an MoE layer's experts run without TP.
double TpBlocks(const Plan& p, bool moe) { return p.tp > 1 ? ((moe && p.etp == 1) ? 1 : 2) : 0; }

void StepModel::TensorComm(bool moe, LayerCost* l) const {
  if (p_.tp == 1) return;
  const Bytes full(tokens_ * a_.hidden * 2.0);
  const int64_t per_domain = RanksPerDomain(c_.fabric, 1, p_.tp);
  // Two all-reduces (or all-gather + reduce-scatter pairs with SP) per layer each way; an MoE
  // layer with expert parallelism keeps only the attention pair.
  const double count = TpBlocks(p_, moe);
  // With SP each pair is an all-gather and a reduce-scatter (rings held to the link rate, where an
  // all-reduce may use NVLS in-switch reduction).
  const double gather = p_.sp ? AllGatherTime(c_.fabric, full, p_.tp, per_domain).value() : 0;
  const double one = p_.sp ? gather + ReduceScatterTime(c_.fabric, full, p_.tp, per_domain).value()
                           : AllReduceTime(c_.fabric, full, p_.tp, per_domain).value();
  l->tp_fwd = count * one;
  l->tp_bwd = count * one;
  // torchtitan's op-level policy saves reduce-scatter outputs but not all-gathers or all-reduces:
  // its recomputed forward runs those again.
  l->tp_op_sac = count * (p_.sp ? gather : one);
  // A recomputed dense MLP (or an MoE block with expert TP) runs its block's pair again.
  const bool block_again = moe ? (count > 1 && p_.Recomputes(kModuleMoe)) : p_.Recomputes(kModuleMlp);
  if (block_again) l->sel_tp = one;
  // With SP the column-parallel GEMMs keep only their sequence-sharded input, so the backward
  // all-gathers it again for the weight gradient (Korthikanti et al. 2022 §4.2.2): one more
  // all-gather per all-reduce pair.
  l->tp_bwd += count * gather;
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
  const int64_t per = RanksPerDomain(c_.fabric, 1, p_.tp);
  const double all_reduce = AllReduceTime(c_.fabric, act, p_.tp, per).value();
  const double gather = p_.sp ? AllGatherTime(c_.fabric, act, p_.tp, per).value() : 0;
  const double scatter = p_.sp ? ReduceScatterTime(c_.fabric, act, p_.tp, per).value() : 0;
  const double loss = 3 * AllReduceTime(c_.fabric, Bytes(tokens_ * 4.0), p_.tp, per).value();
  c.embedding_fwd = p_.sp ? scatter : all_reduce;
  c.embedding_bwd = gather;
  c.head_fwd = heads * ((p_.sp ? gather : 0) + loss);
  c.head_bwd = heads * (p_.sp ? scatter + gather : all_reduce);
  c.embedding_calls = p_.sp ? 2 : 1;
  c.head_calls = heads * ((p_.sp ? 3 : 1) + 3);
  return c;
}

void StepModel::ContextComm(LayerCost* l) const {
  if (p_.cp == 1) return;
  double kv_per_token = 0;
  if (a_.attention == AttentionKind::kMla) {
    kv_per_token = a_.heads * (a_.mla.nope_dim + a_.mla.rope_dim + a_.mla.v_dim) * 2.0;
  } else {
    kv_per_token = 2.0 * a_.kv_heads * a_.head_dim * 2.0;
  }
  const Bytes all_kv(tokens_ * p_.cp * kv_per_token / t_);
  const int64_t per_domain = RanksPerDomain(c_.fabric, p_.tp, p_.cp);
  const double gather = AllGatherTime(c_.fabric, all_kv, p_.cp, per_domain).value();
  l->cp_fwd = gather;
  l->cp_bwd = gather + ReduceScatterTime(c_.fabric, all_kv, p_.cp, per_domain).value();  // re-gather KV, reduce-scatter dKV
}

// Megatron's vocab-parallel cross-entropy (megatron/core/tensor_parallel/cross_entropy.py, and
// megatron/mpu/cross_entropy.py before it; the path of Megatron-LM, Megatron-DeepSpeed and NeMo
// unless a fused loss is asked for), in HBM bytes per element of the 16-bit logits: the fp32 copy
// (`output.float()`: read 2, write 4), the max (read 4), the in-place subtract (read 4, write 4),
// exp (read 4, write 4), the sum (read 4) and the in-place divide into the softmax it saves
// (read 4, write 4); backward, the in-place scaling by the loss gradient (read 4, write 4) and the
// cast back to 16 bits for the head's GEMMs (read 4, write 2). The gathers of the target logits
// touch one element per token. PyTorch's F.cross_entropy on fp32 logits (torchtitan) moves about
// as much; a fused loss (XLA, Megatron-Core's cross_entropy_loss_fusion) less.
constexpr double kCrossEntropyForwardBytes = 6 + 4 + 8 + 8 + 4 + 8;
constexpr double kCrossEntropyBackwardBytes = 8 + 6;

// Kernels one layer's forward launches (unfused eager framework): norm, QKV, RoPE, the attention
// products (one fused kernel, or two batched GEMMs, softmax, dropout and two layout copies),
// projection, residual add; norm, MLP GEMMs, activation, residual add; TP collectives; for MoE
// the router, top-k, permutation, grouped expert GEMMs, unpermutation and all-to-alls. With FP8,
// the separate casts of GEMM inputs (the backward's casts follow from its usual share).
void CountKernels(const Architecture& a, const Plan& p, bool flash, bool fp8, bool moe, const ElementwiseBytes& e,
                  LayerCost* l) {
  double core = flash ? 1 : 6 + (a.dropout ? 1 : 0);
  const double a2a = moe && p.ep > 1 ? 2 : 0;  // the expert all-to-alls
  const bool shared = moe && a.moe.shared_ffn > 0;
  double n = 1 + 1 + (a.Rotary() ? 1 : 0) + core + 1 + 1;  // attention block
  const double mlp_block = moe ? 1 + 2 + 1 + 3 + 1 + 1 + (shared ? 3 : 0) + a2a : 1 + 1 + 1 + 1 + 1;
  // Eager elementwise work splits each activation pass into its ops.
  const double activation_extra = (e.activation_kernels - 1) * (shared ? 2 : 1);
  n += mlp_block + a.norms_per_layer * (e.norm_kernels - 1) + 2 * (e.residual_kernels - 1) +
       (a.Rotary() ? e.rope_kernels - 1 : 0) + activation_extra;
  const double tp_blocks = TpBlocks(p, moe);
  const double tp_kernels = 2 * tp_blocks;
  n += tp_kernels;
  if (fp8) {
    n += a.attention == AttentionKind::kMla ? 3 : 1;                       // projections fed 16 bits
    n += moe ? 2 + (a.moe.shared_ffn > 0 ? 2 : 0) : 1;                     // expert inputs; FC2
  }
  l->kernels_fwd = n;
  l->kernels_core = core;
  // The calls of the blocks TensorComm times, and the expert all-to-alls.
  l->calls_fwd = tp_blocks * (p.sp ? 2 : 1) + a2a;
  l->calls_bwd = tp_blocks * (p.sp ? 3 : 1) + a2a;
  l->calls_op_sac = tp_blocks;
  // torchtitan's op-level policy launches again all but the attention products, the four GEMM
  // kernels counted here (QKV, projection, FC1, FC2) and the collectives it saves, plus the three
  // products it recomputes (wk, wo, and w3 or w2), each its own kernel there.
  l->kernels_op_sac = n - core - 4 - tp_kernels + 3 + l->calls_op_sac;
  // Selective recompute launches the recomputed modules' kernels and calls again.
  double sel = 0, sel_calls = 0;
  if (p.Recomputes(kModuleCoreAttn)) sel += core;
  sel += e.norm_kernels * ((RecomputesInputNorm(a, p) ? 1 : 0) + (RecomputesPreMlpNorm(p, moe) ? 1 : 0));
  if (p.Recomputes(kModuleMlaUpProj) && a.attention == AttentionKind::kMla) sel += 3;  // q and kv up, RoPE
  if (moe && p.Recomputes(kModuleMoe)) {
    const double pair = tp_blocks > 1 ? 1 : 0;  // the block's tensor-parallel pair, with expert TP
    sel += mlp_block + activation_extra + 2 * pair;
    sel_calls += a2a + pair * (p.sp ? 2 : 1);
  } else if (moe) {
    if (p.Recomputes(kModuleMoeAct)) sel += e.activation_kernels;
    if (p.Recomputes(kModuleSharedExperts) && shared) sel += 2 + e.activation_kernels;
  } else if (p.Recomputes(kModuleMlp)) {
    const double pair = p.tp > 1 ? 1 : 0;  // the MLP's tensor-parallel block
    sel += 2 + e.activation_kernels + 2 * pair;
    sel_calls += pair * (p.sp ? 2 : 1);
  }
  l->kernels_sel = sel;
  l->calls_sel = sel_calls;
}

LayerCost StepModel::Layer(bool moe) const {
  LayerCost l;
  CountKernels(a_, p_, c_.job.flash_attention, c_.fp8_gemms, moe, elementwise_, &l);
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

struct StageSums {
  double fwd = 0, bwd = 0;          // compute incl. recompute
  double memory = 0;                // elementwise fwd+bwd
  double tp = 0, ep = 0, cp = 0;    // exposed, fwd+bwd
  double launch = 0;                // GPU idle waiting for kernel launches
  double slack = 0;                 // GPU work the host has queued ahead of it (not part of the time)
  double backward_slack = 0;        // of which queued in the layers' backward phases
  double input_slack = 0;           // what the next micro-batch's input path can run beside
  double contention = 0;            // compute slowed by the hidden TP, EP and CP collectives
  double wgrad = 0;                 // of bwd, the weight-gradient products
  double forward = 0;               // the forward share of all the above
  double Total() const { return fwd + bwd + memory + tp + ep + cp + launch + contention; }
  void Add(const StageSums& o, double n) {
    fwd += n * o.fwd, bwd += n * o.bwd, memory += n * o.memory, tp += n * o.tp, ep += n * o.ep;
    cp += n * o.cp, launch += n * o.launch, contention += n * o.contention, forward += n * o.forward;
    slack += n * o.slack, backward_slack += n * o.backward_slack, wgrad += n * o.wgrad;
  }
};

PipelineTime StepModel::Pipeline() const {
  const LayerCost dense = Layer(false);
  const LayerCost moe = a_.IsMoe() ? Layer(true) : dense;
  auto add_layer = [&](const LayerCost& l, double n, StageSums* s) {
    double recompute = 0;
    if (p_.recompute == Recompute::kFull) {
      recompute = l.fwd_compute;
    } else if (p_.recompute == Recompute::kSelective) {
      recompute = l.sel_fwd;
    } else if (p_.recompute == Recompute::kSelectiveOp) {
      recompute = l.op_sac_fwd;
    }
    const bool full = p_.recompute == Recompute::kFull;
    const bool op_sac = p_.recompute == Recompute::kSelectiveOp;
    const bool selective = p_.recompute == Recompute::kSelective;
    const double tp_again = full ? l.tp_fwd : (op_sac ? l.tp_op_sac : (selective ? l.sel_tp : 0));
    const double ep_again = full ? l.ep_fwd : (selective ? l.sel_ep : 0);
    const double tp_all = l.tp_fwd + l.tp_bwd + tp_again;
    const double ep_all = l.ep_fwd + l.ep_bwd + ep_again;
    const double cp_all = l.cp_fwd + l.cp_bwd + (full ? l.cp_fwd : 0);
    const double tp_window = TpWindow(l), ep_window = EpWindow(l);
    // Ring/all-gather KV exchange runs under the attention products (Megatron CP).
    const double cp_window = p_.cp > 1 ? l.core_fwd + l.core_bwd : -1;
    const double tp = Exposed(tp_all, tp_window);
    const double ep = Exposed(ep_all, ep_window);
    const double cp = Exposed(cp_all, cp_window);
    // What runs hidden under compute still holds its share of the compute units meanwhile; each
    // term falls in the forward as its window does (TP: the forward GEMMs).
    const double tp_slow = Contention(tp_all, tp_window);
    const double ep_slow = Contention(ep_all, ep_window, c_.ep_collective_share);
    const double cp_slow = Contention(cp_all, cp_window);
    const double contention = tp_slow + ep_slow + cp_slow;
    const double ep_fwd_share = ep_window > 0 ? l.fwd_compute / ep_window : 0;
    const double cp_fwd_share = cp_window > 0 ? l.core_fwd / cp_window : 0;
    const double contention_fwd = tp_slow + ep_slow * ep_fwd_share + cp_slow * cp_fwd_share;
    s->fwd += n * l.fwd_compute;
    s->bwd += n * (l.bwd_compute + recompute);
    s->wgrad += n * l.wgrad;
    // Full recompute and the op-level policy run the forward's elementwise passes again.
    const bool again = full || p_.recompute == Recompute::kSelectiveOp;
    const double memory_again = selective ? l.sel_memory : 0;
    s->memory += n * (l.fwd_memory * (again ? 4 : 3) + memory_again + l.cast_fwd * (full ? 2 : 1) + l.cast_bwd);
    s->tp += n * tp;
    s->ep += n * ep;
    s->cp += n * cp;
    s->contention += n * contention;
    // The host launches forward, backward (about twice the kernels) and recomputed kernels;
    // when that takes longer than the GPU work, the GPU waits.
    const double kernels = l.kernels_fwd * 3 + (full ? l.kernels_fwd : 0) +
                           (selective ? l.kernels_sel : 0) +
                           (p_.recompute == Recompute::kSelectiveOp ? l.kernels_op_sac : 0);
    const double gpu = l.fwd_compute + l.bwd_compute + recompute + l.fwd_memory * (again ? 4 : 3) + memory_again +
                       l.cast_fwd * (full ? 2 : 1) + l.cast_bwd + tp + ep + cp + contention;
    // A measured profile times the layer at TP 1; each collective call the plan adds costs the
    // host its measured call time (forward, backward, and the recomputed forward).
    const double call = c_.job.host_profile ? c_.job.host_profile->collective_call.value() : 0;
    const double host_calls_fwd = l.calls_fwd * call;
    const double calls_again = full ? l.calls_fwd : (op_sac ? l.calls_op_sac : (selective ? l.calls_sel : 0));
    // Selective recompute's modules launch their kernels again, at the profile's forward host time
    // per forward kernel.
    double host_again = 0;
    if (c_.job.host_profile && selective && l.kernels_fwd > 0) {
      host_again = l.kernels_sel * c_.job.host_profile->LayerForwardSeconds(false).value() / l.kernels_fwd;
    }
    const double host = c_.job.host_profile ? c_.job.host_profile->LayerSeconds(full).value() + host_again +
                                                  (l.calls_fwd + l.calls_bwd + calls_again) * call
                                            : kernels * c_.host_per_kernel.value();
    // The forward's share of the exposed communication (recompute runs forward collectives a
    // second time, in the backward).
    const double comm_fwd = l.tp_fwd + l.ep_fwd + l.cp_fwd;
    const double comm = comm_fwd + l.tp_bwd + l.ep_bwd + l.cp_bwd + (full ? comm_fwd : tp_again + ep_again);
    const double fwd_comm_share = comm > 0 ? comm_fwd / comm : 0;
    const double gpu_fwd =
        l.fwd_compute + l.fwd_memory + l.cast_fwd + fwd_comm_share * (tp + ep + cp) + contention_fwd;
    s->forward += n * gpu_fwd;
    if (LayersWaitForGpu()) {
      // The host waits for the GPU inside every layer forward (and recomputed forward), so it
      // cannot queue one phase's work while the GPU runs another's: the forward phase and the
      // backward phase (with its recomputed forward) are each bound by their slower side.
      const double host_fwd = c_.job.host_profile->LayerForwardSeconds(full).value() + host_calls_fwd;
      const double host_bwd = host - host_fwd, gpu_bwd = gpu - gpu_fwd;
      s->launch += n * (std::max(0.0, host_fwd - gpu_fwd) + std::max(0.0, host_bwd - gpu_bwd));
      s->slack += n * (std::max(0.0, gpu_fwd - host_fwd) + std::max(0.0, gpu_bwd - host_bwd));
      s->backward_slack += n * std::max(0.0, gpu_bwd - host_bwd);
    } else {
      s->launch += n * std::max(0.0, host - gpu);
      s->slack += n * std::max(0.0, gpu - host);
    }
  };
  // Output head(s), cross-entropy and MTP projection on the last stage.
  const double h = static_cast<double>(a_.hidden);
  const double heads = 1.0 + a_.mtp_layers;
  const double head_fwd = heads * Gemm16(tokens_, h, static_cast<double>(a_.vocab) / t_) +
                          a_.mtp_layers * Gemm(tokens_, 2 * h, h);
  double head_wgrad = 0, mtp_wgrad = 0;
  const double head_bwd = heads * Gemm16Bwd(tokens_, h, static_cast<double>(a_.vocab) / t_, 1, &head_wgrad) +
                          a_.mtp_layers * GemmBwd(tokens_, 2 * h, h, 1, &mtp_wgrad);
  head_wgrad = heads * head_wgrad + a_.mtp_layers * mtp_wgrad;
  const double logits = heads * tokens_ * static_cast<double>(a_.vocab) / t_;
  const AroundLayersComm around_comm = AroundLayers(heads);
  const double loss_bytes = logits * (kCrossEntropyForwardBytes + kCrossEntropyBackwardBytes);
  const double loss_fwd_bytes = logits * kCrossEntropyForwardBytes;

  // Stage totals: the first, second and last stages are the only distinct ones (contiguous
  // layers; the last adds the head); the sum over all stages follows from the layer counts.
  // Every per-layer term is linear in the layer count: sum one dense and one MoE layer once.
  StageSums one_dense, one_moe;
  add_layer(dense, 1.0, &one_dense);
  if (a_.IsMoe()) add_layer(moe, 1.0, &one_moe);
  // Each micro-batch's input path on every stage (Megatron's get_batch): the data-loader receive
  // runs while the GPU works off what the host queued ahead of it (`slack`); then the host waits for
  // the GPU (broadcast_data copies the sizes back to the CPU) and the rest runs on an idle GPU.
  auto input_path = [&](double slack) {
    if (!c_.job.host_profile) return 0.0;
    const HostProfile& h = *c_.job.host_profile;
    return std::max(0.0, h.input_before_sync.value() - slack) + h.input_after_sync.value();
  };
  auto sums = [&](int64_t n, int64_t n_moe, bool first, bool last) {
    StageSums st;
    st.Add(one_dense, static_cast<double>(n - n_moe));
    st.Add(one_moe, static_cast<double>(n_moe));
    if (first) {
      st.tp += around_comm.embedding_fwd + around_comm.embedding_bwd;
      st.forward += around_comm.embedding_fwd;
    }
    if (last) {
      const double mtp = static_cast<double>(a_.mtp_layers);
      const double head_comm_fwd = around_comm.head_fwd + mtp * around_comm.embedding_fwd;
      const double head_comm = head_comm_fwd + around_comm.head_bwd + mtp * around_comm.embedding_bwd;
      st.tp += head_comm;
      st.forward += head_comm_fwd;
      st.Add(a_.IsMoeLayer(a_.layers - 1) ? one_moe : one_dense, static_cast<double>(a_.mtp_layers));
      st.fwd += head_fwd;
      st.bwd += head_bwd;
      st.wgrad += head_wgrad;
      st.memory += Memory(loss_bytes);
      st.forward += head_fwd + Memory(loss_fwd_bytes);
      // A measured host profile also times the work around the layers (embedding, head, loss),
      // counted on the last stage with the head.
      if (c_.job.host_profile) {
        // With TP the collectives around the layers are calls the TP-1 profile does not hold; the
        // GPU runs them beside the host's work.
        const double calls = p_.tp > 1 ? around_comm.head_calls + (1 + mtp) * around_comm.embedding_calls : 0;
        const double around = c_.job.host_profile->micro_batch.value() +
                              calls * c_.job.host_profile->collective_call.value();
        const double head_gpu = head_fwd + head_bwd + Memory(loss_bytes) + head_comm +
                                (first ? around_comm.embedding_fwd + around_comm.embedding_bwd : 0);
        const double head_slack = std::max(0.0, head_gpu - around);
        st.launch += std::max(0.0, around - head_gpu);
        st.slack += head_slack;
        st.backward_slack += head_slack;
      }
    }
    return st;
  };
  // The input path runs beside the GPU work queued since the host last waited for the GPU:
  // with waits in every layer forward, under full recompute that is the backward phase of the
  // stage's first layer (the last one the backward reaches); without recompute, the backward
  // phases and the head after the last layer's forward.
  auto add_input_path = [&](int64_t first, int64_t n, StageSums* st) {
    st->input_slack = st->slack;
    if (LayersWaitForGpu() && n > 0) {  // a stage without layers has no waits
      st->input_slack = p_.recompute == Recompute::kFull
                            ? (a_.IsMoeLayer(first) ? one_moe : one_dense).backward_slack
                            : st->backward_slack;
    }
    st->launch += input_path(st->input_slack);
  };
  auto stage_sums = [&](int64_t s) {
    const int64_t n = LayersOnStage(a_, p_, s);
    const int64_t first = FirstLayerOfStage(a_, p_, s);
    StageSums st = sums(n, a_.MoeLayersIn(first, n), s == 0, s == p_.pp - 1);
    add_input_path(first, n, &st);
    return st;
  };
  // The first, second and last stages are the only ones that can be the slowest (contiguous
  // layers; the middle ones alike or one layer lighter; the last adds the head). The sum over
  // all stages follows from the layer counts (every per-layer term is linear in the count).
  double worst = 0, worst_fwd = 0, worst_bwd = 0;
  StageSums worst_stage;
  StageSums whole = sums(a_.layers, a_.MoeLayerCount(), true, true);
  add_input_path(0, a_.layers, &whole);
  double sum = whole.Total();
  int64_t candidates[5];
  const int n_candidates = CandidateStages(a_, p_, candidates);
  for (int i = 0; i < (n_candidates > 0 ? n_candidates : p_.pp); ++i) {
    const int64_t stage = n_candidates > 0 ? candidates[i] : i;
    StageSums st = stage_sums(stage);
    const double total = st.Total();
    if (total > worst) {
      worst = total;
      worst_stage = st;
      worst_fwd = st.forward;
      worst_bwd = total - worst_fwd;
    }
  }
  // `whole` ran the input path once; every stage runs it (each as the slowest one does).
  sum += static_cast<double>(p_.pp) * input_path(worst_stage.input_slack) - input_path(whole.input_slack);
  const double m = static_cast<double>(MicroBatches(p_, c_.job));
  double bubble = sum - worst;
  switch (p_.schedule) {
    case Schedule::kGpipe:
    case Schedule::k1F1B: break;
    case Schedule::kInterleaved: bubble /= static_cast<double>(p_.vpp); break;
    // Zero-bubble schedules fill the bubble with deferred weight gradients W, what is left of the
    // backward being B (input gradients, recompute, collectives): ZB-H1 leaves (p - 1)(F + B - W)
    // (Qi et al. 2023), DualPipe (p/2 - 1)(F&B + B - 3W) with F&B = F + B + W (DeepSeek-V3 Table 2,
    // whose B is the full backward B + W here).
    case Schedule::kZbH1:
      bubble *= std::max(0.0, worst_fwd + worst_bwd - 2 * worst_stage.wgrad) / worst;
      break;
    case Schedule::kDualPipe:
      bubble *= (p_.pp / 2.0 - 1) / std::max(1.0, p_.pp - 1.0) *
                std::max(0.0, worst_fwd + 2 * worst_bwd - 3 * worst_stage.wgrad) / worst;
      break;
  }
  if (p_.pp == 1) bubble = 0;

  // Pipeline point-to-point: activations per boundary, scatter-gathered over TP.
  double pp_exposed = 0;
  if (p_.pp > 1) {
    const bool cross = p_.tp * p_.cp * p_.dp >= c_.fabric.devices_per_node;
    const double p2p = PointToPointTime(c_.fabric, Bytes(tokens_ * h * 2 / t_), cross).value();
    // Each micro-batch crosses every chunk boundary once each way; an overlapped schedule exposes
    // only the fill and drain.
    const bool overlapped = (p_.schedule == Schedule::kInterleaved && p_.overlap_p2p_comm) ||
                            p_.schedule == Schedule::kDualPipe;
    const double crossings = m * static_cast<double>(p_.schedule == Schedule::kInterleaved ? p_.vpp : 1);
    pp_exposed = 2 * p2p * ((overlapped ? 0 : crossings) + static_cast<double>(p_.pp - 1));
  }

  PipelineTime pipe;
  pipe.micro_batches = m;
  pipe.stage_total = worst;
  pipe.stage_forward = worst_fwd;
  pipe.stage_backward = worst_bwd;
  pipe.compute = worst_stage.fwd + worst_stage.bwd;
  pipe.memory = worst_stage.memory;
  pipe.launch = worst_stage.launch;
  pipe.tp = worst_stage.tp;
  pipe.ep = worst_stage.ep;
  pipe.cp = worst_stage.cp;
  pipe.contention = worst_stage.contention;
  pipe.bubble = bubble;
  pipe.pp_exposed = pp_exposed;
  return pipe;
}

StepTime StepModel::Finish(const PipelineTime& pipe) const {
  const double m = pipe.micro_batches;
  const double worst = pipe.stage_total, worst_fwd = pipe.stage_forward, worst_bwd = pipe.stage_backward;
  // Data parallel: gradients and (sharded) parameters.
  const ParamCounts& pc = c_.params;
  const double expert_total = static_cast<double>(a_.MoeLayerCount() + (a_.IsMoeLayer(a_.layers - 1) ? a_.mtp_layers : 0)) *
                              pc.routed_experts_per_moe_layer;
  const double dense_local = (static_cast<double>(pc.TotalWithMtp()) - expert_total) / (t_ * p_.pp);
  const double expert_local = expert_total / (p_.ep * p_.etp * p_.pp);
  const int64_t d = p_.dp * p_.cp;
  const int64_t ed = p_.dp * p_.cp * p_.tp / (p_.ep * p_.etp);
  const double grad_bytes = c_.job.grad_dtype == Dtype::kFp32 ? 4 : 2;
  const double weight_bytes = c_.job.precision == Dtype::kFp32 ? 4 : (c_.fp8_gemms && !c_.job.fp8_weight_copy ? 1 : 2);
  const double layers_per_stage = static_cast<double>(a_.layers) / p_.pp;
  auto dp_time = [&](double local, int64_t ranks, int64_t stride, double* grads, double* params) {
    if (ranks <= 1 || local <= 0) return;
    const int64_t per = RanksPerDomain(c_.fabric, stride, ranks);
    // Megatron-Core reduces (and gathers) in buckets of max(40M, 1M x DP) parameters when it
    // overlaps the reduction, one collective each (cost-model-notes §3.4, DDP config); without
    // the overlap, the whole buffer goes in one collective.
    const double buckets = p_.overlap_grad_reduce
                               ? std::max(1.0, std::ceil(local / std::max(40e6, 1e6 * static_cast<double>(ranks))))
                               : 1.0;
    if (p_.zero == 0) {
      *grads += buckets * AllReduceTime(c_.fabric, Bytes(local * grad_bytes / buckets), ranks, per).value();
    } else if (p_.zero < 3) {
      *grads += buckets * ReduceScatterTime(c_.fabric, Bytes(local * grad_bytes / buckets), ranks, per).value();
      *params += buckets * AllGatherTime(c_.fabric, Bytes(local * weight_bytes / buckets), ranks, per).value();
    } else if (p_.zero3_gather_per_parameter) {
      // DeepSpeed's ZeRO-3 of early 2021 with its default configuration (contiguous_gradients and
      // overlap_comm off): every micro-batch's gradients fill buckets of reduce_bucket_size (5e8
      // elements), each all-reduced whole on the compute stream and then cut to the rank's
      // partition (stage3.py reduce_ipg_grads -> buffered_reduce_fallback -> allreduce_bucket).
      // Its gathers are timed per parameter tensor (PerParameterGathers).
      constexpr double kReduceBucketElements = 5e8;
      const double buckets = std::max(1.0, std::ceil(local / kReduceBucketElements));
      *grads += m * buckets * AllReduceTime(c_.fabric, Bytes(local * grad_bytes / buckets), ranks, per).value();
    } else {
      // ZeRO-3 / FSDP: each layer's parameters are gathered for its forward and again for its
      // backward, and its gradients reduce-scattered, for every micro-batch (ZeRO §7.2.2:
      // 3Ψ per pass), one collective per layer.
      const double layer = local / layers_per_stage;
      // Gathered once per step and kept, gradients reduce-scattered once (fsdp_gather_once).
      const double gathers = p_.fsdp_gather_once ? 1 : 2 * m;
      const double reductions = p_.fsdp_gather_once ? 1 : m;
      *params += layers_per_stage * (gathers * AllGatherTime(c_.fabric, Bytes(layer * weight_bytes), ranks, per).value() +
                                     reductions * ReduceScatterTime(c_.fabric, Bytes(layer * grad_bytes), ranks, per).value());
    }
  };
  double grads = 0, params = 0;
  dp_time(dense_local, d, p_.tp, &grads, &params);
  dp_time(expert_local, ed, p_.ep * p_.etp, &grads, &params);
  if (p_.zero == 3 && p_.zero3_gather_per_parameter) {
    // One gather per parameter tensor: the forward's, the backward's and, under full recompute,
    // the recomputed forward's, for every micro-batch.
    const double passes = (p_.recompute == Recompute::kFull ? 3 : 2) * m;
    const double moe_layers = static_cast<double>(a_.MoeLayerCount()) / p_.pp;
    // The word and position embeddings and an untied output layer, spread over the stages as the
    // per-layer gathers spread them.
    const int64_t width = a_.embed_proj_dim > 0 ? a_.embed_proj_dim : a_.hidden;
    double edges = 0;
    for (const ParamTensor& t : {ParamTensor{a_.vocab * width}, ParamTensor{a_.position_rows * a_.hidden, false, false},
                                 ParamTensor{pc.lm_head}}) {
      edges += ParameterGather(t, d, ed, weight_bytes);
    }
    params += passes * ((layers_per_stage - moe_layers) * PerParameterGathers(false, d, ed, weight_bytes) +
                        moe_layers * PerParameterGathers(true, d, ed, weight_bytes) + edges / static_cast<double>(p_.pp));
  }
  // Tied input and output embeddings on different stages (or MTP, whose last stage holds a copy of
  // the embedding, tied or not): the word embedding's gradient is summed between the first and the
  // last stage once per step, after the backward, in the gradient dtype (Megatron's
  // _allreduce_word_embedding_grads in finalize_model_grads; DeepSpeed's pipeline engine reduces its
  // tied layers the same way). DualPipe holds the first and the last stage on one rank.
  double tied_embedding = 0;
  if (p_.pp > 1 && (a_.tied_embeddings || a_.mtp_layers > 0) && p_.schedule != Schedule::kDualPipe) {
    const int64_t width = a_.embed_proj_dim > 0 ? a_.embed_proj_dim : a_.hidden;
    const Bytes bytes(static_cast<double>(a_.vocab) * static_cast<double>(width) / t_ * grad_bytes);
    // PP is the outermost degree: the pair shares a scale-up domain when the whole job fits in one.
    const int64_t job = p_.pp * p_.tp * p_.cp * p_.dp;
    const bool one_domain = RanksPerDomain(c_.fabric, 1, job) == job;
    tied_embedding = AllReduceTime(c_.fabric, bytes, 2, one_domain ? 2 : 1).value();
  }
  double dp_exposed = 0, dp_contention = 0;
  if (p_.zero == 3) {
    // Prefetched layer by layer under the compute of the micro-batches; DeepSpeed's early per-parameter
    // gathers synchronise first, and hide nothing.
    const double window = p_.overlap_param_gather && !p_.zero3_gather_per_parameter ? m * worst : -1;
    dp_exposed = Exposed(grads + params, window);
    dp_contention = Contention(grads + params, window);
  } else {
    const double grads_window = p_.overlap_grad_reduce ? worst_bwd : -1;
    const double params_window = p_.overlap_param_gather ? worst_fwd : -1;
    dp_exposed = Exposed(grads, grads_window) + Exposed(params, params_window);
    dp_contention = Contention(grads, grads_window) + Contention(params, params_window);
  }

  // Optimizer step over the local shard.
  const double adam_bytes = OptimizerBytesPerParameter(c_.job, weight_bytes);
  const double shard_d = p_.zero >= 1 ? static_cast<double>(d) : 1.0;
  const double shard_ed = p_.zero >= 1 ? static_cast<double>(ed) : 1.0;
  const double optimizer = Memory((dense_local / shard_d + expert_local / shard_ed) * adam_bytes);

  StepTime r;
  r.compute = Seconds(m * pipe.compute);
  // Without gradient-accumulation fusion, each micro-batch adds every local 16-bit weight gradient
  // to the main-gradient buffer in a pass of its own: read the gradient, read and write the buffer.
  const double wgrad_bytes = c_.job.precision == Dtype::kFp32 ? 4 : 2;
  const double accumulate =
      c_.job.grad_accumulation_fusion ? 0 : Memory((dense_local + expert_local) * (wgrad_bytes + 2 * grad_bytes));
  // DeepSpeed's engine copies the gradients into its bucket buffer and back, and scales the
  // all-reduced bucket when DP > 1 (Plan::grad_flatten): each pass reads and writes them.
  const double flatten_passes = p_.grad_flatten && p_.zero == 0 ? (d > 1 ? 3 : 2) : 0;
  const double flatten = Memory(flatten_passes * 2 * grad_bytes * (dense_local + expert_local));
  r.other = Seconds(m * (pipe.memory + pipe.launch + accumulate) + flatten);
  r.host_launch = Seconds(m * pipe.launch);
  r.exposed_comm.tp = Seconds(m * pipe.tp);
  r.exposed_comm.ep = Seconds(m * pipe.ep);
  r.exposed_comm.cp = Seconds(m * pipe.cp);
  r.exposed_comm.pp = Seconds(pipe.pp_exposed + tied_embedding);
  r.exposed_comm.dp = Seconds(dp_exposed);
  r.comm_contention = Seconds(m * pipe.contention + dp_contention);
  r.bubble = Seconds(pipe.bubble);
  r.optimizer = Seconds(optimizer);
  r.step = r.compute + r.other + r.exposed_comm.Total() + r.comm_contention + r.bubble + r.optimizer;
  r.stage_forward = Seconds(worst_fwd);
  r.stage_backward = Seconds(worst_bwd);
  const double tokens = static_cast<double>(c_.job.GlobalBatchTokens());
  r.tokens_per_s = tokens / r.step.value();
  r.tokens_per_s_per_device = r.tokens_per_s / static_cast<double>(c_.devices);
  r.tflops_per_device = r.tokens_per_s_per_device * c_.model_flops_per_token / 1e12;
  r.mfu = r.tflops_per_device * 1e12 / c_.peak_rate.value();
  double extra = 0;  // recomputation FLOPs per token
  if (p_.recompute == Recompute::kFull) extra = (c_.model_flops_per_token / 3.0);
  if (p_.recompute == Recompute::kSelective) extra = SelectiveRecomputeFlopsPerToken();
  if (p_.recompute == Recompute::kSelectiveOp) {
    // wk, wo and w3 (or w2) again, per layer: 2 FLOPs per weight per token.
    const double q = static_cast<double>(a_.heads * a_.head_dim), kv = static_cast<double>(a_.kv_heads * a_.head_dim);
    extra = 2.0 * a_.layers * a_.hidden * (kv + q + static_cast<double>(a_.ffn));
  }
  r.hfu = r.mfu * (c_.model_flops_per_token + extra) / c_.model_flops_per_token;
  return r;
}

}  // namespace

PipelineTime EstimatePipeline(const CostContext& ctx, const Plan& plan) {
  return StepModel(ctx, plan).Pipeline();
}

StepTime FinishStep(const CostContext& ctx, const Plan& plan, const PipelineTime& pipeline) {
  return StepModel(ctx, plan).Finish(pipeline);
}

StepTime EstimateStep(const CostContext& ctx, const Plan& plan) {
  StepModel model(ctx, plan);
  return model.Finish(model.Pipeline());
}

}  // namespace preflight
