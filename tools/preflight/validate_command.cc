// `preflight validate`: predicts every run of validation files and reports the errors, by file,
// hardware, host-bound warning, proxy figures and any --by fields of the runs (text or --json), with
// --search-layouts the searched layout beside each published one.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <map>
#include <optional>

#include "commands.h"
#include "preflight/report/plan_report.h"
#include "preflight/scenario/evaluate.h"
#include "preflight/scenario/validate.h"
#include "preflight/search/search.h"

namespace preflight::cli {

namespace {

// The rows grouped by `key` (in order of first appearance), each summarised.
std::vector<std::pair<std::string, ValidationReport>> GroupRows(
    const ValidationReport& rep, const std::function<std::string(const ValidationRow&)>& key) {
  std::vector<std::pair<std::string, ValidationReport>> groups;
  for (const auto& row : rep.rows) {
    const std::string k = key(row);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == k; });
    if (it == groups.end()) it = groups.insert(groups.end(), {k, ValidationReport{}});
    it->second.rows.push_back(row);
  }
  for (auto& g : groups) Summarize(&g.second);
  return groups;
}

// A layout on one line, as the searched-layout table and the rows print it.
std::string LayoutLabel(const Plan& p) {
  return fmt::format("tp{} cp{} pp{} vpp{} dp{} ep{} etp{} sp{} zero{} {} {} mb{}", p.tp, p.cp, p.pp, p.vpp, p.dp, p.ep,
                     p.etp, p.sp ? 1 : 0, p.zero, ScheduleName(p.schedule), RecomputeLabel(p), p.micro_batch);
}

// One field's value for `--by`: its text, and how it sorts: numbers by value (a layout by its
// degrees in turn), then words, then "auto".
struct FieldValue {
  std::string text;
  std::vector<double> numbers;  // empty for a word
  bool last = false;            // "auto": after every value
};

FieldValue Number(int64_t v) { return {std::to_string(v), {static_cast<double>(v)}}; }
FieldValue Word(std::string_view v) { return {std::string(v), {}}; }

// Orders two values of one field (FieldValue's order).
bool Before(const FieldValue& a, const FieldValue& b) {
  if (a.last != b.last) return b.last;
  if (a.numbers.empty() != b.numbers.empty()) return !a.numbers.empty();  // numbers before words
  if (a.numbers != b.numbers) return a.numbers < b.numbers;
  return a.text < b.text;
}

// A layout field of a row, or "auto" for a run without a layout the search gave none.
FieldValue PlanField(const ValidationRow& r, const std::string& field) {
  if (!r.has_plan) return {"auto", {}, true};
  const Plan& p = r.plan;
  static const std::vector<std::pair<std::string, int64_t Plan::*>> kWhole = {
      {"tp", &Plan::tp}, {"cp", &Plan::cp}, {"pp", &Plan::pp},   {"vpp", &Plan::vpp},
      {"dp", &Plan::dp}, {"ep", &Plan::ep}, {"etp", &Plan::etp}, {"micro_batch", &Plan::micro_batch}};
  for (const auto& [name, member] : kWhole) {
    if (name == field) return Number(p.*member);
  }
  if (field == "sp") return Number(p.sp ? 1 : 0);
  if (field == "zero") return Number(p.zero);
  if (field == "schedule") return Word(ScheduleName(p.schedule));
  if (field == "recompute") return Word(RecomputeLabel(p));
  // "layout": by its degrees in LayoutLabel's order, then the rest of its text.
  const auto d = [](int64_t v) { return static_cast<double>(v); };
  return {LayoutLabel(p),
          {d(p.tp), d(p.cp), d(p.pp), d(p.vpp), d(p.dp), d(p.ep), d(p.etp), d(p.sp ? 1 : 0), d(p.zero), d(p.micro_batch)}};
}

