// File: scenario/evaluate.h
//
// Everything preflight says about one scenario with a given plan: parameters, FLOPs, plan
// validity, memory per device, step time, and the whole campaign (days, device-hours, cost,
// energy). The report module renders a PlanResult as text or JSON.
//
//   ASSIGN_OR_RETURN(Scenario s, LoadScenarioFile(path, catalog, {}));
//   PlanResult r = Evaluate(s, {});
//   r.check.ok(); r.memory.fits; r.time.step; r.campaign.days_ideal;
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "preflight/campaign/failures.h"
#include "preflight/catalog/accuracy_table.h"
#include "preflight/cost/memory.h"
#include "preflight/cost/step_time.h"
#include "preflight/model/model.h"
#include "preflight/parallel/plan.h"
#include "preflight/scenario/scenario.h"

namespace preflight {

struct EvaluateOptions {
  MemoryOptions memory;
  // Run the campaign's failure Monte Carlo (days P50/P90, goodput); validate, which reads none of
  // them, switches it off.
  bool simulate_failures = true;
};

// Time to train `tokens` at the predicted throughput: ideal (no failures), and with the failures,
// restarts and checkpoints of the scenario's reliability profile (campaign/failures.h), whose
// Monte Carlo gives days P50/P90 and goodput. Device-hours, cost and energy count the ideal time.
struct Campaign {
  double tokens = 0;
  double days_ideal = 0;
  double device_hours = 0;
  // The devices the job holds: its own, and where it takes fewer of each scale-up domain than the
  // domain has (whole tiles of its model-parallel blocks), the rest of every domain it fills to
  // those tiles (a last, partly used domain leaves its other devices to other jobs). A rental
  // bills them (device_hours_p50), not the work.
  int64_t devices = 0;       // the job's own
  int64_t devices_held = 0;
  bool cost_known = false;
  double cost_usd_low = 0;
  double cost_usd_high = 0;
  bool energy_known = false;
  double energy_mwh = 0;  // device power × time × PUE
  // With failures: false with `reliability: none` (days_p50/p90 and goodput unknown).
  bool outlook_known = false;
  std::shared_ptr<const ReliabilityProfile> reliability;  // the profile, with the scenario's figures
  Bytes checkpoint_size{0};         // the whole checkpoint (parameters with MTP × bytes per parameter)
  FailureModel failures;            // what the Monte Carlo ran with
  RunOutlook outlook;

  // The device-hours of the P50 days, failures and restarts included: what a rental bills (the
  // devices held through the elapsed time, where `device_hours` is the work alone). Meaningful
  // where the outlook is known and finishes.
  double DeviceHoursHeldP50() const { return outlook.wall_p50.value() / 3600 * static_cast<double>(devices_held); }
  // The devices held per device of the job's own (1 where it fills its domains): the ideal days'
  // cost for every device held is the job's cost times this.
  double HeldShare() const {
    return devices > 0 ? static_cast<double>(devices_held) / static_cast<double>(devices) : 1.0;
  }
  // The energy of the work and of the work failures make the job do again (outlook.rework_mean),
  // the job's devices at rated power × PUE; not the checkpoint stalls or the downtime, whose draw
  // is not known. Meaningful where energy_known and the outlook is known and finishes.
  double EnergyWithReworkMwh() const {
    const double work = days_ideal * 86400;
    return work > 0 ? energy_mwh * (1 + outlook.rework_mean.value() / work) : energy_mwh;
  }
};

struct PlanResult {
  Scenario scenario;
  ParamCounts params;
  OpList ops;
  PlanCheck check;
  bool has_memory = false;  // false when the plan is invalid
  MemoryEstimate memory;
  bool has_time = false;
  StepTime time;
  LayerTimes layers;  // where one layer's time goes (with has_time)
  Campaign campaign;
  std::vector<std::string> warnings;
  // The step grows by more than 10% at kHostPerKernelHighUs per kernel launch: the answer depends
  // on a host cost that must be measured (one of the warnings says so).
  bool possibly_host_bound = false;
  // The figures the step time read that were measured on another device (labelled proxies in the
  // catalog); empty when every figure it read is the device's own (or there is no step time).
  std::vector<ProxyFigure> proxy_figures;
  // How far step times and peak memory fell from the measured runs on this device (the catalog's
  // data/accuracy table: Catalog::Accuracy), for a caller that looked it up (`plan`); the reports
  // then say it, or that no measured run checks this device (accuracy empty).
  bool accuracy_checked = false;
  std::optional<DeviceAccuracy> accuracy;

  // 0 = fits, 1 = infeasible (invalid plan or does not fit): the CLI's exit code.
  int ExitCode() const { return check.ok() && has_memory && memory.fits ? 0 : 1; }
};

// REQUIRES: !s.auto_parallel (the search picks a plan for auto scenarios).
PlanResult Evaluate(const Scenario& s, const EvaluateOptions& options);

// Campaign figures from a step time. `tokens` 0 means one trillion (a per-trillion view). With a
// reliability profile (and `simulate_failures`), the run's failures over devices / the profile's
// devices_per_node nodes: checkpoints of params.TotalWithMtp() × checkpoint_bytes_per_param stall
// training for checkpoint_blocking_s when the profile gives it, else for their size over the nodes'
// write rate, and fall between steps.
Campaign MakeCampaign(const Scenario& s, const ParamCounts& params, const StepTime& time,
                      bool simulate_failures = true);

// The failure model of a scenario's reliability profile for a job of `params` taking `step` per
// step. REQUIRES: s.reliability.
FailureModel MakeFailureModel(const Scenario& s, const ParamCounts& params, Seconds step);

}  // namespace preflight
