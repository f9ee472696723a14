// File: search/compare.h
//
// One training job on several clusters, side by side (`preflight compare`). Each alternative is a
// scenario (its hardware, cluster and layout); it runs with its own layout, or with the search's
// best by the comparison's objective where it has none (`parallel: auto`) or where every layout is
// searched (CompareOptions::search_all). The alternatives are then ranked by that objective.
//
//   CompareOptions o;
//   o.objective = Objective::kDays;
//   Comparison c = Compare({h100_job, mi300x_job}, o);
//   const CompareEntry& best = c.entries[c.order.front()];
//   best.result.campaign.days_ideal; best.result.time.mfu;
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "preflight/scenario/evaluate.h"
#include "preflight/scenario/scenario.h"
#include "preflight/search/search.h"

namespace preflight {

struct CompareOptions {
  Objective objective = Objective::kDays;
  // Search every alternative's layout, not only those without one (`parallel: auto`).
  bool search_all = false;
  int threads = 0;  // the search's worker threads (0: every core)
};

struct CompareEntry {
  // How the reports name the alternative; set by the caller (the CLI: the hardware id, the
  // scenario's name, or both). Empty: the hardware id.
  std::string label;
  // False where the search found no valid plan that fits: `result` then holds the scenario alone.
  bool evaluated = false;
  bool searched = false;  // the layout is the search's best (by CompareOptions::objective)
  int64_t search_valid = 0;  // with `searched`: the valid plans that fit, of those the search ran
  PlanResult result;
  // The objective (ObjectiveValue) of a plan that fits, in `unit` (ObjectiveUnit: cost without a
  // catalog price, or energy without a catalog power, falls back to device-hours).
  std::optional<double> objective;
  std::string unit;
};

struct Comparison {
  Objective objective = Objective::kDays;
  // The unit the ranking compares in: the objective's own ("days", "usd", "mwh", "s"). Entries whose
  // catalog lacks the price or power it needs are ranked after every entry that has it.
  std::string unit;
  std::vector<CompareEntry> entries;  // in the order given
  // Indices into `entries`, best first: the plans that fit by objective (in `unit`, then those in
  // device-hours), then the alternatives with no plan that fits, in the order given.
  std::vector<size_t> order;
  // This entry's objective over the best entry's (>= 1), for each entry with an objective in
  // `unit` when the best has one (0 for the others).
  std::vector<double> factor_of_best;
};

// The unit an objective compares in when every catalog figure it needs is known.
std::string ComparisonUnit(Objective o);

// Evaluates and ranks the alternatives. The caller holds each search's space to
// kMaxSearchLayouts (CountSearchSpace) first. REQUIRES: every scenario's cluster.devices > 0.
Comparison Compare(const std::vector<Scenario>& alternatives, const CompareOptions& o);

}  // namespace preflight
