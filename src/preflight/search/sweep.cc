#include "preflight/search/search.h"

// Sweeps of one scenario over device counts (search.h: SweepDevices), each count searched whole.

#include <string_view>
#include <utility>
#include <vector>

#include "preflight/model/model.h"
#include "preflight/scenario/evaluate.h"

namespace preflight {

namespace {

// The figures of point `pt`, whose best plan is found, on cluster size `at`: ideal days and
// device-hours, the devices held, and the P50 figures of the failure Monte Carlo where it runs and
// the run finishes (as plan_report.cc's device_hours_p50 and cost_usd_p50 count them).
void FillSweepFigures(const Scenario& at, const ParamCounts& params, SweepPoint* pt) {
  Scenario planned = at;
  planned.plan = pt->best.plan;
  const Campaign c = MakeCampaign(planned, params, pt->best.time);
  const PriceRange& price = at.cluster.spec.price;
  pt->days = c.days_ideal;
  pt->device_hours = c.device_hours;
  if (price.known) pt->cost_usd_mid = c.device_hours * price.Mid();
  pt->devices_held = c.devices_held;
  if (!c.outlook_known || !c.outlook.finishes) return;
  pt->days_p50 = c.outlook.wall_p50.value() / 86400;
  pt->device_hours_held_p50 = c.DeviceHoursHeldP50();
  if (price.known) pt->cost_usd_mid_p50 = *pt->device_hours_held_p50 * price.Mid();
}

// The (days, device-hours) pair the front of `basis` compares.
std::pair<double, double> ParetoFigures(const SweepPoint& p, ParetoBasis basis) {
  if (basis == ParetoBasis::kP50Held) return {*p.days_p50, *p.device_hours_held_p50};
  return {p.days, p.days * 24.0 * static_cast<double>(p.devices_held)};  // what a rental bills, ideal
}

}  // namespace

ParetoBasis SweepParetoBasis(const std::vector<SweepPoint>& points) {
  bool any = false;
  for (const SweepPoint& p : points) {
    if (!p.found) continue;
    if (!p.days_p50 || !p.device_hours_held_p50) return ParetoBasis::kIdeal;
    any = true;
  }
  return any ? ParetoBasis::kP50Held : ParetoBasis::kIdeal;
}

std::string_view ParetoBasisName(ParetoBasis b) { return b == ParetoBasis::kP50Held ? "p50_held" : "ideal"; }

std::vector<SweepPoint> SweepDevices(const Scenario& s, const std::vector<int64_t>& counts,
                                     const SearchConstraints& c, const SearchOptions& o, const SearchFn& search) {
  std::vector<SweepPoint> points;
  SearchOptions one = o;
  one.top_k = 1;
  const ParamCounts params = CountParameters(s.arch);
  for (int64_t n : counts) {
    Scenario at = s;
    at.cluster.devices = n;
    SweepPoint pt;
    pt.devices = n;
    SearchResult r = search(at, c, one);
    if (!r.top.empty()) {
      pt.found = true;
      pt.best = r.top.front();
      FillSweepFigures(at, params, &pt);
    }
    points.push_back(pt);
  }
  const ParetoBasis basis = SweepParetoBasis(points);
  for (SweepPoint& p : points) {
    if (!p.found) continue;
    p.on_pareto_front = true;
    const auto [p_days, p_hours] = ParetoFigures(p, basis);
    for (const SweepPoint& q : points) {
      if (!q.found || &q == &p) continue;
      const auto [q_days, q_hours] = ParetoFigures(q, basis);
      const bool no_worse = q_days <= p_days && q_hours <= p_hours;
      const bool better = q_days < p_days || q_hours < p_hours;
      if (no_worse && better) p.on_pareto_front = false;
    }
  }
  return points;
}

}  // namespace preflight
