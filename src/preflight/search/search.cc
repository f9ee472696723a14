#include "preflight/search/search.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>
#include <unordered_map>

#include "preflight/cost/collectives.h"
#include "preflight/search/internal/space.h"
#include "preflight/search/internal/workers.h"

namespace preflight {
using search_internal::Branch;
using search_internal::Divisors;
using search_internal::ForEachBranch;
using search_internal::Publish;
using search_internal::RunWorkers;
using search_internal::Worker;

namespace {

// The recompute choices of each layout: full recompute of every layer, full recompute by block
// (the fewest layers a chunk that fit, found per ZeRO stage), selective, none; and a scenario's
// own policy where it is none of those (Megatron-Core's op-level selective, JAX's dots and named
// checkpoints, with the scenario's saved and offloaded lists), which no other choice stands for.
struct RecomputeChoice {
  Recompute mode;
  RecomputeMethod method;
};
constexpr RecomputeChoice kRecomputeChoices[] = {{Recompute::kFull, RecomputeMethod::kUniform},
                                                 {Recompute::kFull, RecomputeMethod::kBlock},
                                                 {Recompute::kSelective, RecomputeMethod::kUniform},
                                                 {Recompute::kNone, RecomputeMethod::kUniform}};
constexpr int kMaxRecomputeChoices = 5;

// True for the policies only a scenario names (the search does not make them up: their saved
// sets are the framework's).
bool ScenarioOnlyRecompute(Recompute r) {
  return r == Recompute::kSelectiveOp || r == Recompute::kDots || r == Recompute::kNames;
}

class BranchRunner {
 public:
  BranchRunner(const Scenario& s, const SearchConstraints& c, const SearchOptions& o,
               const CostContext& ctx, const ParamCounts& params)
      : s_(s), c_(c), o_(o), ctx_(ctx), params_(params), base_(s.plan), bound_fabric_(ctx.fabric) {
    for (const RecomputeChoice& choice : kRecomputeChoices) choices_[n_choices_++] = choice;
    if (ScenarioOnlyRecompute(s.plan.recompute)) choices_[n_choices_++] = {s.plan.recompute, RecomputeMethod::kUniform};
    budget_ = s.cluster.hbm_capacity * (1.0 - c.min_headroom);
    // Each DP's micro-batch choices, found once (a branch would otherwise find its own, O(sqrt) of
    // the sequences per replica): every DP a layout can have divides the devices.
    for (int64_t dp : Divisors(s.cluster.devices, 0)) {
      if (s.job.global_batch % dp == 0) micro_batches_[dp] = Divisors(s.job.global_batch / dp, c.max_micro_batch);
    }
    // One collective of a step's whole volume stands for the many smaller ones the step makes: with
    // measured curves, at the best rate each curve reaches up to that size (rates can dip with size).
    bound_fabric_.measured_as_bound = true;
    // Every plan's step is at least its devices' share of the GEMM and attention work at the
    // achieved rates (the roofline's compute side); 1F1B and GPipe add (p - 1)/M of it.
    OpList ops = BuildOps(s.arch, s.job.seq_len);
    const double attn = ops.attention_fwd_flops_per_token;
    // A capacity factor below 1 leaves the experts fewer copies than the model's top-k.
    const double gemm = ops.fwd_flops_per_token - attn -
                        (1.0 - std::min(1.0, s.job.MoeExpertLoad())) * ctx.expert_flops_per_token_fwd;
    const double attn_time = s.job.flash_attention
                                 ? attn * FlashSecondsPerFlop(ctx)
                                 : attn * 3.0 / ctx.attention_rate.value();
    ideal_step_ = static_cast<double>(s.job.GlobalBatchTokens()) / static_cast<double>(s.cluster.devices) *
                  (3 * gemm / ctx.gemm_rate_max.value() + attn_time);
  }

  // Objectives above `threshold` cannot enter the top K (see kRejectBound).
  void set_threshold(double t) { threshold_ = t; }
  double CommBound(const Branch& b) const;
  // pilot: only a fixed handful of inner choices per branch, to find a threshold.
  void Run(const Branch& b, Worker* w, bool pilot = false) const;
  // True when a rule that no inner choice changes rejects every plan of the branch (Run counts the
  // subtree at once then).
  bool BreaksBranchRule(const Branch& b) const;
  // Counts the subtree of a branch BreaksBranchRule rejects: every plan under that rule.
  void CountBranchRule(const Branch& b, SearchResult* r) const;

