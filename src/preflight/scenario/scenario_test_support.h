// File: scenario/scenario_test_support.h
//
// For the scenario unit tests only (includes GoogleTest): a small valid scenario, loaded from the
// running test's scratch folder, that the tests break one thing at a time, and checks on messages
// and warnings.
//
//   using test_support::kScenario;
//   StatusOr<Scenario> s = LoadText(Replace(kScenario, "tp: 2,", "tp: 0,"), &path);
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "preflight/base/test_support.h"
#include "preflight/catalog/catalog.h"
#include "preflight/scenario/evaluate.h"
#include "preflight/scenario/scenario.h"

namespace preflight::test_support {

inline std::string SourceDir() { return PREFLIGHT_SOURCE_DIR; }

// The running test's scratch folder (emptied on every call).
inline std::string ScratchDir() { return ScratchDir("preflight_scenario_"); }

inline bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Whether any of the plan's warnings contains `part`.
inline bool Warns(const PlanResult& r, const std::string& part) {
  return std::any_of(r.warnings.begin(), r.warnings.end(),
                     [&](const std::string& w) { return Contains(w, part); });
}

// A small valid scenario; the tests break one thing at a time.
inline constexpr const char* kScenario = R"(name: small
model: llama-3.1-8b
hardware: h100-sxm-80gb
cluster: {devices: 8, devices_per_node: 8}
parallel: {tp: 2, pp: 1, dp: 4, sp: true, zero: 1, schedule: 1f1b, recompute: selective}
training: {seq_len: 4096, global_batch: 64, micro_batch: 1, precision: bf16}
source: "unit test"
)";

inline std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "test bug: '" << from << "' not in the template";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

inline StatusOr<Scenario> LoadText(const std::string& text, std::string* path_out = nullptr,
                                   const std::vector<Override>& overrides = {}) {
  std::string path = WriteFile(ScratchDir(), "scenario.yaml", text);
  if (path_out != nullptr) *path_out = path;
  return LoadScenarioFile(path, Catalog::Default(), overrides);
}

}  // namespace preflight::test_support
