// File: search/search.h
//
// Exhaustive search of parallel layouts for one job on one cluster: every TP, CP, PP, DP,
// EP, expert-TP, schedule (gpipe, 1f1b, interleaved with every VPP, zb-h1, dualpipe), SP,
// ZeRO stage, recompute mode and micro-batch size, each checked by the plan rules, the
// memory model and the step-time model; the best K by an objective come back.
//
//   SearchOptions opts; opts.top_k = 5; opts.threads = 2;
//   SearchResult r = Search(scenario, SearchConstraints{}, opts);
//   r.top[0].plan; r.top[0].time.step; r.rejected[PlanIssueIndex(...)]
//
// Speed: per-model and per-hardware constants are built once (CostContext); the per-plan
// evaluation allocates nothing and touches no strings; whole subtrees are pruned (a layout
// that does not fit with the smallest micro-batch and full recompute cannot fit with more, but
// under ZB-H1, whose deferred weight gradients can shrink with the micro-batch).
// The space is split into branches (tp, cp, pp, ep, etp, schedule/vpp) that threads take in
// turn, and that MPI ranks split by index; results merge deterministically, so 1 thread,
// N threads and N ranks return the same top K.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "preflight/cost/memory.h"
#include "preflight/cost/step_time.h"
#include "preflight/parallel/plan.h"
#include "preflight/scenario/scenario.h"

namespace preflight {

enum class Objective { kStepTime, kCost, kDays, kEnergy };
bool ParseObjective(std::string_view name, Objective* out);
std::string_view ObjectiveName(Objective o);

// Limits on the space. Zero / unset means free.
struct SearchConstraints {
  int64_t max_tp = 0;  // 0: the scale-up domain
  int64_t max_pp = 0;
  int64_t max_cp = 0;
  int64_t max_ep = 0;
  int64_t max_micro_batch = 0;
  std::optional<int64_t> tp, pp, cp, dp, ep, vpp;
  std::optional<int> zero;
  std::optional<Schedule> schedule;
  std::optional<Recompute> recompute;
  std::optional<bool> sp;
  double min_headroom = 0.0;  // required free fraction of device memory
};

// Live counters a progress display may read while the search runs.
struct SearchProgress {
  std::atomic<int64_t> considered{0};
  std::atomic<int64_t> valid{0};
  std::atomic<double> best{0};  // best objective so far (0 until one is found)
};

struct SearchOptions {
  Objective objective = Objective::kStepTime;
  int top_k = 10;
  int threads = 0;  // 0: hardware concurrency
  int rank = 0;     // this process's share of the branches when split over MPI ranks
  int ranks = 1;
  SearchProgress* progress = nullptr;
  // Evaluate every valid plan (no bound pruning): the same top K, slower; for checking and for
  // measuring the raw evaluation rate.
  bool exhaustive = false;
  // One plan per layout (SameLayout: TP, CP, PP, DP, EP, ETP, schedule and ZeRO stage), the best
  // VPP, layer split, SP, recompute and micro-batch of each: K layouts rather than K variants of
  // the best. The bound stays exact (a layout whose best plan is pruned has K better layouts).
  bool distinct = false;
};

// Extra rejection reasons beyond PlanIssue: valid but over the memory budget; or skipped
// because a lower bound on its step time (the pipeline part alone) is worse than the K-th best
// objective of a deterministic pilot pass, so it cannot be in the top K (not classified further);
// or a ZeRO stage above 0 of a plan whose ZeRO groups hold one rank each (ZeroShardsNothing): the
// same plan as its ZeRO 0, which is tried instead, so the top K holds no copies.
inline constexpr int kRejectNoFit = static_cast<int>(PlanIssue::kCount);
inline constexpr int kRejectBound = kRejectNoFit + 1;
inline constexpr int kRejectSameAsZero0 = kRejectBound + 1;
// A mesh JAX lays on the torus slice only by splitting its axes (MeshSplitsTorusAxes).
inline constexpr int kRejectTorusSplit = kRejectSameAsZero0 + 1;
inline constexpr int kNumRejectReasons = kRejectTorusSplit + 1;
std::string_view RejectReasonName(int reason);

struct RankedPlan {
  Plan plan;
  double objective = 0;
  StepTime time;
  MemoryEstimate memory;
};

struct SearchResult {
  int64_t considered = 0;        // plans in the space (valid + every rejection, pruned ones counted)
  int64_t valid = 0;             // valid plans that fit (among those not skipped by the bound)
  int64_t model_evaluations = 0; // plans that went through the memory and step-time models
  double elapsed_s = 0;
  std::array<int64_t, kNumRejectReasons> rejected{};
  std::vector<RankedPlan> top;   // best first
};

// The objective of plan `p` taking `t` a step in this scenario, in ObjectiveUnit(o, s): seconds,
// days, dollars (mid price) or MWh; without a catalog price (cost) or power (energy),
// device-hours, which rank the plans of one scenario in the same order. Cost bills the devices
// the plan holds (DevicesHeld, cost/collectives.h: the rest of each scale-up domain its
// model-parallel tiles leave idle included) for the ideal time; energy counts the job's own
// devices (idle held devices draw a power no catalog figure gives). A scenario without
// training.tokens counts 1e12 tokens.
double ObjectiveValue(Objective o, const Scenario& s, const Plan& p, const StepTime& t);
// The same from a step time (s) and the devices held (DevicesHeld). For a fixed scenario and
// count held it increases with the step time: a lower bound on the step times of plans that all
// hold `devices_held` gives a lower bound on their objectives (the search's pruning rests on it).
double ObjectiveOfStep(Objective o, const Scenario& s, double step_s, int64_t devices_held);
// "s", "days", "usd", "mwh" or "device_hours" (cost or energy without the catalog figure).
std::string_view ObjectiveUnit(Objective o, const Scenario& s);

// The most outer layouts a search takes: combinations of TP, CP, PP, DP, EP, ETP, schedule and VPP
// that the plan rules a layout decides alone (degrees, heads, batch, pipeline, experts) leave, each
// with its inner SP, ZeRO, recompute and micro-batch choices; and the most combinations in all,
// those rules' rejects included (each is counted, not run). A larger space is bad input for the
// callers (the CLI says how to narrow it: --max-pp, --max-cp, --fix-*), not an hour-long search:
// docs/search.md gives what a layout and a combination cost.
inline constexpr int64_t kMaxSearchLayouts = int64_t{1} << 20;
inline constexpr int64_t kMaxSearchBranches = int64_t{1} << 24;
struct SearchSpaceSize {
  int64_t layouts = 0;   // combinations the layout-level rules leave
  int64_t branches = 0;  // every combination
};
// The search space of `s` under `c`, without holding it: stops one past `layout_limit` layouts or
// one past kMaxSearchBranches combinations. REQUIRES: s.cluster.devices > 0.
SearchSpaceSize CountSearchSpace(const Scenario& s, const SearchConstraints& c,
                                 int64_t layout_limit = kMaxSearchLayouts);

// Runs the search on this process's share (rank of ranks). REQUIRES: s.cluster.devices > 0.
// Takes time and memory in proportion to CountSearchSpace's layouts (callers hold them to
// kMaxSearchLayouts), and time to its branches.
SearchResult Search(const Scenario& s, const SearchConstraints& c, const SearchOptions& o);

// Merges partial results (other ranks') into one: counts add, top K re-ranked (with `distinct`,
// the best plan of each layout).
void MergeResults(SearchResult* into, const SearchResult& other, int top_k, bool distinct = false);

// Sorts `plans` best first and keeps the first `top_k` (with `distinct`, of different layouts).
void KeepTop(std::vector<RankedPlan>* plans, int top_k, bool distinct);

// The layout SearchOptions::distinct keeps one plan of: TP, CP, PP, DP, EP, ETP, schedule and ZeRO.
bool SameLayout(const Plan& a, const Plan& b);

// Total order used for ranking: objective, then memory per device, then a canonical order of
// the plan fields, so that ties break identically however the work was split.
bool BetterPlan(const RankedPlan& a, const RankedPlan& b);

}  // namespace preflight

