// File: tools/preflight/commands.h
//
// One function per CLI verb. Each returns the process exit code: 0 success, 1 infeasible
// (does not fit, invalid plan, failed), 2 bad input (after printing one line on stderr).
// Output is composed in full before anything is written, so a failure writes nothing.
#pragma once

#include <string>
#include <vector>

#include "preflight/scenario/scenario.h"
#include "preflight/search/search.h"

namespace preflight::cli {

struct PlanArgs {
  std::string scenario;
  bool json = false;
  std::vector<Override> overrides;
};

struct CatalogArgs {
  std::string action;  // list | show
  std::string id;
  bool json = false;
};

struct ValidateArgs {
  std::vector<std::string> files;
  bool json = false;
  bool all = false;  // print every row, not only the summary and the worst rows
  bool search_layouts = false;  // also search each run and compare with its published layout
  std::vector<Override> overrides;  // --set dotted.key=value, applied to every run
  // --by FIELD[,FIELD...] (repeatable): one more summary table per spec, the rows grouped by those
  // fields of their run (ValidateGroupFields lists them).
  std::vector<std::string> by;
};

// The fields `validate --by` groups rows by, in the order the help text lists them.
const std::vector<std::string>& ValidateGroupFields();

int RunPlan(const PlanArgs& args);
int RunValidate(const ValidateArgs& args);
int RunCatalog(const CatalogArgs& args);

// Prints "preflight: <message>" on stderr and returns 2.
int BadInput(const std::string& message);

// The search space (CountSearchSpace) of `s` with the constraints of `c`; when its layouts pass
// `limit` or its combinations kMaxSearchBranches, false and `*error` the bad-input line: what the
// space holds and how to narrow it. `what` names what is searched ("the search", "parallel: auto").
bool SearchSpaceWithin(const Scenario& s, const SearchConstraints& c, int64_t limit, const std::string& what,
                       int64_t* layouts, std::string* error);

}  // namespace preflight::cli
