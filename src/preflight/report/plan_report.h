// File: report/plan_report.h
//
// Renders results as JSON (the keys fixed in ARCHITECTURE.md) or as text for a terminal.
//
//   std::cout << PlanText(result);
//   std::cout << PlanJson(result).dump(2);
//   std::cout << HardwareText(spec);
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "preflight/catalog/hardware_spec.h"
#include "preflight/scenario/evaluate.h"

namespace preflight {

// `plan --json`: model, hardware, plan, memory, compat (+ time, campaign when computed).
nlohmann::json PlanJson(const PlanResult& r);
std::string PlanText(const PlanResult& r);

// The `plan` object alone ({tp, pp, ...}).
nlohmann::json PlanFieldsJson(const Plan& p, const TrainingJob& job);

nlohmann::json HardwareJson(const HardwareSpec& h);
std::string HardwareText(const HardwareSpec& h);

}  // namespace preflight
