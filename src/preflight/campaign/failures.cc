#include "preflight/campaign/failures.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "preflight/base/check.h"

namespace preflight {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kSecondsPerDay = 86400.0;
// Up to this many failures in one group of segments, each one's lost time is drawn; beyond, their
// sum is drawn as a normal variable with the truncated exponential's mean and variance (the central
// limit, close at this count): it bounds a trial's cost whatever the run.
constexpr int64_t kDrawEachUpTo = 50;

// The run cut into checkpoint segments: `count` segments of `length` (work plus the checkpoint).
struct Segments {
  double count = 0;
  Seconds length{0};
};

// Full segments and the last, shorter one (its work is what remains).
std::pair<Segments, Segments> CutRun(Seconds work, Seconds interval, Seconds checkpoint) {
  if (!std::isfinite(interval.value())) return {{0, Seconds(0)}, {1, work}};
  const double n = std::ceil(work / interval);
  const Seconds last = work - interval * (n - 1);
  return {{n - 1, interval + checkpoint}, {1, last + checkpoint}};
}

double FailuresPerSecond(const FailureModel& m) { return m.nodes * m.failures_per_node_day / kSecondsPerDay; }
double PlannedPerSecond(const FailureModel& m) { return m.nodes * m.planned_per_node_day / kSecondsPerDay; }

// Expected time to get through one segment of `length` with restarts costing `down` each:
// (1/rate + down)(e^{rate·length} − 1), with expm1(x)/rate written as length·expm1(x)/x so that a
// rate too small to invert in a double still gives the segment's own length.
double ExpectedSegment(double rate, double length, double down) {
  const double x = rate * length;
  if (x == 0) return length;
  return length * (std::expm1(x) / x) + (down > 0 ? down * std::expm1(x) : 0);  // no 0·∞
}

// Mean and variance of the time into a segment at which a failure strikes, given that it strikes
// before `length` (an exponential truncated to [0, length)).
std::pair<double, double> LostTimeMoments(double rate, double length) {
  const double x = rate * length;
  // Below this the closed form cancels away; the truncated exponential is then uniform on [0, L).
  if (x < 1e-4) return {length / 2, length * length / 12};
  const double mean = 1 / rate - length / std::expm1(x);
  const double second = 2 / (rate * rate) - (length * length + 2 * length / rate) / std::expm1(x);
  return {mean, std::max(0.0, second - mean * mean)};
}

// The unplanned part of one trial for one group of equal segments: their time with failures. Adds
// the failures to `failures` and the time they lost (the segment done before each) to `lost`.
double GroupWallTime(const Segments& g, double rate, double down, std::mt19937_64& rng, int64_t* failures,
                     double* lost) {
  if (g.count == 0) return 0;
  const double wall = g.count * g.length.value();
  if (rate == 0) return wall;
  const double length = g.length.value();
  const double p_survive = std::exp(-rate * length);
  if (!(p_survive < 1)) return wall;  // failures too rare to draw in a double (and a distribution's domain)
  std::negative_binomial_distribution<int64_t> failed(static_cast<int64_t>(g.count), p_survive);
  const int64_t k = failed(rng);
  *failures += k;
  double redone = 0;
  if (k > kDrawEachUpTo) {
    auto [mean, var] = LostTimeMoments(rate, length);
    std::normal_distribution<double> sum(k * mean, std::sqrt(k * var));
    redone = std::max(0.0, sum(rng));
  } else {
    const double p_fail = -std::expm1(-rate * length);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int64_t i = 0; i < k; ++i) redone += -std::log1p(-u(rng) * p_fail) / rate;
  }
  *lost += redone;
  return wall + static_cast<double>(k) * down + redone;
}

// Expected time lost to failures in one segment of `length`: (e^{rate·length} − 1)/rate − length,
// the expected failures e^{x} − 1 times each one's mean lost time (LostTimeMoments), written as
// length·(expm1(x)/x − 1) and, where that cancels away, its first term length·x/2.
double ExpectedLostInSegment(double rate, double length) {
  const double x = rate * length;
  if (x < 1e-6) return length * x / 2;
  return length * (std::expm1(x) / x - 1);
}

double Quantile(std::vector<double> v, double q) {
  const size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

}  // namespace

Seconds FailureModel::JobMtbf() const {
  const double rate = FailuresPerSecond(*this);
  return Seconds(rate > 0 ? 1 / rate : kInf);
}

Seconds FailureModel::Downtime() const {
  return detection + Seconds(ExpectedSegment(FailuresPerSecond(*this), restart.value(), detection.value()));
}

