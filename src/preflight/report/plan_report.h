// File: report/plan_report.h
//
// Renders results as JSON (the keys fixed in ARCHITECTURE.md) or as text for a terminal.
//
//   std::cout << PlanText(result);
//   std::cout << JsonText(PlanJson(result));
// (A catalog device's figures: report/hardware_report.h.)
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "preflight/scenario/evaluate.h"

namespace preflight {

// `plan --json`: model, hardware, plan, memory, compat (+ time, campaign when computed).
nlohmann::json PlanJson(const PlanResult& r);
// The step's parts in seconds: `time.breakdown` of PlanJson (README, "plan --json").
nlohmann::json StepBreakdownJson(const StepTime& t);
std::string PlanText(const PlanResult& r);

// The `plan` object alone ({tp, pp, ...}).
nlohmann::json PlanFieldsJson(const Plan& p, const TrainingJob& job);

// `j` as indented text with a final newline. Strings that are not valid UTF-8 (a name in a user's
// file) are written with U+FFFD in place of the bad bytes instead of throwing.
std::string JsonText(const nlohmann::json& j);

}  // namespace preflight
