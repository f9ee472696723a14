#include "preflight/search/search.h"

#include <gtest/gtest.h>

#include <array>

#include <memory>
#include <string>

#include "preflight/base/test_support.h"
#include "preflight/catalog/catalog.h"
#include "preflight/cost/collectives.h"
#include "preflight/scenario/evaluate.h"

namespace preflight {
namespace {

Scenario Load(const std::string& file, const std::vector<Override>& overrides = {}) {
  Catalog catalog(std::string(PREFLIGHT_SOURCE_DIR) + "/data");
  auto s = LoadScenarioFile(std::string(PREFLIGHT_SOURCE_DIR) + "/" + file, catalog, overrides);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return *s;
}

bool SamePlans(const SearchResult& a, const SearchResult& b);

// Pruned and exhaustive searches of `s` under `c` return the same top K, and the pruned one cut
// branches by its bound.
void ExpectPruningKeepsTheExhaustiveTopK(const Scenario& s, const SearchConstraints& c, int threads) {
  SearchOptions o;
  o.top_k = 5;
  o.threads = threads;
  SearchResult pruned = Search(s, c, o);
  o.exhaustive = true;
  SearchResult full = Search(s, c, o);
  ASSERT_FALSE(full.top.empty());
  EXPECT_TRUE(SamePlans(pruned, full));
  EXPECT_GT(pruned.rejected[kRejectBound], 0);
}

bool SamePlans(const SearchResult& a, const SearchResult& b) {
  if (a.top.size() != b.top.size()) return false;
  for (size_t i = 0; i < a.top.size(); ++i) {
    const Plan &p = a.top[i].plan, &q = b.top[i].plan;
    if (p.tp != q.tp || p.cp != q.cp || p.pp != q.pp || p.dp != q.dp || p.vpp != q.vpp ||
        p.ep != q.ep || p.etp != q.etp || p.sp != q.sp || p.zero != q.zero ||
        p.schedule != q.schedule || p.recompute != q.recompute || p.micro_batch != q.micro_batch ||
        a.top[i].objective != b.top[i].objective) {
      return false;
    }
  }
  return true;
}

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

// FSDP's gather-once ZeRO-3 keeps a whole gathered copy, so it can need more memory than ZeRO-2:
// a ZeRO-3 plan that does not fit must not end the search of the lower stages (it once hid a
// fitting ZeRO-2 plan, and with it every plan of the layout).
TEST(SearchTest, GatherOnceZero3DoesNotHideLowerStages) {
  Scenario s = Load("examples/llama3.1-70b-h100.yaml",
                    {{"parallel.zero", "3"}, {"parallel.fsdp_gather_once", "true"}});
  SearchConstraints c;
  c.tp = 2, c.cp = 2, c.pp = 2, c.vpp = 40, c.recompute = Recompute::kNone;
  SearchOptions o;
  o.top_k = 1;
  o.exhaustive = true;
  SearchResult r = Search(s, c, o);
  ASSERT_FALSE(r.top.empty());
  EXPECT_LT(r.top[0].plan.zero, 3);
  EXPECT_TRUE(r.top[0].memory.fits);
}

// ZeRO-3's gathered units can outweigh what it shards where two ranks share a 262,144-token
// embedding: ZeRO-3 does not fit where ZeRO-2 does, and its miss hides neither ZeRO-2 nor the rest.
TEST(SearchTest, AZeroThreeMissDoesNotHideLowerStages) {
  const std::string dir = test_support::ScratchDir("preflight_search_zero3_");
  const std::string path = test_support::WriteFile(dir, "z3.yaml", R"(name: z3-dp2
model: {model_type: gpt2, n_embd: 4096, n_layer: 4, n_head: 32, n_positions: 36864, vocab_size: 262144,
        activation_function: gelu}
hardware: h100-sxm-80gb
cluster: {devices: 2, devices_per_node: 8}
training: {seq_len: 36864, global_batch: 2, micro_batch: 1, precision: bf16, flash_attention: true, tokens: 10e9}
)");
  Catalog catalog(std::string(PREFLIGHT_SOURCE_DIR) + "/data");
  auto s = LoadScenarioFile(path, catalog, {});
  ASSERT_TRUE(s.ok()) << s.status().message();
  SearchOptions o;
  o.top_k = 3;
  o.threads = 1;
  SearchConstraints dp2;
  dp2.tp = 1, dp2.pp = 1, dp2.cp = 1, dp2.recompute = Recompute::kNone, dp2.max_micro_batch = 1;
  dp2.zero = 3;
  EXPECT_TRUE(Search(*s, dp2, o).top.empty());  // ZeRO-3 does not fit
  dp2.zero = 2;
  const SearchResult two = Search(*s, dp2, o);
  ASSERT_FALSE(two.top.empty());                 // ZeRO-2 does
  const SearchResult free = Search(*s, {}, o);
  ASSERT_FALSE(free.top.empty());
  EXPECT_LE(free.top[0].objective, two.top[0].objective);
  o.exhaustive = true;
  EXPECT_TRUE(SamePlans(free, Search(*s, {}, o)));
}

// DeepSpeed's per-parameter ZeRO-3 gathers exist without a pipeline only: the search does not
// carry them into pipelined layouts (which the scenario reader would refuse).
TEST(SearchTest, PerParameterGathersStayWithoutPipeline) {
  Scenario s = Load("examples/gpt3-175b-a100.yaml", {{"parallel.zero", "3"}, {"parallel.zero3_gather", "parameter"},
                                                    {"parallel.pp", "1"}, {"parallel.vpp", "1"},
                                                    {"parallel.schedule", "1f1b"}});
  SearchOptions o;
  o.top_k = 20;
  SearchConstraints c;
  c.zero = 3;
  SearchResult r = Search(s, c, o);
  ASSERT_FALSE(r.top.empty());
  bool pipelined = false;
  for (const RankedPlan& p : r.top) {
    EXPECT_EQ(p.plan.zero3_gather_per_parameter, p.plan.pp == 1) << p.plan.pp;
    pipelined = pipelined || p.plan.pp > 1;
  }
  EXPECT_TRUE(pipelined) << "the test needs a pipelined ZeRO-3 plan among the best";
}

// A scenario's activation offloading stays on the plans Megatron-Core allows it on (PP 1 without
// recompute) and is dropped from the others, which the search still explores.
TEST(SearchTest, OffloadStaysWhereMegatronAllowsIt) {
  Scenario s = Load("examples/llama3.1-70b-h100.yaml",
                    {{"parallel.pp", "1"}, {"parallel.vpp", "1"}, {"parallel.schedule", "1f1b"},
                     {"parallel.recompute", "none"}, {"parallel.cpu_offload_layers", "40"}});
  SearchOptions o;
  o.top_k = 200;
  SearchResult r = Search(s, SearchConstraints{}, o);
  ASSERT_FALSE(r.top.empty());
  bool offloaded = false, other = false;
  for (const RankedPlan& p : r.top) {
    const bool allowed = p.plan.pp == 1 && p.plan.recompute == Recompute::kNone;
    EXPECT_EQ(p.plan.cpu_offload_layers, allowed ? 40 : 0) << p.plan.pp << " " << RecomputeName(p.plan.recompute);
    offloaded = offloaded || p.plan.cpu_offload_layers > 0;
    other = other || !allowed;
  }
  EXPECT_TRUE(other) << "the search must still try pipelines and recompute";
  EXPECT_TRUE(offloaded) << "the test needs an offloaded plan among the best";
  EXPECT_EQ(r.rejected[static_cast<int>(PlanIssue::kCpuOffload)], 0);
}

// Offloading is dropped by selective and full recompute, so a rule it breaks (here: no fused
// attention, which the offload model needs) rejects only the plans without recompute that keep
// it, not their whole branch: PP 1 under full recompute finds what it finds without offloading.
TEST(SearchTest, AnOffloadRuleRejectsOnlyThePlansThatKeepTheOffload) {
  const std::vector<Override> base = {{"parallel.pp", "1"}, {"parallel.vpp", "1"}, {"parallel.schedule", "1f1b"},
                                      {"parallel.recompute", "none"}, {"training.flash_attention", "false"}};
  std::vector<Override> offload = base;
  offload.push_back({"parallel.cpu_offload_layers", "40"});
  SearchConstraints c;
  c.pp = 1;
  c.recompute = Recompute::kFull;
  SearchOptions o;
  o.top_k = 3;
  o.exhaustive = true;
  const SearchResult with = Search(Load("examples/llama3.1-70b-h100.yaml", offload), c, o);
  const SearchResult without = Search(Load("examples/llama3.1-70b-h100.yaml", base), c, o);
  ASSERT_FALSE(without.top.empty());
  EXPECT_EQ(with.valid, without.valid);
  EXPECT_TRUE(SamePlans(with, without));
  EXPECT_EQ(with.rejected[static_cast<int>(PlanIssue::kCpuOffload)], 0);
  // Without recompute the plans keep it and break the rule, one by one.
  c.recompute = Recompute::kNone;
  const SearchResult none = Search(Load("examples/llama3.1-70b-h100.yaml", offload), c, o);
  EXPECT_EQ(none.valid, 0);
  EXPECT_GT(none.rejected[static_cast<int>(PlanIssue::kCpuOffload)], 0);
}

// Llama 3.1 8B on `devices` GPUs, sequence 4,096, global batch 256: the branch-counting tests' run.
Scenario Llama8bAtBatch256(int devices) {
  return Load("examples/llama3.1-70b-h100.yaml", {{"model", "llama-3.1-8b"},
                                                  {"cluster.devices", std::to_string(devices)},
                                                  {"training.seq_len", "4096"},
                                                  {"training.global_batch", "256"}});
}

// Full recompute by block is searched as a recompute choice of its own: at each ZeRO stage the
// fewest layers a chunk that fit. Llama 3.1 70B at 32k tokens on the example's layout (TP 4, CP 2,
// PP 4, VPP 5: 4 layers a chunk) fits only with recompute; two layers a chunk fit at ZeRO 2 and
// run faster than every layer recomputed; one layer does not fit.
TEST(SearchTest, FullRecomputeByBlockRecomputesTheFewestLayersThatFit) {
  const Scenario s = Load("examples/llama3.1-70b-h100.yaml", {{"training.seq_len", "32768"}});
  SearchConstraints c;
  c.tp = 4, c.pp = 4, c.cp = 2, c.vpp = 5;
  SearchOptions o;
  o.top_k = 200, o.threads = 1, o.exhaustive = true;
  const SearchResult r = Search(s, c, o);
  ASSERT_FALSE(r.top.empty());
  const Plan& best = r.top[0].plan;
  ASSERT_TRUE(RecomputesByBlock(best)) << RecomputeLabel(best);
  EXPECT_EQ(best.recompute_num_layers, 2);
  Plan fewer = best;
  fewer.recompute_num_layers = 1;
  EXPECT_FALSE(EstimateMemory(s.arch, CountParameters(s.arch), fewer, s.job, s.cluster.hbm_capacity, {}).fits);
  bool saw_every_layer = false;
  for (const RankedPlan& p : r.top) {
    if (p.plan.recompute != Recompute::kFull || RecomputesByBlock(p.plan)) continue;
    saw_every_layer = true;
    EXPECT_GT(p.time.step.value(), r.top[0].time.step.value());
  }
  EXPECT_TRUE(saw_every_layer);
  // Fixed to full recompute, the search still tries it by block.
  c.recompute = Recompute::kFull;
  EXPECT_TRUE(RecomputesByBlock(Search(s, c, o).top[0].plan));
}

// A plan left unexplored because a smaller micro-batch did not fit is counted under the rule it
// breaks, if any, not as not fitting. Llama 3.1 8B on 64 GPUs, global batch 256, the branch TP 2,
// PP 4, VPP 2, DP 8: each replica's 32 sequences in micro-batches of 1-32 give 32, 16, 8, 4, 2 or
// 1 micro-batches, and interleaving needs a multiple of PP 4, so micro-batches of 16 and 32 break
// the rule: 2 of them x 2 SP x 4 recompute choices (full, full by block, selective, none) x 4 ZeRO
// stages = 64 plans (it once said 32, the rest counted as not fitting).
TEST(SearchTest, UnexploredPlansAreCountedUnderTheRuleTheyBreak) {
  const Scenario s = Llama8bAtBatch256(64);
  SearchConstraints c;
  c.tp = 2, c.pp = 4, c.vpp = 2, c.dp = 8, c.cp = 1, c.schedule = Schedule::kInterleaved;
  SearchOptions o;
  o.exhaustive = true;
  const SearchResult r = Search(s, c, o);
  EXPECT_EQ(r.considered, 192);
  EXPECT_EQ(r.rejected[static_cast<int>(PlanIssue::kInterleavedMicroBatches)], 64);
  EXPECT_EQ(r.valid + r.rejected[kRejectNoFit], 128);
  EXPECT_GT(r.rejected[kRejectNoFit], 0) << "the test needs plans that do not fit";
}

// Micro-batches that break a rule no recompute mode or ZeRO stage changes are counted in bulk
// (search.cc, CountBrokenMicroBatches): each plan still under the first rule it breaks, as a
// plan check of every (SP, recompute, micro-batch, ZeRO) choice finds. CP 3 does not divide the
// 4,096-token sequence in halves; micro-batches 64 and 128 leave too few for interleaving first.
TEST(SearchTest, PlansBrokenWhateverTheRecomputeAreCountedUnderTheirRule) {
  const Scenario s = Llama8bAtBatch256(48);
  SearchConstraints c;
  c.tp = 2, c.pp = 4, c.vpp = 2, c.dp = 2, c.cp = 3, c.schedule = Schedule::kInterleaved;
  SearchOptions o;
  o.exhaustive = true;
  const SearchResult r = Search(s, c, o);
  o.exhaustive = false;
  const SearchResult pruned = Search(s, c, o);  // no bound: no plan of the branch is valid
  EXPECT_EQ(pruned.rejected, r.rejected);
  std::array<int64_t, kNumRejectReasons> expected{};
  int64_t plans = 0;
  Plan p = s.plan;
  p.tp = 2, p.pp = 4, p.vpp = 2, p.dp = 2, p.cp = 3, p.schedule = Schedule::kInterleaved, p.cpu_offload_layers = 0;
  for (bool sp : {false, true}) {
    // Full recompute twice: every layer, and by block.
    for (Recompute rc : {Recompute::kFull, Recompute::kFull, Recompute::kSelective, Recompute::kNone}) {
      for (int64_t mb = 1; mb <= 128; mb *= 2) {
        for (int zero = 0; zero <= 3; ++zero) {
          p.sp = sp, p.recompute = rc, p.micro_batch = mb, p.zero = zero;
          ++plans;
          ++expected[static_cast<int>(FindPlanIssue(s.arch, p, s.job, s.cluster.devices))];
        }
      }
    }
  }
  EXPECT_EQ(r.considered, plans);
  EXPECT_EQ(r.valid, 0);
  EXPECT_EQ(r.rejected[static_cast<int>(PlanIssue::kContextParallel)], 192);
  EXPECT_EQ(r.rejected[static_cast<int>(PlanIssue::kInterleavedMicroBatches)], 64);
  for (int i = 0; i < kNumRejectReasons; ++i) EXPECT_EQ(r.rejected[i], expected[i]) << RejectReasonName(i);
}

// The search tries a plan whose ZeRO groups hold one rank each at ZeRO 0 and counts its stages
// that are the same plan as zero_shards_nothing (search.cc, KeepStagesUnlikeZero0): ZeRO 1 and 2,
// and ZeRO 3 with or without DeepSpeed's per-parameter gathers. That is right only while the
// memory and step-time models give those the figures of ZeRO 0, which this checks; FSDP's
// gather-once keeps its gathered copy and fp32 gradients at any group (a ZeRO-3 plan the search
// still tries). Where one group holds more (the experts replicated over TP, or DP 2), ZeRO 1 must
// save memory.
TEST(SearchTest, ZeroStagesOfAPlanThatShardsNothingAreItsZeroZero) {
  struct Case {
    const char* file;
    int64_t devices, tp, pp, dp, ep, etp;
    bool per_parameter, gather_once, same;
  };
  const Case cases[] = {
      {"examples/llama3.1-70b-h100.yaml", 8, 8, 1, 1, 1, 1, true, false, true},
      {"examples/llama3.1-70b-h100.yaml", 32, 8, 4, 1, 1, 1, false, true, true},
      {"examples/llama3.1-70b-h100.yaml", 64, 8, 4, 2, 1, 1, false, false, false},
      {"examples/deepseek-v3-h800.yaml", 32, 2, 16, 1, 2, 1, false, true, true},
      {"examples/deepseek-v3-h800.yaml", 32, 2, 16, 1, 1, 1, false, false, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.file) + " tp " + std::to_string(c.tp) + " dp " + std::to_string(c.dp) + " ep " +
                 std::to_string(c.ep));
    const Scenario s = Load(c.file, {{"cluster.devices", std::to_string(c.devices)}});
    Plan p = s.plan;
    p.tp = c.tp, p.pp = c.pp, p.dp = c.dp, p.cp = 1, p.ep = c.ep, p.etp = c.etp, p.vpp = 1;
    p.schedule = Schedule::k1F1B, p.first_stage_layers = p.last_stage_layers = 0, p.cpu_offload_layers = 0;
    p.balanced_layers = s.arch.layers % p.pp != 0, p.sp = p.tp > 1, p.zero = 0, p.recompute = Recompute::kFull;
    EXPECT_EQ(ZeroShardsNothing(s.arch, p), c.same);
    const ParamCounts params = CountParameters(s.arch);
    const CostContext ctx = MakeCostContext(s.arch, params, s.job, s.cluster);
    const double memory0 = EstimateMemory(s.arch, params, p, s.job, s.cluster.hbm_capacity, {}).worst.Total().value();
    const double step0 = EstimateStep(ctx, p).step.value();
    for (int zero = 1; zero <= 3; ++zero) {
      Plan q = p;
      q.zero = zero;
      if (zero == 3) q.zero3_gather_per_parameter = c.per_parameter, q.fsdp_gather_once = c.gather_once;
      ASSERT_EQ(FindPlanIssue(s.arch, q, s.job, s.cluster.devices), PlanIssue::kValid) << "ZeRO " << zero;
      const double memory = EstimateMemory(s.arch, params, q, s.job, s.cluster.hbm_capacity, {}).worst.Total().value();
      if (c.same && q.fsdp_gather_once) {
        EXPECT_GT(memory, memory0);
      } else if (c.same) {
        EXPECT_EQ(memory, memory0) << "ZeRO " << zero;
        EXPECT_EQ(EstimateStep(ctx, q).step.value(), step0) << "ZeRO " << zero;
      } else if (zero == 1) {
        EXPECT_LT(memory, memory0);
      }
    }
  }
  // The search lists such a plan once, and counts the rest of the space as before.
  const Scenario one = Load("examples/gpt2-small-a100-unpadded.yaml");
  SearchOptions o;
  o.top_k = 4;
  o.exhaustive = true;
  const SearchResult r = Search(one, {}, o);
  ASSERT_EQ(r.top.size(), 4U);
  for (const RankedPlan& ranked : r.top) EXPECT_EQ(ranked.plan.zero, 0);
  EXPECT_EQ(r.rejected[kRejectSameAsZero0], 3 * r.valid);
  int64_t rejected = 0;
  for (int64_t n : r.rejected) rejected += n;
  EXPECT_EQ(r.considered, r.valid + rejected);
  EXPECT_EQ(r.considered, 4 * 4 * 4);  // ZeRO 0-3 x four recompute choices x micro-batches 1, 2, 4, 8
  // DeepSpeed's gradient flattening runs at ZeRO 0 only (two passes over the gradients at DP 1):
  // there ZeRO 1 is another plan, and a faster one, which the search must keep.
  const Scenario flat = Load("examples/gpt2-small-a100-unpadded.yaml", {{"parallel.grad_flatten", "true"}});
  const SearchResult flattened = Search(flat, {}, o);
  ASSERT_FALSE(flattened.top.empty());
  EXPECT_NE(flattened.top[0].plan.zero, 0);
  EXPECT_EQ(flattened.rejected[kRejectSameAsZero0], 0);
  SearchConstraints fixed;
  fixed.zero = 2;
  const SearchResult two = Search(one, fixed, o);
  ASSERT_FALSE(two.top.empty());
  EXPECT_EQ(two.top[0].plan.zero, 2);  // a stage the user fixed is the one tried
  EXPECT_EQ(two.rejected[kRejectSameAsZero0], 0);
}

// CountSearchSpace counts the outer layouts the layout-level plan rules leave (what a search's
// time grows with) and every combination, stops one past its limit, and shrinks with the
// constraints that narrow a space.
TEST(SearchTest, CountsTheLayoutsTheRulesLeave) {
  const Scenario s = Load("examples/deepseek-v3-h800.yaml");
  const SearchSpaceSize space = CountSearchSpace(s, {}, kMaxSearchLayouts);
  const int64_t all = space.layouts;
  EXPECT_GT(space.branches, all);
  EXPECT_GT(all, 1000);
  EXPECT_LE(all, kMaxSearchLayouts);
  EXPECT_EQ(CountSearchSpace(s, {}, 10).layouts, 11);
  SearchConstraints narrow;
  narrow.max_pp = 4;
  EXPECT_LT(CountSearchSpace(s, narrow, kMaxSearchLayouts).layouts, all);
  // Every layout counted is one the search runs: TP 3 breaks the heads rule on every layout.
  SearchConstraints tp3;
  tp3.tp = 3;
  EXPECT_EQ(CountSearchSpace(Load("examples/deepseek-v3-h800.yaml", {{"cluster.devices", "3072"}}), tp3).layouts, 0);
}

// The scenario's ZeRO-3-only flags (FSDP's gather-once) do not ride along on the ZeRO 0-2 plans
// the search tries, so every plan it returns is one the plan rules accept as it stands.
TEST(SearchTest, ZeroThreeFlagsStayOnZeroThreePlans) {
  const Scenario s = Load("examples/llama3.1-70b-h100.yaml",
                          {{"parallel.pp", "1"}, {"parallel.vpp", "1"}, {"parallel.schedule", "1f1b"},
                           {"parallel.zero", "3"}, {"parallel.fsdp_gather_once", "true"}});
  SearchOptions o;
  o.top_k = 50;
  const SearchResult r = Search(s, SearchConstraints{}, o);
  ASSERT_FALSE(r.top.empty());
  bool below_three = false;
  for (const RankedPlan& p : r.top) {
    EXPECT_EQ(FindPlanIssue(s.arch, p.plan, s.job, s.cluster.devices), PlanIssue::kValid);
    EXPECT_EQ(p.plan.fsdp_gather_once, p.plan.zero == 3);
    below_three = below_three || p.plan.zero < 3;
  }
  EXPECT_TRUE(below_three) << "the test needs a plan below ZeRO 3 among the best";
}

// A scenario's hybrid sharding rides along on the ZeRO 1-3 plans whose DP it divides (the branch
// is checked at ZeRO 0, where it is no plan, so it must not reject them), and is dropped at ZeRO 0:
// every plan returned is one the plan rules accept, and HSDP plans are among them.
TEST(SearchTest, HybridShardingRidesAlongWhereItDivides) {
  const Scenario s = Load("examples/llama3.1-70b-h100.yaml",
                          {{"parallel.pp", "1"}, {"parallel.vpp", "1"}, {"parallel.schedule", "1f1b"},
                           {"parallel.zero", "3"}, {"parallel.dp_shard", "8"}});
  SearchConstraints c;
  c.dp = 32;
  SearchOptions o;
  o.top_k = 50;
  const SearchResult r = Search(s, c, o);
  ASSERT_FALSE(r.top.empty());
  EXPECT_EQ(r.rejected[static_cast<int>(PlanIssue::kDpShard)], 0);
  bool hybrid = false;
  for (const RankedPlan& p : r.top) {
    EXPECT_EQ(FindPlanIssue(s.arch, p.plan, s.job, s.cluster.devices), PlanIssue::kValid);
    EXPECT_EQ(p.plan.dp_shard, p.plan.zero == 0 ? 0 : 8);
    hybrid = hybrid || (p.plan.zero > 0 && p.plan.dp_shard == 8);
  }
  EXPECT_TRUE(hybrid);
}

// A stack with DeepSpeed's 16-bit gradient copy runs its own ZeRO-1 optimizer: the search stays
// at ZeRO 0 and 1, which `plan` accepts with the copy (ZeRO 2 and 3 it refuses), and counts the
// same plans pruned or not.
TEST(SearchTest, TheSixteenBitGradientCopyKeepsZeroAtOneOrBelow) {
  const Scenario s = Load("examples/llama3.1-70b-h100.yaml", {{"training.grad_16bit_copy", "true"}});
  SearchOptions o;
  o.top_k = 20;
  const SearchResult r = Search(s, SearchConstraints{}, o);
  ASSERT_FALSE(r.top.empty());
  for (const RankedPlan& p : r.top) EXPECT_LE(p.plan.zero, 1);
  o.exhaustive = true;
  EXPECT_EQ(Search(s, SearchConstraints{}, o).considered, r.considered);
  SearchConstraints two;
  two.zero = 2;
  EXPECT_TRUE(Search(s, two, o).top.empty());
}

// The scenario's 1F1B all-to-all overlap (ep_comm_overlap) stays on the plans Megatron-Core runs
// it with (no pipeline, interleaved, DualPipe; not beside full recompute) and is dropped from the
// others, which then time their all-to-alls exposed; pruning still returns the exhaustive top K.
TEST(SearchTest, AllToAllOverlapStaysWhereMegatronRunsIt) {
  const Scenario s =
      Load("tests/scenarios/mixtral-8x7b.yaml", {{"parallel.ep_comm_overlap", "true"}, {"cluster.devices", "32"}});
  SearchConstraints one_f_one_b, full, interleaved;
  one_f_one_b.schedule = Schedule::k1F1B, one_f_one_b.pp = 2;
  full.recompute = Recompute::kFull;
  interleaved.schedule = Schedule::kInterleaved, interleaved.recompute = Recompute::kNone;
  SearchOptions o;
  o.top_k = 10;
  int kept = 0, dropped = 0;
  for (const SearchConstraints* c : {&one_f_one_b, &full, &interleaved}) {
    const SearchResult r = Search(s, *c, o);
    ASSERT_FALSE(r.top.empty());
    for (const RankedPlan& p : r.top) {
      const bool runs = (p.plan.pp == 1 || p.plan.schedule == Schedule::kInterleaved ||
                         p.plan.schedule == Schedule::kDualPipe) &&
                        p.plan.recompute != Recompute::kFull;
      EXPECT_EQ(p.plan.ep_comm_overlap, runs) << p.plan.pp << " " << ScheduleName(p.plan.schedule);
      (runs ? kept : dropped) += 1;
    }
    ExpectPruningKeepsTheExhaustiveTopK(s, *c, 1);
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(dropped, 0);
}

// Whole branches rejected at once count only the choices the constraints leave.
TEST(SearchTest, CountsFollowTheConstraints) {
  Scenario s = Load("examples/llama3.1-70b-h100.yaml");
  SearchConstraints c;
  c.zero = 1;
  SearchOptions o;
  o.top_k = 1;
  const SearchResult pruned = Search(s, c, o);
  o.exhaustive = true;
  const SearchResult full = Search(s, c, o);
  EXPECT_EQ(pruned.considered, full.considered);
  // SP fixed on leaves no plan without TP: a branch rejected whole counts none there.
  SearchConstraints sp;
  sp.sp = true;
  o.exhaustive = false;
  const SearchResult sp_pruned = Search(s, sp, o);
  o.exhaustive = true;
  EXPECT_EQ(sp_pruned.considered, Search(s, sp, o).considered);
}

// Interleaving takes every VPP that leaves a virtual stage a layer, not only the divisors.
TEST(SearchTest, InterleavingTakesEveryVirtualStageCount) {
  Scenario s = Load("examples/llama3.1-70b-h100.yaml");
  SearchConstraints c;
  c.tp = 8, c.pp = 8, c.cp = 1, c.vpp = 4;  // 80 layers over 32 virtual stages: balanced
  SearchOptions o;
  o.top_k = 1;
  SearchResult r = Search(s, c, o);
  ASSERT_FALSE(r.top.empty());
  EXPECT_EQ(r.top[0].plan.vpp, 4);
  EXPECT_TRUE(r.top[0].plan.balanced_layers);
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
