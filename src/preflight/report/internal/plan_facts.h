// File: report/internal/plan_facts.h
//
// Internal to the report module: the phrases and figures that plan's JSON (plan_report.cc) and its
// text (plan_text.cc) both give, worked out once here so that the two say the same thing.
//
//   const std::string kernel = AttentionKernelInUse(s);   // "" with unfused attention
//   out += "cost " + Dollars(c.cost_low_usd, c.cost_high_usd);
#pragma once

#include <cstdint>
#include <string>

#include "preflight/catalog/collective_table.h"
#include "preflight/scenario/evaluate.h"

namespace preflight::report_internal {

// How the checkpoint interval was set: "given", "daly" (rounded up to whole steps), "every step"
// (Daly's optimum is shorter than a step), or "none" (no failures and no interval: no checkpoints).
std::string IntervalRule(const Campaign& c);

// "$LOW to $HIGH", or "$PRICE" where the catalog has one price (low = high); in US dollars.
std::string Dollars(double low, double high);

// The fused-attention kernel whose rates time the step: the scenario's choice, else the catalog's
// default when the file names it; empty with unfused attention or an unnamed kernel.
std::string AttentionKernelInUse(const Scenario& s);

// The query and key length (tokens) the fused kernel's rate is read at, when the catalog measured
// that kernel by sequence length; 0 otherwise.
double AttentionBlockTokens(const Scenario& s);

// Where a plan reads the kernel's curves beyond what was measured (`block`: AttentionBlockTokens),
// and which way that errs, as "; ..." clauses; empty when the plan is inside the curves.
std::string AttentionCurveLimits(const Scenario& s, double block);

// plan's line naming the measured collective curves a scenario supplied (cluster.collective_table)
// and the groups they time, with its final newline.
std::string CollectiveTableText(const CollectiveTable& t);

// The devices a job takes of each scale-up domain (collectives.h's PlacedDomain).
int64_t PlacedPerDomain(const Scenario& s);

// "; the job takes N of each, ..." where the job does not fill its scale-up domains; else empty.
std::string PlacementText(const Scenario& s);

}  // namespace preflight::report_internal
