// File: tools/preflight/compare_command.h
//
// `preflight compare`: one job on several clusters, ranked (search/compare.h). The alternatives
// are the scenario files given, each on every hardware of --hardware where that is given.
#pragma once

#include <string>
#include <vector>

#include "preflight/scenario/scenario.h"

namespace preflight::cli {

struct CompareArgs {
  std::vector<std::string> files;
  std::string hardware;  // "ID[,ID...]": every file on each (catalog ids or hardware YAML paths)
  std::vector<Override> overrides;  // --set and the scenario flags, applied to every alternative
  std::string objective = "days";
  bool search = false;  // search every alternative's layout, not only those with `parallel: auto`
  int threads = 0;
  bool json = false;
};

// Exit code 0 when at least one alternative fits, 1 when none does, 2 on bad input.
int RunCompare(const CompareArgs& args);

// The alternatives' labels: with one file, the hardware ids (or the scenario names when no
// --hardware is given); with several files and --hardware, "NAME on HARDWARE". A label given twice
// gets its file path in its place.
std::vector<std::string> CompareLabels(const std::vector<std::string>& files, const std::vector<std::string>& names,
                                       const std::vector<std::string>& hardware);

}  // namespace preflight::cli