namespace preflight {

// One device count of a sweep and the best plan found for it.
struct SweepPoint {
  int64_t devices = 0;
  bool found = false;
  RankedPlan best;
  double days = 0;                     // ideal: no failures
  double device_hours = 0;             // days x 24 x devices: the work, the devices held idle not counted
  std::optional<double> cost_usd_mid;  // device_hours at the mid price; unset when the catalog has no price
  int64_t devices_held = 0;            // DevicesHeld of the best plan (cost/collectives.h)
  // From the failure Monte Carlo of the scenario's reliability profile (MakeCampaign), as `plan`
  // reports them: the P50 days, the device-hours held through them (devices_held x P50 hours, what
  // a rental bills) and their cost at the mid price. Unset with `reliability: none` or where the
  // run does not finish; the cost also without a catalog price.
  std::optional<double> days_p50;
  std::optional<double> device_hours_held_p50;
  std::optional<double> cost_usd_mid_p50;
  bool on_pareto_front = false;  // no other point is both faster and cheaper (SweepParetoBasis)
};

// The figures a sweep's Pareto front is drawn on: P50 days against P50 device-hours held where
// every point found has them (and one is found), else ideal days against the ideal device-hours
// held (days × 24 × devices_held: a rental bills the held devices, failures or not).
enum class ParetoBasis { kIdeal, kP50Held };
ParetoBasis SweepParetoBasis(const std::vector<SweepPoint>& points);
// "ideal" or "p50_held".
std::string_view ParetoBasisName(ParetoBasis b);

// How a sweep searches one device count (Search by default; DistributedSearch under MPI).
using SearchFn = std::function<SearchResult(const Scenario&, const SearchConstraints&, const SearchOptions&)>;

// Searches each device count (best by `o.objective`), runs the failure Monte Carlo of each best
// plan (MakeCampaign, as `plan` does) and marks the Pareto front of days vs cost on
// SweepParetoBasis(points). One hardware has one price, which only scales device-hours, so the
// front is drawn on device-hours (the same front, and one that exists without a price).
std::vector<SweepPoint> SweepDevices(const Scenario& s, const std::vector<int64_t>& device_counts,
                                     const SearchConstraints& c, const SearchOptions& o,
                                     const SearchFn& search = Search);

}  // namespace preflight