Seconds FailureModel::Interval() const {
  Seconds tau = interval;
  if (!(tau.value() > 0)) {
    const Seconds mtbf = JobMtbf();
    if (!std::isfinite(mtbf.value())) return Seconds(kInf);
    tau = DalyInterval(checkpoint, mtbf);
  }
  if (step.value() > 0) tau = step * std::max(1.0, std::ceil(tau / step - 1e-9));
  return tau;
}

Seconds YoungInterval(Seconds dump, Seconds mtbf) {
  CHECK(dump.value() >= 0 && mtbf.value() > 0);
  return Seconds(std::sqrt(2 * dump.value() * mtbf.value()));
}

Seconds DalyInterval(Seconds dump, Seconds mtbf) {
  CHECK(dump.value() >= 0 && mtbf.value() > 0);
  const double d = dump.value(), m = mtbf.value();
  if (d >= 2 * m) return mtbf;
  const double r = d / (2 * m);
  return Seconds(std::sqrt(2 * d * m) * (1 + std::sqrt(r) / 3 + r / 9) - d);
}

Seconds ExpectedWallTime(Seconds work, const FailureModel& m) {
  const double rate = FailuresPerSecond(m);
  const double down = m.Downtime().value();
  auto [full, last] = CutRun(work, m.Interval(), m.checkpoint);
  double wall = full.count * ExpectedSegment(rate, full.length.value(), down) +
                last.count * ExpectedSegment(rate, last.length.value(), down);
  wall += PlannedPerSecond(m) * wall * (m.checkpoint + m.restart).value();
  return Seconds(wall);
}

Seconds ExpectedRework(Seconds work, const FailureModel& m) {
  const double rate = FailuresPerSecond(m);
  if (rate == 0) return Seconds(0);
  auto [full, last] = CutRun(work, m.Interval(), m.checkpoint);
  return Seconds(full.count * ExpectedLostInSegment(rate, full.length.value()) +
                 last.count * ExpectedLostInSegment(rate, last.length.value()));
}

RunOutlook SimulateRun(Seconds work, const FailureModel& m, const RunOptions& options) {
  CHECK(work.value() > 0 && m.nodes > 0 && options.trials > 0);
  RunOutlook o;
  o.mtbf = m.JobMtbf();
  o.interval = m.Interval();
  CHECK(o.interval.value() > 0);
  auto [full, last] = CutRun(work, o.interval, m.checkpoint);
  o.checkpoints = std::isfinite(o.interval.value()) ? full.count + last.count : 0;
  // Against the run without failures (its work and its checkpoints), so that a short run whose
  // final checkpoint outlasts its work still finishes.
  const Seconds expected = ExpectedWallTime(work, m);
  const double unfailing = work.value() + o.checkpoints * m.checkpoint.value();
  if (!(unfailing <= kMaxRunSeconds) || !(expected.value() <= kMaxSlowdown * unfailing)) {
    o.finishes = false;
    o.too_long = !(unfailing <= kMaxRunSeconds);
    o.goodput = 0;
    return o;
  }
  const double rate = FailuresPerSecond(m);
  const double planned = PlannedPerSecond(m);
  // Each failure's downtime at its mean: a failure striking a restart sends it back to detection
  // (Downtime), drawn as its expected cost rather than failure by failure.
  const double down = m.Downtime().value();
  const double planned_cost = (m.checkpoint + m.restart).value();
  std::mt19937_64 rng(options.seed);
  std::vector<double> walls;
  walls.reserve(static_cast<size_t>(options.trials));
  double failures = 0, planned_count = 0, lost = 0;
  for (int t = 0; t < options.trials; ++t) {
    int64_t k = 0;
    // Two statements, not one sum: C++ leaves the order of a sum's operands open, and both draw
    // from `rng`, so one expression could give other figures under another compiler.
    double wall = GroupWallTime(full, rate, down, rng, &k, &lost);
    wall += GroupWallTime(last, rate, down, rng, &k, &lost);
    int64_t j = 0;
    if (planned > 0) j = std::poisson_distribution<int64_t>(planned * wall)(rng);
    wall += static_cast<double>(j) * planned_cost;
    failures += static_cast<double>(k);
    planned_count += static_cast<double>(j);
    walls.push_back(wall);
  }
  double sum = 0;
  for (double w : walls) sum += w;
  o.wall_mean = Seconds(sum / options.trials);
  o.wall_p50 = Seconds(Quantile(walls, 0.5));
  o.wall_p90 = Seconds(Quantile(walls, 0.9));
  o.failures_mean = failures / options.trials;
  o.planned_mean = planned_count / options.trials;
  o.rework_mean = Seconds(lost / options.trials);
  // The trials' walls, summed, can round below the work they hold when nothing fails: a share.
  o.goodput = std::min(1.0, work / o.wall_mean);
  return o;
}

}  // namespace preflight