// The share of the predicted step the GPU waits for the host (breakdown.host_launch), in bins:
// where the host paces the step, its measured time per kernel and call decides the answer.
FieldValue HostShare(const ValidationRow& r) {
  if (r.status != "ok" || r.time.step.value() <= 0) return {"not predicted", {}, true};
  static const std::vector<std::pair<double, std::string>> kBins = {
      {0.02, "under 2%"}, {0.10, "2-10%"}, {0.30, "10-30%"}, {0.60, "30-60%"}};
  const double share = r.time.host_launch.value() / r.time.step.value();
  for (size_t i = 0; i < kBins.size(); ++i) {
    if (share < kBins[i].first) return {kBins[i].second, {static_cast<double>(i)}};
  }
  return {"60% and over", {static_cast<double>(kBins.size())}};
}

FieldValue RowField(const ValidationRow& r, const std::string& field) {
  if (field == "file") return Word(r.file);
  if (field == "hardware") return Word(r.hardware);
  if (field == "model") return Word(r.model);
  if (field == "hidden") return Number(r.hidden);
  if (field == "layers") return Number(r.layers);
  if (field == "metric") return Word(r.metric);
  if (field == "devices") return Number(r.devices);
  if (field == "seq_len") return Number(r.seq_len);
  if (field == "global_batch") return Number(r.global_batch);
  if (field == "precision") return Word(DtypeName(r.precision));
  if (field == "host_share") return HostShare(r);
  return PlanField(r, field);
}

// "tp,micro_batch" as its fields, or an empty list with *error set when a field is not one of
// ValidateGroupFields.
std::vector<std::string> ParseGroupSpec(const std::string& spec, std::string* error) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    const size_t comma = spec.find(',', start);
    const std::string field = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto& known = ValidateGroupFields();
    if (std::find(known.begin(), known.end(), field) == known.end()) {
      *error = fmt::format("--by: expected fields among {} (comma-separated), got '{}'", fmt::join(known, ", "), field);
      return {};
    }
    if (std::find(fields.begin(), fields.end(), field) != fields.end()) {
      *error = fmt::format("--by: expected each field once, got '{}' twice in '{}'", field, spec);
      return {};
    }
    fields.push_back(field);
    if (comma == std::string::npos) return fields;
    start = comma + 1;
  }
}

// The rows grouped by the values of `fields` ("tp 2, micro_batch 1"), the groups in order of
// those values (numbers by value).
std::vector<std::pair<std::string, ValidationReport>> GroupByFields(const ValidationReport& rep,
                                                                    const std::vector<std::string>& fields) {
  const auto values = [&](const ValidationRow& r) {
    std::vector<FieldValue> v;
    for (const std::string& f : fields) v.push_back(RowField(r, f));
    return v;
  };
  const auto label = [&](const std::vector<FieldValue>& v) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += fmt::format("{}{} {}", i ? ", " : "", fields[i], v[i].text);
    return out;
  };
  std::vector<std::pair<std::vector<FieldValue>, ValidationReport>> groups;
  std::map<std::string, size_t> index;  // a group's label: its place in groups
  for (const auto& row : rep.rows) {
    std::vector<FieldValue> v = values(row);
    const auto [it, added] = index.emplace(label(v), groups.size());
    if (added) groups.emplace_back(std::move(v), ValidationReport{});
    groups[it->second].second.rows.push_back(row);
  }
  const auto before = [](const std::vector<FieldValue>& a, const std::vector<FieldValue>& b) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (Before(a[i], b[i])) return true;
      if (Before(b[i], a[i])) return false;
    }
    return false;
  };
  std::stable_sort(groups.begin(), groups.end(), [&](const auto& a, const auto& b) { return before(a.first, b.first); });
  std::vector<std::pair<std::string, ValidationReport>> out;
  for (auto& [v, part] : groups) {
    Summarize(&part);
    out.emplace_back(label(v), std::move(part));
  }
  return out;
}

// A run not predicted has neither a warning nor figures read: it is grouped apart.
std::string HostBoundGroup(const ValidationRow& r) {
  if (r.status != "ok") return "not predicted";
  return r.possibly_host_bound ? "possibly host-bound" : "not flagged";
}

