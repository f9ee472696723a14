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

// "$LOW to $HIGH" (a hyphen read as a minus between figures such as 6.86e+06), or "$PRICE" where
// the catalog has one price (low = high).
std::string Dollars(double low, double high) {
  return low == high ? fmt::format("${:.3g}", low) : fmt::format("${:.3g} to ${:.3g}", low, high);
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

// Where a plan reads the kernel's curves beyond what was measured, and which way that errs:
// shorter blocks or narrower heads run slower than the nearest measured rate (an upper bound on
// speed), wider heads faster (a lower bound); empty when the plan is inside the curves.
std::string AttentionCurveLimits(const Scenario& s, double block) {
  const std::optional<HardwareSpec::AttentionKernel> k = s.cluster.spec.AttentionRates(s.job.attention_kernel);
  if (!k || k->curves.empty()) return "";
  const std::vector<AttentionCurve>& c = k->curves.by_head_dim;
  double shortest = c.front().points.front().seq_len;
  for (const AttentionCurve& curve : c) shortest = std::min(shortest, curve.points.front().seq_len);
  std::string out;
  if (block < shortest) {
    out += fmt::format("; blocks shorter than the shortest measured ({:.0f} tokens) run at its rate, an upper "
                       "bound on speed", shortest);
  }
  const double d = FlashHeadDim(s.arch);
  if (c.size() > 1 && d < c.front().head_dim) {
    out += fmt::format("; heads of {:.0f} run at the narrowest measured curve ({:.0f}), an upper bound on speed", d,
                       c.front().head_dim);
  } else if (c.size() > 1 && d > c.back().head_dim) {
    out += fmt::format("; heads of {:.0f} run at the widest measured curve ({:.0f}), a lower bound on speed", d,
                       c.back().head_dim);
  }
  return out;
}

std::string CollectiveTableText(const CollectiveTable& t) {
  std::string groups;
  for (const CollectiveTable::Curve& c : t.curves()) {
    groups += fmt::format("{}{} over {}", groups.empty() ? "" : ", ", kCollectiveOpNames[static_cast<int>(c.op)], c.ranks);
    if (c.ranks_per_domain < c.ranks) groups += fmt::format(" ({} per domain)", c.ranks_per_domain);
  }
  return fmt::format("           measured collectives: {} ({}): {}; they time the groups that match them "
                     "(same operation, ranks and ranks per domain), the model the rest\n",
                     t.file, t.source, groups);
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

}  // namespace preflight::report_internal
