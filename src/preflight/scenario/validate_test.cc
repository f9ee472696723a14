// Tests of scenario/validate.h: each measured metric becomes a row with its signed error, the
// summary is over the predicted rows, and a measured run whose plan is predicted not to fit is
// listed once (it ran, so the memory estimate over-counts or the row leaves a setting out).
#include "preflight/scenario/validate.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "preflight/scenario/scenario_test_support.h"

namespace preflight {
namespace {

using test_support::kScenario;
using test_support::LoadText;

// The test scenario, renamed and measured at `step_s` (and at 10 GiB of peak memory).
Scenario Measured(const std::string& name, double step_s, const std::vector<Override>& overrides = {}) {
  StatusOr<Scenario> s = LoadText(kScenario, nullptr, overrides);
  EXPECT_TRUE(s.ok()) << s.status().message();
  Scenario run = s.ok() ? *s : Scenario{};
  run.name = name;
  run.measured.metrics = {{"step_time_s", step_s}, {"peak_memory_gib", 10}};
  return run;
}

TEST(ValidateTest, RowsCarryTheSignedErrorAndTheMemoryVerdict) {
  Scenario run = Measured("fits", 1.0);
  const double predicted = Evaluate(run, {}).time.step.value();
  run.measured.metrics = {{"step_time_s", predicted * 2}};
  ValidationReport rep = Validate({run}, {}, nullptr);
  ASSERT_EQ(rep.rows.size(), 1u);
  const ValidationRow& row = rep.rows.front();
  EXPECT_EQ(row.status, "ok");
  EXPECT_NEAR(row.error, -0.5, 1e-12);
  EXPECT_DOUBLE_EQ(row.time.step.value(), predicted) << "the step it predicted, with its parts";
  EXPECT_GT(row.time.compute.value(), 0);
  EXPECT_TRUE(row.predicted_fits);
  EXPECT_GT(row.memory_headroom, 0);
  EXPECT_NEAR(rep.mape, 0.5, 1e-12);
  EXPECT_NEAR(rep.mean_error, -0.5, 1e-12);
  EXPECT_TRUE(rep.ran_but_predicted_oom.empty());
}

// The time bias reads every metric in the step time's sense: a rate predicted 25% high is a step
// predicted 20% fast; peak memory has no such sense and stays out of it.
TEST(ValidateTest, TheTimeBiasReadsRatesAsTimes) {
  double t = 0;
  ASSERT_TRUE(TimeError("step_time_s", -0.2, &t));
  EXPECT_DOUBLE_EQ(t, -0.2);
  ASSERT_TRUE(TimeError("device_hours_per_trillion_tokens", 0.1, &t));
  EXPECT_DOUBLE_EQ(t, 0.1);
  for (const char* rate : {"tokens_per_s_per_device", "tflops_per_device", "mfu"}) {
    ASSERT_TRUE(TimeError(rate, 0.25, &t)) << rate;
    EXPECT_NEAR(t, -0.2, 1e-12) << rate;
  }
  EXPECT_FALSE(TimeError("peak_memory_gib", 0.1, &t));

  Scenario run = Measured("rates", 1.0);
  const PlanResult r = Evaluate(run, {});
  run.measured.metrics = {{"step_time_s", r.time.step.value() * 2},  // predicted 50% fast
                          {"tokens_per_s_per_device", r.time.tokens_per_s_per_device / 2},  // rate +100%: fast
                          {"peak_memory_gib", r.memory.worst.Total().gib() * 2}};
  const ValidationReport rep = Validate({run}, {}, nullptr);
  ASSERT_EQ(rep.rows.size(), 3u);
  EXPECT_EQ(rep.time_rows, 2);
  EXPECT_NEAR(rep.time_bias, -0.5, 1e-9) << "both rows say the step was predicted twice as fast";
  EXPECT_NEAR(rep.mean_error, (-0.5 + 1.0 - 0.5) / 3, 1e-9) << "the plain bias mixes the senses";
  EXPECT_FALSE(rep.rows[2].has_time_error);
}

TEST(ValidateTest, RowsCountTheProxyFiguresTheirPredictionRead) {
  std::vector<Scenario> runs = {Measured("own", 1.0, {{"hardware", "a100-sxm-80gb"}}),
                                Measured("borrowed", 1.0, {{"hardware", "h800-sxm-80gb"}})};
  const ValidationReport rep = Validate(runs, {}, nullptr);
  for (const ValidationRow& row : rep.rows) {
    ASSERT_EQ(row.status, "ok") << row.name;
    EXPECT_EQ(row.proxy_figures > 0, row.name == "borrowed") << row.name;
  }
}

TEST(ValidateTest, AMeasuredRunPredictedNotToFitIsListedOnce) {
  // 405B parameters over 8 GPUs at TP 8 and no data parallelism cannot fit in 80 GB.
  std::vector<Scenario> runs = {
      Measured("fits", 1.0),
      Measured("too-big", 1.0, {{"model", "llama-3.1-405b"}, {"parallel.tp", "8"}, {"parallel.dp", "1"}}),
      Measured("fits-too", 1.0)};
  ValidationReport rep = Validate(runs, {}, nullptr);
  ASSERT_EQ(rep.rows.size(), 6u);  // two metrics a run
  ASSERT_EQ(rep.ran_but_predicted_oom, std::vector<std::string>{"too-big"});
  for (const ValidationRow& row : rep.rows) {
    EXPECT_EQ(row.predicted_fits, row.name != "too-big") << row.name;
    EXPECT_EQ(row.memory_headroom < 0, row.name == "too-big") << row.name;
  }
  // Summarizing again (as the CLI's groups do) rebuilds the list rather than adding to it.
  Summarize(&rep);
  EXPECT_EQ(rep.ran_but_predicted_oom.size(), 1u);
  // Runs are told apart by place, not name: two runs of one name, side by side, are two runs.
  const std::vector<Override> big = {{"model", "llama-3.1-405b"}, {"parallel.tp", "8"}, {"parallel.dp", "1"}};
  rep = Validate({Measured("dup", 1.0, big), Measured("dup", 1.0, big), Measured("fits", 1.0)}, {}, nullptr);
  EXPECT_EQ(rep.ran_but_predicted_oom, (std::vector<std::string>{"dup", "dup"}));
  EXPECT_EQ(rep.rows[0].run, rep.rows[1].run);
  EXPECT_NE(rep.rows[1].run, rep.rows[2].run);
}

TEST(ValidateTest, AnAutoRunWithoutAPlannerIsSkippedNotJudged) {
  Scenario run = Measured("auto", 1.0);
  run.auto_parallel = true;
  ValidationReport rep = Validate({run}, {}, nullptr);
  ASSERT_EQ(rep.rows.size(), 2u);
  EXPECT_NE(rep.rows.front().status, "ok");
  EXPECT_EQ(rep.predicted, 0);
  EXPECT_EQ(rep.skipped, 2);
  EXPECT_TRUE(rep.ran_but_predicted_oom.empty());
}

// A search that finds nothing is not a run waiting for one: the status says what happened.
TEST(ValidateTest, AnAutoRunTheSearchFindsNoPlanForSaysSo) {
  Scenario run = Measured("auto", 1.0);
  run.auto_parallel = true;
  ValidationReport rep = Validate({run}, {}, [](const Scenario&, Plan*) { return false; });
  ASSERT_EQ(rep.rows.size(), 2u);
  EXPECT_EQ(rep.rows.front().status, "the search found no valid plan that fits (parallel: auto)");
  EXPECT_EQ(rep.predicted, 0);
  EXPECT_EQ(Validate({run}, {}, nullptr).rows.front().status, "needs search (parallel: auto)");
}

// An auto run is predicted with the layout the planner gives, and its rows name that layout so
// that `plan` can rerun it; a run with its own layout names none.
TEST(ValidateTest, AnAutoRunNamesTheLayoutItWasPredictedWith) {
  Scenario run = Measured("auto", 1.0);
  const Plan stated = run.plan;
  run.auto_parallel = true;
  ValidationReport rep = Validate({run}, {}, [&](const Scenario&, Plan* p) {
    *p = stated;
    return true;
  });
  ASSERT_EQ(rep.rows.size(), 2u);
  EXPECT_EQ(rep.rows.front().status, "ok");
  ASSERT_TRUE(rep.rows.front().searched_plan.has_value());
  EXPECT_EQ(rep.rows.front().searched_plan->tp, stated.tp);
  EXPECT_EQ(rep.rows.front().searched_plan->dp, stated.dp);
  EXPECT_FALSE(Validate({Measured("given", 1.0)}, {}, nullptr).rows.front().searched_plan.has_value());
}

// Rows say what their run is (model, devices, training settings, the layout predicted) so that
// `validate --by` can group them; a run without a layout that the search gave none has no plan.
TEST(ValidateTest, RowsCarryTheRunAndTheLayoutTheyWerePredictedWith) {
  Scenario given = Measured("given", 1.0, {{"training.precision", "fp8"}});  // not the row's default
  ASSERT_EQ(given.job.precision, Dtype::kFp8);
  ValidationReport rep = Validate({given}, {}, nullptr);
  ASSERT_EQ(rep.rows.size(), 2u);
  for (const ValidationRow& row : rep.rows) {
    EXPECT_EQ(row.model, given.arch.name);
    EXPECT_EQ(row.devices, given.cluster.devices);
    EXPECT_EQ(row.seq_len, given.job.seq_len);
    EXPECT_EQ(row.global_batch, given.job.global_batch);
    EXPECT_EQ(row.precision, given.job.precision);
    EXPECT_TRUE(row.has_plan);
    EXPECT_EQ(row.plan.tp, given.plan.tp);
    EXPECT_EQ(row.plan.micro_batch, given.plan.micro_batch);
  }
  Scenario searched = Measured("auto", 1.0);
  searched.auto_parallel = true;
  Plan chosen = given.plan;
  chosen.micro_batch = given.plan.micro_batch + 1;
  const ValidationRow row = Validate({searched}, {}, [&](const Scenario&, Plan* p) {
                              *p = chosen;
                              return true;
                            }).rows.front();
  EXPECT_TRUE(row.has_plan);
  EXPECT_EQ(row.plan.micro_batch, chosen.micro_batch) << "the searched layout, not the file's default";
  EXPECT_FALSE(Validate({searched}, {}, nullptr).rows.front().has_plan);
  EXPECT_FALSE(Validate({searched}, {}, [](const Scenario&, Plan*) { return false; }).rows.front().has_plan);
}

}  // namespace
}  // namespace preflight
