// File: report/internal/plan_facts.h
//
// Internal to the report module: the facts that plan's JSON (plan_report.cc) and its text
// (plan_text.cc) both give, worked out once here so that the two say the same thing.
//
//   const std::string kernel = AttentionKernelInUse(s);   // "" with unfused attention
//   j["interval_rule"] = IntervalRule(r.campaign);   // "given", "daly", "every step", "none"
#pragma once

#include <cstdint>
#include <string>

#include "preflight/scenario/evaluate.h"

namespace preflight::report_internal {

// How the checkpoint interval was set: "given", "daly" (rounded up to whole steps), "every step"
// (Daly's optimum is shorter than a step), or "none" (no failures and no interval: no checkpoints).
std::string IntervalRule(const Campaign& c);

// The fused-attention kernel whose rates time the step: the scenario's choice, else the catalog's
// default when the file names it; empty with unfused attention or an unnamed kernel.
std::string AttentionKernelInUse(const Scenario& s);

// The query and key length (tokens) the fused kernel's rate is read at, when the catalog measured
// that kernel by sequence length; 0 otherwise.
double AttentionBlockTokens(const Scenario& s);

// "$LOW to $HIGH" (a hyphen read as a minus between figures such as 6.86e+06), or "$PRICE" where
// the catalog has one price (low = high): plan's and compare's costs.
std::string Dollars(double low, double high);

// The devices a job takes of each scale-up domain (collectives.h's PlacedDomain).
int64_t PlacedPerDomain(const Scenario& s);

// "; the job takes N of each, ..." where the job does not fill its scale-up domains; else empty.
std::string PlacementText(const Scenario& s);

}  // namespace preflight::report_internal
