// The pipeline of stages behind cost/step_time.h (StepModel::Pipeline): each stage's sums of its
// layers, head and input path, the slowest stage and rank, the schedule's bubble and the exposed
// point-to-point sends. The layers' own times are in step_time.cc, their costs in step_layer.cc.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "preflight/cost/internal/step_model.h"
#include "preflight/cost/memory.h"

namespace preflight {
namespace cost_internal {

// The bubble of the schedule, from the sums over all stages and the slowest stage's totals.
double StepModel::Bubble(const AllStages& all, const StageSums& worst, bool last) const {
  if (p_.pp == 1) return 0;
  const double total = worst.Total(), fwd = worst.forward, bwd = total - fwd;
  double bubble = all.total - total;
  switch (p_.schedule) {
    case Schedule::kGpipe:
    case Schedule::k1F1B:
      break;
    case Schedule::kInterleaved:
      bubble /= static_cast<double>(p_.vpp);
      break;
    // Zero-bubble schedules fill the bubble with deferred weight gradients W, what is left of the
    // backward being B (input gradients, recompute, collectives): ZB-H1 leaves (p - 1)(F + B - W)
    // (Qi et al. 2023), DualPipe (p/2 - 1)(F&B + B - 3W) with F&B = F + B + W (DeepSeek-V3 Table 2,
    // whose B is the full backward B + W here). ZB-H1's bubble is 1F1B's less two W per stage
    // boundary: one the backward chain no longer waits for, one moved into an idle slot, of which
    // there are only as many as micro-batches after the first: (p - 1)(F + B + W) - (p - 1 +
    // min(p - 1, m - 1))·W, which a replay of the schedule bears out for m <= p and W <= min(F, B)
    // (tools/data/zb_schedule.py). With Qi's 2W at any m, a faster W lengthened steps of fewer
    // micro-batches than stages.
    // On stages that differ, that is the slowest stage's wait for the other stages' F + B (their
    // W are off the chain it waits for) less its own W moved into min(p - 1, m - 1) of its idle
    // slots. Every pass time enters it with a sign that keeps the step from growing as the pass
    // shrinks (M·W - min(p - 1, m - 1)·W grows with W), where scaling the other stages' whole
    // time by the slowest stage's share outside its credit, as the model did before, let a faster
    // W lengthen the step; against the replay of 3,000 random unequal pipelines this form is also
    // nearer (zb_schedule.py --monotonicity).
    case Schedule::kZbH1: {
      const double m = static_cast<double>(MicroBatches(p_, c_.job)), boundaries = p_.pp - 1.0;
      const double moved = std::clamp(m - 1, 0.0, boundaries);
      const double others_without_w = bubble - std::max(0.0, all.wgrad - worst.wgrad);
      bubble = std::max(0.0, others_without_w - moved * worst.wgrad);
      // No W fills the wait before the last stage's first forward, which no backward precedes:
      // where the last stage (with the head) paces the pipeline, the others' forwards are a floor.
      if (last) bubble = std::max(bubble, all.forward - worst.forward);
      break;
    }
    case Schedule::kDualPipe:
      bubble *= (p_.pp / 2.0 - 1) / std::max(1.0, p_.pp - 1.0) *
                std::max(0.0, fwd + 2 * bwd - 3 * worst.wgrad) / total;
      break;
  }
  return bubble;
}

// Pipeline point-to-point: activations per boundary, scatter-gathered over TP. Each micro-batch
// crosses every chunk boundary once each way; an overlapped schedule exposes only the fill and
// drain. Rank r of a stage sends to rank r + g of the next (Megatron's order, g = tp·cp·dp ranks a
// stage); the sends leave the scale-up domain at every boundary when a stage fills one, else at
// every boundary a domain edge falls on, which exists when the stages outgrow one domain: that
// boundary's sends pace the pipeline.
double StepModel::PipelineSendsExposed(double micro_batches) const {
  if (p_.pp <= 1) return 0;
  const int64_t stage_ranks = p_.tp * p_.cp * p_.dp;
  const bool cross = !InOneDomain(stage_ranks * p_.pp);
  const double h = static_cast<double>(a_.hidden);
  const double p2p = PointToPointTime(c_.fabric, Bytes(tokens_ * h * 2 / t_), cross).value();
  const bool overlapped = (p_.schedule == Schedule::kInterleaved && p_.overlap_p2p_comm) ||
                          p_.schedule == Schedule::kDualPipe;
  const double crossings =
      micro_batches * static_cast<double>(p_.schedule == Schedule::kInterleaved ? p_.vpp : 1);
  return 2 * p2p * ((overlapped ? 0 : crossings) + static_cast<double>(p_.pp - 1));
}

// The layers' sums, per layer: every per-layer term is linear in the layer count, so one dense and
// one MoE layer are summed once, with the head.
StepModel::StageParts StepModel::LayerParts() const {
  StageParts parts;
  AddLayer(Layer(false), 1.0, &parts.dense);
  if (a_.IsMoe()) AddLayer(Layer(true), 1.0, &parts.moe);
  if (RecomputesByBlock(p_)) {
    // The layers past each chunk's first recompute_num_layers run as without recompute.
    Plan kept_plan = p_;
    kept_plan.recompute = Recompute::kNone;
    const StepModel kept(c_, kept_plan);
    kept.AddLayer(kept.Layer(false), 1.0, &parts.dense_kept);
    if (a_.IsMoe()) kept.AddLayer(kept.Layer(true), 1.0, &parts.moe_kept);
  }
  parts.head = Head();
  return parts;
}

// Without recompute by block every layer counts as recomputed: the layer sums then hold the
// plan's own mode, whatever it is.
StepModel::LayerCounts StepModel::CountsOnStage(int64_t stage) const {
  const int64_t n = LayersOnStage(a_, p_, stage);
  LayerCounts c{.layers = n, .moe = MoeLayersOnStage(a_, p_, stage), .recomputed = n, .recomputed_moe = 0};
  c.recomputed_moe = c.moe;
  if (RecomputesByBlock(p_)) {
    c.recomputed = RecomputedLayers(p_, n);
    c.recomputed_moe = RecomputedMoeLayersOnStage(a_, p_, stage);
  }
  return c;
}

StageSums StepModel::StageSumsOf(const StageParts& parts, int64_t stage) const {
  const int64_t n = LayersOnStage(a_, p_, stage), first = FirstLayerOfStage(a_, p_, stage);
  StageSums st = StageTotals(parts, CountsOnStage(stage), stage == 0, stage == p_.pp - 1);
  AddInputPath(parts, first, n, &st);
  return st;
}

// A rank's sums per micro-batch: its stage's, or under DualPipe, where a rank holds a stage and its
// mirror and runs half the micro-batches through each (one direction each), the mean of the two.
StageSums StepModel::RankSums(const StageParts& parts, int64_t stage) const {
  const int64_t mirror = p_.pp - 1 - stage;
  const StageSums own = StageSumsOf(parts, stage);
  if (p_.schedule != Schedule::kDualPipe || mirror == stage) return own;
  const StageSums other = StageSumsOf(parts, mirror);
  StageSums st;
  st.Add(own, 0.5);
  st.Add(other, 0.5);
  st.input_slack = 0.5 * (own.input_slack + other.input_slack);
  return st;
}

// How slow a rank is. Under the zero-bubble schedules, the step it would pace: its micro-batches
// and the bubble it leaves, which that rank's weight gradients fill, so a rank with the larger
// total can leave the smaller bubble. Under the others the bubble falls as the total grows
// (their step is (M - 1) times it plus the sum, or the like): the total alone, which also picks
// the heaviest stage when one micro-batch makes every rank's step alike.
double StepModel::Slowness(const StageSums& st, const AllStages& all, bool last) const {
  if (p_.schedule != Schedule::kZbH1 && p_.schedule != Schedule::kDualPipe) return st.Total();
  const double m = static_cast<double>(MicroBatches(p_, c_.job));
  const OffloadWaits offload = OffloadSeconds(st, LayersOnStage(a_, p_, 0));
  const double total = st.Total() + offload.forward + offload.backward;
  return m * total + Bubble(all, st, last);
}

namespace {

// What a stage's sums follow from: its layer and MoE-layer counts, whether its first layer is an
// MoE one (the input path) and whether it is the first or last stage.
struct StageKey {
  int64_t layers = 0, moe = 0, recomputed_moe = 0;
  bool moe_first = false, first = false, last = false;
  bool operator==(const StageKey&) const = default;
};

StageKey KeyOf(const Architecture& a, const Plan& p, int64_t stage) {
  const int64_t n = LayersOnStage(a, p, stage), first = FirstLayerOfStage(a, p, stage);
  // By block, which of the stage's first layers are MoE ones changes its sums too.
  return StageKey{n, MoeLayersOnStage(a, p, stage), RecomputedMoeLayersOnStage(a, p, stage),
                  n > 0 && a.IsMoeLayer(first), stage == 0, stage == p.pp - 1};
}

}  // namespace

// The sums over all stages per micro-batch, each stage running the input path beside its own GPU
// work (`whole`, every layer and the head on one stage, ran it once): their time and their
// weight-gradient credits. Stages alike in their key wait alike: each key's sums are found once.
StepModel::AllStages StepModel::SumWithInputs(const StageParts& parts, const StageSums& whole) const {
  if (!c_.job.host_profile || p_.pp == 1) return {whole.Total(), whole.wgrad, whole.forward};
  StageKey keys[8];
  double waits[8], wgrads[8];
  int known = 0;
  double inputs = 0, wgrad = 0;
  for (int64_t stage = 0; stage < p_.pp; ++stage) {
    const StageKey k = KeyOf(a_, p_, stage);
    int i = 0;
    while (i < known && !(keys[i] == k)) ++i;
    if (i == known) {
      const StageSums st = StageSumsOf(parts, stage);
      const double wait = InputPathSeconds(st.input_slack);
      if (known == 8) {  // more kinds of stage than the splits make: not kept
        inputs += wait;
        wgrad += st.wgrad;
        continue;
      }
      keys[known] = k;
      waits[known] = wait;
      wgrads[known++] = st.wgrad;
    }
    inputs += waits[i];
    wgrad += wgrads[i];
  }
  return {whole.Total() - InputPathSeconds(whole.input_slack) + inputs, wgrad, whole.forward};
}

// Only the candidate stages can be the slowest (CandidateStages: the first, second and last, the
// middle ones being alike or one layer lighter and the last adding the head, and for an MoE model
// those around its dense prefix, or every stage where that is not enough). Under DualPipe, where every
// rank is a candidate, ranks whose two stages match one already summed are skipped.
StageSums StepModel::SlowestRank(const StageParts& parts, const AllStages& all, bool* last) const {
  const bool dual = p_.schedule == Schedule::kDualPipe;
  std::pair<StageKey, StageKey> seen[16];
  int n_seen = 0;
  StageSums worst;
  double worst_score = -1;
  ForEachCandidateDevice(a_, p_, [&](int64_t stage) {
    if (dual) {
      const std::pair<StageKey, StageKey> k{KeyOf(a_, p_, stage), KeyOf(a_, p_, p_.pp - 1 - stage)};
      for (int i = 0; i < n_seen; ++i) {
        if (seen[i] == k) return;
      }
      if (n_seen < 16) seen[n_seen++] = k;
    }
    const StageSums st = RankSums(parts, stage);
    const bool is_last = !dual && stage == p_.pp - 1;
    const double score = Slowness(st, all, is_last);
    if (score > worst_score) {
      worst = st;
      worst_score = score;
      *last = is_last;
    }
  });
  return worst;
}

PipelineTime StepModel::Pipeline() const {
  const StageParts parts = LayerParts();
  LayerCounts all_layers{.layers = a_.layers, .moe = a_.MoeLayerCount(), .recomputed = a_.layers,
                         .recomputed_moe = a_.MoeLayerCount()};
  if (RecomputesByBlock(p_)) {
    all_layers.recomputed = all_layers.recomputed_moe = 0;
    for (int64_t stage = 0; stage < p_.pp; ++stage) {
      const LayerCounts c = CountsOnStage(stage);
      all_layers.recomputed += c.recomputed;
      all_layers.recomputed_moe += c.recomputed_moe;
    }
  }
  StageSums whole = StageTotals(parts, all_layers, true, true);
  AddInputPath(parts, 0, a_.layers, &whole);
  const AllStages all = SumWithInputs(parts, whole);
  bool last = false;
  const StageSums worst = SlowestRank(parts, all, &last);
  PipelineTime pipe;
  pipe.micro_batches = static_cast<double>(MicroBatches(p_, c_.job));
  // The offload copies the layers do not hide stretch their phases too.
  const OffloadWaits offload = OffloadSeconds(worst, LayersOnStage(a_, p_, 0));
  pipe.stage_total = worst.Total() + offload.forward + offload.backward;
  pipe.stage_forward = worst.forward + offload.forward;
  pipe.stage_backward = worst.Total() - worst.forward + offload.backward;
  pipe.compute = worst.fwd + worst.bwd;
  pipe.memory = worst.memory;
  pipe.launch = worst.launch;
  pipe.tp = worst.tp;
  pipe.ep = worst.ep;
  pipe.cp = worst.cp;
  pipe.contention = worst.contention;
  pipe.offload = offload.forward + offload.backward;
  pipe.bubble = Bubble(all, worst, last);
  const double others = all.total - worst.Total();
  pipe.bubble_share = p_.pp > 1 && others > 0 ? pipe.bubble / others : 0;
  pipe.pp_exposed = PipelineSendsExposed(pipe.micro_batches);
  return pipe;
}

StepModel::OffloadWaits StepModel::OffloadSeconds(const StageSums& st, int64_t layers) const {
  if (p_.cpu_offload_layers <= 0 || c_.host_link_rate.value() <= 0 || layers <= 0) return {};
  const LayerActivationBytes bytes = ActivationBytesPerLayer(a_, p_, c_.job);
  const double copy = (bytes.dense - bytes.offload_resident) / c_.host_link_rate.value();
  const double n = static_cast<double>(layers), offloaded = static_cast<double>(p_.cpu_offload_layers);
  const double window = n / offloaded;
  const double forward = st.forward / n, backward = (st.Total() - st.forward) / n;
  return {offloaded * std::max(0.0, copy - window * forward), offloaded * std::max(0.0, copy - window * backward)};
}

}  // namespace cost_internal
}  // namespace preflight
