#include "preflight/search/compare.h"

#include <algorithm>
#include <utility>

namespace preflight {

std::string ComparisonUnit(Objective o) {
  switch (o) {
    case Objective::kStepTime: return "s";
    case Objective::kDays: return "days";
    case Objective::kCost: return "usd";
    case Objective::kEnergy: return "mwh";
  }
  return "s";
}

namespace {

// One alternative: its layout searched where it has none (or where every one is), then evaluated.
CompareEntry EvaluateAlternative(Scenario s, const CompareOptions& o) {
  CompareEntry e;
  if (s.auto_parallel || o.search_all) {
    SearchOptions so;
    so.objective = o.objective;
    so.top_k = 1;
    so.threads = o.threads;
    const SearchResult found = Search(s, SearchConstraints{}, so);
    e.searched = true;
    e.search_valid = found.valid;
    if (found.top.empty()) {
      s.auto_parallel = true;
      e.result.scenario = std::move(s);
      return e;
    }
    s.plan = found.top.front().plan;
    s.auto_parallel = false;
  }
  e.result = Evaluate(s, {});
  e.evaluated = true;
  if (e.result.ExitCode() == 0 && e.result.has_time) {
    const Scenario& r = e.result.scenario;
    e.objective = ObjectiveValue(o.objective, r, r.plan, e.result.time);
    e.unit = std::string(ObjectiveUnit(o.objective, r));
  }
  return e;
}

// Ranking class: 0 a plan that fits, with the objective in the comparison's unit; 1 one that fits
// in device-hours (no catalog price or power); 2 no plan that fits.
int RankClass(const CompareEntry& e, const std::string& unit) {
  if (!e.objective) return 2;
  return e.unit == unit ? 0 : 1;
}

}  // namespace

Comparison Compare(const std::vector<Scenario>& alternatives, const CompareOptions& o) {
  Comparison c;
  c.objective = o.objective;
  c.unit = ComparisonUnit(o.objective);
  c.entries.reserve(alternatives.size());
  for (const Scenario& s : alternatives) c.entries.push_back(EvaluateAlternative(s, o));
  for (size_t i = 0; i < c.entries.size(); ++i) c.order.push_back(i);
  std::stable_sort(c.order.begin(), c.order.end(), [&](size_t a, size_t b) {
    const CompareEntry& x = c.entries[a];
    const CompareEntry& y = c.entries[b];
    const int cx = RankClass(x, c.unit), cy = RankClass(y, c.unit);
    if (cx != cy) return cx < cy;
    return cx < 2 && *x.objective < *y.objective;
  });
  c.factor_of_best.assign(c.entries.size(), 0.0);
  if (c.entries.empty()) return c;
  const CompareEntry& best = c.entries[c.order.front()];
  if (RankClass(best, c.unit) == 0 && *best.objective > 0) {
    for (size_t i = 0; i < c.entries.size(); ++i) {
      if (RankClass(c.entries[i], c.unit) == 0) c.factor_of_best[i] = *c.entries[i].objective / *best.objective;
    }
  }
  return c;
}

}  // namespace preflight
