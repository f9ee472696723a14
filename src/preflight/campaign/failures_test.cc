// Tests of campaign/failures.h against published test vectors (reliability.md §2.2: Daly's three
// cases; §5: the job MTTF Kokolis et al. project from 6.5 failures per 1,000 node-days; the
// Llama 3 effective-time bounds) and against the closed-form expected time of a run with restarts.
#include "preflight/campaign/failures.h"

#include <gtest/gtest.h>

#include <cmath>

namespace preflight {
namespace {

constexpr double kMinute = 60, kHour = 3600, kDay = 86400;

TEST(IntervalTest, DalyPublishedCases) {
  // Daly 2006, figure captions: δ = 5 min; M = 24 h, 6 h, 15 min → 117, 57, 9.1 min.
  EXPECT_NEAR(DalyInterval(Seconds(5 * kMinute), Seconds(24 * kHour)).value() / kMinute, 117, 0.5);
  EXPECT_NEAR(DalyInterval(Seconds(5 * kMinute), Seconds(6 * kHour)).value() / kMinute, 57, 0.5);
  EXPECT_NEAR(DalyInterval(Seconds(5 * kMinute), Seconds(15 * kMinute)).value() / kMinute, 9.1, 0.05);
}

TEST(IntervalTest, DalyIsTheMtbfWhenTheDumpIsLonger) {
  EXPECT_EQ(DalyInterval(Seconds(3 * kHour), Seconds(kHour)).value(), kHour);
}

TEST(IntervalTest, YoungIsTheFirstOrderTerm) {
  // Llama 3's MTTI of 185.6 min with a 1-minute stall: 19.3 min (reliability.md §2.2).
  EXPECT_NEAR(YoungInterval(Seconds(kMinute), Seconds(185.6 * kMinute)).value() / kMinute, 19.3, 0.05);
}

TEST(FailureModelTest, JobMtbfScalesWithNodes) {
  // 6.5 per 1,000 node-days: 1.80 h at 16,384 GPUs (2,048 nodes), 0.225 h at 131,072.
  FailureModel m{.nodes = 2048, .failures_per_node_day = 6.5e-3};
  EXPECT_NEAR(m.JobMtbf().value() / kHour, 1.80, 0.005);
  m.nodes = 16384;
  EXPECT_NEAR(m.JobMtbf().value() / kHour, 0.225, 0.001);
}

TEST(FailureModelTest, IntervalFallsOnStepBoundaries) {
  FailureModel m{.nodes = 2048, .failures_per_node_day = 6.5e-3, .checkpoint = Seconds(10)};
  const double daly = DalyInterval(Seconds(10), m.JobMtbf()).value();
  EXPECT_DOUBLE_EQ(m.Interval().value(), daly);
  m.step = Seconds(7);
  EXPECT_DOUBLE_EQ(m.Interval().value(), 7 * std::ceil(daly / 7));
  m.checkpoint = Seconds(0);  // in-memory checkpoints: every step
  EXPECT_DOUBLE_EQ(m.Interval().value(), 7);
  m.interval = Seconds(600);  // a given interval is kept (600 is 86 steps of 7 s, rounded up)
  EXPECT_DOUBLE_EQ(m.Interval().value(), 602);
}

// A failure striking a restart (at the job's rate) sends it back to detection: the mean downtime is
// d + (1/λ + d)(e^{λR} − 1), the segment formula over the restart. At a job MTBF of an hour, 5 min
// of detection and 10 of restart: 300 + 3900 (e^{1/6} − 1) = 1007.3 s, not 900.
TEST(FailureModelTest, AFailureStrikingARestartSendsItBackToDetection) {
  FailureModel m{.nodes = 24, .failures_per_node_day = 1, .detection = Seconds(5 * kMinute),
                 .restart = Seconds(10 * kMinute)};
  ASSERT_DOUBLE_EQ(m.JobMtbf().value(), 3600);
  EXPECT_NEAR(m.Downtime().value(), 300 + 3900 * std::expm1(1.0 / 6), 1e-9);
  EXPECT_NEAR(m.Downtime().value(), 1007.3, 0.1);
  m.failures_per_node_day = 0;
  EXPECT_DOUBLE_EQ(m.Downtime().value(), 900);
}

TEST(SimulateRunTest, WithoutFailuresTheRunTakesItsWork) {
  FailureModel m{.nodes = 100, .checkpoint = Seconds(30)};
  RunOutlook o = SimulateRun(Seconds(10 * kDay), m, {});
  EXPECT_TRUE(o.finishes);
  EXPECT_EQ(o.checkpoints, 0);
  EXPECT_DOUBLE_EQ(o.wall_p50.value(), 10 * kDay);
  EXPECT_DOUBLE_EQ(o.wall_p90.value(), 10 * kDay);
  EXPECT_DOUBLE_EQ(o.goodput, 1);
}

// Summing the trials' walls rounds (2,000 times 25,920.3 s is not 2,000 x 25,920.3 exactly): the
// share of the time spent on new steps stays a share.
TEST(SimulateRunTest, GoodputNeverExceedsOne) {
  const FailureModel m{.nodes = 1, .failures_per_node_day = 0, .checkpoint = Seconds(0)};
  for (int tenths = 1; tenths < 200; ++tenths) {
    const double work = tenths * 0.1 * kDay + 0.3;
    EXPECT_LE(SimulateRun(Seconds(work), m, {}).goodput, 1.0) << work;
  }
}

TEST(SimulateRunTest, MonteCarloMeanMatchesTheClosedForm) {
  // Many failures (a Llama-3-sized job for 50 days) and few (one node for 100 days).
  const FailureModel big{.nodes = 2048, .failures_per_node_day = 3.79e-3, .detection = Seconds(5 * kMinute),
                         .restart = Seconds(10 * kMinute), .checkpoint = Seconds(3)};
  const FailureModel small{.nodes = 1, .failures_per_node_day = 3.79e-3, .detection = Seconds(5 * kMinute),
                           .restart = Seconds(10 * kMinute), .checkpoint = Seconds(20)};
  for (const auto& [m, work] : {std::pair{big, 50 * kDay}, std::pair{small, 100 * kDay}}) {
    RunOutlook o = SimulateRun(Seconds(work), m, {.trials = 4000});
    const double expected = ExpectedWallTime(Seconds(work), m).value();
    EXPECT_NEAR(o.wall_mean.value() / expected, 1, 0.002) << m.nodes;
    EXPECT_GE(o.wall_p50.value(), work);
    EXPECT_GE(o.wall_p90.value(), o.wall_p50.value());
    EXPECT_NEAR(o.goodput, work / o.wall_mean.value(), 1e-12);
  }
}

// The rework is what the wall time holds beyond the work, its checkpoints, each failure's downtime
// and the planned stops, and its mean matches the renewal result (e^{λL} − 1)/λ − L per segment.
TEST(SimulateRunTest, ReworkIsTheLostWorkOfTheClosedForm) {
  const FailureModel m{.nodes = 2048, .failures_per_node_day = 3.79e-3, .detection = Seconds(5 * kMinute),
                       .restart = Seconds(10 * kMinute), .checkpoint = Seconds(60)};
  const Seconds work(50 * kDay);
  RunOutlook o = SimulateRun(work, m, {.trials = 4000});
  const double expected = ExpectedRework(work, m).value();
  EXPECT_GT(expected, 0.01 * work.value());  // a case where the rework matters
  EXPECT_NEAR(o.rework_mean.value() / expected, 1, 0.01);
  const double rest = work.value() + o.checkpoints * m.checkpoint.value() + o.failures_mean * m.Downtime().value();
  EXPECT_NEAR((o.wall_mean.value() - rest) / o.rework_mean.value(), 1, 1e-9);
  // Per failure, less than an interval and its checkpoint are lost.
  EXPECT_LT(o.rework_mean.value() / o.failures_mean, (o.interval + m.checkpoint).value());
}

TEST(SimulateRunTest, NoFailuresNoRework) {
  const FailureModel m{.nodes = 64, .planned_per_node_day = 0.01, .checkpoint = Seconds(30), .interval = Seconds(kHour)};
  RunOutlook o = SimulateRun(Seconds(10 * kDay), m, {});
  EXPECT_EQ(o.rework_mean.value(), 0);
  EXPECT_EQ(ExpectedRework(Seconds(10 * kDay), m).value(), 0);
  EXPECT_GT(o.planned_mean, 0);
}

TEST(SimulateRunTest, FailuresCountMatchesTheRate) {
  // A 54-day window of Meta's cluster: 419 unexpected interruptions, about 7.76 a day.
  const FailureModel m{.nodes = 2048, .failures_per_node_day = 419.0 / (2048 * 54), .detection = Seconds(60),
                       .restart = Seconds(60), .checkpoint = Seconds(1)};
  RunOutlook o = SimulateRun(Seconds(54 * kDay), m, {});
  EXPECT_NEAR(o.failures_mean / (o.wall_mean.value() / kDay), 419.0 / 54, 0.1);
}

TEST(SimulateRunTest, Llama3EffectiveTimeNeedsSecondStallsAndMinuteRestarts) {
  // reliability.md §2.2 and §5: at Llama 3's MTTI, a 1-minute stall and 10-minute restarts give
  // about 84% effective time (first order), 6-second stalls and 5-minute restarts about 94%; Meta
  // reports above 90%.
  FailureModel m{.nodes = 2048, .failures_per_node_day = 419.0 / (2048 * 54), .restart = Seconds(10 * kMinute),
                 .checkpoint = Seconds(kMinute), .interval = YoungInterval(Seconds(kMinute), Seconds(185.6 * kMinute))};
  const double slow = SimulateRun(Seconds(54 * kDay), m, {}).goodput;  // 0.854 (second-order terms)
  EXPECT_NEAR(slow, 0.84, 0.02);
  EXPECT_LT(slow, 0.90);
  m.restart = Seconds(5 * kMinute);
  m.checkpoint = Seconds(6);
  m.interval = YoungInterval(Seconds(6), Seconds(185.6 * kMinute));
  const double fast = SimulateRun(Seconds(54 * kDay), m, {}).goodput;  // 0.942
  EXPECT_NEAR(fast, 0.94, 0.02);
  EXPECT_GT(fast, 0.90);
}

TEST(SimulateRunTest, PlannedInterruptionsCostACheckpointAndARestart) {
  FailureModel m{.nodes = 100, .planned_per_node_day = 0.01, .restart = Seconds(600), .checkpoint = Seconds(60)};
  RunOutlook o = SimulateRun(Seconds(100 * kDay), m, {});
  EXPECT_EQ(o.failures_mean, 0);
  EXPECT_NEAR(o.planned_mean, 100 * 100 * 0.01, 5);  // about one a day over 100 days
  EXPECT_NEAR(o.wall_mean.value() - 100 * kDay, o.planned_mean * 660, 1);
}

TEST(SimulateRunTest, FixedSeedGivesTheSameFigures) {
  const FailureModel m{.nodes = 512, .failures_per_node_day = 5e-3, .restart = Seconds(600), .checkpoint = Seconds(30)};
  EXPECT_EQ(SimulateRun(Seconds(30 * kDay), m, {}).wall_p90.value(),
            SimulateRun(Seconds(30 * kDay), m, {}).wall_p90.value());
}

TEST(SimulateRunTest, RunsWhoseFailuresOutpaceCheckpointsDoNotFinish) {
  // A job MTBF of 1.4 minutes against an hour-long checkpoint.
  const FailureModel m{.nodes = 100000, .failures_per_node_day = 0.01, .restart = Seconds(600),
                       .checkpoint = Seconds(kHour)};
  RunOutlook o = SimulateRun(Seconds(30 * kDay), m, {});
  EXPECT_FALSE(o.finishes);
  EXPECT_FALSE(o.too_long);
  EXPECT_EQ(o.goodput, 0);
}

// A failure rate too small to invert in a double is a run without failures, not a run that never
// ends (1/rate overflowed to infinity, and infinity times e^0 - 1 is not a number).
TEST(SimulateRunTest, AVanishingFailureRateIsARunWithoutFailures) {
  const FailureModel m{.nodes = 128, .failures_per_node_day = 1e-308, .restart = Seconds(600),
                       .checkpoint = Seconds(30), .interval = Seconds(3600)};
  EXPECT_DOUBLE_EQ(ExpectedWallTime(Seconds(10 * kDay), m).value(), 10 * kDay + 240 * 30);
  RunOutlook o = SimulateRun(Seconds(10 * kDay), m, {});
  EXPECT_TRUE(o.finishes);
  EXPECT_DOUBLE_EQ(o.wall_p50.value(), 10 * kDay + 240 * 30);
  EXPECT_EQ(o.failures_mean, 0);
}

// A run whose checkpoints alone outlast any horizon is reported as not finishing, without drawing
// (the draws' means would leave a double: this hung in a Poisson draw, and an integer overflowed).
TEST(SimulateRunTest, ARunBeyondAnyHorizonDoesNotFinish) {
  const FailureModel m{.nodes = 128, .failures_per_node_day = 3.8e-3, .planned_per_node_day = 4e-4,
                       .restart = Seconds(600), .checkpoint = Seconds(1e305)};
  RunOutlook o = SimulateRun(Seconds(140 * kDay), m, {});
  EXPECT_FALSE(o.finishes);
  EXPECT_TRUE(o.too_long);
  EXPECT_EQ(o.goodput, 0);
}

}  // namespace
}  // namespace preflight
