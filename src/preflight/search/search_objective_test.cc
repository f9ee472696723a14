// Tests of search/search.h for its objectives and device sweeps: cost bills the devices a plan
// holds and ranks the same over threads, ranks and pruning; the sweep's Pareto front, on the P50
// days and device-hours held or on the ideal ones, and without a price; objective names. The
// answer itself: search_test.cc.
#include "preflight/search/search.h"

#include <gtest/gtest.h>

#include <vector>

#include "preflight/scenario/evaluate.h"
#include "preflight/search/search_test_support.h"

namespace preflight {
namespace {

using test_support::Load;
using test_support::SamePlans;

TEST(SearchTest, SweepMarksAParetoFront) {
  Scenario s = Load("examples/llama3.1-70b-h100.yaml");
  SearchOptions o;
  o.objective = Objective::kCost;
  std::vector<SweepPoint> pts = SweepDevices(s, {256, 512, 1024}, {}, o);
  ASSERT_EQ(pts.size(), 3u);
  int front = 0;
  for (const SweepPoint& p : pts) {
    ASSERT_TRUE(p.found);
    front += p.on_pareto_front ? 1 : 0;
  }
  EXPECT_GE(front, 1);
  // More devices finish sooner.
  EXPECT_GT(pts[0].days, pts[2].days);
  EXPECT_TRUE(pts[0].cost_usd_mid.has_value());
}

// Without a catalog price the sweep leaves the cost unset and still draws its front (on
// device-hours, which one price would only scale).
TEST(SearchTest, SweepWithoutAPriceDrawsTheFrontOnDeviceHours) {
  Scenario s = Load("examples/gpt3-175b-a100.yaml");
  ASSERT_FALSE(s.cluster.spec.price.known);
  SearchOptions o;
  o.objective = Objective::kCost;
  std::vector<SweepPoint> pts = SweepDevices(s, {64, 128, 256}, {}, o);
  ASSERT_EQ(pts.size(), 3u);
  for (const SweepPoint& p : pts) {
    ASSERT_TRUE(p.found);
    EXPECT_FALSE(p.cost_usd_mid.has_value());
    EXPECT_NEAR(p.device_hours, p.days * 24 * static_cast<double>(p.devices), 1e-6 * p.device_hours);
  }
  // More devices: fewer days and (with fewer tokens per device per second) more device-hours,
  // so no point dominates another.
  for (const SweepPoint& p : pts) EXPECT_TRUE(p.on_pareto_front) << p.devices;
  EXPECT_EQ(ObjectiveUnit(Objective::kCost, s), "device_hours");
}

// Llama 3.1 405B on 1,152 GB200s (16 NVL72 racks of 72): the fastest plans run TP 2 x CP 8 tiles of
// 16, which take 64 of each rack's 72 GPUs and hold 18 racks, 1,296 GPUs.
Scenario Llama405bOn1152Gb200(const std::vector<Override>& more = {}) {
  std::vector<Override> o = {{"hardware", "gb200-nvl72"}, {"model", "llama-3.1-405b"}, {"cluster.devices", "1152"}};
  o.insert(o.end(), more.begin(), more.end());
  return Load("examples/llama3.1-70b-h100.yaml", o);
}

// The same plans in the same order (the objectives may differ).
bool SameOrder(const SearchResult& a, const SearchResult& b) {
  if (a.top.size() != b.top.size()) return false;
  for (size_t i = 0; i < a.top.size(); ++i) {
    if (!(a.top[i].plan.tp == b.top[i].plan.tp && a.top[i].plan.cp == b.top[i].plan.cp &&
          a.top[i].plan.pp == b.top[i].plan.pp && a.top[i].plan.dp == b.top[i].plan.dp &&
          a.top[i].plan.vpp == b.top[i].plan.vpp && a.top[i].plan.schedule == b.top[i].plan.schedule &&
          a.top[i].plan.sp == b.top[i].plan.sp && a.top[i].plan.zero == b.top[i].plan.zero &&
          a.top[i].plan.recompute == b.top[i].plan.recompute && a.top[i].plan.micro_batch == b.top[i].plan.micro_batch &&
          a.top[i].plan.recompute_num_layers == b.top[i].plan.recompute_num_layers)) {
      return false;
    }
  }
  return true;
}

// A rental bills every device a job holds: cost ranks by the held device-hours, so a plan whose
// tiles leave 8 GPUs of each rack idle loses to a slightly slower one that fills the racks.
// (Cost once counted the job's own devices and ranked as step time does: TP 2 x CP 8 first.)
TEST(SearchTest, CostBillsTheDevicesAPlanHolds) {
  const Scenario s = Llama405bOn1152Gb200();
  SearchOptions o;
  o.top_k = 5, o.threads = 2;
  const SearchResult fast = Search(s, {}, o);
  o.objective = Objective::kCost;
  const SearchResult cheap = Search(s, {}, o);
  ASSERT_FALSE(fast.top.empty());
  ASSERT_FALSE(cheap.top.empty());
  const RankedPlan &f = fast.top[0], &c = cheap.top[0];
  EXPECT_EQ(DevicesHeld(s.cluster, f.plan), 1296) << f.plan.tp << " x " << f.plan.cp;
  EXPECT_EQ(DevicesHeld(s.cluster, c.plan), 1152) << c.plan.tp << " x " << c.plan.cp;
  EXPECT_GT(c.time.step.value(), f.time.step.value());
  EXPECT_LT(c.objective, ObjectiveValue(Objective::kCost, s, f.plan, f.time));
  // Hours of the 15T tokens at the step's rate x the devices held x GB200's $4.54 (mid price).
  const double hours = s.job.tokens / static_cast<double>(s.job.GlobalBatchTokens()) * c.time.step.value() / 3600;
  EXPECT_NEAR(c.objective, hours * 1152 * 4.54, 1e-9 * c.objective);
  EXPECT_NEAR(ObjectiveValue(Objective::kCost, s, f.plan, f.time),
              s.job.tokens / static_cast<double>(s.job.GlobalBatchTokens()) * f.time.step.value() / 3600 * 1296 * 4.54,
              1e-9 * c.objective);
  // Days and energy count the time and the job's own devices, not the idle ones.
  const double days = ObjectiveValue(Objective::kDays, s, f.plan, f.time);
  EXPECT_DOUBLE_EQ(days, ObjectiveOfStep(Objective::kDays, s, f.time.step.value(), 1152));
  EXPECT_DOUBLE_EQ(ObjectiveValue(Objective::kEnergy, s, f.plan, f.time),
                   ObjectiveOfStep(Objective::kEnergy, s, f.time.step.value(), 1152));
}

// The bound prunes branches under cost too (each branch holds one count of devices, so its step
// bound scales to a cost bound) and returns the exhaustive top K, the same with 1 and 2 threads and
// over 2 ranks.
TEST(SearchTest, CostRanksTheSameWithOneAndTwoThreadsRanksAndNoPruning) {
  const Scenario s = Llama405bOn1152Gb200();
  SearchOptions o;
  o.objective = Objective::kCost;
  o.top_k = 120, o.threads = 1;
  const SearchResult one = Search(s, {}, o);
  o.threads = 2;
  const SearchResult two = Search(s, {}, o);
  ASSERT_EQ(one.top.size(), 120u);
  EXPECT_TRUE(SamePlans(one, two));
  EXPECT_EQ(one.rejected, two.rejected);
  EXPECT_GT(one.rejected[kRejectBound], 0);
  o.threads = 1, o.ranks = 2, o.rank = 0;
  SearchResult r0 = Search(s, {}, o);
  o.rank = 1;
  MergeResults(&r0, Search(s, {}, o), 120);
  EXPECT_TRUE(SamePlans(one, r0));
  EXPECT_EQ(one.rejected, r0.rejected);
  o.ranks = 1, o.rank = 0, o.exhaustive = true;
  const SearchResult full = Search(s, {}, o);
  EXPECT_TRUE(SamePlans(one, full));
  EXPECT_EQ(one.considered, full.considered);
  // The top 120 mixes plans that hold idle devices and plans that do not (the first from the 101st).
  bool idle = false, none = false;
  for (const RankedPlan& p : full.top) (DevicesHeld(s.cluster, p.plan) > 1152 ? idle : none) = true;
  EXPECT_TRUE(idle && none);
}

// Where every plan holds the devices it uses (8-GPU nodes, each a scale-up domain), cost is the
// step time times one constant and ranks the plans as step time does.
TEST(SearchTest, CostRanksAsStepTimeWhereEveryPlanHoldsItsOwnDevices) {
  const Scenario s = Load("examples/llama3.1-70b-h100.yaml");
  SearchOptions o;
  o.top_k = 10, o.threads = 2;
  const SearchResult fast = Search(s, {}, o);
  o.objective = Objective::kCost;
  const SearchResult cheap = Search(s, {}, o);
  ASSERT_EQ(fast.top.size(), 10u);
  EXPECT_TRUE(SameOrder(fast, cheap));
  for (const RankedPlan& p : cheap.top) EXPECT_EQ(DevicesHeld(s.cluster, p.plan), s.cluster.devices);
  const double per_second = cheap.top[0].objective / fast.top[0].objective;
  for (size_t i = 0; i < cheap.top.size(); ++i) {
    EXPECT_NEAR(cheap.top[i].objective, fast.top[i].objective * per_second, 1e-12 * cheap.top[i].objective);
  }
}

// The sweep counts the devices each best plan holds and, with the scenario's failure record, the P50
// days, the device-hours held through them and their cost, as `plan` reports them; its front is
// drawn on those. With `reliability: none` they are unknown and the front is drawn on the ideal
// days and device-hours.
TEST(SearchTest, SweepCountsTheDevicesHeldThroughTheP50Days) {
  const Scenario s = Llama405bOn1152Gb200();
  SearchOptions o;
  o.objective = Objective::kStepTime, o.threads = 2;
  const std::vector<SweepPoint> pts = SweepDevices(s, {576, 1152}, {}, o);
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_EQ(SweepParetoBasis(pts), ParetoBasis::kP50Held);
  EXPECT_EQ(ParetoBasisName(ParetoBasis::kP50Held), "p50_held");
  for (const SweepPoint& p : pts) {
    ASSERT_TRUE(p.found);
    Scenario at = s;
    at.cluster.devices = p.devices, at.plan = p.best.plan, at.auto_parallel = false;
    const PlanResult r = Evaluate(at, {});
    ASSERT_TRUE(r.campaign.outlook_known && r.campaign.outlook.finishes);
    EXPECT_EQ(p.devices_held, r.campaign.devices_held);
    EXPECT_EQ(p.devices_held, DevicesHeld(at.cluster, p.best.plan));
    ASSERT_TRUE(p.days_p50 && p.device_hours_held_p50 && p.cost_usd_mid_p50);
    EXPECT_DOUBLE_EQ(*p.days_p50, r.campaign.outlook.wall_p50.value() / 86400);
    EXPECT_NEAR(*p.device_hours_held_p50, *p.days_p50 * 24 * static_cast<double>(p.devices_held),
                1e-9 * *p.device_hours_held_p50);
    EXPECT_NEAR(*p.cost_usd_mid_p50, *p.device_hours_held_p50 * 4.54, 1e-9 * *p.cost_usd_mid_p50);
    EXPECT_GT(*p.days_p50, p.days);  // failures and restarts
  }
  EXPECT_EQ(pts[1].devices_held, 1296) << "the test needs a best plan that holds idle devices";
  for (const SweepPoint& p : pts) {
    const SweepPoint& q = &p == &pts[0] ? pts[1] : pts[0];
    const bool dominated = *q.days_p50 <= *p.days_p50 && *q.device_hours_held_p50 <= *p.device_hours_held_p50;
    EXPECT_EQ(p.on_pareto_front, !dominated) << p.devices;
  }

  const std::vector<SweepPoint> ideal = SweepDevices(Llama405bOn1152Gb200({{"reliability", "none"}}), {576, 1152}, {}, o);
  EXPECT_EQ(SweepParetoBasis(ideal), ParetoBasis::kIdeal);
  for (const SweepPoint& p : ideal) {
    ASSERT_TRUE(p.found);
    EXPECT_GT(p.devices_held, 0);
    EXPECT_FALSE(p.days_p50 || p.device_hours_held_p50 || p.cost_usd_mid_p50);
    EXPECT_TRUE(p.on_pareto_front);  // more devices: fewer days, more device-hours
  }
}

// Without a failure outlook the front compares ideal days against the ideal device-hours held
// (what a rental bills): 128 GB200s at TP 16 fill two 72-GPU racks to 64 and hold both, so at the
// same throughput they are no cheaper than 144 at TP 8, and neither point dominates (on the job's
// own devices, 128 would have dominated 144). A stand-in search returns each count's plan at one
// throughput.
TEST(SearchTest, TheIdealFrontBillsTheDevicesHeld) {
  const Scenario s = Llama405bOn1152Gb200({{"reliability", "none"}});
  SearchOptions o;
  auto search = [](const Scenario& at, const SearchConstraints&, const SearchOptions&) {
    SearchResult r;
    RankedPlan best;
    best.plan.tp = at.cluster.devices == 128 ? 16 : 8;
    best.plan.dp = at.cluster.devices / best.plan.tp;
    best.time.step = Seconds(10);
    best.time.tokens_per_s = 1e6;
    r.top.push_back(best);
    return r;
  };
  const std::vector<SweepPoint> pts = SweepDevices(s, {128, 144}, {}, o, search);
  ASSERT_EQ(pts.size(), 2u);
  ASSERT_EQ(SweepParetoBasis(pts), ParetoBasis::kIdeal);
  EXPECT_EQ(pts[0].devices_held, 144);
  EXPECT_EQ(pts[1].devices_held, 144);
  EXPECT_DOUBLE_EQ(pts[0].days, pts[1].days);
  EXPECT_LT(pts[0].device_hours, pts[1].device_hours) << "the job's own device-hours would favour 128";
  EXPECT_TRUE(pts[0].on_pareto_front);
  EXPECT_TRUE(pts[1].on_pareto_front);
}

TEST(SearchTest, ObjectiveNamesRoundTrip) {
  for (Objective o : {Objective::kStepTime, Objective::kCost, Objective::kDays, Objective::kEnergy}) {
    Objective back;
    ASSERT_TRUE(ParseObjective(ObjectiveName(o), &back));
    EXPECT_TRUE(back == o);
  }
  Objective unused;
  EXPECT_FALSE(ParseObjective("speed", &unused));
}

}  // namespace
}  // namespace preflight
