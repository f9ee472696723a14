// The cost context of a job on a cluster (MakeCostContext): rates, efficiencies and tables read
// once from the catalog, and the fused-attention rates, behind cost/step_time.h.

#include "preflight/cost/step_time.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

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

double GradientZeroBytes(const TrainingJob& job) {
  if (job.precision == Dtype::kFp32) return 4;
  return job.grad_dtype == Dtype::kFp32 ? 4 : 2;
}

double OptimizerBytesPerParameter(const TrainingJob& job, double weight_bytes) {
  const double moments = 2 * (job.optimizer_dtype == Dtype::kFp32 ? 4 : 2);
  if (job.precision == Dtype::kFp32) return 2 * (4 + moments) + 4 /* Adam's gradient */ + 4 /* norm */ + 4 /* zero */;
  const double grad = job.grad_dtype == Dtype::kFp32 ? 4 : 2;  // the model's gradient buffer
  const double to_fp32 = grad < 4 ? grad + 4 : 0;
  const double unscale = job.precision == Dtype::kFp16 ? 4 + 4 : 0;
  const double norm = 4;
  const double adam = 2 * (4 + moments) + 4;
  const double to_model = job.weight_dtype == Dtype::kFp32 ? 0 : 4 + weight_bytes;  // the fp32 parameter is the model's
  return to_fp32 + unscale + norm + adam + to_model + grad /* zeroed */;
}

