#include "preflight/report/internal/plan_facts.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "preflight/cost/collectives.h"
#include "preflight/cost/step_time.h"

namespace preflight::report_internal {

// How the checkpoint interval was set: "given", "daly" (rounded up to whole steps), "every step"
// (Daly's optimum is shorter than a step), or "none" (no failures and no interval: no checkpoints).
std::string IntervalRule(const Campaign& c) {
  const FailureModel& m = c.failures;
  if (m.interval.value() > 0) return "given";
  if (!std::isfinite(c.outlook.interval.value())) return "none";
  if (c.outlook.interval == m.step) return "every step";
  return "daly";
}

// The fused-attention kernel whose rates time the step: the scenario's choice, else the catalog's
// default when the file names it; empty with unfused attention or an unnamed kernel.
std::string AttentionKernelInUse(const Scenario& s) {
  if (!s.job.flash_attention) return "";
  return s.job.attention_kernel.empty() ? s.cluster.spec.attention_kernel : s.job.attention_kernel;
}

// The query and key length the fused kernel's rate is read at, when the catalog measured that
// kernel by sequence length; 0 otherwise.
double AttentionBlockTokens(const Scenario& s) {
  if (!s.job.flash_attention) return 0;
  const std::optional<HardwareSpec::AttentionKernel> k = s.cluster.spec.AttentionRates(s.job.attention_kernel);
  if (!k || k->curves.empty()) return 0;
  return FlashBlockLength(s.job, s.plan);
}

// The devices a job takes of each scale-up domain, where not all of them (collectives.h).
int64_t PlacedPerDomain(const Scenario& s) {
  const Plan& p = s.plan;
  return PlacedDomain(s.cluster.scale_up_domain, s.cluster.devices_per_node, ModelParallelBlock(p.tp, p.cp, p.etp, p.ep),
                      p.tp * p.cp * p.dp * p.pp);
}

std::string PlacementText(const Scenario& s) {
  const int64_t placed = PlacedPerDomain(s);
  if (placed == s.cluster.scale_up_domain) return "";
  return fmt::format("; the job takes {} of each, whole tiles of its TP x CP and expert groups", placed);
}

std::string Dollars(double low, double high) {
  return low == high ? fmt::format("${:.3g}", low) : fmt::format("${:.3g} to ${:.3g}", low, high);
}

}  // namespace preflight::report_internal