std::string ProxyGroup(const ValidationRow& r) {
  if (r.status != "ok") return "not predicted";
  return r.proxy_figures > 0 ? "rests on proxy figures" : "device's own figures";
}

// One summary line: runs, MAPE, bias, time bias, worst error and run; dashes where no run was
// predicted (a MAPE of 0% over nothing would read as a perfect score) or no row is a time or rate.
// `width`: the name column's.
std::string SummaryLine(const std::string& name, const ValidationReport& part, size_t width = 40) {
  const std::string skipped = part.skipped ? fmt::format(" ({} not predicted)", part.skipped) : "";
  if (part.predicted == 0) {
    return fmt::format("{:{}} {:>6} {:>8} {:>8} {:>9} {:>9}  {}\n", name, width, 0, "-", "-", "-", "-",
                       skipped.empty() ? "" : skipped.substr(1));
  }
  const std::string time_bias = part.time_rows > 0 ? fmt::format("{:>+8.1f}%", 100 * part.time_bias) : "-";
  return fmt::format("{:{}} {:>6} {:>7.1f}% {:>+7.1f}% {:>9} {:>8.1f}%  {}{}\n", name, width, part.predicted,
                     100 * part.mape, 100 * part.mean_error, time_bias, 100 * part.max_abs_error, part.worst, skipped);
}

// A table of groups, the name column as wide as the longest name; `all`, when given, as its last
// line.
std::string GroupText(const std::string& title, const std::vector<std::pair<std::string, ValidationReport>>& groups,
                      const ValidationReport* all = nullptr) {
  size_t width = std::max<size_t>(40, title.size());
  for (const auto& g : groups) width = std::max(width, g.first.size());
  std::string out = fmt::format("{:{}} {:>6} {:>8} {:>8} {:>9} {:>9}  {}\n", title, width, "rows", "MAPE", "bias",
                                "time bias", "max |err|", "worst run");
  for (const auto& [name, part] : groups) out += SummaryLine(name, part, width);
  if (all) out += SummaryLine("all", *all, width);
  return out;
}

// The summary statistics of `part` under their JSON keys; null where no run was predicted.
nlohmann::json SummaryJson(const ValidationReport& part) {
  const auto stat = [&](double v) { return part.predicted > 0 ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"mape", stat(part.mape)},
          {"mean_error", stat(part.mean_error)},
          {"time_bias", part.time_rows > 0 ? nlohmann::json(part.time_bias) : nlohmann::json(nullptr)},
          {"max_abs_error", stat(part.max_abs_error)},
          {"worst", part.predicted > 0 ? nlohmann::json(part.worst) : nlohmann::json(nullptr)}};
}

// The groups under their names, each with `order`, its place in the text table (the JSON object's
// keys come out sorted as strings: "devices 1024" before "devices 128").
nlohmann::json GroupJson(const std::vector<std::pair<std::string, ValidationReport>>& groups) {
  nlohmann::json j = nlohmann::json::object();
  int64_t order = 0;
  for (const auto& [name, part] : groups) {
    j[name] = SummaryJson(part);
    j[name]["order"] = order++;
    j[name]["runs"] = part.predicted;
    j[name]["skipped"] = part.skipped;
    j[name]["ran_but_predicted_oom"] = part.ran_but_predicted_oom.size();
  }
  return j;
}

// One line per row, the name and metric columns as wide as the longest shown.
std::string RowsText(const std::vector<const ValidationRow*>& rows) {
  size_t name_w = 3, metric_w = 6;
  for (const ValidationRow* row : rows) {
    name_w = std::max(name_w, row->name.size());
    metric_w = std::max(metric_w, row->metric.size());
  }
  std::string out = fmt::format("{:{}} {:{}} {:>12} {:>12} {:>8}\n", "run", name_w, "metric", metric_w, "measured",
                                "predicted", "error");
  for (const ValidationRow* row : rows) {
    if (row->status != "ok") {
      out += fmt::format("{:{}} {:{}} {:>12.4g} {:>12} {:>8}  {}\n", row->name, name_w, row->metric, metric_w,
                         row->measured, "-", "-", row->status);
      continue;
    }
    out += fmt::format("{:{}} {:{}} {:>12.4g} {:>12.4g} {:>+7.1f}%{}\n", row->name, name_w, row->metric, metric_w,
                       row->measured, row->predicted, 100 * row->error,
                       row->searched_plan ? "  searched: " + LayoutLabel(*row->searched_plan) : std::string());
  }
  return out;
}