namespace {

// Its own figures only: a dtype without them runs at bf16's (EfficiencyDtype), whose figures pair
// with fp16's where the peaks are equal (BurstGemmFraction).
bool HasEfficiency(const HardwareSpec& h, Dtype d) {
  return h.gemm_fraction[DtypeIndex(d)].known() || h.sustained_fraction[DtypeIndex(d)].known();
}

// The dtype whose measured efficiencies GEMMs in `gemm` run at: their own where the catalog has
// one, else bf16's. FP16 runs at BF16's tensor-core rate. FP8, FP4 and TF32 have rates of their
// own, but where measured their large-GEMM fraction sits at or below BF16's (data/hardware: H100
// 0.709 vs 0.803, H200 0.734 vs 0.803, B200 0.763 vs 0.776, MI300X 0.487 vs 0.542, Gaudi 2 0.955
// vs 0.969; Gaudi 3 the one exception, 0.769 vs 0.741), so BF16's fraction of the lower dtype's
// peak is a better estimate than the peak itself, and never times it faster than BF16 on a device
// whose peaks are equal (TPU v5p, v6e).
Dtype EfficiencyDtype(const HardwareSpec& h, Dtype gemm) {
  if (HasEfficiency(h, gemm) || !HasEfficiency(h, Dtype::kBf16)) return gemm;
  return Dtype::kBf16;
}

// What the job's FP8 recipe leaves unpriced on this device, as warnings (FP8 GEMMs only).
void AddFp8RecipeWarnings(const HardwareSpec& h, const TrainingJob& job, CostContext* c) {
  if (!c->fp8_gemms || c->fp4_gemms) return;
  // MXFP8's E8M0 block scales need block-scaled tensor cores; the devices that have them (NVIDIA
  // Blackwell, AMD MI355X) brought FP4 with them, so a device without an FP4 rate is taken not to.
  if (job.fp8_recipe == Fp8Recipe::kMxfp8 && !h.peak(Dtype::kFp4).known()) {
    c->warnings.push_back(h.id + " has no FP4 rate in the catalog, the mark of block-scaled (MX) tensor cores: "
                                 "training.fp8_recipe mxfp8 is timed as if it ran there");
  }
  // What a GEMM loses to per-block scales (the kernels on Hopper promote their partial sums to the
  // CUDA cores at every 128-element block) is a property of the kernel library, not of the device,
  // and published kernels run below and above the per-tensor rate: no catalog figure, so the GEMMs
  // keep the FP8 rate and the plan says so (docs/cost-model.md).
  if (job.fp8_recipe == Fp8Recipe::kBlockwise) {
    c->warnings.push_back("training.fp8_recipe blockwise: the GEMMs run at " + h.id +
                          "'s FP8 rate; what the per-block scales cost inside them depends on the kernel "
                          "library and is not priced (the GEMM times may be off either way)");
  }
}

// The dtype the job's GEMMs run in: FP8 only where the device has it (then sets c->fp8_gemms;
// otherwise a warning), with the FP8 recipe's warnings.
Dtype GemmDtype(const HardwareSpec& h, const TrainingJob& job, CostContext* c) {
  const Dtype gemm = h.GemmDtype(job.precision);
  c->fp8_gemms = gemm == Dtype::kFp8 || gemm == Dtype::kFp4;
  c->fp4_gemms = gemm == Dtype::kFp4;
  if (QuantizedPrecision(job.precision) && !c->fp8_gemms) {
    const std::string low = job.precision == Dtype::kFp4 ? "FP4" : "FP8";
    c->warnings.push_back(h.id + " has no " + low + ": " + low + " GEMMs fall back to BF16");
  }
  AddFp8RecipeWarnings(h, job, c);
  return gemm;
}

// What runs at a burst figure of `d` with no sustained figure beside it (`what`) runs at instead.
std::string NoSustainedFigureText(const HardwareSpec& h, Dtype d, const std::string& what) {
  const std::string head = h.id + " has no sustained " + std::string(DtypeName(d)) +
                           " GEMM figure at its power limit (efficiency.sustained_fraction): " + what;
  const std::optional<Dtype> from = SustainedRatioDtype(h, d);
  if (!from) return head + " run at the burst figure of short runs, an upper bound on speed over hours";
  std::ostringstream ratio;
  ratio << std::setprecision(3) << SustainedRatio(h, d);
  return head + " run at " + std::string(DtypeName(*from)) + "'s sustained / burst ratio on this device (" +
         ratio.str() + "; the clock at the power limit is the device's)";
}

// What scales `dtype`'s grid of `t` to the power limit: nothing for a table measured there; the
// ratio of the device a proxy grid was measured on (GemmTable::SourceSustain); else the reading
// device's, `own`.
double TableSustain(const GemmTable& t, Dtype dtype, double own) {
  if (t.sustained) return 1.0;
  return t.SourceSustain(dtype) > 0 ? t.SourceSustain(dtype) : own;
}

// The large-GEMM rate and the measured table by shape. Burst benchmarks (MAMF, the shape table,
// attention kernels) run at boost clock; a step runs at the power limit: large GEMMs at the
// sustained rate, burst tables scaled by sustained / burst. (Without a burst figure the sustained
// one is the large-GEMM fraction itself.)
void SetGemmRates(const HardwareSpec& h, Dtype gemm, const Figure& peak, CostContext* c) {
  const Dtype frac_dtype = EfficiencyDtype(h, gemm);
  if (frac_dtype != gemm && gemm != Dtype::kFp16) {
    c->warnings.push_back(h.id + ": no measured " + std::string(DtypeName(gemm)) +
                          " GEMM efficiency in the catalog: its GEMMs run at bf16's measured fraction of the " +
                          std::string(DtypeName(gemm)) + " peak (where both are measured, the lower dtype's is "
                          "at or below bf16's: times may be a lower bound)");
  }
  Figure frac = BurstGemmFraction(h, frac_dtype);
  if (!frac.known()) frac = SustainedGemmFraction(h, frac_dtype);
  const double sustain = SustainedRatio(h, frac_dtype);  // 1 without both figures
  const std::string what = std::string(DtypeName(gemm)) + " GEMM";
  c->gemm_rate = FlopsPerSecond(Rate(peak, frac, what, &c->warnings) * sustain);
  // A burst figure with no sustained one beside it: the ratio another dtype of the device measured
  // (SustainedRatio), else the burst figure of short runs (the catalog's B200 sustains 0.82 of its
  // BF16 burst, the H100 0.95).
  if (BurstGemmFraction(h, frac_dtype).known() && !SustainedGemmFraction(h, frac_dtype).known()) {
    c->warnings.push_back(NoSustainedFigureText(h, frac_dtype, "its GEMMs"));
  }
  c->gemm_rate_max = c->gemm_rate;
  if (!h.gemm_table) return;
  const Dtype table_dtype = h.gemm_table->GridFor(gemm);
  if (!h.gemm_table->Has(table_dtype)) return;
  c->gemm_table = h.gemm_table;
  c->gemm_dtype = table_dtype;
  c->gemm_sustain = TableSustain(*h.gemm_table, table_dtype, sustain);
  const double table_max = h.gemm_table->MaxRate(table_dtype) * c->gemm_sustain;
  c->gemm_rate_max = FlopsPerSecond(std::max(c->gemm_rate.value(), table_max));
}

// The 16-bit rates: GEMMs that stay in 16 bits in an FP8 run, and fused attention at its measured
// kernel rates (the scenario loader checked the kernel's name; the default kernel otherwise).
void SetSixteenBitRates(const HardwareSpec& h, const TrainingJob& job, const Figure& peak,
                        CostContext* c) {
  // An fp16 job's attention products run in fp16, at its peak and efficiency where the catalog
  // has them (the job's GEMMs do); an FP8 job's 16-bit work runs in bf16.
  const Dtype d16 = job.precision == Dtype::kFp16 && h.peak(Dtype::kFp16).known() ? Dtype::kFp16 : Dtype::kBf16;
  const Dtype e16 = EfficiencyDtype(h, d16);
  const Figure& bf16 = h.peak(d16).known() ? h.peak(d16) : peak;
  const double sustain16 = SustainedRatio(h, e16);
  const Figure& burst16 = BurstGemmFraction(h, e16);
  const Figure& sustained16 = SustainedGemmFraction(h, e16);
  if (c->fp8_gemms && burst16.known() && !sustained16.known()) {
    c->warnings.push_back(NoSustainedFigureText(h, e16, "the FP8 run's 16-bit work (attention, output layer, router)"));
  }
  const double frac16 =
      burst16.known() ? burst16.value * sustain16 : (sustained16.known() ? sustained16.value : 1.0);
  c->attention_rate = FlopsPerSecond(bf16.value * 1e12 * frac16);
  if (h.gemm_table && h.gemm_table->Has(Dtype::kBf16)) {
    c->gemm16_table = h.gemm_table;
    c->gemm16_sustain = TableSustain(*h.gemm_table, Dtype::kBf16, sustain16);
  }
  c->flash_fwd_rate = c->attention_rate;
  c->flash_bwd_rate = c->attention_rate;
  std::optional<HardwareSpec::AttentionKernel> kernel = h.AttentionRates(job.attention_kernel);
  if (!kernel) kernel = h.AttentionRates("");
  if (kernel->forward.known())
    c->flash_fwd_rate = FlopsPerSecond::TFlops(kernel->forward.value * sustain16);
  if (kernel->backward.known())
    c->flash_bwd_rate = FlopsPerSecond::TFlops(kernel->backward.value * sustain16);
  c->flash_curves = kernel->curves;
  c->flash_curves.Scale(sustain16);
  const bool measured =
      (kernel->forward.known() && kernel->backward.known()) || !kernel->curves.empty();
  if (job.flash_attention && !measured) {
    c->warnings.push_back(h.id +
                          ": no measured fused-attention throughput in the catalog; attention runs "
                          "at the GEMM rate (times are a lower bound)");
  }
}

// The SMs a running collective holds: NCCL's (the catalog's collective_compute_units) and, with
// DeepEP, its own kernels' (training.ep_comm_units) for the experts' dispatch and combine.
void SetCollectiveShares(const HardwareSpec& h, const TrainingJob& job, CostContext* c) {
  if (h.compute_units.known()) c->compute_units = h.compute_units.value;
  if (h.compute_units.known() && h.collective_compute_units.known()) {
    c->collective_share = h.collective_compute_units.value / h.compute_units.value;
  }
  c->ep_collective_share = c->collective_share;
  // DeepEP's kernels are CUDA, with NVSHMEM over NVLink and GPUDirect RDMA (its README asks for
  // Hopper-class NVIDIA GPUs); a device of another vendor is timed as if it ran them.
  if (job.ep_node_dedup && c->arch->IsMoe() && h.vendor != "NVIDIA") {
    c->warnings.push_back("training.ep_dispatcher deepep: DeepEP is written for NVIDIA GPUs (CUDA, NVSHMEM over "
                          "NVLink and RDMA); " + h.id + " (" + h.vendor + ") is timed as if its stack had a "
                          "dispatcher that sends each token once per node, which it may not");
  }
  if (!h.compute_units.known() || !job.ep_node_dedup) return;
  const double units = static_cast<double>(job.ep_comm_units);
  if (units >= h.compute_units.value) {
    const auto all = static_cast<int64_t>(h.compute_units.value);
    c->warnings.push_back(h.id + ": training.ep_comm_units " + std::to_string(job.ep_comm_units) +
                          " is not below its " + std::to_string(all) +
                          " compute units; hidden expert traffic stops its compute");
  }
  c->ep_collective_share = std::min(1.0, units / h.compute_units.value);
}

}  // namespace

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
  const Dtype gemm = GemmDtype(h, job, &c);
  Figure peak = h.peak(gemm);
  if (!peak.known()) {
    peak = h.peak(Dtype::kBf16);
    c.warnings.push_back(h.id + ": no peak for " + std::string(DtypeName(gemm)) + "; using bf16");
  }
  if (peak.uncertain) {
    std::ostringstream value;
    value << peak.value;
    c.warnings.push_back(h.id + ": the " + std::string(DtypeName(gemm)) + " peak the GEMMs run at (" + value.str() +
                         " TFLOP/s) is marked uncertain by its source" + (peak.note.empty() ? "" : " (" + peak.note + ")"));
  }
  SetGemmRates(h, gemm, peak, &c);
  SetSixteenBitRates(h, job, peak, &c);
  const Figure& mfu_peak = h.peak(job.precision).known() ? h.peak(job.precision) : peak;
  c.peak_rate = FlopsPerSecond::TFlops(mfu_peak.value);
  const double bw = h.hbm_bandwidth_tbytes_per_s.known() ? h.hbm_bandwidth_tbytes_per_s.value : 1.0;
  // Scenarios refuse a device without it (scenario.cc); a library caller gets a warning.
  if (!h.hbm_bandwidth_tbytes_per_s.known())
    c.warnings.push_back(h.id + ": HBM bandwidth unknown; assuming 1 TB/s");
  c.hbm_rate =
      BytesPerSecond(Rate(Figure::Known(bw, ""), h.hbm_fraction, "HBM bandwidth", &c.warnings));
  const OpList ops = BuildOps(arch, job.seq_len);
  c.model_flops_per_token = ops.model_flops_per_token;
  c.attention_flops_per_token_fwd = ops.attention_fwd_flops_per_token;
  c.head_flops_per_token_fwd = ops.head_fwd_flops_per_token;
  for (const Op& op : ops.ops) {
    if (op.kind == OpKind::kRoutedExperts) c.expert_flops_per_token_fwd += op.TotalFwdFlopsPerToken();
  }
  c.host_per_kernel = Seconds(job.host_overhead_per_kernel_us * 1e-6);
  if (h.gemm_kernel_us.known()) c.gemm_kernel = Seconds(h.gemm_kernel_us.value * 1e-6);
  for (int64_t r = 1; r < 8; ++r) {
    const Figure* f = WidthSlowdownFigure(h, r);
    if (f->known()) c.width_slowdown[static_cast<size_t>(r)] = f->value;
    c.width_slowdowns = c.width_slowdowns || c.width_slowdown[static_cast<size_t>(r)] != 1;
  }
  if (h.host_link_gbytes_per_s.known()) c.host_link_rate = BytesPerSecond(h.host_link_gbytes_per_s.value * 1e9);
  SetCollectiveShares(h, job, &c);
  // Hidden collectives slow the compute beside them by the SMs they hold; without the figures
  // they slow nothing, and the step is a bound on speed (ZeRO-3, the CP ring and EP all-to-alls
  // hidden for free).
  if (cluster.devices > 1 && (!h.compute_units.known() || !h.collective_compute_units.known())) {
    c.warnings.push_back(h.id + " has no figure for the compute units a running collective holds "
                                "(collective_compute_units, compute_units): collectives hidden under compute slow "
                                "nothing (but DeepEP's, training.ep_comm_units, where the compute units are known), "
                                "a bound on speed");
  }
  c.proxy_figures = ListProxyFigures(job, cluster);
  return c;
}

