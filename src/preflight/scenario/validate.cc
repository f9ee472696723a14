#include "preflight/scenario/validate.h"

#include <cmath>
#include <string>

namespace preflight {

double PredictedMetric(const PlanResult& r, const std::string& metric) {
  const StepTime& t = r.time;
  if (metric == "step_time_s") return t.step.value();
  if (metric == "tokens_per_s_per_device") return t.tokens_per_s_per_device;
  if (metric == "tflops_per_device") return t.tflops_per_device;
  if (metric == "mfu") return t.mfu;
  if (metric == "peak_memory_gib") return r.memory.worst.Total().gib();
  if (metric == "device_hours_per_trillion_tokens") {
    return 1e12 / t.tokens_per_s / 3600.0 * static_cast<double>(r.scenario.cluster.devices);
  }
  return 0;
}

bool TimeError(const std::string& metric, double error, double* time_error) {
  if (metric == "step_time_s" || metric == "device_hours_per_trillion_tokens") {
    *time_error = error;
    return true;
  }
  if (metric == "tokens_per_s_per_device" || metric == "tflops_per_device" || metric == "mfu") {
    *time_error = 1 / (1 + error) - 1;  // predicted rate r(1 + e): its time is measured / predicted
    return true;
  }
  return false;
}

void Summarize(ValidationReport* rep) {
  double sum = 0, signed_sum = 0, time_sum = 0;
  rep->predicted = rep->skipped = rep->time_rows = 0;
  rep->max_abs_error = 0;
  rep->ran_but_predicted_oom.clear();
  int last_listed = -1;  // rows of one run are adjacent
  for (const ValidationRow& row : rep->rows) {
    if (row.status == "ok" && !row.predicted_fits && row.run != last_listed) {
      rep->ran_but_predicted_oom.push_back(row.name);
      last_listed = row.run;
    }
    if (row.status != "ok") {
      ++rep->skipped;
      continue;
    }
    ++rep->predicted;
    sum += std::fabs(row.error);
    signed_sum += row.error;
    if (row.has_time_error) {
      ++rep->time_rows;
      time_sum += row.time_error;
    }
    if (std::fabs(row.error) >= rep->max_abs_error) {
      rep->max_abs_error = std::fabs(row.error);
      rep->worst = row.name;
    }
  }
  rep->mape = rep->predicted > 0 ? sum / rep->predicted : 0;
  rep->mean_error = rep->predicted > 0 ? signed_sum / rep->predicted : 0;
  rep->time_bias = rep->time_rows > 0 ? time_sum / rep->time_rows : 0;
}

ValidationReport Validate(const std::vector<Scenario>& runs, const EvaluateOptions& options,
                          const AutoPlanner& planner) {
  ValidationReport rep;
  for (size_t i = 0; i < runs.size(); ++i) {
    const Scenario& run = runs[i];
    Scenario s = run;
    std::string status = "ok";
    bool has_plan = true;
    if (s.auto_parallel) {
      if (!planner) {
        status = "needs search (parallel: auto)";
        has_plan = false;
      } else if (!planner(run, &s.plan)) {
        status = "the search found no valid plan that fits (parallel: auto)";
        has_plan = false;
      }
      s.auto_parallel = false;
    }
    PlanResult r;
    if (status == "ok") {
      r = Evaluate(s, options);
      if (!r.check.ok()) status = "invalid plan: " + r.check.message;
    }
    for (const auto& [metric, measured] : run.measured.metrics) {
      ValidationRow row;
      row.name = run.name;
      row.file = run.file;
      row.run = static_cast<int>(i);
      row.metric = metric;
      row.measured = measured;
      row.status = status;
      row.hardware = run.cluster.spec.id;
      // A model given inline has no id: its type and shape stand for it.
      row.model = run.arch.name != "inline" ? run.arch.name
                                            : "inline " + run.arch.model_type + " h" + std::to_string(run.arch.hidden) +
                                                  " l" + std::to_string(run.arch.layers);
      row.hidden = run.arch.hidden;
      row.layers = run.arch.layers;
      row.devices = run.cluster.devices;
      row.seq_len = run.job.seq_len;
      row.global_batch = run.job.global_batch;
      row.precision = run.job.precision;
      row.plan = s.plan;
      row.has_plan = has_plan;
      if (status == "ok") {
        row.possibly_host_bound = r.possibly_host_bound;
        row.proxy_figures = static_cast<int>(r.proxy_figures.size());
        row.time = r.time;
        row.predicted_fits = r.has_memory && r.memory.fits;
        row.memory_headroom = r.has_memory ? r.memory.headroom_fraction : 0;
        row.predicted = PredictedMetric(r, metric);
        row.error = (row.predicted - measured) / measured;
        row.has_time_error = TimeError(metric, row.error, &row.time_error);
        if (run.auto_parallel) row.searched_plan = s.plan;
      }
      rep.rows.push_back(row);
    }
  }
  Summarize(&rep);
  return rep;
}

}  // namespace preflight