// The measured runs whose plan the memory estimate says does not fit: they ran, so each is a
// memory-model error (or a setting missing from the row), listed with its predicted headroom.
std::string OomText(const ValidationReport& rep) {
  std::string lines;
  int predicted = 0, last = -1;  // runs, not rows: the rows of one run are adjacent
  for (const ValidationRow& row : rep.rows) {
    if (row.status != "ok" || row.run == last) continue;
    last = row.run;
    ++predicted;
    if (!row.predicted_fits) lines += fmt::format("  {} (headroom {:+.1f}%)\n", row.name, 100 * row.memory_headroom);
  }
  return fmt::format("\nmeasured runs predicted not to fit: {} of {}\n", rep.ran_but_predicted_oom.size(), predicted) +
         lines;
}

using GroupSpecs = std::vector<std::pair<std::string, std::vector<std::string>>>;  // spec, its fields

std::string ValidationText(const ValidationReport& rep, bool all, const GroupSpecs& by) {
  std::string out = GroupText("file", GroupRows(rep, [](const ValidationRow& r) { return r.file; }), &rep);
  out += '\n';
  out += GroupText("hardware", GroupRows(rep, [](const ValidationRow& r) { return r.hardware; }));
  out += '\n';
  out += GroupText("plan's host-bound warning", GroupRows(rep, HostBoundGroup));
  out += '\n';
  out += GroupText("figures measured on another device", GroupRows(rep, ProxyGroup));
  for (const auto& [spec, fields] : by) {
    out += '\n' + GroupText(fmt::format("{}", fmt::join(fields, ", ")), GroupByFields(rep, fields));
  }
  out += OomText(rep);
  std::vector<const ValidationRow*> rows, not_predicted;
  for (const auto& row : rep.rows) (all || row.status == "ok" ? rows : not_predicted).push_back(&row);
  if (!all) {
    std::sort(rows.begin(), rows.end(),
              [](const ValidationRow* a, const ValidationRow* b) { return std::fabs(a->error) > std::fabs(b->error); });
    if (rows.size() > 10) rows.resize(10);
    rows.insert(rows.end(), not_predicted.begin(), not_predicted.end());  // each with its reason
    out += "\nworst rows and every run not predicted (--all for every row):\n";
  }
  return out + RowsText(rows);
}

nlohmann::json ValidationJson(const ValidationReport& rep, const GroupSpecs& by) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& row : rep.rows) {
    nlohmann::json j = {{"name", row.name}, {"file", row.file}, {"run", row.run}, {"hardware", row.hardware},
                        {"metric", row.metric}, {"measured", row.measured}, {"status", row.status}};
    // What a prediction gives, null for a run not predicted.
    const bool ok = row.status == "ok";
    const auto predicted = [ok](nlohmann::json v) { return ok ? std::move(v) : nlohmann::json(nullptr); };
    j["possibly_host_bound"] = predicted(row.possibly_host_bound);
    j["proxy_figures"] = predicted(row.proxy_figures);
    j["predicted_fits"] = predicted(row.predicted_fits);
    j["memory_headroom"] = predicted(row.memory_headroom);
    j["predicted"] = predicted(row.predicted);
    j["error"] = predicted(row.error);
    j["time_error"] = ok && row.has_time_error ? nlohmann::json(row.time_error) : nlohmann::json(nullptr);
    j["step_s"] = predicted(row.time.step.value());
    j["breakdown"] = ok ? StepBreakdownJson(row.time) : nlohmann::json(nullptr);
    // The layout a run without one was predicted with (null for a run that states its own).
    j["searched_plan"] = row.searched_plan ? nlohmann::json(LayoutLabel(*row.searched_plan)) : nlohmann::json(nullptr);
    runs.push_back(j);
  }
  nlohmann::json j = SummaryJson(rep);
  j["runs"] = runs;
  j["predicted"] = rep.predicted;
  j["skipped"] = rep.skipped;
  j["ran_but_predicted_oom"] = rep.ran_but_predicted_oom;
  j["by_file"] = GroupJson(GroupRows(rep, [](const ValidationRow& r) { return r.file; }));
  j["by_hardware"] = GroupJson(GroupRows(rep, [](const ValidationRow& r) { return r.hardware; }));
  j["by_host_bound_warning"] = GroupJson(GroupRows(rep, HostBoundGroup));
  j["by_proxy_figures"] = GroupJson(GroupRows(rep, ProxyGroup));
  // --by's tables under their specs as given ("tp,micro_batch"), each group under its label.
  j["by"] = nlohmann::json::object();
  for (const auto& [spec, fields] : by) j["by"][spec] = GroupJson(GroupByFields(rep, fields));
  return j;
}

}  // namespace

