// File: cost/step_time.h
//
// The analytical time of one training step on one device: every op of the model timed as a
// roofline on the device (FLOPs at peak × measured GEMM efficiency, bytes at HBM bandwidth ×
// measured efficiency), every collective the plan implies timed with α-β models on the fabric
// level it spans, overlap as the framework really does it, and the pipeline bubble of the
// schedule. docs/cost-model.md derives each term and cites its source.
//
//   CostContext ctx = MakeCostContext(arch, params, job, cluster);  // once per model × hardware
//   StepTime t = EstimateStep(ctx, plan);                           // per plan, allocation-free
//   t.step.value(); t.tokens_per_s; t.mfu;
//
// REQUIRES: CheckPlan(...).ok() for the plan.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <memory>

#include "preflight/base/units.h"
#include "preflight/catalog/gemm_table.h"
#include "preflight/cost/collectives.h"
#include "preflight/hardware/cluster.h"
#include "preflight/model/architecture.h"
#include "preflight/model/model.h"
#include "preflight/parallel/plan.h"

namespace preflight {

// A catalog figure the step time rests on that was measured on another device: a labelled proxy
// (Figure::proxy_of), whose answer is that device's until this one is measured.
struct ProxyFigure {
  std::string figure;       // its place in the hardware file ("efficiency.sustained_fraction.bf16"),
                            // or the GEMM table's file
  std::string measured_on;  // the catalog id of the device it was measured on
};

// Per-model and per-hardware constants, computed once.
struct CostContext {
  const Architecture* arch = nullptr;
  ParamCounts params;
  TrainingJob job;
  int64_t devices = 0;
  Fabric fabric;
  FlopsPerSecond gemm_rate;       // achieved large-GEMM rate in the training precision, sustained
  // Sustained / burst throughput ratio of the GEMM dtype (1 when the catalog has no sustained
  // figure), applied to the shape table when it was measured in bursts (1 for a sustained table).
  double gemm_sustain = 1.0;
  // Measured rate by shape for the GEMM dtype (catalog data/gemm/), replacing gemm_rate and the
  // wave model where present; gemm_rate_max bounds every GEMM rate used (for search bounds).
  std::shared_ptr<const GemmTable> gemm_table;
  Dtype gemm_dtype = Dtype::kBf16;
  FlopsPerSecond gemm_rate_max;
  FlopsPerSecond attention_rate;  // achieved rate of the 16-bit attention products (unfused GEMMs)
  // The catalog's bf16 table by shape, for the GEMMs an FP8 run leaves in 16 bits (output layer,
  // MoE router), with its sustained / burst ratio; null when the device has no bf16 table.
  std::shared_ptr<const GemmTable> gemm16_table;
  double gemm16_sustain = 1.0;
  // Fused (flash) attention kernels in the FlashAttention convention (causal counted as half,
  // backward 2.5x the forward): the catalog's measured rates, else attention_rate.
  FlopsPerSecond flash_fwd_rate, flash_bwd_rate;
  // The kernel's measured rates by sequence length (catalog by_seq_len), already at the power
  // limit (times the sustained ratio); where present they replace flash_fwd_rate and
  // flash_bwd_rate (FlashRatesAt). Empty when the catalog has none.
  AttentionCurves flash_curves;
  FlopsPerSecond peak_rate;       // datasheet dense peak in the training precision (for MFU)
  BytesPerSecond hbm_rate;        // achieved HBM bandwidth
  double model_flops_per_token = 0;  // MFU convention (model/model.h)
  double attention_flops_per_token_fwd = 0;  // full (non-causal) count, forward, all layers
  double head_flops_per_token_fwd = 0;       // the output head(s), forward
  double expert_flops_per_token_fwd = 0;     // the routed experts' top-k copies, forward, all layers
  double activation_bytes = 2;    // bytes per activation element on the wire
  bool fp8_gemms = false;         // GEMMs run in FP8 or NVFP4 (and pay casts)
  bool fp4_gemms = false;         // of which in NVFP4 (training.precision fp4)
  Seconds host_per_kernel;        // host-side cost of launching one kernel (TrainingJob)
  // GPU time a GEMM kernel takes beyond its roofline at the wave-model rate (the catalog's
  // efficiency.gemm_kernel_us); charged where no measured table covers the shape. 0 when unknown.
  Seconds gemm_kernel;
  // How many times longer a 16-bit GEMM with an odd dimension takes (the catalog's
  // efficiency.gemm_odd_width_slowdown), and likewise for an even one no multiple of 8
  // (gemm_unaligned_width_slowdown), by the width mod 8 (WidthSlowdownFigure); 1 where unknown
  // (nothing charged) and at 0.
  std::array<double, 8> width_slowdown = {1, 1, 1, 1, 1, 1, 1, 1};
  bool width_slowdowns = false;  // any of width_slowdown is not 1
  // Achieved copy rate of a device's host link (catalog host_link_gbytes_per_s), for activation
  // offloading; 0 when unknown (offload copies are then not timed: a lower bound on time).
  BytesPerSecond host_link_rate;
  double compute_units = 0;       // SMs/CUs for wave quantization; 0 when unknown (no effect)
  // Share of the compute units a running collective holds (collective_compute_units /
  // compute_units): compute overlapped with communication runs on the rest. 0 when unknown.
  double collective_share = 0;
  // The same for the experts' dispatch and combine: DeepEP's SMs (TrainingJob::ep_comm_units) with
  // ep_node_dedup, else collective_share. 0 when the compute units are unknown.
  double ep_collective_share = 0;
  // The parameter tensors of a dense and of an MoE layer (LayerParameterTensors), for DeepSpeed's
  // per-parameter ZeRO-3 gathers: listed once here, not per plan.
  std::vector<ParamTensor> dense_layer_tensors, moe_layer_tensors;
  std::vector<std::string> warnings;  // unknown figures replaced by bounds, and costs left unpriced
  // The rate figures read above that were measured on another device (ListProxyFigures), each once.
  std::vector<ProxyFigure> proxy_figures;
};

// The upper end of published host costs per kernel launch in eager PyTorch: Holistic Trace
// Analysis puts a launch at "usually 5-20 µs" (docs/cost-model.md lists the other figures). Plans
// whose step grows markedly at this cost are flagged as possibly host-bound.
inline constexpr double kHostPerKernelHighUs = 20.0;

// Megatron's unfused attention softmax (forward_torch_softmax) beyond the fused kernel's 4 bytes a
// score forward (read 2, write 2) and 6 backward (the gradient and the output read, 2 written), one
// kernel each way. In fp32 (attention_softmax_in_fp32): the scores cast to fp32 (read 2, write 4),
// scaled (4, 4), masked in place (4, 4), softmax (4, 4) and cast back (4, 2), 36 bytes in 5 kernels;
// the backward's casts (2, 4 and 4, 2), softmax's gradient (12), the mask's (grad.masked_fill(mask,
// 0): a clone and the fill in place, 8 + 8) and the scale's (4, 4), 48 bytes in 6 kernels. In 16
// bits: mask (2, 2) and softmax (2, 2), 8 bytes in 2 kernels; softmax's gradient (6) and the mask's
// (4 + 4), 14 bytes in 3 kernels. Kept for the backward: the fp32 softmax output besides the 16-bit
// copy the next op keeps (2 bytes a score more with dropout, whose output is that copy, 4 without);
// the 16-bit path keeps what the kernel keeps.
inline constexpr double kFusedSoftmaxForwardBytes = 4, kFusedSoftmaxBackwardBytes = 6;
struct UnfusedSoftmaxWork {
  double forward_bytes = 0, backward_bytes = 0;      // per score, beyond the fused kernel's
  double forward_kernels = 0, backward_kernels = 0;  // beyond the fused kernel's one each way
};
inline UnfusedSoftmaxWork UnfusedSoftmaxExtra(bool fp32) {
  const double f = kFusedSoftmaxForwardBytes, b = kFusedSoftmaxBackwardBytes;
  return fp32 ? UnfusedSoftmaxWork{36 - f, 48 - b, 5 - 1, 6 - 1} : UnfusedSoftmaxWork{8 - f, 14 - b, 2 - 1, 3 - 1};
}

// Fused (flash) attention in the FlashAttention benchmark convention: a causal forward does half
// the score FLOPs of the full count, the backward 2.5 times the forward (cost-model-notes §1.1).
inline constexpr double kFlashCausalShare = 0.5;
inline constexpr double kFlashBackwardFactor = 2.5;
// The query and key length of each fused-attention call, for its rate by sequence length: the
// sequence cut into CP blocks, one rank's queries against one rank's keys per ring step
// (Megatron-Core's and PyTorch's context parallelism alike). Sliding-window layers read the rate at
// the window instead, when it is shorter.
double FlashBlockLength(const TrainingJob& job, const Plan& p);
// The head dimension a fused-attention kernel's rate is read at: the depth of the score product
// (MLA: the no-RoPE and RoPE parts of q and k together).
double FlashHeadDim(const Architecture& a);
// The fused-attention forward and backward rates (FLOP/s) for blocks of `seq_len` query and key
// positions: the measured curve's where the catalog has one, else the long-sequence figures.
struct FlashRates {
  FlopsPerSecond forward, backward;
};
FlashRates FlashRatesAt(const CostContext& c, double seq_len, double head_dim);
// Seconds per full-count attention FLOP (forward and backward) at the kernel's fastest rates: a
// lower bound at every sequence length (for the search's bounds).
double FlashSecondsPerFlop(const CostContext& c);
// Bytes per element the expert dispatch (and its backward twin) sends: 1 + 4/128 where the GEMMs
// run in FP8 and the framework casts before the dispatch (TrainingJob::fp8_dispatch: the cast and
// its fp32 scale per 1x128 tile), else 2. The combine always sends 16 bits.
double DispatchElementBytes(const CostContext& c);

CostContext MakeCostContext(const Architecture& arch, const ParamCounts& params,
                            const TrainingJob& job, const Cluster& cluster);

// The labelled proxies among the figures a job's step time reads on `cluster`: the GEMM peak and
// efficiencies of its GEMM dtype (and the 16-bit ones an FP8 run also uses), the shape table, the
// fused-attention kernel it runs, the HBM fraction, the GEMM kernel overhead, the scale-up link and
// the all-reduce bus bandwidths the cluster does not override, and the compute-unit counts. Each
// figure once, in that order.
std::vector<ProxyFigure> ListProxyFigures(const TrainingJob& job, const Cluster& cluster);

// The grids of `t` a step whose GEMMs run in `gemm` reads, those the table has: its GEMM dtype's
// (GemmTable::GridFor) and, for an FP8 or FP4 run, bf16's for its 16-bit GEMMs; each once.
std::vector<Dtype> GemmGridsRead(const GemmTable& t, Dtype gemm);

// HBM bytes the optimizer step moves per local parameter, its passes as Megatron's mixed-precision
// optimizer makes them (DeepSpeed's fp16 and ZeRO 1-2 optimizers make the same): 16-bit main
// gradients copied to fp32 first (read 2, write 4: `main_param.grad = model_param.main_grad.float()`),
// after which the optimizer reads fp32 gradients; with fp16 loss scaling, the unscale and inf/NaN
// check (read and write them); the gradient norm for clipping (read); Adam (read and write the fp32
// master weights and both moments, read the gradients); the master weights copied to the model's
// `weight_bytes` weights in a multi-tensor copy of its own (read 4, write); and the model's gradient
// buffer zeroed for the next step (write). fp32 training updates the weights themselves: Adam,
// the norm and the zeroing only.
double OptimizerBytesPerParameter(const TrainingJob& job, double weight_bytes);
// Of those, what zeroing the model's gradient buffer writes per parameter (its dtype's bytes).
double GradientZeroBytes(const TrainingJob& job);

// SustainedRatio, BurstGemmFraction and the 16-bit pairing: catalog/hardware_spec.h.

// Exposed communication by kind (what the step waits for, after overlap).
struct ExposedComm {
  Seconds tp, cp, ep, pp, dp;
  Seconds Total() const { return tp + cp + ep + pp + dp; }
};

struct StepTime {
  Seconds step;
  Seconds compute;    // all micro-batches' forward+backward (+recompute) on the slowest stage
  ExposedComm exposed_comm;
  Seconds bubble;
  Seconds optimizer;
  Seconds other;      // memory-bound elementwise and norm work, and host launch gaps
  // Compute slowed by overlapped communication: while a hidden collective runs it holds
  // its share of the compute units (TP, EP and CP in the layers; DP after them: NCCL's
  // collective_share, DeepEP's ep_comm_units for the experts' dispatch and combine).
  Seconds comm_contention;
  Seconds host_launch;  // part of `other`: time the GPU waits for the host to launch kernels
  // Part of `other`: the activation copies to and from the host (Plan::cpu_offload_layers) that
  // the layers' compute does not hide.
  Seconds offload_copies;
  double tokens_per_s = 0;             // whole cluster
  double tokens_per_s_per_device = 0;
  double tflops_per_device = 0;        // model FLOPs (MFU convention) per second per device
  double mfu = 0;
  double hfu = 0;                      // counting recomputation
  // One micro-batch on the slowest stage, each phase's wall time: its GPU work and what the GPU
  // waits in it (the host, offload copies).
  Seconds stage_forward;
  Seconds stage_backward;
};

StepTime EstimateStep(const CostContext& ctx, const Plan& plan);

// Where one transformer layer's time goes, for one micro-batch: the products (GEMMs and attention)
// of its forward, backward and recomputed forward, its elementwise passes, the collectives inside
// it that nothing hides, and what the GPU waits for the host in it. The terms add up to `total`,
// the layer's share of a stage's time per micro-batch (EstimateStep sums them over the stage's
// layers with the head, the input path, the bubble and the data-parallel side).
struct LayerTime {
  Seconds forward;             // the forward's products
  Seconds attention_forward;   // of which the attention products (an unfused softmax's passes too)
  Seconds backward;            // the backward's products
  Seconds attention_backward;  // of which the attention products
  Seconds recompute;           // the products the plan's recompute runs again
  Seconds elementwise;         // norms, activations, residual adds, RoPE and FP8 casts, every pass
  ExposedComm exposed_comm;    // tp, ep, cp (pp and dp are not inside a layer: zero)
  Seconds contention;          // products slowed by the collectives the layer hides
  Seconds host_wait;           // the GPU idle while the host launches the layer's work
  Seconds total;
};
struct LayerTimes {
  bool has_dense = false;  // the model has dense layers
  LayerTime dense;         // a dense layer, when has_dense
  bool has_moe = false;    // the model has MoE layers
  LayerTime moe;           // an MoE layer, when has_moe
};
// REQUIRES: CheckPlan(...).ok() for the plan. Not on the search's path (it allocates nothing more
// than EstimateStep, but recomputes the layers): for reports of one plan.
LayerTimes EstimateLayers(const CostContext& ctx, const Plan& plan);

// The step in two parts, for callers that vary only the data-parallel side of a plan (ZeRO
// stage, gradient/parameter overlap flags): everything per micro-batch, the bubble and the
// pipeline transfers depend on the rest of the plan; FinishStep adds data-parallel
// communication and the optimizer. FinishStep(ctx, p, EstimatePipeline(ctx, q)) equals
// EstimateStep(ctx, p) when p and q differ only in those fields.
struct PipelineTime {
  double micro_batches = 0;
  double stage_total = 0, stage_forward = 0, stage_backward = 0;  // as StepTime's, and their sum
  double compute = 0, memory = 0, launch = 0, tp = 0, ep = 0, cp = 0;  // per micro-batch
  double contention = 0;  // per micro-batch: compute slowed by the layers' hidden collectives
  double offload = 0;     // per micro-batch: exposed activation offload copies
  double bubble = 0, pp_exposed = 0;  // per step
  // The bubble per second of the other stages' time per micro-batch (1 under GPipe and 1F1B, 1/v
  // interleaved): how work every stage adds to each micro-batch, outside these sums, lengthens it.
  double bubble_share = 0;
};
PipelineTime EstimatePipeline(const CostContext& ctx, const Plan& plan);
StepTime FinishStep(const CostContext& ctx, const Plan& plan, const PipelineTime& pipeline);

}  // namespace preflight