namespace {

void AddProxyOf(const std::string& measured_on, const std::string& name, std::vector<ProxyFigure>* out) {
  if (measured_on.empty()) return;
  const bool listed = std::any_of(out->begin(), out->end(), [&](const ProxyFigure& p) { return p.figure == name; });
  if (!listed) out->push_back({name, measured_on});
}

void AddProxy(const Figure& f, const std::string& name, std::vector<ProxyFigure>* out) {
  if (f.proxy()) AddProxyOf(f.proxy_of, name, out);
}

// The peak and large-GEMM efficiencies SetGemmRates reads for GEMMs in `gemm`.
void AddGemmProxies(const HardwareSpec& h, Dtype gemm, std::vector<ProxyFigure>* out) {
  const Dtype peak_dtype = h.peak(gemm).known() ? gemm : Dtype::kBf16;
  AddProxy(h.peak(peak_dtype), "peak_tflops." + std::string(DtypeName(peak_dtype)), out);
  const Dtype d = EfficiencyDtype(h, gemm);
  const Dtype burst = GemmFigureDtype(h, h.gemm_fraction, d);
  const Dtype sustained = GemmFigureDtype(h, h.sustained_fraction, d);
  AddProxy(h.gemm_fraction[DtypeIndex(burst)], "efficiency.gemm_fraction." + std::string(DtypeName(burst)), out);
  AddProxy(h.sustained_fraction[DtypeIndex(sustained)],
           "efficiency.sustained_fraction." + std::string(DtypeName(sustained)), out);
}

void AddAttentionProxies(const HardwareSpec& h, const TrainingJob& job, std::vector<ProxyFigure>* out) {
  if (!job.flash_attention) return;
  std::optional<HardwareSpec::AttentionKernel> kernel = h.AttentionRates(job.attention_kernel);
  if (!kernel) kernel = h.AttentionRates("");
  const bool is_default = kernel->name.empty() || kernel->name == h.attention_kernel;
  const std::string name =
      "efficiency.fused_attention_tflops" + (is_default ? std::string() : ".others." + kernel->name);
  AddProxy(kernel->forward, name + ".forward", out);
  AddProxy(kernel->backward, name + ".backward", out);
  for (const AttentionCurve& curve : kernel->curves.by_head_dim) AddProxyOf(curve.proxy_of, name + ".by_seq_len", out);
}

// How a proxy list names a GEMM table: the catalog's own (data/gemm/<id>.yaml, wherever the data
// folder lies) by that name, a user's (cluster.gemm_table) by the path it was read from.
std::string GemmTableName(const GemmTable& t, const std::string& hardware_id) {
  const std::filesystem::path p(t.file);
  const bool catalogs = p.filename() == hardware_id + ".yaml" && p.parent_path().filename() == "gemm" &&
                        p.parent_path().parent_path().filename() == "data";
  return catalogs ? "data/gemm/" + hardware_id + ".yaml" : t.file;
}

// The grids of a GEMM table a step reads (GemmGridsRead) that were measured on another device: the
// table by its name, or a grid with an origin of its own as "<name>: shapes.<dtype>".
void AddGemmTableProxies(const GemmTable& t, const std::string& hardware_id, Dtype gemm,
                         std::vector<ProxyFigure>* out) {
  const std::string name = GemmTableName(t, hardware_id);
  for (Dtype d : GemmGridsRead(t, gemm)) {
    AddProxyOf(t.ProxyOf(d), t.HasOwnOrigin(d) ? name + ": shapes." + std::string(DtypeName(d)) : name, out);
  }
}

}  // namespace

