#include "compare_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "commands.h"
#include "preflight/catalog/catalog.h"
#include "preflight/report/compare_report.h"
#include "preflight/report/plan_report.h"
#include "preflight/search/compare.h"
#include "preflight/search/search.h"
#include "search_command.h"

namespace preflight::cli {

namespace {

// The ids of --hardware, in order: none empty, none twice.
bool SplitHardware(const std::string& list, std::vector<std::string>* ids, std::string* error) {
  if (list.empty()) return true;
  std::set<std::string> seen;
  size_t start = 0;
  while (true) {
    const size_t comma = list.find(',', start);
    const std::string id = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (id.empty()) {
      *error = fmt::format("--hardware: expected catalog hardware ids or hardware YAML paths separated by commas, got '{}'",
                           list);
      return false;
    }
    if (!seen.insert(id).second) {
      *error = fmt::format("--hardware: expected each hardware once, got '{}' twice", id);
      return false;
    }
    ids->push_back(id);
    if (comma == std::string::npos) return true;
    start = comma + 1;
  }
}

}  // namespace

std::vector<std::string> CompareLabels(const std::vector<std::string>& files, const std::vector<std::string>& names,
                                       const std::vector<std::string>& hardware) {
  const bool several_files = std::set<std::string>(files.begin(), files.end()).size() > 1;
  const bool by_hardware = std::any_of(hardware.begin(), hardware.end(), [](const std::string& h) { return !h.empty(); });
  std::vector<std::string> labels;
  for (size_t i = 0; i < files.size(); ++i) {
    if (by_hardware && several_files) {
      labels.push_back(names[i] + " on " + hardware[i]);
    } else if (by_hardware) {
      labels.push_back(hardware[i]);
    } else {
      labels.push_back(names[i]);
    }
  }
  std::map<std::string, int> count;
  for (const std::string& l : labels) ++count[l];
  for (size_t i = 0; i < labels.size(); ++i) {
    if (count[labels[i]] > 1) labels[i] = hardware[i].empty() ? files[i] : files[i] + " on " + hardware[i];
  }
  return labels;
}

int RunCompare(const CompareArgs& args) {
  Objective objective = Objective::kDays;
  if (!ParseObjective(args.objective, &objective)) {
    return BadInput("command line: --objective: expected days, cost, energy or step_time, got '" + args.objective + "'");
  }
  if (args.threads < 0 || args.threads > kMaxThreads) {
    return BadInput(fmt::format("command line: --threads: expected 0 (every core) to {}, got {}", kMaxThreads, args.threads));
  }
  std::vector<std::string> hardware;
  std::string error;
  if (!SplitHardware(args.hardware, &hardware, &error)) return BadInput("command line: " + error);
  if (hardware.empty()) hardware.push_back("");  // each file as it is

  std::set<std::string> seen;
  for (const std::string& file : args.files) {
    if (!seen.insert(file).second) {
      return BadInput("command line: scenarios: expected each file once, got '" + file + "' twice");
    }
  }
  Catalog catalog = Catalog::Default();
  std::vector<Scenario> alternatives;
  std::vector<std::string> files, names, hardware_of;
  for (const std::string& file : args.files) {
    for (const std::string& hw : hardware) {
      std::vector<Override> overrides = args.overrides;
      if (!hw.empty()) overrides.push_back({"hardware", hw});
      auto s = LoadScenarioFile(file, catalog, overrides);
      if (!s.ok()) return BadInput(s.status().message());
      files.push_back(file);
      names.push_back(s->name.empty() ? file : s->name);
      hardware_of.push_back(hw);
      alternatives.push_back(std::move(*s));
    }
  }
  if (alternatives.size() < 2) {
    return BadInput("command line: expected two or more alternatives (several scenario files, or --hardware with two "
                    "or more ids), got 1");
  }
  for (const Scenario& s : alternatives) {
    if (!s.auto_parallel && !args.search) continue;
    int64_t layouts = 0;
    const std::string what = fmt::format("the search of {} on {}", s.name, s.cluster.spec.id);
    if (!SearchSpaceWithin(s, SearchConstraints{}, kMaxSearchLayouts, what, &layouts, &error)) return BadInput(error);
  }

  CompareOptions o;
  o.objective = objective;
  o.search_all = args.search;
  o.threads = args.threads;
  Comparison c = Compare(alternatives, o);
  const std::vector<std::string> labels = CompareLabels(files, names, hardware_of);
  bool any_fits = false;
  for (size_t i = 0; i < c.entries.size(); ++i) {
    CompareEntry& e = c.entries[i];
    e.label = labels[i];
    auto accuracy = catalog.Accuracy(e.result.scenario.cluster.spec);
    if (!accuracy.ok()) return BadInput(accuracy.status().message());
    e.result.accuracy_checked = true;
    e.result.accuracy = *accuracy;
    any_fits = any_fits || (e.evaluated && e.result.ExitCode() == 0);
  }
  std::cout << (args.json ? JsonText(CompareJson(c)) : CompareText(c));
  return any_fits ? 0 : 1;
}

}  // namespace preflight::cli