 private:
  static constexpr int kMaxMicroBatchChoices = 64;
  Plan BranchPlan(const Branch& b) const;
  Plan BranchCheckPlan(const Branch& b) const;
  int MicroBatchChoices(const Branch& b, int64_t mbs[kMaxMicroBatchChoices]) const;
  // held: the devices every plan of the branch holds (DevicesHeld).
  bool RejectBranch(const Branch& b, const Plan& base, int n_mb, int64_t held, SearchResult* r) const;
  bool InnerChoiceMayBreakFirst(const Branch& b, PlanIssue issue) const;
  // The plans under branch `b` with `n_mb` micro-batch choices: SP x ZeRO x recompute x micro-batch.
  int64_t SubtreePlans(const Branch& b, int n_mb) const;
  int ZeroOrder(int zeros[4]) const;
  // held: the devices every plan of the branch holds (DevicesHeld), which the cost objective bills.
  bool RunZeroStages(Plan p, const int* zeros, int n_zero, int64_t held, Worker* w) const;
  // True when plan `p` (at the lowest ZeRO stage tried, one layer a recompute block) cannot enter
  // the top K: its step without DP communication and optimizer bounds every stage's from below.
  // Leaves the pipeline it timed in `pipeline` (`*ready` then true).
  bool AboveThreshold(const Plan& p, int64_t held, PipelineTime* pipeline, bool* ready) const;
  // Times valid plan `p` on `pipeline` and offers it to the worker.
  void Offer(const Plan& p, const MemoryEstimate& mem, const PipelineTime& pipeline, int64_t held, Worker* w) const;
  // How many recompute choices the constraints leave: all of choices_, two for a fixed full
  // recompute, else one.
  int RecomputeChoices() const {
    if (!c_.recompute) return n_choices_;
    return *c_.recompute == Recompute::kFull ? 2 : 1;
  }
  void CountBrokenMicroBatches(const Plan& base, bool sp, const int64_t* mbs, int n_mb, int64_t per_choice,
                               bool* broken, SearchResult* r) const;

