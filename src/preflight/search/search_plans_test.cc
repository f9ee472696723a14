// Tests of search/search.h for the plans a search tries: the scenario's settings it carries onto
// them or drops (ZeRO-3's gathers and flags, offloading, hybrid sharding, the 16-bit gradient
// copy, the all-to-all overlap), the ZeRO stages and recompute choices it tries, and how it counts
// the plans it rejects and the space it searches. The answer itself: search_test.cc.
#include "preflight/search/search.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "preflight/base/test_support.h"
#include "preflight/catalog/catalog.h"
#include "preflight/cost/collectives.h"
#include "preflight/search/search_test_support.h"

namespace preflight {
namespace {

using test_support::ExpectPruningKeepsTheExhaustiveTopK;
using test_support::Load;
using test_support::SamePlans;

// A scenario written to a scratch directory (prefix `dir_prefix`) and loaded with the bundled catalog.
StatusOr<Scenario> ScratchScenario(const std::string& dir_prefix, const std::string& text) {
  const std::string path = test_support::WriteFile(test_support::ScratchDir(dir_prefix), "s.yaml", text);
  Catalog catalog(std::string(PREFLIGHT_SOURCE_DIR) + "/data");
  return LoadScenarioFile(path, catalog, {});
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
  const StatusOr<Scenario> s = ScratchScenario("preflight_search_zero3_", R"(name: z3-dp2
model: {model_type: gpt2, n_embd: 4096, n_layer: 4, n_head: 32, n_positions: 36864, vocab_size: 262144,
        activation_function: gelu}
hardware: h100-sxm-80gb
cluster: {devices: 2, devices_per_node: 8}
training: {seq_len: 36864, global_batch: 2, micro_batch: 1, precision: bf16, flash_attention: true, tokens: 10e9}
)");
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

// A scenario's FSDP (zero3_gather: fsdp2) stays on the searched ZeRO-3 plans and leaves the
// others, which the scenario reader would refuse with it.
TEST(SearchTest, FsdpStaysOnZeroThreePlans) {
  Scenario s = Load("examples/llama3.1-70b-h100.yaml", {{"parallel.zero", "3"}, {"parallel.zero3_gather", "fsdp2"}});
  SearchOptions o;
  o.top_k = 20;
  for (int zero : {3, 1}) {
    SearchConstraints c;
    c.zero = zero;
    const SearchResult r = Search(s, c, o);
    ASSERT_FALSE(r.top.empty()) << zero;
    for (const RankedPlan& p : r.top) {
      EXPECT_EQ(p.plan.zero, zero);
      EXPECT_EQ(p.plan.fsdp, zero == 3 ? Plan::Fsdp::kFsdp2 : Plan::Fsdp::kNone) << zero;
    }
  }
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
// gather-once keeps its gathered copy and fp32 gradients at any group, and PyTorch's FSDP makes its
// copies at any group (ZeRO-3 plans the search still tries). Where one group holds more (the experts replicated over TP, or DP 2), ZeRO 1 must
// save memory.
TEST(SearchTest, ZeroStagesOfAPlanThatShardsNothingAreItsZeroZero) {
  struct Case {
    const char* file;
    int64_t devices, tp, pp, dp, ep, etp;
    bool per_parameter, gather_once, same, fsdp = false;
  };
  const Case cases[] = {
      {"examples/llama3.1-70b-h100.yaml", 8, 8, 1, 1, 1, 1, true, false, true},
      {"examples/llama3.1-70b-h100.yaml", 8, 8, 1, 1, 1, 1, false, false, true, true},
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
      if (zero == 3 && c.fsdp) q.fsdp = Plan::Fsdp::kFsdp2;
      ASSERT_EQ(FindPlanIssue(s.arch, q, s.job, s.cluster.devices), PlanIssue::kValid) << "ZeRO " << zero;
      const double memory = EstimateMemory(s.arch, params, q, s.job, s.cluster.hbm_capacity, {}).worst.Total().value();
      if (c.same && q.fsdp != Plan::Fsdp::kNone) {
        EXPECT_EQ(memory, memory0);
        EXPECT_GT(EstimateStep(ctx, q).step.value(), step0);  // its copies: another plan
      } else if (c.same && q.fsdp_gather_once) {
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
  // PyTorch's FSDP copies at one rank too: its ZeRO-3 plans are kept (ZeRO 1 and 2 still are ZeRO 0's).
  const Scenario fsdp = Load("examples/gpt2-small-a100-unpadded.yaml",
                             {{"parallel.zero", "3"}, {"parallel.zero3_gather", "fsdp2"}});
  const SearchResult copies = Search(fsdp, {}, o);
  EXPECT_EQ(copies.rejected[kRejectSameAsZero0], 2 * r.valid);
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

// On a TPU slice of known shape the search keeps only meshes JAX lays out on whole axes of it:
// on a v5e-256 (16 x 16) TP 2, 4 or 8 would split an axis and is counted under
// splits_torus_axes; what it returns is placed, and the count adds up.
TEST(SearchTest, TorusMeshesThatSplitAnAxisAreLeftOut) {
  const StatusOr<Scenario> s = ScratchScenario("preflight_search_torus_", R"(name: v5e-256
model: llama-3.1-8b
hardware: tpu-v5e
cluster: {devices: 256}
training: {seq_len: 2048, global_batch: 256, micro_batch: 1, precision: bf16, flash_attention: true, tokens: 1e9}
)");
  ASSERT_TRUE(s.ok()) << s.status().message();
  SearchConstraints c;
  c.pp = 1, c.cp = 1, c.recompute = Recompute::kNone, c.max_micro_batch = 1;
  SearchOptions o;
  o.top_k = 5;
  o.threads = 1;
  o.exhaustive = true;
  const SearchResult r = Search(*s, c, o);
  ASSERT_FALSE(r.top.empty());
  EXPECT_GT(r.rejected[kRejectTorusSplit], 0);
  std::vector<std::string> warnings;
  const Fabric f = FabricFromCluster(s->cluster, &warnings);
  for (const RankedPlan& p : r.top) {
    EXPECT_TRUE(p.plan.tp == 1 || p.plan.tp == 16 || p.plan.tp == 256) << p.plan.tp;
    EXPECT_FALSE(MeshSplitsTorusAxes(f, p.plan));
  }
  int64_t rejected = 0;
  for (int i = 0; i < kNumRejectReasons; ++i) rejected += r.rejected[i];
  EXPECT_EQ(r.considered, r.valid + rejected);
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

// A scenario's own policy that none of Megatron's modes stands for (here JAX's dots) is a fifth
// recompute choice: the space grows by a quarter, the pruned search counts what the exhaustive one
// does, its plans are among those returned, and a fixed recompute mode leaves it out.
TEST(SearchTest, TheScenariosOwnRecomputePolicyIsSearchedBesideMegatronsModes) {
  const Scenario megatron = Load("examples/llama3.1-70b-h100.yaml", {{"parallel.recompute", "full"}});
  const Scenario dots = Load("examples/llama3.1-70b-h100.yaml", {{"parallel.recompute", "dots"}});
  SearchConstraints c;
  c.tp = 8, c.cp = 1, c.pp = 1, c.zero = 1;
  SearchOptions o;
  o.top_k = 1000;
  o.exhaustive = true;
  const SearchResult base = Search(megatron, c, o);
  const SearchResult full = Search(dots, c, o);
  EXPECT_EQ(4 * full.considered, 5 * base.considered);
  int with_dots = 0;
  for (const RankedPlan& p : full.top) {
    EXPECT_EQ(FindPlanIssue(dots.arch, p.plan, dots.job, dots.cluster.devices), PlanIssue::kValid);
    with_dots += p.plan.recompute == Recompute::kDots;
  }
  EXPECT_GT(with_dots, 0);
  for (const RankedPlan& p : base.top) EXPECT_NE(p.plan.recompute, Recompute::kDots);
  o.exhaustive = false;
  o.top_k = 5;
  EXPECT_EQ(Search(dots, c, o).considered, full.considered);
  c.recompute = Recompute::kFull;
  o.top_k = 1000;
  for (const RankedPlan& p : Search(dots, c, o).top) EXPECT_EQ(p.plan.recompute, Recompute::kFull);
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

}  // namespace
}  // namespace preflight
