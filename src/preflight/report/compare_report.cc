#include "preflight/report/compare_report.h"

#include <fmt/format.h>

#include <string>
#include <vector>

#include "preflight/report/internal/plan_facts.h"
#include "preflight/report/plan_report.h"

namespace preflight {

using json = nlohmann::json;
using report_internal::Dollars;

std::string EntryLabel(const CompareEntry& e) {
  return e.label.empty() ? e.result.scenario.cluster.spec.id : e.label;
}

namespace {

bool Fits(const CompareEntry& e) { return e.evaluated && e.result.ExitCode() == 0; }

// What the objective ranks by, in words.
std::string ObjectiveWords(const Comparison& c) {
  switch (c.objective) {
    case Objective::kDays: return "days to train (the work alone, no failures)";
    case Objective::kCost: return "cost (the devices held, at the mid catalog price, for the days without failures)";
    case Objective::kEnergy: return "energy (the job's devices at rated power x PUE)";
    case Objective::kStepTime: return "step time";
  }
  return "step time";
}

// One alternative of the JSON: PlanJson's keys, or for a search that found nothing, the scenario's
// name, hardware and why.
json EntryJson(const Comparison& c, size_t i, int rank) {
  const CompareEntry& e = c.entries[i];
  json j;
  if (e.evaluated) {
    j = PlanJson(e.result);
    if (e.searched) j["plan"]["searched"] = true;  // as `plan` marks a parallel: auto layout
  } else {
    const Scenario& s = e.result.scenario;
    j = {{"name", s.name},
         {"hardware", {{"name", s.cluster.spec.id}, {"devices", s.cluster.devices}}},
         {"plan", nullptr},
         {"memory", nullptr},
         {"time", nullptr},
         {"campaign", nullptr},
         {"compat", {{"blocking", {"no valid plan fits this job on this cluster (searched)"}},
                     {"warnings", json::array()}}}};
  }
  j["label"] = EntryLabel(e);
  j["rank"] = rank;
  j["fits"] = Fits(e);
  j["searched"] = e.searched;
  if (e.searched) j["search_valid_plans"] = e.search_valid;
  j["objective"] = e.objective ? json{{"value", *e.objective}, {"unit", e.unit}} : json(nullptr);
  j["factor_of_best"] = c.factor_of_best[i] > 0 ? json(c.factor_of_best[i]) : json(nullptr);
  return j;
}

// "tp 8 pp 4 dp 32 ep 1 cp 1 zero 1 1f1b recompute none mb 1".
std::string CompactLayout(const Plan& p) {
  std::string out = fmt::format("tp {} pp {}", p.tp, p.pp);
  if (p.vpp > 1) out += fmt::format(" vpp {}", p.vpp);
  out += fmt::format(" dp {}", p.dp);
  if (p.cp > 1) out += fmt::format(" cp {}", p.cp);
  if (p.ep > 1) out += fmt::format(" ep {}", p.ep);
  if (p.etp > 1) out += fmt::format(" etp {}", p.etp);
  out += fmt::format(" zero {} {} {} mb {}", p.zero, ScheduleName(p.schedule), RecomputeLabel(p), p.micro_batch);
  return out;
}

// The figures of one alternative that fits, after its rank and label.
std::string FiguresText(const Comparison& c, size_t i) {
  const CompareEntry& e = c.entries[i];
  const PlanResult& r = e.result;
  const Campaign& k = r.campaign;
  const std::string p50 = k.outlook_known && k.outlook.finishes
                              ? fmt::format("{:.4g}", k.outlook.wall_p50.value() / 86400)
                              : std::string(k.outlook_known ? "never" : "-");
  const std::string cost =
      k.cost_known ? Dollars(k.cost_usd_low * k.HeldShare(), k.cost_usd_high * k.HeldShare()) : "no price";
  const std::string energy = k.energy_known ? fmt::format("{:.4g}", k.energy_mwh) : "no power";
  const std::string factor = c.factor_of_best[i] > 0 ? fmt::format("{:.2f}x", c.factor_of_best[i]) : "-";
  return fmt::format("{:>8.3f} {:>10.1f} {:>6.1f}% {:>9.4g} {:>9} {:>11.3g} {:>22} {:>9} {:>7}", r.time.step.value(),
                     r.time.tokens_per_s_per_device, 100 * r.time.mfu, k.days_ideal, p50, k.device_hours, cost, energy,
                     factor);
}

// The device's step-time error on measured runs, as `plan` states it.
std::string AccuracyWords(const PlanResult& r) {
  if (!r.accuracy_checked) return "";
  if (!r.accuracy || r.accuracy->time.runs == 0) return "no measured run checks step times on this device";
  const ErrorSummary& t = r.accuracy->time;
  return fmt::format("step time within {:.1f}% on average (bias {:+.1f}%, negative: predicted fast) on {} measured "
                     "run{}",
                     100 * t.mape, 100 * t.bias, t.runs, t.runs == 1 ? "" : "s");
}

// What stands in the way of, or qualifies, one alternative: its blocking reasons and warnings.
std::string NotesText(const CompareEntry& e) {
  std::string out;
  const PlanResult& r = e.result;
  if (!e.evaluated) {
    out += "    no valid plan fits this job on this cluster (searched); `preflight search` says why\n";
  } else {
    if (!r.check.ok()) {
      out += fmt::format("    invalid plan: {}{}\n", r.check.message, e.searched ? "" : " (--search looks for a valid layout)");
    }
    if (r.has_memory && !r.memory.fits) {
      out += fmt::format("    does not fit: {:.1f} GiB per device of {:.1f} GiB{}\n", r.memory.worst.Total().gib(),
                         r.memory.capacity.gib(), e.searched ? "" : " (--search looks for a layout that fits)");
    }
  }
  if (const std::string a = AccuracyWords(r); !a.empty()) out += fmt::format("    accuracy: {}\n", a);
  for (const std::string& w : r.warnings) out += fmt::format("    warning: {}\n", w);
  return out;
}

}  // namespace

json CompareJson(const Comparison& c) {
  json alternatives = json::array();
  json ranking = json::array();
  for (size_t n = 0; n < c.order.size(); ++n) {
    alternatives.push_back(EntryJson(c, c.order[n], static_cast<int>(n + 1)));
    ranking.push_back(EntryLabel(c.entries[c.order[n]]));
  }
  return {{"objective", std::string(ObjectiveName(c.objective))},
          {"unit", c.unit},
          {"ranking", ranking},
          {"alternatives", alternatives}};
}

std::string CompareText(const Comparison& c) {
  std::string out = fmt::format("compare    {} alternatives, ranked by {}\n", c.entries.size(), ObjectiveWords(c));
  size_t width = 11;
  for (const CompareEntry& e : c.entries) width = std::max(width, EntryLabel(e).size());
  out += fmt::format("{:>4}  {:<{}} {:>8} {:>10} {:>7} {:>9} {:>9} {:>11} {:>22} {:>9} {:>7}\n", "rank", "alternative",
                     width, "step s", "tok/s/dev", "MFU", "days", "days P50", "device-h", "cost", "MWh", "x best");
  for (size_t n = 0; n < c.order.size(); ++n) {
    const size_t i = c.order[n];
    const CompareEntry& e = c.entries[i];
    const std::string rank = Fits(e) ? std::to_string(n + 1) : "-";
    out += fmt::format("{:>4}  {:<{}} ", rank, EntryLabel(e), width);
    if (Fits(e) && e.result.has_time) {
      out += FiguresText(c, i) + "\n";
    } else {
      out += !e.evaluated ? "no plan fits (searched)\n"
             : Fits(e)    ? "fits, but has no step time (below)\n"
                          : "does not fit or is invalid (below)\n";
    }
  }
  out += "\n";
  for (size_t n = 0; n < c.order.size(); ++n) {
    const CompareEntry& e = c.entries[c.order[n]];
    const Scenario& s = e.result.scenario;
    out += fmt::format("{}: {} x {}", EntryLabel(e), s.cluster.devices, s.cluster.spec.id);
    if (e.evaluated) out += fmt::format(", {}{}", CompactLayout(s.plan), e.searched ? " (searched)" : " (given)");
    out += '\n';
    out += NotesText(e);
  }
  return out;
}

}  // namespace preflight
