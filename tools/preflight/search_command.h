// File: tools/preflight/search_command.h
//
// `preflight search`: flags, progress display, text/JSON output, device sweeps. The search
// itself lives in src/preflight/search.
#pragma once

#include <string>
#include <vector>

#include "preflight/scenario/scenario.h"
#include "preflight/search/mpi_search.h"

namespace preflight::cli {

struct SearchArgs {
  std::string scenario;
  std::vector<Override> overrides;
  std::string objective = "step_time";
  int top = 10;
  int threads = 0;
  bool json = false;
  bool no_progress = false;
  bool exhaustive = false;
  bool distinct = false;
  std::string devices;  // "N", "A..B" (doubling), "A..B:S" (step S) or "a,b,c"
  SearchConstraints constraints;
  // Raw constraint flags (parsed after CLI parsing so errors are one line).
  std::string fix_schedule, fix_recompute, fix_sp;
};

int RunSearch(SearchArgs args, const MpiSession& mpi);

// The most worker threads --threads may ask for.
inline constexpr int kMaxThreads = 4096;

// The most device counts one --devices sweep may list.
inline constexpr size_t kMaxSweepCounts = 4096;

// Parses a --devices value: counts from 1 to kMaxClusterDevices, at most kMaxSweepCounts of them.
// Returns false with `error` set on bad input.
bool ParseDeviceList(const std::string& spec, std::vector<int64_t>* out, std::string* error);

}  // namespace preflight::cli
