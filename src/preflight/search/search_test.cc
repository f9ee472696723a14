// Tests of search/search.h: the plans a search returns and their order, the same answer over
// threads and ranks, bound pruning that keeps the exhaustive top K (DeepEP, a capacity factor,
// measured collectives), larger micro-batches tried after one does not fit, one plan per layout,
// constraints. The plans the search tries and how it counts the rest: search_plans_test.cc;
// objectives, cost and device sweeps: search_objective_test.cc.
#include "preflight/search/search.h"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "preflight/catalog/catalog.h"
#include "preflight/cost/collectives.h"
#include "preflight/scenario/evaluate.h"
#include "preflight/search/search_test_support.h"

namespace preflight {
namespace {

using test_support::ExpectPruningKeepsTheExhaustiveTopK;
using test_support::Load;
using test_support::SamePlans;

TEST(SearchTest, FindsValidFittingPlansBestFirst) {
  Scenario s = Load("examples/llama3.1-70b-h100.yaml");
  SearchOptions o;
  o.top_k = 5;
  o.threads = 1;
  SearchResult r = Search(s, {}, o);
  ASSERT_EQ(r.top.size(), 5u);
  for (size_t i = 0; i + 1 < r.top.size(); ++i) EXPECT_LE(r.top[i].objective, r.top[i + 1].objective);
  for (const RankedPlan& p : r.top) {
    EXPECT_TRUE(CheckPlan(s.arch, p.plan, s.job, s.cluster.devices).ok());
    EXPECT_TRUE(p.memory.fits);
    EXPECT_LE(p.plan.tp, s.cluster.scale_up_domain);
  }
  int64_t rejected = 0;
  for (int64_t n : r.rejected) rejected += n;
  EXPECT_EQ(r.considered, r.valid + rejected);
  EXPECT_GT(r.rejected[kRejectNoFit], 0);
}

TEST(SearchTest, NeverWorseThanTheGivenLayout) {
  Scenario s = Load("examples/llama3.1-70b-h100.yaml");
  SearchOptions o;
  o.top_k = 1;
  SearchResult r = Search(s, {}, o);
  ASSERT_FALSE(r.top.empty());
  const ParamCounts params = CountParameters(s.arch);
  const CostContext ctx = MakeCostContext(s.arch, params, s.job, s.cluster);
  EXPECT_LE(r.top[0].time.step.value(), EstimateStep(ctx, s.plan).step.value() * (1 + 1e-12));
}

TEST(SearchTest, SameAnswerWithOneAndTwoThreadsAndSplitRanks) {
  Scenario s = Load("examples/deepseek-v3-h800.yaml");
  SearchOptions o;
  o.top_k = 8;
  o.threads = 1;
  SearchResult one = Search(s, {}, o);
  o.threads = 2;
  SearchResult two = Search(s, {}, o);
  EXPECT_TRUE(SamePlans(one, two));
  EXPECT_EQ(one.considered, two.considered);
  EXPECT_EQ(one.valid, two.valid);

  // Two "ranks" in one process, merged as MPI rank 0 merges them.
  o.threads = 1;
  o.ranks = 2;
  o.rank = 0;
  SearchResult r0 = Search(s, {}, o);
  o.rank = 1;
  SearchResult r1 = Search(s, {}, o);
  EXPECT_GT(r0.considered, 0);
  EXPECT_GT(r1.considered, 0);
  MergeResults(&r0, r1, 8);
  EXPECT_TRUE(SamePlans(one, r0));
  EXPECT_EQ(one.considered, r0.considered);
  EXPECT_EQ(one.rejected, r0.rejected);
}

// The bound pruning is exact: the top K equals that of evaluating every valid plan.
TEST(SearchTest, BoundPruningKeepsTheExhaustiveTopK) {
  for (const char* file : {"examples/llama3.1-70b-h100.yaml", "examples/deepseek-v3-h800.yaml",
                           "examples/gpt3-175b-a100.yaml"}) {
    SCOPED_TRACE(file);
    Scenario s = Load(file);
    SearchOptions o;
    o.top_k = 10;
    o.threads = 2;
    SearchResult pruned = Search(s, {}, o);
    o.exhaustive = true;
    SearchResult full = Search(s, {}, o);
    EXPECT_TRUE(SamePlans(pruned, full));
    EXPECT_EQ(pruned.considered, full.considered);
    EXPECT_EQ(full.rejected[kRejectBound], 0);
    EXPECT_GT(pruned.rejected[kRejectBound], 0);
    EXPECT_LT(pruned.model_evaluations, full.model_evaluations);
  }
}

// DeepEP sends fewer bytes than the all-to-all: the branch bound must time the same traffic, or it
// cuts branches whose plans beat the ones kept (a 100 Gb/s network makes expert traffic matter).
TEST(SearchTest, BoundPruningKeepsTheExhaustiveTopKWithDeepEp) {
  Catalog catalog(std::string(PREFLIGHT_SOURCE_DIR) + "/data");
  auto loaded = LoadScenarioFile(std::string(PREFLIGHT_SOURCE_DIR) + "/examples/deepseek-v3-h800.yaml", catalog,
                                 {{"cluster.devices", "1024"},
                                  {"cluster.scale_out_gbits_per_s_per_device", "100"},
                                  {"training.ep_dispatcher", "deepep"}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  SearchConstraints c;
  c.zero = 1;
  c.recompute = Recompute::kSelective;
  ExpectPruningKeepsTheExhaustiveTopK(*loaded, c, 2);
}

// Experts padded to a capacity factor below 1 compute and exchange fewer copies than top-k: the
// branch bounds must count the same (the model's FLOPs and k copies would overstate them and cut
// plans the exhaustive search keeps).
TEST(SearchTest, BoundPruningKeepsTheExhaustiveTopKUnderACapacityFactor) {
  for (const char* capacity : {"0.1", "2"}) {
    SCOPED_TRACE(capacity);
    const Scenario s = Load("tests/scenarios/mixtral-8x7b.yaml", {{"cluster.devices", "32"},
                                                                  {"training.moe_capacity_factor", capacity},
                                                                  {"training.moe_pad_to_capacity", "true"}});
    ExpectPruningKeepsTheExhaustiveTopK(s, {}, 2);
  }
}

// ZB-H1 with fewer micro-batches than stages: a larger micro-batch defers fewer weight gradients,
// and under full recompute (a layer's W state far above its checkpoint) needs less memory. Llama
// 3.1 70B at TP 8, PP 8, global batch 4 in 30 GiB does not fit at micro-batch 1 but fits at 4:
// the search must try it rather than stop at the first micro-batch that does not fit.
TEST(SearchTest, ZeroBubbleTriesLargerMicroBatchesAfterOneDoesNotFit) {
  const Scenario s = Load("examples/llama3.1-70b-h100.yaml", {{"cluster.devices", "64"},
                                                              {"training.global_batch", "4"},
                                                              {"cluster.hbm_capacity_gib", "30"}});
  SearchConstraints c;
  c.tp = 8, c.pp = 8, c.cp = 1, c.zero = 1, c.sp = true;
  c.schedule = Schedule::kZbH1, c.recompute = Recompute::kFull;
  SearchOptions o;
  o.top_k = 3, o.threads = 1;
  const SearchResult r = Search(s, c, o);
  ASSERT_FALSE(r.top.empty()) << "micro-batch 4 fits";
  EXPECT_EQ(r.top.front().plan.micro_batch, 4);
  Scenario at_one = s;
  at_one.plan = r.top.front().plan;
  at_one.plan.micro_batch = 1;
  EXPECT_GT(EstimateMemory(at_one.arch, CountParameters(at_one.arch), at_one.plan, at_one.job, at_one.cluster.hbm_capacity, {})
                .worst.Total()
                .value(),
            s.cluster.hbm_capacity.value())
      << "micro-batch 1 must not fit for this test to mean anything";
  o.exhaustive = true;
  EXPECT_TRUE(SamePlans(r, Search(s, c, o)));
}

// Megatron's softmax runs unfused (fp32 copies of the scores) where micro-batch x heads / TP is
// not a multiple of 4: GPT 18B at TP 8 (48 heads, 6 a rank) unfuses at micro-batch 1 and fuses at
// 2 and 4, so under GPipe, which holds every micro-batch, micro-batch 1 needs more memory than 4.
// In 60 GiB full recompute by block of 19 of the 20 layers of a stage does not fit at 1 but fits
// at 4, faster than recomputing them all: the search must not stop at micro-batch 1 (it once did).
TEST(SearchTest, MegatronSoftmaxTriesLargerMicroBatchesAfterOneDoesNotFit) {
  const Scenario s = Load("examples/gpt-18b-megatron-softmax.yaml", {{"cluster.hbm_capacity_gib", "60"}});
  SearchConstraints c;
  c.tp = 8, c.pp = 2, c.zero = 2, c.sp = false;
  c.schedule = Schedule::kGpipe, c.recompute = Recompute::kFull;
  SearchOptions o;
  o.top_k = 3, o.threads = 1;
  const SearchResult r = Search(s, c, o);
  ASSERT_FALSE(r.top.empty());
  Scenario block = s;
  block.plan = r.top.front().plan;
  block.plan.micro_batch = 4;
  block.plan.recompute_method = RecomputeMethod::kBlock;
  block.plan.recompute_num_layers = 19;
  const PlanResult fits = Evaluate(block, {});
  ASSERT_TRUE(fits.check.ok() && fits.has_memory && fits.memory.fits && fits.has_time) << fits.check.message;
  block.plan.micro_batch = 1;
  const PlanResult at_one = Evaluate(block, {});
  ASSERT_TRUE(at_one.has_memory);
  EXPECT_FALSE(at_one.memory.fits) << "micro-batch 1 must not fit for this test to mean anything";
  EXPECT_LE(r.top.front().objective, fits.time.step.value() * (1 + 1e-12));
  o.exhaustive = true;
  EXPECT_TRUE(SamePlans(r, Search(s, c, o)));
}

// `distinct` keeps one plan per layout, the best of each: no two of its top K share TP, CP, PP,
// DP, EP, ETP, schedule and ZeRO stage; its first is the plain search's first; and pruning, threads
// and MPI-style splits return the exhaustive answer. The plain top K of this scenario is variants
// of one layout (VPP and layer split), so the two answers differ.
TEST(SearchTest, DistinctKeepsTheBestPlanOfEachLayout) {
  const Scenario s = Load("examples/llama3.1-70b-h100.yaml");
  SearchOptions o;
  o.top_k = 5, o.threads = 1;
  const SearchResult plain = Search(s, {}, o);
  o.distinct = true;
  const SearchResult distinct = Search(s, {}, o);
  ASSERT_EQ(distinct.top.size(), 5u);
  ASSERT_FALSE(plain.top.empty());
  SearchResult first = plain;
  first.top.resize(1);
  SearchResult distinct_first = distinct;
  distinct_first.top.resize(1);
  EXPECT_TRUE(SamePlans(first, distinct_first));
  EXPECT_FALSE(SamePlans(plain, distinct)) << "the plain top K must repeat a layout for this test to mean anything";
  for (size_t i = 0; i < distinct.top.size(); ++i) {
    for (size_t j = i + 1; j < distinct.top.size(); ++j) EXPECT_FALSE(SameLayout(distinct.top[i].plan, distinct.top[j].plan));
    if (i > 0) {
      EXPECT_FALSE(BetterPlan(distinct.top[i], distinct.top[i - 1]));
    }
  }
  o.exhaustive = true;
  EXPECT_TRUE(SamePlans(distinct, Search(s, {}, o)));
  o.exhaustive = false, o.threads = 2;
  EXPECT_TRUE(SamePlans(distinct, Search(s, {}, o)));
  o.threads = 1, o.ranks = 2;
  SearchResult split = Search(s, {}, o);
  o.rank = 1;
  MergeResults(&split, Search(s, {}, o), o.top_k, true);
  EXPECT_TRUE(SamePlans(distinct, split));
}

// MoE with TP needs sequence parallelism: the search still offers TP > 1 for an MoE model, with SP.
TEST(SearchTest, MoeModelsStillGetTensorParallelPlans) {
  Scenario s = Load("examples/deepseek-v3-h800.yaml");
  SearchConstraints c;
  c.tp = 2;
  SearchOptions o;
  o.top_k = 3;
  SearchResult r = Search(s, c, o);
  ASSERT_FALSE(r.top.empty());
  for (const RankedPlan& p : r.top) {
    EXPECT_EQ(p.plan.tp, 2);
    EXPECT_TRUE(p.plan.sp);
  }
}

// A measured collective curve need not keep the α-β model's "one collective is never slower than
// several smaller ones": its rate can dip with size. The search's bound then times the step's volume
// at the best rate the curve reaches up to it, still prunes, and still returns the exhaustive top K.
// The first curve is slow (40 GB/s busbw at every size), so the best plans use SP pairs; the second
// dips from 300 GB/s at 16 MB to 100 GB/s at 64 MB.
TEST(SearchTest, MeasuredCollectivesKeepTheExhaustiveTopK) {
  const std::vector<std::array<double, 2>> curves[] = {
      {{1e6, 44}, {1e9, 43750}},
      {{1e6, 40}, {16e6, 93.3}, {64e6, 1120}, {1e9, 5833}},
  };
  for (const auto& rows : curves) {
    Scenario s = Load("examples/llama3.1-70b-h100.yaml");
    auto table = std::make_shared<CollectiveTable>();
    ASSERT_TRUE(table->AddCurve(CollectiveOp::kAllReduce, 8, 8, rows).ok());
    s.cluster.collectives = table;
    SearchConstraints c;
    c.tp = 8;
    ExpectPruningKeepsTheExhaustiveTopK(s, c, SearchOptions{}.threads);
  }
}

TEST(SearchTest, ConstraintsAreHonoured) {
  Scenario s = Load("examples/llama3.1-70b-h100.yaml");
  SearchConstraints c;
  c.tp = 8;
  c.schedule = Schedule::k1F1B;
  c.recompute = Recompute::kFull;
  c.min_headroom = 0.2;
  SearchOptions o;
  o.top_k = 20;
  SearchResult r = Search(s, c, o);
  ASSERT_FALSE(r.top.empty());
  for (const RankedPlan& p : r.top) {
    EXPECT_EQ(p.plan.tp, 8);
    EXPECT_TRUE(p.plan.schedule == Schedule::k1F1B);
    EXPECT_TRUE(p.plan.recompute == Recompute::kFull);
    EXPECT_GE(p.memory.headroom_fraction, 0.2 - 1e-12);
  }
}

// A fixed schedule the plan rules allow without a pipeline keeps the PP-1 layouts: GPT-2 small on 8
// A100s with a fixed GPipe (or ZB-H1) schedule finds its data-parallel PP-1 plans under that
// schedule. Only 1F1B had stood for PP 1, so a fixed GPipe found no PP-1 layout at all.
TEST(SearchTest, AFixedFlatScheduleKeepsThePipelineFreeLayouts) {
  Scenario s = Load("examples/gpt2-small-a100-unpadded.yaml");
  for (Schedule fixed : {Schedule::kGpipe, Schedule::kZbH1}) {
    SearchConstraints c;
    c.schedule = fixed;
    c.pp = 1;
    SearchOptions o;
    o.top_k = 5;
    SearchResult r = Search(s, c, o);
    ASSERT_FALSE(r.top.empty()) << ScheduleName(fixed);
    for (const RankedPlan& p : r.top) {
      EXPECT_EQ(p.plan.pp, 1);
      EXPECT_TRUE(p.plan.schedule == fixed);
    }
  }
}

// The micro-batch candidates are the divisors of the sequences per replica, found without a scan
// up to that count: a batch of 2^31 sequences (whose divisors are the 32 powers of two) once made
// every branch count to a billion.
TEST(SearchTest, MicroBatchesAreTheDivisorsOfAHugeBatch) {
  Scenario s = Load("examples/llama3.1-70b-h100.yaml");
  s.job.global_batch = int64_t{1} << 31;
  SearchConstraints c;
  c.tp = 8, c.pp = 8, c.dp = 16, c.cp = 1;
  SearchOptions o;
  o.top_k = 200;
  o.threads = 1;
  o.exhaustive = true;
  SearchResult r = Search(s, c, o);
  ASSERT_FALSE(r.top.empty());
  for (const RankedPlan& p : r.top) {
    EXPECT_EQ((int64_t{1} << 27) % p.plan.micro_batch, 0) << p.plan.micro_batch;
  }
}

TEST(SearchTest, NothingFitsGivesAnEmptyAnswerWithReasons) {
  Scenario s = Load("examples/llama3.1-70b-h100.yaml");
  s.cluster.devices = 1;
  SearchResult r = Search(s, {}, SearchOptions{});
  EXPECT_TRUE(r.top.empty());
  EXPECT_GT(r.rejected[kRejectNoFit], 0);
}

}  // namespace
}  // namespace preflight
