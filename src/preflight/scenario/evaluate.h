// File: scenario/evaluate.h
//
// Everything preflight says about one scenario with a given plan: parameters, FLOPs, plan
// validity, memory per device. The report module renders a PlanResult as text or JSON.
//
//   ASSIGN_OR_RETURN(Scenario s, LoadScenarioFile(path, catalog, {}));
//   PlanResult r = Evaluate(s, {});
//   r.check.ok(); r.memory.fits;
#pragma once

#include <string>
#include <vector>

#include "preflight/cost/memory.h"
#include "preflight/model/model.h"
#include "preflight/parallel/plan.h"
#include "preflight/scenario/scenario.h"

namespace preflight {

struct EvaluateOptions {
  MemoryOptions memory;
};

struct PlanResult {
  Scenario scenario;
  ParamCounts params;
  OpList ops;
  PlanCheck check;
  bool has_memory = false;  // false when the plan is invalid
  MemoryEstimate memory;
  std::vector<std::string> warnings;

  // 0 = fits, 1 = infeasible (invalid plan or does not fit): the CLI's exit code.
  int ExitCode() const { return check.ok() && has_memory && memory.fits ? 0 : 1; }
};

// REQUIRES: !s.auto_parallel (the search picks a plan for auto scenarios).
PlanResult Evaluate(const Scenario& s, const EvaluateOptions& options);

}  // namespace preflight