std::vector<Dtype> GemmGridsRead(const GemmTable& t, Dtype gemm) {
  // As SetGemmRates and SetSixteenBitRates take them (CostContext::fp8_gemms for the second).
  std::vector<Dtype> out;
  if (t.Has(t.GridFor(gemm))) out.push_back(t.GridFor(gemm));
  const bool sixteen_bit_work = gemm == Dtype::kFp8 || gemm == Dtype::kFp4;
  if (sixteen_bit_work && t.Has(Dtype::kBf16)) out.push_back(Dtype::kBf16);
  return out;
}

std::vector<ProxyFigure> ListProxyFigures(const TrainingJob& job, const Cluster& cluster) {
  const HardwareSpec& h = cluster.spec;
  std::vector<ProxyFigure> out;
  const Dtype gemm = h.GemmDtype(job.precision);
  AddGemmProxies(h, gemm, &out);
  if (h.gemm_table) AddGemmTableProxies(*h.gemm_table, h.id, gemm, &out);
  if (gemm != Dtype::kBf16 && gemm != Dtype::kFp16) AddGemmProxies(h, Dtype::kBf16, &out);
  AddAttentionProxies(h, job, &out);
  AddProxy(h.hbm_fraction, "efficiency.hbm_fraction", &out);
  AddProxy(h.gemm_kernel_us, "efficiency.gemm_kernel_us", &out);
  AddProxy(h.scale_up_gbytes_per_s, "scale_up.unidirectional_gbytes_per_s", &out);
  if (cluster.scale_up_busbw_gbytes_per_s <= 0) {
    AddProxy(h.allreduce_busbw_scale_up_gbytes_per_s, "efficiency.allreduce_busbw_gbytes_per_s.scale_up", &out);
  }
  if (cluster.scale_out_busbw_gbytes_per_s <= 0) {
    AddProxy(h.allreduce_busbw_scale_out_gbytes_per_s, "efficiency.allreduce_busbw_gbytes_per_s.scale_out", &out);
  }
  AddProxy(h.compute_units, "compute_units", &out);
  AddProxy(h.collective_compute_units, "collective_compute_units", &out);
  return out;
}

double FlashBlockLength(const TrainingJob& job, const Plan& p) {
  return static_cast<double>(job.seq_len) / static_cast<double>(std::max<int64_t>(1, p.cp));
}

double FlashHeadDim(const Architecture& a) {
  if (a.attention == AttentionKind::kMla)
    return static_cast<double>(a.mla.nope_dim + a.mla.rope_dim);
  return static_cast<double>(a.head_dim);
}

FlashRates FlashRatesAt(const CostContext& c, double seq_len, double head_dim) {
  if (c.flash_curves.empty()) return {c.flash_fwd_rate, c.flash_bwd_rate};
  const AttentionCurve::Point p = c.flash_curves.At(seq_len, head_dim);
  return {FlopsPerSecond::TFlops(p.forward), FlopsPerSecond::TFlops(p.backward)};
}

double DispatchElementBytes(const CostContext& c) {
  // FP8 casts carry one fp32 scale per 1x128 tile (DeepSeek-V3 report §3.3: 7,168 + 224 bytes a
  // token at h = 7,168; cost-model-notes §4.6).
  return c.fp8_gemms && c.job.fp8_dispatch ? 1.0 + 4.0 / 128 : 2.0;
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

}  // namespace preflight
