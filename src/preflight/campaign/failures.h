// File: campaign/failures.h
//
// A training run with failures: how long it takes in wall-clock time when nodes fail and the job
// restarts from its last checkpoint. Failures arrive as a Poisson process (each node independent,
// the job stops on any node's failure: nodes "in series"); each costs the work since the last
// checkpoint, the time to detect it and the time to restart. Checkpoints stall training for their
// write time, every `interval` of work (Daly's higher-order optimum unless one is given). Planned
// interruptions (maintenance) checkpoint first: they cost a checkpoint and a restart, no work.
//
//   FailureModel m{.nodes = 2048, .failures_per_node_day = 3.79e-3, ...};
//   RunOutlook o = SimulateRun(Seconds(50 * 86400.0), m, {});
//   o.wall_p50; o.wall_p90; o.goodput;
//
// References: Young, CACM 17(9), 1974 (interval √(2δM)); Daly, FGCS 22(3), 2006 (the higher-order
// interval, whose published cases are unit tests); the expected time to finish a segment of length
// L with restarts, (1/λ + D)(e^{λL} − 1), is the standard renewal result the Monte Carlo is checked
// against.
#pragma once

#include <cstdint>

#include "preflight/base/units.h"

namespace preflight {

struct FailureModel {
  double nodes = 1;                  // of the size the rates count (a fraction for part of one)
  double failures_per_node_day = 0;  // unplanned interruptions of the job
  double planned_per_node_day = 0;   // planned interruptions: a checkpoint and a restart each
  Seconds detection{0};              // a failure until the job is stopped
  Seconds restart{0};                // stopped until training resumes
  Seconds checkpoint{0};             // the training stall per checkpoint
  Seconds interval{0};               // work between checkpoints; 0: Daly's optimum for the job MTBF
  Seconds step{0};                   // one training step: checkpoints fall between steps (0: anywhere)

  // Mean time between the job's unplanned interruptions; infinite without failures.
  Seconds JobMtbf() const;
  // The mean time a failure stops training: detection, then a restart that a failure striking it
  // (at the job's rate) sends back to detection: d + (1/λ + d)(e^{λR} − 1) for detection d and
  // restart R; d + R without failures.
  Seconds Downtime() const;
  // The interval in use: `interval` when given, else DalyInterval(checkpoint, JobMtbf()), rounded up
  // to whole steps (at least one) when `step` is given; infinite without failures and without a
  // given interval (no checkpoint is needed).
  Seconds Interval() const;
};

// Young's first-order optimum √(2δM). REQUIRES: dump >= 0, mtbf > 0.
Seconds YoungInterval(Seconds dump, Seconds mtbf);
// Daly's higher-order optimum: √(2δM)·[1 + ⅓√(δ/2M) + ⅑(δ/2M)] − δ for δ < 2M, else M.
// REQUIRES: dump >= 0, mtbf > 0.
Seconds DalyInterval(Seconds dump, Seconds mtbf);

// The expected wall-clock time to do `work` under `m`, in closed form: each segment of length L (an
// interval's work and its checkpoint) takes (1/λ + D)(e^{λL} − 1) with failures at rate λ and
// D = m.Downtime(); planned interruptions add a checkpoint and a restart each, at their rate over
// that time (first order). REQUIRES: work > 0, m.Interval() > 0.
Seconds ExpectedWallTime(Seconds work, const FailureModel& m);

// The expected time failures make the run do again, in closed form: per segment of length L,
// (e^{λL} − 1)/λ − L (the expected failures e^{λL} − 1, each losing the part of the segment done
// before it: its work, and the checkpoint write where it strikes one). 0 without failures.
// REQUIRES: work > 0, m.Interval() > 0.
Seconds ExpectedRework(Seconds work, const FailureModel& m);

struct RunOptions {
  int trials = 2000;
  uint64_t seed = 20261130;  // fixed: the same scenario gives the same figures
};

struct RunOutlook {
  bool finishes = true;  // false when the expected time is beyond kMaxSlowdown × the time without
                         // failures (failures come faster than a checkpoint interval can complete),
                         // or that time itself is beyond kMaxRunSeconds (then too_long)
  bool too_long = false;
  Seconds mtbf{0};
  Seconds interval{0};
  double checkpoints = 0;        // written over the run
  double failures_mean = 0;      // unplanned interruptions, mean over the trials
  double planned_mean = 0;
  Seconds wall_mean{0};
  Seconds wall_p50{0};
  Seconds wall_p90{0};
  // The time failures made the run do again (the part of a segment done before each failure: its
  // work, and the checkpoint write where one strikes it), mean over the trials; in wall_mean
  // beside the failures' downtime, the checkpoints and the planned stops.
  Seconds rework_mean{0};
  double goodput = 1;  // work / mean wall time: the share of elapsed time spent on new steps
};

// Beyond this many times its time without failures, a run is reported as not finishing.
inline constexpr double kMaxSlowdown = 100;
// A run whose time without failures (work and checkpoints) is beyond this, about 31,700 years, is
// reported as not finishing too: no trial is drawn (a draw's mean would leave what a double and the
// distributions can hold).
inline constexpr double kMaxRunSeconds = 1e12;

// Monte Carlo over `options.trials` runs. REQUIRES: work > 0, m.nodes > 0, rates >= 0, times >= 0,
// m.Interval() > 0 (a step, a checkpoint time or an interval above 0 where failures occur).
RunOutlook SimulateRun(Seconds work, const FailureModel& m, const RunOptions& options);

}  // namespace preflight
