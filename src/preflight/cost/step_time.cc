// A plan's step time from its layers' costs, behind cost/step_time.h: each layer's exposed
// communication, host time and recompute, the head and the input path; the pipeline of stages
// (StepModel::Pipeline) is in step_pipeline.cc, the step's totals (StepModel::Finish) in step_finish.cc.

#include "preflight/cost/step_time.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "preflight/cost/internal/step_model.h"
#include "preflight/cost/memory.h"

namespace preflight {
namespace cost_internal {
namespace {

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
// F.cross_entropy under torch.compile (training.cross_entropy: compiled): Inductor fuses the fp32
// upcast into its reductions, so the forward reads the 16-bit logits for the row maximum and again
// for the sum of exponentials, and the backward reads them once more and writes their 16-bit
// gradient.
constexpr double kCompiledCrossEntropyForwardBytes = 2 + 2;
constexpr double kCompiledCrossEntropyBackwardBytes = 2 + 2;

}  // namespace

double StepModel::Again(const PerRecompute& per_mode) const {
  switch (p_.recompute) {
    case Recompute::kNone:
      return 0;
    case Recompute::kFull:
      return per_mode.full;
    case Recompute::kSelective:
      return per_mode.selective;
    case Recompute::kSelectiveOp:
      return per_mode.op_sac;
    case Recompute::kDots:
      return per_mode.dots;
    case Recompute::kNames:
      return per_mode.names;
  }
  return 0;
}

StepModel::LayerComm StepModel::RecomputedComm(const LayerCost& l, double* core_again) const {
  LayerComm c;
  // The dots policy recomputes no collective: with SP the backward gathers the recomputed norm's
  // output for the weight gradient anyway, and without SP the products' inputs are local. Named
  // checkpoints reduce a recomputed output projection's output again.
  c.tp_again = Again({.full = l.tp_fwd, .selective = l.sel_tp, .op_sac = l.tp_op_sac, .names = l.names_tp});
  c.ep_again = Again({.full = l.ep_fwd, .selective = l.sel_ep});
  // Recomputed attention products exchange their keys and values again: full recompute, the dots
  // policy, and selective recompute of core_attn (Transformer Engine's context-parallel attention
  // runs its ring inside the checkpointed function).
  const double cp_selective = p_.Recomputes(kModuleCoreAttn) ? l.cp_fwd : 0;
  const double core_named = KeepsAttentionOutput(p_, c_.job) ? 0 : 1;
  c.cp_again = Again({.full = l.cp_fwd, .selective = cp_selective, .dots = l.cp_fwd, .names = core_named * l.cp_fwd});
  *core_again = Again({.full = l.core_fwd, .selective = cp_selective > 0 ? l.core_fwd : 0, .dots = l.core_fwd,
                       .names = core_named * l.core_fwd});
  return c;
}

StepModel::LayerComm StepModel::ExposedLayerComm(const LayerCost& l) const {
  double core_again = 0;
  LayerComm c = RecomputedComm(l, &core_again);
  // Ring/all-gather KV exchange runs under the attention products (Megatron CP), phase by phase:
  // the forward's under the forward's, the backward's and what recomputation runs again under the
  // backward's and the recomputed ones.
  const double cp_bwd_all = l.cp_bwd + c.cp_again;
  const double cp_fwd_window = p_.cp > 1 ? l.core_fwd : -1;
  const double cp_bwd_window = p_.cp > 1 ? l.core_bwd + core_again : -1;
  const TpPhases tp = TpByPhase(l, c.tp_again);
  c.tp = Exposed(tp.forward, tp.forward_window) + Exposed(tp.backward, tp.backward_window);
  c.cp = Exposed(l.cp_fwd, cp_fwd_window) + Exposed(cp_bwd_all, cp_bwd_window);
  // The expert all-to-alls last: hidden behind the whole layer, they run on while the compute
  // waits for exposed TP and CP collectives too.
  const EpParts ep = EpByPhase(l, c.ep_again, c.tp + c.cp);
  double ep_slow = 0, ep_slow_fwd = 0;
  for (int i = 0; i < 3; ++i) {
    c.ep += Exposed(ep.comm[i], ep.window[i]);
    const double slow = Contention(ep.comm[i], ep.window[i], c_.ep_collective_share, ep.busy[i]);
    ep_slow += slow;
    ep_slow_fwd += slow * ep.forward_share[i];
  }
  c.wgrad_free = WeightGradientsFree(l, ep);
  // What runs hidden under compute still holds its share of the compute units meanwhile; each
  // term falls in the forward as its window does (TP: the forward's share of its forward phase,
  // whose rest is the recomputed forward inside the backward).
  const double tp_slow_fwd = Contention(tp.forward, tp.forward_window);
  const double tp_slow = tp_slow_fwd + Contention(tp.backward, tp.backward_window);
  const double cp_slow_fwd = Contention(l.cp_fwd, cp_fwd_window);
  const double cp_slow = cp_slow_fwd + Contention(cp_bwd_all, cp_bwd_window);
  c.contention = tp_slow + ep_slow + cp_slow;
  // The forward phase's part, kind by kind: what its own collectives outlast, or slow, its own
  // hiding compute (the rest, recomputed forwards included, falls in the backward; TP's forward
  // phase is timed with its recomputed part, so its forward share is at most the whole). Hidden
  // traffic elsewhere in the layer moves none of it. The paired passes' all-to-alls hide under a
  // forward and a backward at once: what they outlast their window falls in each phase as its
  // share of that window (compute and stalls), so a stall saved in one phase is not charged back
  // to the other; the unpaired forwards' all-to-alls stand exposed in the forward.
  const double tp_fwd_exposed =
      std::min(Exposed(tp.forward, tp.forward_window), Exposed(l.tp_fwd, tp.first_forward_window));
  const double cp_fwd_exposed = Exposed(l.cp_fwd, cp_fwd_window);
  double ep_fwd_exposed = Exposed(ep.comm[0], ep.window[0]);
  if (ep.whole_layer) {
    const double window = l.fwd_compute + l.bwd_compute + c.tp + c.cp;
    const double forward = l.fwd_compute + tp_fwd_exposed + cp_fwd_exposed;
    ep_fwd_exposed = (window > 0 ? ep_fwd_exposed * forward / window : 0) + ep.unpaired * l.ep_fwd;
  }
  c.contention_fwd =
      std::min(tp_slow_fwd, Contention(l.tp_fwd, tp.first_forward_window)) + ep_slow_fwd + cp_slow_fwd;
  c.exposed_fwd = tp_fwd_exposed + cp_fwd_exposed + ep_fwd_exposed;
  return c;
}

StepModel::EpParts StepModel::EpByPhase(const LayerCost& l, double ep_again, double stalls) const {
  EpParts e;
  if (p_.ep_comm_overlap || p_.schedule == Schedule::kDualPipe) {
    // The paired passes hide their all-to-alls under the other micro-batch's layer; the unpaired
    // ones (part 1) leave theirs exposed, half in a forward, half in a backward.
    const double compute = l.fwd_compute + l.bwd_compute, comm = l.ep_fwd + l.ep_bwd + ep_again;
    const double alone = EpUnpairedShare(), paired = 1 - alone;
    e.whole_layer = true;
    e.unpaired = alone;
    e.comm[0] = paired * comm;
    e.window[0] = paired * (compute + stalls);
    e.busy[0] = paired * compute;
    e.forward_share[0] = compute > 0 ? l.fwd_compute / compute : 0;
    e.comm[1] = alone * comm;
    return e;
  }
  e.comm[0] = l.ep_fwd, e.comm[1] = ep_again, e.comm[2] = l.ep_bwd;
  if (!p_.shared_expert_overlap || l.shared_fwd <= 0) return e;
  // The recomputed forward's all-to-alls hide under the recomputed shared experts, which
  // selective recompute runs again only with the MoE block itself (`moe`; `shared_experts` alone
  // recomputes no all-to-all).
  e.window[0] = e.busy[0] = l.shared_fwd;
  e.window[1] = e.busy[1] = ep_again > 0 ? l.shared_fwd : -1;
  e.window[2] = e.busy[2] = l.shared_bwd;
  e.forward_share[0] = 1;
  return e;
}

double StepModel::EpUnpairedShare() const {
  if (!p_.ep_comm_overlap || p_.schedule == Schedule::kDualPipe) return 0;
  const double m = static_cast<double>(MicroBatches(p_, c_.job));
  if (m <= 0) return 0;
  if (p_.pp == 1) return 1 / m;
  const double pp = static_cast<double>(p_.pp), vpp = static_cast<double>(p_.vpp);
  const double chunks = m * vpp;
  return std::min(1.0, ((pp - 1) * 2 + (vpp - 1) * pp + 1) / chunks);
}

// What a zero-bubble schedule can take out of the layer into its bubble: every weight gradient,
// but those the expert all-to-alls need to hide under (the whole layer's compute beyond the
// all-to-alls; of the shared experts' backward, what the backward all-to-alls outlast).
double StepModel::WeightGradientsFree(const LayerCost& l, const EpParts& ep) const {
  if (ep.whole_layer) {
    // The paired passes' slack beyond their all-to-alls; the unpaired passes need none.
    return std::clamp(ep.window[0] - ep.comm[0], 0.0, (1 - ep.unpaired) * l.wgrad) + ep.unpaired * l.wgrad;
  }
  if (ep.window[2] < 0) return l.wgrad;
  const double needed = std::clamp(ep.comm[2] - (l.shared_bwd - l.shared_wgrad), 0.0, l.shared_wgrad);
  return l.wgrad - needed;
}

// Transformer Engine's userbuffers overlap hides each phase's TP collectives under that phase's
// GEMMs: the forward's all-gathers and reduce-scatters under its projections, the backward's
// (the re-gather for the weight gradient, the input gradient's reduce-scatter) under the dgrad and
// wgrad GEMMs (ub_bulk_dgrad, ub_rs_dgrad, ub_bulk_wgrad), and a recomputed forward's under its
// recomputed projections, taken in proportion to the collectives it runs again. Without the
// overlap the windows are negative: nothing hidden.
StepModel::TpPhases StepModel::TpByPhase(const LayerCost& l, double tp_again) const {
  TpPhases t;
  t.forward = l.tp_fwd + tp_again;
  t.backward = l.tp_bwd;
  if (!UserbufferOverlap()) return t;
  const double again = l.tp_fwd > 0 ? tp_again / l.tp_fwd : 0;
  t.first_forward_window = l.fwd_compute - l.core_fwd;
  t.forward_window = t.first_forward_window * (1 + again);
  t.backward_window = l.bwd_compute - l.core_bwd;
  return t;
}

double StepModel::LayerHostSeconds(const LayerCost& l) const {
  if (!c_.job.host_profile) {
    // The host launches forward, backward (about twice the kernels) and recomputed kernels; an
    // unfused softmax's extra ops launch their own count of gradient kernels (UnfusedSoftmaxWork).
    const double u = l.kernels_unprofiled;
    const double again =
        Again({.full = l.kernels_fwd, .selective = l.kernels_sel, .op_sac = l.kernels_op_sac, .dots = l.kernels_dots,
               .names = l.kernels_names});
    const double kernels = (l.kernels_fwd - u) * 3 + u + l.kernels_unprofiled_bwd + again;
    return kernels * c_.host_per_kernel.value();
  }
  // A measured profile times the layer at TP 1; each collective call the plan adds costs the
  // host its measured call time (forward, backward, and the recomputed forward).
  const HostProfile& h = *c_.job.host_profile;
  const double call = h.collective_call.value();
  const double calls_again =
      Again({.full = l.calls_fwd, .selective = l.calls_sel, .op_sac = l.calls_op_sac,
             .names = l.names_tp > 0 ? 1.0 : 0.0});
  // Kernels the profile's layer does not run (an unfused softmax's extra ops) cost the host
  // UnprofiledKernelSeconds each, in the forward, the backward and where they run again (full
  // recompute, selective recompute of the attention products, the dots policy; the op-level
  // policy keeps the attention products).
  const double unprofiled = l.kernels_unprofiled;
  const double relaunched_unprofiled =
      Again({.selective = p_.Recomputes(kModuleCoreAttn) ? unprofiled : 0, .dots = unprofiled,
             .names = KeepsAttentionOutput(p_, c_.job) ? 0 : unprofiled});
  const double unprofiled_again = Again({.full = unprofiled}) + relaunched_unprofiled;
  // Selective recompute's modules launch their kernels again, at the profile's forward host time
  // per forward kernel, both counted without the collectives (timed at TP 1, the profile holds
  // none; their calls cost their own time) and without the kernels it does not run.
  double host_again = 0;
  const double profiled = ProfiledKernels(l);
  if (profiled > 0) {
    const double kernels = Again({.selective = l.kernels_sel - l.calls_sel, .op_sac = l.kernels_op_sac - l.calls_op_sac,
                                  .dots = l.kernels_dots, .names = l.kernels_names - (l.names_tp > 0 ? 1 : 0)}) -
                           relaunched_unprofiled;
    host_again = kernels * h.LayerForwardSeconds(false).value() / profiled;
  }
  const bool full = p_.recompute == Recompute::kFull;
  return h.LayerSeconds(full).value() + host_again +
         (l.calls_fwd + l.calls_bwd + calls_again) * call +
         (unprofiled + l.kernels_unprofiled_bwd + unprofiled_again) * UnprofiledKernelSeconds(l);
}

double StepModel::UnprofiledKernelSeconds(const LayerCost& l) const {
  const HostProfile& h = *c_.job.host_profile;
  if (h.unfused_softmax_op.value() > 0) return h.unfused_softmax_op.value();
  const double profiled = ProfiledKernels(l);
  return profiled > 0 ? h.LayerForwardSeconds(false).value() / profiled : 0.0;
}

double StepModel::ProfiledKernels(const LayerCost& l) const {
  return l.kernels_fwd - l.calls_fwd - l.kernels_unprofiled;
}

double StepModel::RecomputedProducts(const LayerCost& l) const {
  return Again({.full = l.fwd_compute, .selective = l.sel_fwd, .op_sac = l.op_sac_fwd, .dots = l.core_fwd,
                .names = l.names_fwd});
}

LayerTime StepModel::ExplainLayer(bool moe) const {
  const LayerCost l = Layer(moe);
  StageSums s;
  AddLayer(l, 1.0, &s);
  LayerTime t;
  t.forward = Seconds(l.fwd_compute);
  t.attention_forward = Seconds(l.core_fwd);
  t.backward = Seconds(l.bwd_compute);
  t.attention_backward = Seconds(l.core_bwd);
  t.recompute = Seconds(RecomputedProducts(l));
  t.elementwise = Seconds(s.memory);
  t.exposed_comm.tp = Seconds(s.tp);
  t.exposed_comm.ep = Seconds(s.ep);
  t.exposed_comm.cp = Seconds(s.cp);
  t.contention = Seconds(s.contention);
  t.host_wait = Seconds(s.launch);
  t.total = Seconds(s.Total());
  return t;
}

void StepModel::AddLayer(const LayerCost& l, double n, StageSums* s) const {
  const double recompute = RecomputedProducts(l);
  const LayerComm c = ExposedLayerComm(l);
  s->fwd += n * l.fwd_compute;
  s->bwd += n * (l.bwd_compute + recompute);
  // Full recompute and the op-level, dots and named policies run the forward's elementwise passes
  // again (full recompute and the dots and named policies its casts too: the products' inputs are
  // recomputed); selective recompute its modules' passes.
  const double passes = 3 + Again({.full = 1, .op_sac = 1, .dots = 1, .names = 1});
  const double sel_memory = Again({.selective = l.sel_memory});
  const double casts = l.cast_fwd * (1 + Again({.full = 1, .dots = 1, .names = 1})) + l.cast_bwd;
  const double memory = l.fwd_memory * passes + sel_memory + casts;
  s->memory += n * memory;
  s->tp += n * c.tp;
  s->ep += n * c.ep;
  s->cp += n * c.cp;
  s->contention += n * c.contention;
  // Summed term by term, in the order the step's totals add them.
  double gpu = l.fwd_compute + l.bwd_compute + recompute + l.fwd_memory * passes + sel_memory + casts +
               c.tp + c.ep + c.cp + c.contention;
  // The forward phase (recompute runs forward collectives a second time, in the backward).
  const double gpu_fwd = l.fwd_compute + l.fwd_memory + l.cast_fwd + c.exposed_fwd + c.contention_fwd;
  s->forward += n * gpu_fwd;
  double host = LayerHostSeconds(l);
  const double host_fwd = LayerHostForwardSeconds(l);
  if (DefersWeightGradients()) {
    // The deferred pass leaves the rest of the layer, on both sides.
    gpu -= c.wgrad_free;
    host -= AddDeferredWeightGradients(l, n, c.wgrad_free, host - host_fwd, s);
  } else {
    s->wgrad += n * c.wgrad_free;
  }
  AddHostPacing(l, n, host, host_fwd, gpu, gpu_fwd, s);
}

// The weight gradients run as a pass of their own, apart from the rest of the backward: that pass
// is bound by its slower side, the GPU's products or the host's launches of them; the rest of the
// layer as AddHostPacing says. (Bound as one with the backward, a faster GPU shortened the deferred
// pass, and so lengthened the bubble, while the host still paced the backward.)
double StepModel::AddDeferredWeightGradients(const LayerCost& l, double n, double w_gpu, double host_bwd,
                                             StageSums* s) const {
  const double w_host = WgradHostSeconds(l, host_bwd, w_gpu);
  s->wgrad += n * std::max(w_gpu, w_host);
  s->launch += n * std::max(0.0, w_host - w_gpu);
  // The host queues them ahead of the GPU as it does the rest (the next input path hides behind
  // what is left of them: AddInputPath).
  const double free_w = std::max(0.0, w_gpu - w_host);
  s->slack += n * free_w;
  s->backward_slack += n * free_w;
  s->wgrad_slack += n * free_w;
  return w_host;
}

void StepModel::AddHostPacing(const LayerCost& l, double n, double host, double host_fwd, double gpu,
                              double gpu_fwd, StageSums* s) const {
  // When the host takes longer than the GPU work, the GPU waits; what the GPU waits in the
  // forward phase lengthens that phase (the window the data-parallel gathers hide in).
  const double wait_fwd = std::max(0.0, host_fwd - gpu_fwd);
  if (LayersWaitForGpu()) {
    // The host waits for the GPU inside every layer forward (and recomputed forward), so it
    // cannot queue one phase's work while the GPU runs another's: the forward phase and the
    // backward phase (with its recomputed forward) are each bound by their slower side.
    // Each wait also leaves the GPU idle until the host's next launch, in the forward and in a
    // forward run again by full recompute, whichever side is slower otherwise; the host, done
    // with its part of a phase, is free for the rest of it (the slack the input path hides in).
    const double host_bwd = host - host_fwd, gpu_bwd = gpu - gpu_fwd;
    const double gap_fwd = WaitGapSeconds(l, false), gap_bwd = WaitGapSeconds(l, true);
    const double idle_fwd = std::max(wait_fwd, gap_fwd);
    s->launch += n * (idle_fwd + std::max(host_bwd - gpu_bwd, gap_bwd));
    s->forward += n * idle_fwd;
    const double free_bwd = std::max(0.0, gpu_bwd + gap_bwd - host_bwd);
    s->slack += n * (std::max(0.0, gpu_fwd + gap_fwd - host_fwd) + free_bwd);
    s->backward_slack += n * free_bwd;
  } else {
    // The host queues the backward while the GPU still runs the forward: the layer is bound by
    // its slower side as a whole, and the forward phase waits what the host's forward outlasts
    // the GPU's, within that.
    const double wait = std::max(0.0, host - gpu);
    s->launch += n * wait;
    s->forward += n * std::min(wait, wait_fwd);
    s->slack += n * std::max(0.0, gpu - host);
  }
}

// The backward phase launches the backward's kernels (about twice the forward's, as
// LayerHostSeconds counts) and those the recompute mode runs again, each taken to cost the host
// alike.
double StepModel::WgradHostSeconds(const LayerCost& l, double host_bwd, double deferred) const {
  const double kernels = 2 * (l.kernels_fwd - l.kernels_unprofiled) + l.kernels_unprofiled_bwd +
                         Again({.full = l.kernels_fwd, .selective = l.kernels_sel, .op_sac = l.kernels_op_sac,
                                .dots = l.kernels_dots, .names = l.kernels_names});
  if (kernels <= 0 || l.wgrad <= 0) return 0.0;
  const double share = std::clamp(deferred / l.wgrad, 0.0, 1.0);
  return host_bwd * std::min(1.0, l.kernels_wgrad / kernels) * share;
}

// Each wait returns to an idle GPU, which runs nothing until the host's next launch. The profile
// times each phase on the host as a whole, at TP 1, so the time to that launch is taken as the
// phase's host time per device operation it issues there: the forward's kernels other than the
// collectives (whose calls cost their own time, on top) and its blocking copies; in the backward
// phase of full recompute, the recomputed forward's and the backward's (about twice the forward's
// kernels, as LayerHostSeconds counts).
double StepModel::WaitGapSeconds(const LayerCost& l, bool recomputed) const {
  const HostProfile& h = *c_.job.host_profile;
  const double waits = static_cast<double>(h.gpu_waits_per_layer_forward);
  const double kernels = ProfiledKernels(l);
  const bool full = p_.recompute == Recompute::kFull;
  if (recomputed) {
    const double host = (h.LayerSeconds(true) - h.LayerForwardSeconds(true)).value();
    return full ? waits * host / (3 * kernels + waits) : 0.0;
  }
  return waits * h.LayerForwardSeconds(full).value() / (kernels + waits);
}

double StepModel::LayerHostForwardSeconds(const LayerCost& l) const {
  if (!c_.job.host_profile) return l.kernels_fwd * c_.host_per_kernel.value();
  const HostProfile& h = *c_.job.host_profile;
  const bool full = p_.recompute == Recompute::kFull;
  return h.LayerForwardSeconds(full).value() + l.calls_fwd * h.collective_call.value() +
         l.kernels_unprofiled * UnprofiledKernelSeconds(l);
}

StepModel::HeadWork StepModel::Head() const {
  // Output head(s), cross-entropy and MTP projection on the last stage.
  const double h = static_cast<double>(a_.hidden);
  const double columns = static_cast<double>(OutputColumnsPerRank(a_, p_));
  HeadWork w;
  const double heads = 1.0 + a_.mtp_layers;
  // The MTP projection (2h -> h) is column-parallel in Megatron-Core: split by TP.
  w.fwd = heads * Gemm16(tokens_, h, columns) + a_.mtp_layers * Gemm(tokens_, 2 * h, h / t_);
  double head_wgrad = 0, mtp_wgrad = 0;
  w.bwd = heads * Gemm16Bwd(tokens_, h, columns, 1, &head_wgrad) +
          a_.mtp_layers * GemmBwd(tokens_, 2 * h, h / t_, 1, &mtp_wgrad);
  w.wgrad = heads * head_wgrad + a_.mtp_layers * mtp_wgrad;
  const double logits = heads * tokens_ * columns;
  const bool compiled = c_.job.cross_entropy == CrossEntropy::kCompiled;
  const double loss_fwd = compiled ? kCompiledCrossEntropyForwardBytes : kCrossEntropyForwardBytes;
  const double loss_bwd = compiled ? kCompiledCrossEntropyBackwardBytes : kCrossEntropyBackwardBytes;
  w.loss = Memory(logits * (loss_fwd + loss_bwd));
  w.loss_fwd = Memory(logits * loss_fwd);
  w.comm = AroundLayers(heads);
  HeadPasses(&w);
  return w;
}

// Per micro-batch, e bytes an activation (2, or 4 in fp32; docs/cost-model.md, "Around the
// layers"). The vocab-parallel lookup runs on every token on each TP rank (its partial rows are
// then summed) and Megatron turns the [b, s, h] result to [s, b, h] with a copy when b > 1;
// learned positions are looked up and added before SP scatters the sum, and the embedding dropout
// (1-byte mask) runs on the rank's share. The backward zero-fills the rank's dense V/t x h
// gradient of the table (PyTorch's embedding_dense_backward) and adds each token's row into it,
// and as much for a learned position table. With the weight-gradient GEMMs accumulating into the
// main gradients (grad_accumulation_fusion), the table's gradient, no GEMM's, is still added into
// them by Megatron's DDP hook (read the gradient, read and write the main gradient); without that
// fusion AccumulationSeconds counts it with every parameter. The final norm (where the model has
// one: OPT without its final LayerNorm has none) reads and writes the rank's tokens forward, and
// reads its input and output gradient and writes the input gradient backward. A weight shared by the embedding and the head on one stage gets two gradients, which
// autograd sums (read two, write one); with the fusion Megatron-Core makes the head's a zeroed
// full-size dummy (zero_out_wgrad on the shared weight), written first.
void StepModel::HeadPasses(HeadWork* w) const {
  const double h = static_cast<double>(a_.hidden), T = tokens_, R = rep_tokens_;
  const double e = c_.job.precision == Dtype::kFp32 ? 4.0 : 2.0;
  const double grad = c_.job.grad_dtype == Dtype::kFp32 ? 4.0 : 2.0;
  const double rows = static_cast<double>(OutputColumnsPerRank(a_, p_));
  const double learned = a_.position_rows > 0 ? 1.0 : 0.0, drop = a_.dropout ? 1.0 : 0.0;
  const double positions = static_cast<double>(a_.position_rows);
  const bool fused = c_.job.grad_accumulation_fusion;
  const double transpose = p_.micro_batch > 1 ? 2 * e : 0.0;
  w->embedding_fwd = Memory(T * (2 * e + transpose) * h + learned * T * 5 * e * h + drop * R * (2 * e + 1) * h);
  const double table = rows + learned * positions;
  w->embedding = w->embedding_fwd + Memory(drop * R * (2 * e + 1) * h + e * table * h + T * 2 * e * h +
                                           learned * T * 2 * e * h + (fused ? table * h * (e + 2 * grad) : 0.0));
  w->embedding_hook = fused ? Memory(table * h * (e + 2 * grad)) : 0.0;
  w->embedding_sum = Memory(3 * e * table * h);
  w->norm_fwd = Memory(R * 2 * e * h);
  w->norm = w->norm_fwd + Memory(R * 3 * e * h);
  w->final_norm_fwd = a_.final_norm ? w->norm_fwd : 0.0;
  w->final_norm = a_.final_norm ? w->norm : 0.0;
  w->tied_sum = a_.tied_embeddings ? Memory((fused ? 4 : 3) * e * rows * h) : 0.0;
}

void StepModel::AddHead(const StageParts& parts, bool first, StageSums* st) const {
  const HeadWork& w = parts.head;
  const AroundLayersComm& around = w.comm;
  const double mtp = static_cast<double>(a_.mtp_layers);
  const double head_comm_fwd = around.head_fwd + mtp * around.embedding_fwd;
  const double head_comm = head_comm_fwd + around.head_bwd + mtp * around.embedding_bwd;
  st->tp += head_comm;
  st->forward += head_comm_fwd;
  // Megatron-Core's MTP layers skip recompute by block: they run as the layers it keeps.
  const bool mtp_moe = a_.IsMoeLayer(a_.layers - 1);
  if (RecomputesByBlock(p_)) {
    st->Add(mtp_moe ? parts.moe_kept : parts.dense_kept, mtp);
  } else {
    st->Add(mtp_moe ? parts.moe : parts.dense, mtp);
  }
  st->fwd += w.fwd;
  st->bwd += w.bwd;
  st->wgrad += w.wgrad;
  const double tied = first && p_.pp == 1 ? w.tied_sum : 0.0;
  // Each MTP module embeds again on the last stage and runs three norms (its embedding's and
  // hidden state's, then the shared final norm). Its embedding's backward zero-fills a dense
  // gradient of the shared table, which autograd adds to the one already there (read two, write
  // one), and Megatron's DDP hook adds the table's gradient into the main gradient once a backward
  // however many uses it had: never again where the last stage is the first (its embedding's hook
  // is counted with the first stage's), once where the last stage holds its own copy (PP > 1).
  const double grad_sums = first ? mtp : std::max(0.0, mtp - 1);
  const double hooks = first || mtp == 0 ? 0.0 : 1.0;
  const double around_mtp =
      mtp * (w.embedding - w.embedding_hook + 3 * w.norm) + grad_sums * w.embedding_sum + hooks * w.embedding_hook;
  st->memory += w.loss + w.final_norm + tied + around_mtp;
  st->forward += w.fwd + w.loss_fwd + w.final_norm_fwd + mtp * (w.embedding_fwd + 3 * w.norm_fwd);
  if (!c_.job.host_profile) return;
  // A measured host profile also times the work around the layers (embedding, head, loss),
  // counted on the last stage with the head. With TP the collectives around the layers are calls
  // the TP-1 profile does not hold; the GPU runs them beside the host's work.
  const double calls = p_.tp > 1 ? around.head_calls + (1 + mtp) * around.embedding_calls : 0;
  const double host = c_.job.host_profile->micro_batch.value() +
                      calls * c_.job.host_profile->collective_call.value();
  const double gpu = w.fwd + w.bwd + w.loss + w.final_norm + tied + around_mtp + head_comm +
                     (first ? around.embedding_fwd + around.embedding_bwd + w.embedding : 0);
  // A zero-bubble schedule runs the weight gradients apart (see AddLayer): a few GEMMs, whose
  // launches are taken as GPU-bound; the host's time is spent on the rest.
  const double apart = DefersWeightGradients() ? w.wgrad : 0;
  const double slack = std::max(0.0, gpu - apart - host) + apart;
  st->launch += std::max(0.0, host - (gpu - apart));
  st->slack += slack;
  st->backward_slack += slack;
  st->wgrad_slack += apart;
}

StageSums StepModel::StageTotals(const StageParts& parts, const LayerCounts& n, bool first, bool last) const {
  StageSums st;
  const int64_t kept = n.layers - n.recomputed, kept_moe = n.moe - n.recomputed_moe;
  st.Add(parts.dense, static_cast<double>(n.recomputed - n.recomputed_moe));
  st.Add(parts.moe, static_cast<double>(n.recomputed_moe));
  st.Add(parts.dense_kept, static_cast<double>(kept - kept_moe));
  st.Add(parts.moe_kept, static_cast<double>(kept_moe));
  if (first) {
    st.tp += parts.head.comm.embedding_fwd + parts.head.comm.embedding_bwd;
    st.memory += parts.head.embedding;
    st.forward += parts.head.comm.embedding_fwd + parts.head.embedding_fwd;
  }
  if (last) AddHead(parts, first, &st);
  return st;
}

// Each micro-batch's input path on every stage (Megatron's get_batch): the data-loader receive
// runs while the GPU works off what the host queued ahead of it (`slack`); then the host waits for
// the GPU (broadcast_data copies the sizes back to the CPU) and the rest runs on an idle GPU.
double StepModel::InputPathSeconds(double slack) const {
  if (!c_.job.host_profile) return 0.0;
  const HostProfile& h = *c_.job.host_profile;
  return std::max(0.0, h.input_before_sync.value() - slack) + h.input_after_sync.value();
}

// The input path runs beside the GPU work queued since the host last waited for the GPU: with
// waits in every layer forward, under full recompute that is the backward phase of the stage's
// first layer (the last one the backward reaches); without recompute, the backward phases and the
// head after the last layer's forward.
void StepModel::AddInputPath(const StageParts& parts, int64_t first, int64_t n,
                             StageSums* st) const {
  st->input_slack = st->slack;
  double wgrad_slack = st->wgrad_slack;
  if (LayersWaitForGpu() && n > 0) {  // a stage without layers has no waits
    const StageSums& layer = a_.IsMoeLayer(first) ? parts.moe : parts.dense;
    const bool full = p_.recompute == Recompute::kFull;
    st->input_slack = full ? layer.backward_slack : st->backward_slack;
    wgrad_slack = full ? layer.wgrad_slack : st->wgrad_slack;
  }
  // The GPU waits for it before the micro-batch's forward: part of the forward phase.
  const double wait = InputPathSeconds(st->input_slack);
  st->launch += wait;
  st->forward += wait;
  // What the deferred weight gradients' queued GPU time hides of it lengthens their pass no
  // more than the host's work does: the pass a zero-bubble schedule moves into its bubble is
  // theirs less that share, which a faster GPU does not shorten (the step it paces does not
  // shorten either).
  st->wgrad -= InputPathSeconds(st->input_slack - wgrad_slack) - wait;
}

}  // namespace cost_internal

PipelineTime EstimatePipeline(const CostContext& ctx, const Plan& plan) {
  return cost_internal::StepModel(ctx, plan).Pipeline();
}

StepTime FinishStep(const CostContext& ctx, const Plan& plan, const PipelineTime& pipeline) {
  return cost_internal::StepModel(ctx, plan).Finish(pipeline);
}

StepTime EstimateStep(const CostContext& ctx, const Plan& plan) {
  cost_internal::StepModel model(ctx, plan);
  return model.Finish(model.Pipeline());
}

LayerTimes EstimateLayers(const CostContext& ctx, const Plan& plan) {
  const cost_internal::StepModel model(ctx, plan);
  const Architecture& a = *ctx.arch;
  LayerTimes t;
  t.has_moe = a.MoeLayerCount() > 0;
  t.has_dense = a.MoeLayerCount() < a.layers;
  if (t.has_dense) t.dense = model.ExplainLayer(false);
  if (t.has_moe) t.moe = model.ExplainLayer(true);
  return t;
}

}  // namespace preflight