  RecomputeChoice choices_[kMaxRecomputeChoices] = {};  // kRecomputeChoices, then the scenario's own policy
  int n_choices_ = 0;
  double threshold_ = 0;  // 0: none
  std::unordered_map<int64_t, std::vector<int64_t>> micro_batches_;  // MicroBatchChoices by DP, from the constructor
  double ideal_step_ = 0;  // work per device at the achieved rates: no plan is faster
  const Scenario& s_;
  const SearchConstraints& c_;
  const SearchOptions& o_;
  const CostContext& ctx_;
  const ParamCounts& params_;
  const Plan& base_;  // the scenario's framework flags
  Fabric bound_fabric_;  // the cluster's, timing measured collectives as lower bounds (CommBound)
  Bytes budget_;
};

// A lower bound on the TP and EP communication any plan of the branch exposes per step: the
// bandwidth terms of all its collectives on an average stage, with one latency (a step's M
// collectives of S/M bytes each take at least one α plus the bandwidth time of S).
double BranchRunner::CommBound(const Branch& b) const {
  const Architecture& a = s_.arch;
  const Fabric& f = bound_fabric_;
  const double tokens = static_cast<double>(s_.job.GlobalBatchTokens()) / static_cast<double>(b.dp * b.cp);
  const double layers = static_cast<double>(a.layers) / b.pp;
  const double moe_layers = static_cast<double>(a.MoeLayerCount()) / b.pp;
  double bound = 0;
  const int64_t placed = PlacedDomain(f, ModelParallelBlock(b.tp, b.cp, b.etp, b.ep), b.tp * b.cp * b.dp * b.pp);
  if (b.tp > 1 && !base_.tp_comm_overlap) {
    // A pair is an all-reduce, or with sequence parallelism an all-gather and a reduce-scatter.
    // The step model's own count of ranks per domain (collective time is not monotone in it).
    const int64_t per = RanksPerDomain(f, 1, b.tp, b.tp * b.cp * b.dp, b.pp, placed);
    auto pair = [&](double width) {
      const Bytes all(tokens * width * 2.0);
      return std::min(AllReduceTime(f, all, b.tp, per).value(),
                      AllGatherTime(f, all, b.tp, per).value() + ReduceScatterTime(f, all, b.tp, per).value());
    };
    const double h = static_cast<double>(a.hidden);
    const double ar = pair(h);
    // MLA's attention block moves its latents on one side of each pair, never more than h.
    double attention = 2 * ar;
    if (a.attention == AttentionKind::kMla) {
      const MlaSpec& m = a.mla;
      const double latents = static_cast<double>((m.q_lora_rank > 0 ? m.q_lora_rank : a.hidden) + m.kv_lora_rank + m.rope_dim);
      attention = 2 * pair(std::min(latents, h));
    }
    // The other TP blocks: a dense MLP; in an MoE layer the routed experts' with expert TP and the
    // shared experts'.
    const double moe_blocks = (b.etp > 1 ? 1 : 0) + (a.moe.shared_ffn > 0 ? 1 : 0);
    bound += (layers - moe_layers) * (attention + 2 * ar) + moe_layers * (attention + 2 * moe_blocks * ar);
  }
  // Hidden in part or whole: no lower bound beyond zero.
  const bool ep_hidden = (base_.ep_comm_overlap && AllToAllOverlapSchedule(b.pp, b.schedule)) ||
                         b.schedule == Schedule::kDualPipe || (base_.shared_expert_overlap && a.moe.shared_ffn > 0);
  if (b.ep > 1 && !ep_hidden) {
    const int64_t per = RanksPerDomain(f, b.etp, b.ep, b.tp * b.cp * b.dp, b.pp, placed);
    const double in_bytes = DispatchElementBytes(ctx_);
    const double h = static_cast<double>(a.hidden), local = tokens / b.tp * s_.job.MoeDispatchRows();
    const bool dedup = s_.job.ep_node_dedup;
    bound += 2 * moe_layers * (ExpertExchangeTime(f, a.moe, local, h, in_bytes, b.ep, per, dedup).value() +
                               ExpertExchangeTime(f, a.moe, local, h, 2, b.ep, per, dedup).value());
  }
  return bound;
}

// The branch's degrees and schedule on the scenario's plan (which keeps its framework flags).
Plan BranchRunner::BranchPlan(const Branch& b) const {
  Plan base = s_.plan;
  base.tp = b.tp, base.cp = b.cp, base.pp = b.pp, base.dp = b.dp, base.ep = b.ep, base.etp = b.etp;
  base.vpp = b.vpp, base.schedule = b.schedule, base.first_stage_layers = base.last_stage_layers = 0;
  // Full recompute is searched layer by layer and by block (RunZeroStages), whatever the scenario's.
  base.recompute_method = RecomputeMethod::kUniform, base.recompute_num_layers = 1;
  base.balanced_layers = s_.arch.layers % (b.pp * b.vpp) != 0;
  // DeepSpeed's per-parameter ZeRO-3 gathers exist without a pipeline only (the scenario rule).
  if (b.pp > 1) base.zero3_gather_per_parameter = false;
  // The scenario's activation offloading, where Megatron-Core allows it (PP 1; the recompute
  // choice below drops it too).
  if (b.pp > 1) base.cpu_offload_layers = 0;
  // A scenario's hybrid sharding (dp_shard) is kept where it divides the branch's DP; elsewhere
  // ZeRO shards over the whole DP group.
  if (base.dp_shard > 0 && b.dp % base.dp_shard != 0) base.dp_shard = 0;
  // The 1F1B all-to-all overlap, on the schedules Megatron-Core runs it with (the recompute
  // choice below drops it too).
  if (!AllToAllOverlapSchedule(b.pp, b.schedule)) base.ep_comm_overlap = false;
  return base;
}

// The smallest 64 divisors of the sequences per replica (O(sqrt n), not a scan up to n), or 1
// when DP does not divide the batch (the plan check rejects it then).
int BranchRunner::MicroBatchChoices(const Branch& b, int64_t mbs[kMaxMicroBatchChoices]) const {
  if (s_.job.global_batch % b.dp != 0) {
    mbs[0] = 1;
    return 1;
  }
  const std::vector<int64_t>& all = micro_batches_.at(b.dp);  // filled for every DP dividing the batch
  const int n = static_cast<int>(std::min<size_t>(all.size(), kMaxMicroBatchChoices));
  std::copy(all.begin(), all.begin() + n, mbs);
  return n;
}

// True when the whole branch is rejected, by a rule that no inner choice changes or by the
// bound (its best case is worse than the pilot's K-th best); the subtree is counted in `r`.
int64_t BranchRunner::SubtreePlans(const Branch& b, int n_mb) const {
  // SP choices: off and on with TP; without TP only off (a fixed `sp: true` leaves none).
  const int64_t sp_choices = b.tp > 1 ? (c_.sp ? 1 : 2) : (c_.sp && *c_.sp ? 0 : 1);
  int zeros[4];
  return sp_choices * ZeroOrder(zeros) * RecomputeChoices() * n_mb;
}

bool BranchRunner::RejectBranch(const Branch& b, const Plan& base, int n_mb, int64_t held, SearchResult* r) const {
  const int64_t subtree = SubtreePlans(b, n_mb);
  PlanIssue issue = FindPlanIssue(s_.arch, base, s_.job, s_.cluster.devices);
  if (issue != PlanIssue::kValid && !InnerChoiceMayBreakFirst(b, issue)) {
    r->considered += subtree;
    r->rejected[static_cast<int>(issue)] += subtree;
    return true;
  }
  // Every plan of the subtree breaks a rule then: Run counts each under its own, not the bound.
  if (issue == PlanIssue::kExpertParallel || issue == PlanIssue::kContextParallel) return false;
  // On a torus slice of known shape, a mesh JAX cannot lay out without splitting axes is timed
  // only with each group's best block, faster than any placement: the search leaves it out.
  if (MeshSplitsTorusAxes(ctx_.fabric, base)) {
    r->considered += subtree;
    r->rejected[kRejectTorusSplit] += subtree;
    return true;
  }
  if (threshold_ <= 0 || s_.job.global_batch % b.dp != 0) return false;
  double bound = ideal_step_ + CommBound(b);
  const double most_micro_batches = static_cast<double>(s_.job.global_batch / b.dp);
  if (b.schedule == Schedule::k1F1B || b.schedule == Schedule::kGpipe) {
    bound *= 1 + static_cast<double>(b.pp - 1) / most_micro_batches;
  }
  if (ObjectiveOfStep(o_.objective, s_, bound, held) <= threshold_) return false;
  r->considered += subtree;
  r->rejected[kRejectBound] += subtree;
  return true;
}

// Whether some inner choice (a micro-batch, SP off) of branch `b` breaks a rule the plan check
// tries before `issue`, which the branch's base plan breaks: the subtree is then not all `issue`
// (Run counts it choice by choice). Interleaving and DualPipe need micro-batch counts, and MoE
// with TP needs SP, before the experts' and context-parallel rules are tried.
bool BranchRunner::InnerChoiceMayBreakFirst(const Branch& b, PlanIssue issue) const {
  if (issue == PlanIssue::kInterleavedMicroBatches || issue == PlanIssue::kDualPipe) return true;
  if (issue != PlanIssue::kExpertParallel && issue != PlanIssue::kContextParallel) return false;
  if (b.schedule == Schedule::kInterleaved || b.schedule == Schedule::kDualPipe) return true;
  const bool sp_off_tried = !c_.sp || !*c_.sp;
  return issue == PlanIssue::kContextParallel && s_.arch.IsMoe() && b.tp > 1 && sp_off_tried;
}

// Zero stages from the most to the least sharded: memory only grows along both the micro-batch
// and the order from ZeRO-2 down, so the first plan that does not fit ends its row, and the most
// sharded one that does not fit ends the micro-batch loop. ZeRO-3 stands outside the order
// (RunZeroStages): its gathered units' buffers (the largest, often the embedding, whole), and
// FSDP's gather-once copy of every layer, can need more than ZeRO-2 saves where few ranks shard.
int BranchRunner::ZeroOrder(int zeros[4]) const {
  int n = 0;
  // A stack that keeps DeepSpeed's 16-bit gradient copy (training.grad_16bit_copy) runs its own
  // ZeRO-1 optimizer: ZeRO 2 and 3 are another optimizer, a plan the scenario refuses.
  const int top = MaxZeroStage(s_.job);
  for (int z = top; z >= 0; --z) {
    if (!c_.zero || *c_.zero == z) zeros[n++] = z;
  }
  return n;
}

namespace {

// `p` at ZeRO stage `zero`: the scenario's ZeRO-3-only flags (FSDP's gather-once and copies,
// DeepSpeed's per-parameter gathers) apply to ZeRO-3 plans only, so that every plan the search returns is
// one `plan` accepts as it is written.
Plan WithZero(Plan p, int zero) {
  p.zero = zero;
  if (zero != 3) p.fsdp_gather_once = p.zero3_gather_per_parameter = false, p.fsdp = Plan::Fsdp::kNone;
  if (zero == 0) p.dp_shard = 0;  // without ZeRO nothing is sharded: plain data parallelism
  return p;
}

// Counts the plans `p` at ZeRO stages zeros[from..n) as considered and rejected without a model
// evaluation: under the plan rule each breaks, else as not fitting (a smaller micro-batch or a
// more sharded stage did not fit already).
void CountUnexplored(const Scenario& s, const Plan& p, const int* zeros, int from, int n, SearchResult* r) {
  for (int iz = from; iz < n; ++iz) {
    ++r->considered;
    const PlanIssue is = FindPlanIssue(s.arch, WithZero(p, zeros[iz]), s.job, s.cluster.devices);
    ++r->rejected[is == PlanIssue::kValid ? kRejectNoFit : static_cast<int>(is)];
  }
}

// Where plan `p` shards nothing (ZeroShardsNothing) and ZeRO 0 is among `zeros`, each other stage
// that is the same plan as ZeRO 0 is counted as considered (under the plan rule it breaks, else as
// zero_shards_nothing) and left out: ZeRO 1 and 2, and ZeRO 3 unless FSDP's gather-once keeps its
// gathered copy and fp32 gradients or PyTorch's FSDP makes its copies (zero3_gather: fsdp1 or
// fsdp2: another stack, whatever the group). Not under DeepSpeed's
// gradient flattening (grad_flatten), which its engine runs at ZeRO 0 only: there every stage is
// its own plan. Writes the stages left to run, in the order of `zeros`, to `kept` and returns how
// many.
int KeepStagesUnlikeZero0(const Scenario& s, const Plan& p, const int* zeros, int n, int* kept, SearchResult* r) {
  const bool zero0_tried = n > 1 && zeros[n - 1] == 0 && !p.grad_flatten && ZeroShardsNothing(s.arch, p);
  int n_kept = 0;
  for (int iz = 0; iz < n; ++iz) {
    const Plan q = WithZero(p, zeros[iz]);
    if (!zero0_tried || q.zero == 0 || (q.zero == 3 && (q.fsdp_gather_once || q.fsdp != Plan::Fsdp::kNone))) {
      kept[n_kept++] = zeros[iz];
      continue;
    }
    ++r->considered;
    const PlanIssue is = FindPlanIssue(s.arch, q, s.job, s.cluster.devices);
    ++r->rejected[is == PlanIssue::kValid ? kRejectSameAsZero0 : static_cast<int>(is)];
  }
  return n_kept;
}

}  // namespace

bool BranchRunner::AboveThreshold(const Plan& p, int64_t held, PipelineTime* pipeline, bool* ready) const {
  if (FindPlanIssue(s_.arch, p, s_.job, s_.cluster.devices) != PlanIssue::kValid) return false;
  *pipeline = EstimatePipeline(ctx_, p);
  *ready = true;
  const double bound = pipeline->micro_batches * pipeline->stage_total + pipeline->bubble + pipeline->pp_exposed;
  return ObjectiveOfStep(o_.objective, s_, bound, held) > threshold_;
}

void BranchRunner::Offer(const Plan& p, const MemoryEstimate& mem, const PipelineTime& pipeline, int64_t held,
                         Worker* w) const {
  RankedPlan ranked;
  ranked.plan = p;
  ranked.time = FinishStep(ctx_, p, pipeline);
  ranked.memory = mem;
  ranked.objective = ObjectiveOfStep(o_.objective, s_, ranked.time.step.value(), held);
  // A non-finite objective would break the ordering of the top K: rank it last.
  if (!std::isfinite(ranked.objective)) ranked.objective = std::numeric_limits<double>::infinity();
  w->Offer(ranked);
}

// Evaluates plan `p` (one SP, recompute and micro-batch choice) at each ZeRO stage of `zeros`
// and offers the valid ones to the worker. Returns true when not even the most sharded stage
// fits (larger micro-batches cannot either).
bool BranchRunner::RunZeroStages(Plan p, const int* zeros, int n_zero, int64_t held, Worker* w) const {
  if (n_zero <= 0) return false;  // no stage allowed (a fixed ZeRO stage the scenario's stack cannot run)
  SearchResult& r = w->result;
  int kept[4];
  n_zero = KeepStagesUnlikeZero0(s_, p, zeros, n_zero, kept, &r);
  zeros = kept;
  bool pipeline_ready = false;
  PipelineTime pipeline;
  // Full recompute by block recomputes, at each ZeRO stage, the fewest layers a chunk that fit
  // there (none fit when only all of them do: that is full recompute, tried on its own); one layer
  // a chunk bounds them all.
  const bool by_block = RecomputesByBlock(p);
  int64_t pipeline_layers = 1;
  if (threshold_ > 0) {
    p = WithZero(p, zeros[0]);  // the lowest stage, where the bound is timed
    if (by_block) p.recompute_num_layers = 1;
    if (AboveThreshold(p, held, &pipeline, &pipeline_ready)) {
      r.considered += n_zero;
      r.rejected[kRejectBound] += n_zero;
      return false;
    }
  }
  bool zero3_missed = false;
  const Plan given = p;
  for (int iz = 0; iz < n_zero; ++iz) {
    p = WithZero(given, zeros[iz]);
    ++r.considered;
    PlanIssue is = FindPlanIssue(s_.arch, p, s_.job, s_.cluster.devices);
    if (is != PlanIssue::kValid) {
      ++r.rejected[static_cast<int>(is)];
      continue;
    }
    ++r.model_evaluations;
    const int64_t block_layers = by_block ? FewestBlockLayersWithin(s_.arch, params_, p, s_.job, budget_, {}) : 1;
    if (by_block && block_layers > 0) p.recompute_num_layers = block_layers;
    // No count by block fits: its memory is not estimated again.
    MemoryEstimate mem;
    if (block_layers > 0) mem = EstimateMemory(s_.arch, params_, p, s_.job, s_.cluster.hbm_capacity, {});
    if (block_layers <= 0 || mem.worst.Total() > budget_) {
      if (p.zero == 3 && iz + 1 < n_zero) {
        ++r.rejected[kRejectNoFit];  // not the most sharded in memory: the order starts below it
        zero3_missed = true;
        continue;
      }
      ++r.rejected[kRejectNoFit];
      CountUnexplored(s_, p, zeros, iz + 1, n_zero, &r);  // the less sharded stages
      return iz == 0 || (iz == 1 && zero3_missed);
    }
    if (!pipeline_ready || pipeline_layers != p.recompute_num_layers) {
      pipeline = EstimatePipeline(ctx_, p), pipeline_ready = true, pipeline_layers = p.recompute_num_layers;
    }
    ++r.valid;
    Offer(p, mem, pipeline, held, w);
  }
  return false;
}

// The plan the branch-level rules are tried on (those that do not depend on the inner choices):
// the smallest micro-batch (1 divides every batch), no ZeRO or recompute, and SP with TP, which is
// always allowed (and MoE with TP requires it), so that the check does not reject the subtree for
// what an inner choice fixes. Offloading is not a branch-level rule: selective and full recompute
// drop it, and the plans without recompute that keep it are checked one by one.
Plan BranchRunner::BranchCheckPlan(const Branch& b) const {
  Plan branch = BranchPlan(b);
  branch.micro_batch = 1;
  branch.sp = b.tp > 1, branch.zero = 0, branch.recompute = Recompute::kNone;
  branch.cpu_offload_layers = 0;
  branch.dp_shard = 0;  // checked at ZeRO 0, where hybrid sharding is not a plan; the ZeRO stages keep it
  return branch;
}

bool BranchRunner::BreaksBranchRule(const Branch& b) const {
  const PlanIssue issue = FindPlanIssue(s_.arch, BranchCheckPlan(b), s_.job, s_.cluster.devices);
  return issue != PlanIssue::kValid && !InnerChoiceMayBreakFirst(b, issue);
}

void BranchRunner::CountBranchRule(const Branch& b, SearchResult* r) const {
  int64_t mbs[kMaxMicroBatchChoices] = {};
  const int64_t subtree = SubtreePlans(b, MicroBatchChoices(b, mbs));
  const PlanIssue issue = FindPlanIssue(s_.arch, BranchCheckPlan(b), s_.job, s_.cluster.devices);
  r->considered += subtree;
  r->rejected[static_cast<int>(issue)] += subtree;
}

void BranchRunner::Run(const Branch& b, Worker* w, bool pilot) const {
  Plan base = BranchPlan(b);
  int64_t mbs[kMaxMicroBatchChoices] = {};
  int n_mb = MicroBatchChoices(b, mbs);
  const Plan branch = BranchCheckPlan(b);
  base.micro_batch = mbs[0];
  base.sp = b.tp > 1, base.zero = 0, base.recompute = Recompute::kNone;
  // Every plan of the branch holds the same devices (its TP, CP, ETP and EP fix them).
  const int64_t held = DevicesHeld(s_.cluster, branch);
  if (RejectBranch(b, branch, n_mb, held, &w->result)) return;
  int zeros[4];
  const int n_zero = ZeroOrder(zeros);
  if (pilot) n_mb = std::min(n_mb, 1);
  const bool sps[2] = {false, true};
  const int n_sp = b.tp > 1 ? 2 : 1;
  const int n_rc = RecomputeChoices();
  for (int i_sp = 0; i_sp < n_sp; ++i_sp) {
    if (c_.sp && *c_.sp != sps[i_sp]) continue;
    if (pilot && i_sp + 1 < n_sp && !c_.sp) continue;  // pilot: SP on when there is TP
    bool broken[kMaxMicroBatchChoices] = {};
    CountBrokenMicroBatches(base, sps[i_sp], mbs, n_mb, n_rc * n_zero, broken, &w->result);
    for (int i_rc = 0; i_rc < n_choices_; ++i_rc) {
      const RecomputeChoice& choice = choices_[i_rc];
      const Recompute rc = choice.mode;
      if (c_.recompute && *c_.recompute != rc) continue;
      Plan p = base;
      p.sp = sps[i_sp], p.recompute = rc, p.recompute_method = choice.method;
      if (rc != Recompute::kNone) p.cpu_offload_layers = 0;
      if (!AllToAllOverlapRecompute(p)) p.ep_comm_overlap = false;
      // ZB-H1's deferred weight gradients can shrink with a larger micro-batch (fewer micro-batches
      // than stages defer fewer, where a layer's W state outweighs what it keeps, as under full
      // recompute): its micro-batches are each tried, not cut at the first that does not fit.
      const bool fit_grows_with_micro_batch = !(b.schedule == Schedule::kZbH1 && b.pp > 1);
      for (int i = 0; i < n_mb; ++i) {
        if (broken[i]) continue;
        p.micro_batch = mbs[i];
        if (!RunZeroStages(p, zeros, n_zero, held, w) || !fit_grows_with_micro_batch) continue;
        // Megatron's softmax falls back to PyTorch's ops (fp32 copies of the scores) where micro-batch
        // x heads / TP is not a multiple of 4: a larger micro-batch that meets it may need less.
        if (s_.job.attention_softmax == AttentionSoftmax::kMegatron && UnfusedSoftmax(s_.arch, p, s_.job)) continue;
        for (int j = i + 1; j < n_mb; ++j) {  // larger micro-batches fit no better
          if (broken[j]) continue;
          p.micro_batch = mbs[j];
          CountUnexplored(s_, p, zeros, 0, n_zero, &w->result);
        }
        break;
      }
    }
  }
}

// The micro-batches at which plan `base` with SP `sp` breaks a rule that neither the recompute
// mode nor the ZeRO stage changes (every rule the plan check tries before the recompute and
// offloading ones: degrees, heads, batch, pipeline, experts, context parallelism). Each such
// choice's `per_choice` plans are counted under that rule at once and marked in `broken`; the
// inner loops would have found the same rule for each of them, one plan check at a time (a
// search over a cluster with thousands of divisors spent most of its time there).
void BranchRunner::CountBrokenMicroBatches(const Plan& base, bool sp, const int64_t* mbs, int n_mb,
                                           int64_t per_choice, bool* broken, SearchResult* r) const {
  Plan p = base;
  p.sp = sp, p.recompute = Recompute::kNone, p.cpu_offload_layers = 0, p.zero = 0;
  p.dp_shard = 0;  // checked at ZeRO 0, where hybrid sharding is no plan (the ZeRO stages keep it)
  for (int i = 0; i < n_mb; ++i) {
    p.micro_batch = mbs[i];
    const PlanIssue is = FindPlanIssue(s_.arch, p, s_.job, s_.cluster.devices);
    if (is == PlanIssue::kValid) continue;
    broken[i] = true;
    r->considered += per_choice;
    r->rejected[static_cast<int>(is)] += per_choice;
  }
}

}  // namespace

SearchSpaceSize CountSearchSpace(const Scenario& s, const SearchConstraints& c, int64_t layout_limit) {
  const ParamCounts params = CountParameters(s.arch);
  const CostContext ctx = MakeCostContext(s.arch, params, s.job, s.cluster);
  const SearchOptions o;
  const BranchRunner runner(s, c, o, ctx, params);
  SearchSpaceSize n;
  ForEachBranch(s, c, [&](const Branch& b) {
    if (++n.branches > kMaxSearchBranches) return false;
    return runner.BreaksBranchRule(b) || ++n.layouts <= layout_limit;
  });
  return n;
}

SearchResult Search(const Scenario& s, const SearchConstraints& c, const SearchOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const ParamCounts params = CountParameters(s.arch);
  const CostContext ctx = MakeCostContext(s.arch, params, s.job, s.cluster);
  BranchRunner runner(s, c, o, ctx, params);
  // The branches a layout-level rule rejects whole are counted here, once (by rank 0), and not
  // held: only the others are run, so time and memory go with CountSearchSpace's layouts.
  std::vector<Branch> branches;
  SearchResult ruled;
  ForEachBranch(s, c, [&](const Branch& b) {
    if (!runner.BreaksBranchRule(b)) {
      branches.push_back(b);
    } else if (o.rank == 0) {
      runner.CountBranchRule(b, &ruled);
    }
    return true;
  });

  int threads = o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, threads);
  // Pilot: a deterministic sample of every branch (SP on, smallest micro-batch); its K-th best
  // objective bounds the final K-th best, so plans whose lower bound exceeds it are skipped.
  // Every thread and rank computes the same threshold, so counts do not depend on the split.
  if (!o.exhaustive) {
    std::vector<Worker> pilots(threads);
    std::atomic<size_t> next_pilot{0};
    auto pilot_work = [&](Worker* w) {
      w->top_k = o.top_k;
      w->distinct = o.distinct;
      for (size_t i = next_pilot++; i < branches.size(); i = next_pilot++) runner.Run(branches[i], w, true);
    };
    const SearchResult pilot = RunWorkers(&pilots, pilot_work, o, SearchResult{});
    if (static_cast<int>(pilot.top.size()) == o.top_k) {
      runner.set_threshold(pilot.top.back().objective);
    }
  }
  std::vector<Worker> workers(threads);
  std::atomic<size_t> next{0};
  auto work = [&](Worker* w) {
    w->top_k = o.top_k;
    w->distinct = o.distinct;
    w->result.top.reserve(o.top_k + 1);
    for (size_t i = next++; i < branches.size(); i = next++) {
      if (static_cast<int>(i % o.ranks) != o.rank) continue;
      const int64_t considered = w->result.considered, valid = w->result.valid;
      runner.Run(branches[i], w);
      Publish(o.progress, considered, valid, *w);
    }
  };
  SearchResult result = RunWorkers(&workers, work, o, ruled);
  result.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace preflight
