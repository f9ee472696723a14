// File: scenario/validate.h
//
// Predicts each validation run and compares with what was measured.
//
//   ASSIGN_OR_RETURN(std::vector<Scenario> runs, LoadScenarioList(path, catalog));
//   ValidationReport rep = Validate(runs, {});
//   rep.mape; rep.rows[0].error;   // signed: (predicted - measured) / measured
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "preflight/scenario/evaluate.h"
#include "preflight/scenario/scenario.h"

namespace preflight {

struct ValidationRow {
  std::string name;
  std::string file;
  int run = 0;  // the run's place among those validated: the rows of one run share it
  std::string metric;
  double measured = 0;
  double predicted = 0;
  double error = 0;  // signed relative error
  std::string status;  // "ok", or why it was not predicted ("invalid plan: ...", "needs search
                       // (parallel: auto)" without a planner, "the search found no valid plan ...")
  std::string hardware;  // the run's hardware id (catalog id or the file's `id`)
  bool possibly_host_bound = false;  // plan's warning: the host cost per kernel decides the answer
  // How many of the figures the prediction read were measured on another device (labelled proxies,
  // PlanResult::proxy_figures); 0 when all are the device's own.
  int proxy_figures = 0;
  // The predicted step and its parts (where the time goes in the prediction), whatever the metric;
  // set when status is ok.
  StepTime time = {};
  // The memory estimate of the run's plan: a measured run ran, so a run predicted not to fit
  // shows the memory model over-counting (or a setting the row leaves out). Set when status is ok.
  bool predicted_fits = true;
  double memory_headroom = 0;  // MemoryEstimate::headroom_fraction (below 0: does not fit)
  // The error in the step time's sense, whatever the metric: below 0 when the prediction is faster
  // than the run (a time metric's error; measured / predicted - 1 for a rate: tokens/s, TFLOP/s,
  // MFU). Not set for peak memory (has_time_error false).
  double time_error = 0;
  bool has_time_error = false;
  // The layout the search chose for a run without one (`parallel: auto`); empty otherwise.
  std::optional<Plan> searched_plan = std::nullopt;
  // What the run is, for grouping rows (`validate --by`): its model, devices and training settings,
  // and the layout it was predicted with (its own, or the searched one); has_plan is false for a run
  // without a layout that the search gave none.
  std::string model;  // catalog id or file stem; for an inline model "inline TYPE hH lL" (gpt2 h1024 l24)
  int64_t hidden = 0;  // the model's hidden size and transformer layers (MTP modules not counted)
  int64_t layers = 0;
  int64_t devices = 0;
  int64_t seq_len = 0;
  int64_t global_batch = 0;
  Dtype precision = Dtype::kBf16;
  Plan plan = {};
  bool has_plan = true;
};

struct ValidationReport {
  std::vector<ValidationRow> rows;
  double mape = 0;           // over rows with status ok
  double mean_error = 0;     // signed mean (bias): below 0 when predictions run low
  // Mean time_error over the rows that have one (time_rows): below 0 when predictions run fast.
  double time_bias = 0;
  int time_rows = 0;
  double max_abs_error = 0;
  std::string worst;         // name of the worst row
  int predicted = 0;
  int skipped = 0;
  // Runs (once each, in file order, by place not name) that were measured, so ran, yet are
  // predicted not to fit.
  std::vector<std::string> ran_but_predicted_oom;
};

// Picks a plan for `parallel: auto` runs (the search module provides one); may be empty.
using AutoPlanner = std::function<bool(const Scenario&, Plan*)>;

// The predicted value of `metric` for an evaluated run (FLOP conventions converted).
double PredictedMetric(const PlanResult& r, const std::string& metric);

// `error` of `metric` in the step time's sense (ValidationRow::time_error); false for a metric
// that is no time or rate (peak memory).
bool TimeError(const std::string& metric, double error, double* time_error);

ValidationReport Validate(const std::vector<Scenario>& runs, const EvaluateOptions& options,
                          const AutoPlanner& planner);

// Summary statistics over a subset of rows.
void Summarize(ValidationReport* report);

}  // namespace preflight