const std::vector<std::string>& ValidateGroupFields() {
  static const std::vector<std::string> kFields = {
      "tp",       "cp",      "pp",          "vpp",          "dp",          "ep",       "etp",
      "sp",       "zero",    "schedule",    "recompute",    "micro_batch", "layout",   "seq_len",
      "global_batch", "precision", "devices", "model",      "hidden",      "layers",   "hardware", "file",
      "metric",       "host_share"};
  return kFields;
}

namespace {

// --by's specs, each once (a spec given twice is one table and one JSON key). False, with the
// reason in *error (ParseGroupSpec's), on a spec with an unknown field or a field given twice.
bool ParseGroupSpecs(const std::vector<std::string>& specs, GroupSpecs* by, std::string* error) {
  for (const std::string& spec : specs) {
    const bool seen = std::any_of(by->begin(), by->end(), [&](const auto& b) { return b.first == spec; });
    if (seen) continue;
    std::vector<std::string> fields = ParseGroupSpec(spec, error);
    if (fields.empty()) return false;
    by->emplace_back(spec, std::move(fields));
  }
  return true;
}

// Every run of every file, in order. False, with the reason in *error, on a file that does not
// load or holds no run with `measured` figures (an empty list would report "0 runs" and a MAPE of
// nothing).
bool LoadRuns(const ValidateArgs& args, std::vector<Scenario>* runs, std::string* error) {
  Catalog catalog = Catalog::Default();
  for (const std::string& file : args.files) {
    auto list = LoadScenarioList(file, catalog, args.overrides);
    if (!list.ok()) {
      *error = list.status().message();
      return false;
    }
    const bool any_measured = std::any_of(list->begin(), list->end(),
                                          [](const Scenario& s) { return !s.measured.metrics.empty(); });
    if (!any_measured) {
      *error = file + ": runs: expected at least one run with `measured` figures";
      return false;
    }
    for (Scenario& s : *list) runs->push_back(std::move(s));
  }
  return true;
}

// The most layouts the command's searches take in all: four searches' worth, a few minutes at most
// (the bundled 1,948 rows' --search-layouts takes a few minutes on two cores), where 500 searches
// of a large model would take hours.
constexpr int64_t kMaxValidateSearchLayouts = 4 * kMaxSearchLayouts;

// Holds every search the command runs (a run without a layout; with --search-layouts every run
// whose published layout is predicted) to kMaxValidateSearchLayouts in all. False, with the reason
// in *error, past that.
bool SearchesWithinBudget(const std::vector<Scenario>& runs, const std::vector<std::optional<PlanResult>>& published,
                          std::string* error) {
  int64_t searched = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const Scenario& s = runs[i];
    if (!s.auto_parallel && !published[i]) continue;
    int64_t layouts = 0;
    const std::string what = s.auto_parallel ? "run '" + s.name + "' (parallel: auto)" : "run '" + s.name + "' (--search-layouts)";
    if (!SearchSpaceWithin(s, SearchConstraints{}, kMaxValidateSearchLayouts - searched, what, &layouts, error)) {
      *error += fmt::format(" (the command's searches take at most {} layouts in all)", kMaxValidateSearchLayouts);
      return false;
    }
    searched += layouts;
  }
  return true;
}

