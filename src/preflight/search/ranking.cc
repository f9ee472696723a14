// The search's objectives and the order of its plans (search.h): what a plan is worth, which of
// two comes first, and the top list kept of them.
#include <algorithm>
#include <array>
#include <string_view>
#include <utility>
#include <vector>

#include "preflight/search/search.h"

namespace preflight {

bool ParseObjective(std::string_view name, Objective* out) {
  if (name == "step_time") return *out = Objective::kStepTime, true;
  if (name == "cost") return *out = Objective::kCost, true;
  if (name == "days") return *out = Objective::kDays, true;
  if (name == "energy") return *out = Objective::kEnergy, true;
  return false;
}

std::string_view ObjectiveName(Objective o) {
  switch (o) {
    case Objective::kStepTime: return "step_time";
    case Objective::kCost: return "cost";
    case Objective::kDays: return "days";
    case Objective::kEnergy: return "energy";
  }
  return "step_time";
}

std::string_view RejectReasonName(int reason) {
  if (reason == kRejectNoFit) return "does_not_fit";
  if (reason == kRejectBound) return "slower_than_top_k";
  if (reason == kRejectSameAsZero0) return "zero_shards_nothing";
  if (reason == kRejectTorusSplit) return "splits_torus_axes";
  return PlanIssueName(static_cast<PlanIssue>(reason));
}

double ObjectiveValue(Objective o, const Scenario& s, const Plan& p, const StepTime& t) {
  return ObjectiveOfStep(o, s, t.step.value(), DevicesHeld(s.cluster, p));
}

double ObjectiveOfStep(Objective o, const Scenario& s, double step_s, int64_t devices_held) {
  const double tokens = s.job.tokens > 0 ? s.job.tokens : 1e12;
  const double seconds = tokens / (static_cast<double>(s.job.GlobalBatchTokens()) / step_s);
  const double hours = seconds / 3600.0;
  switch (o) {
    case Objective::kStepTime: return step_s;
    case Objective::kDays: return seconds / 86400.0;
    case Objective::kCost: {
      // A rental bills every device the job holds, those its tiles leave idle too.
      const double held_hours = hours * static_cast<double>(devices_held);
      const PriceRange& p = s.cluster.spec.price;
      return p.known ? held_hours * p.Mid() : held_hours;
    }
    case Objective::kEnergy: {
      // The job's own devices: an idle held device draws a power the catalog does not give.
      const double device_hours = hours * static_cast<double>(s.cluster.devices);
      const Figure& w = s.cluster.spec.power_w;
      return w.known() ? device_hours * w.value * s.cluster.pue / 1e6 : device_hours;
    }
  }
  return step_s;
}

std::string_view ObjectiveUnit(Objective o, const Scenario& s) {
  switch (o) {
    case Objective::kStepTime: return "s";
    case Objective::kDays: return "days";
    case Objective::kCost: return s.cluster.spec.price.known ? "usd" : "device_hours";
    case Objective::kEnergy: return s.cluster.spec.power_w.known() ? "mwh" : "device_hours";
  }
  return "s";
}

namespace {

// Canonical comparison of two plans' fields (for deterministic tie-breaking).
std::array<int64_t, 13> Key(const Plan& p) {
  return {p.tp, p.cp, p.pp, p.dp, p.ep, p.etp, p.vpp, static_cast<int64_t>(p.schedule),
          p.sp ? 1 : 0, p.zero, static_cast<int64_t>(p.recompute), p.micro_batch,
          RecomputesByBlock(p) ? p.recompute_num_layers : 0};
}

}  // namespace

bool BetterPlan(const RankedPlan& a, const RankedPlan& b) {
  if (a.objective != b.objective) return a.objective < b.objective;
  const double ma = a.memory.worst.Total().value(), mb = b.memory.worst.Total().value();
  if (ma != mb) return ma < mb;  // equally fast: the one with more headroom first
  return Key(a.plan) < Key(b.plan);
}

bool SameLayout(const Plan& a, const Plan& b) {
  return a.tp == b.tp && a.cp == b.cp && a.pp == b.pp && a.dp == b.dp && a.ep == b.ep && a.etp == b.etp &&
         a.schedule == b.schedule && a.zero == b.zero;
}

void KeepTop(std::vector<RankedPlan>* plans, int top_k, bool distinct) {
  std::sort(plans->begin(), plans->end(), BetterPlan);
  if (distinct) {
    std::vector<RankedPlan> kept;
    for (const RankedPlan& r : *plans) {
      if (static_cast<int>(kept.size()) == top_k) break;
      const bool seen = std::any_of(kept.begin(), kept.end(), [&](const RankedPlan& e) { return SameLayout(e.plan, r.plan); });
      if (!seen) kept.push_back(r);
    }
    *plans = std::move(kept);
  }
  if (static_cast<int>(plans->size()) > top_k) plans->resize(top_k);
}

void MergeResults(SearchResult* into, const SearchResult& other, int top_k, bool distinct) {
  into->considered += other.considered;
  into->valid += other.valid;
  into->model_evaluations += other.model_evaluations;
  for (int i = 0; i < kNumRejectReasons; ++i) into->rejected[i] += other.rejected[i];
  into->top.insert(into->top.end(), other.top.begin(), other.top.end());
  KeepTop(&into->top, top_k, distinct);
}

}  // namespace preflight