// The best searched layout of a scenario, or nothing when no layout fits.
std::optional<RankedPlan> BestLayout(const Scenario& s) {
  SearchOptions o;
  o.top_k = 1;
  SearchResult r = Search(s, SearchConstraints{}, o);
  if (r.top.empty()) return std::nullopt;
  return r.top.front();
}

// --search-layouts: each run whose published layout gave a step time against the best layout the
// search finds for it, as a table appended to *text and as the JSON keys `layouts` and
// `searched_worse`.
void CompareLayouts(const std::vector<Scenario>& runs, const std::vector<std::optional<PlanResult>>& published,
                    std::string* text, nlohmann::json* j) {
  nlohmann::json layouts = nlohmann::json::array();
  *text += fmt::format("\nsearched layout vs published layout (predicted step time):\n{:48} {:>10} {:>10} {:>7}  {}\n",
                       "run", "published", "searched", "ratio", "searched plan");
  int worse = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (!published[i]) continue;  // a run without a layout, or one whose layout gives no step time
    const Scenario& s = runs[i];
    const PlanResult& given = *published[i];
    const std::optional<RankedPlan> best = BestLayout(s);
    if (!best) continue;
    const double ratio = best->time.step.value() / given.time.step.value();
    worse += ratio > 1.0 + 1e-9 ? 1 : 0;
    const std::string plan = LayoutLabel(best->plan);
    *text += fmt::format("{:48} {:>10.4g} {:>10.4g} {:>7.3f}  {}\n", s.name, given.time.step.value(),
                         best->time.step.value(), ratio, plan);
    layouts.push_back({{"name", s.name}, {"published_step_s", given.time.step.value()},
                       {"searched_step_s", best->time.step.value()}, {"ratio", ratio}, {"searched_plan", plan}});
  }
  *text += fmt::format("searched layout slower than the published one in {} runs\n", worse);
  (*j)["layouts"] = layouts;
  (*j)["searched_worse"] = worse;
}

}  // namespace

int RunValidate(const ValidateArgs& args) {
  GroupSpecs by;
  std::vector<Scenario> runs;
  std::string error;
  if (!ParseGroupSpecs(args.by, &by, &error)) return BadInput("command line: " + error);
  if (!LoadRuns(args, &runs, &error)) return BadInput(error);
  EvaluateOptions options;
  options.simulate_failures = false;  // validate reads no campaign figure that failures change
  // With --search-layouts each run's published layout is predicted first: a run whose layout gives
  // no step time is not searched, so its layouts take nothing from the search budget.
  std::vector<std::optional<PlanResult>> published(runs.size());
  for (size_t i = 0; args.search_layouts && i < runs.size(); ++i) {
    if (runs[i].auto_parallel) continue;
    PlanResult given = Evaluate(runs[i], options);
    if (given.has_time) published[i] = std::move(given);
  }
  if (!SearchesWithinBudget(runs, published, &error)) return BadInput(error);
  AutoPlanner planner = [](const Scenario& s, Plan* plan) {
    const std::optional<RankedPlan> best = BestLayout(s);
    if (best) *plan = best->plan;
    return best.has_value();
  };
  ValidationReport rep = Validate(runs, options, planner);
  nlohmann::json j = ValidationJson(rep, by);
  std::string text = ValidationText(rep, args.all, by);
  if (args.search_layouts) CompareLayouts(runs, published, &text, &j);
  std::cout << (args.json ? JsonText(j) : text);
  // Nothing predicted (every run an invalid plan, or a search without a fitting plan): no figure
  // to give, as plan and search exit 1 when the answer is infeasible.
  return rep.predicted > 0 ? 0 : 1;
}

}  // namespace preflight::cli
