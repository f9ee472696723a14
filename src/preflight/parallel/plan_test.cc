// Tests of parallel/plan.h: every PlanIssue is reachable with a message naming the numbers,
// the layouts of two published runs are valid, and stage bookkeeping adds up.
#include "preflight/parallel/plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "preflight/catalog/catalog.h"
#include "preflight/model/load.h"
#include "preflight/model/hf_config.h"
#include "preflight/model/test_support.h"

namespace preflight {
namespace {

using test_support::LoadArch;

// A llama-like dense model with chosen head counts and MLP width.
Architecture Synthetic(int64_t heads, int64_t kv_heads, int64_t ffn, int64_t layers = 8) {
  Architecture a;
  a.name = "synthetic";
  a.model_type = "llama";
  a.heads = heads;
  a.kv_heads = kv_heads;
  a.head_dim = 128;
  a.hidden = heads * 128;
  a.ffn = ffn;
  a.layers = layers;
  a.vocab = 32000;
  return a;
}

TrainingJob Job(int64_t global_batch, int64_t seq_len = 4096) {
  TrainingJob j;
  j.seq_len = seq_len;
  j.global_batch = global_batch;
  return j;
}

struct IssueCase {
  const char* what;
  Architecture arch;
  Plan plan;
  TrainingJob job;
  int64_t devices;
  PlanIssue issue;
  std::vector<std::string> message_parts;  // each must appear in the message
};

Plan MakePlan(int64_t tp, int64_t pp, int64_t dp) {
  Plan p;
  p.tp = tp;
  p.pp = pp;
  p.dp = dp;
  return p;
}

template <typename F>
Plan With(Plan p, F set) {
  set(p);
  return p;
}

std::vector<IssueCase> IssueCases() {
  const Architecture l70 = LoadArch("llama-3.1-70b");    // 64 heads, 8 KV, F 28672, 80 layers
  const Architecture l405 = LoadArch("llama-3.1-405b");  // 126 layers
  const Architecture mix = LoadArch("mixtral-8x7b");     // 8 experts, expert F 14336
  const Plan base = MakePlan(8, 1, 8);
  using I = PlanIssue;
  auto il = [](Plan p) {  // interleaved
    p.schedule = Schedule::kInterleaved;
    return p;
  };
  // clang-format off
  return {
      {"zero degree", l70, With(base, [](Plan& p) { p.tp = 0; }),
       Job(64), 64, I::kNonPositiveDegree, {"at least 1"}},
      {"zero micro-batch", l70, With(base, [](Plan& p) { p.micro_batch = 0; }),
       Job(64), 64, I::kNonPositiveDegree, {"micro_batch"}},
      {"negative first stage", l70, With(base, [](Plan& p) { p.first_stage_layers = -1; }),
       Job(64), 64, I::kNonPositiveDegree, {}},
      {"device count", l70, MakePlan(8, 1, 2),
       Job(64), 64, I::kDeviceCount, {"8*1*1*2 = 16", "64 devices"}},
      {"zero stage", l70, With(base, [](Plan& p) { p.zero = 4; }),
       Job(64), 64, I::kZeroStage, {"zero must be 0, 1, 2 or 3", "got 4"}},
      {"sp without tp", l70, With(MakePlan(1, 1, 8), [](Plan& p) { p.sp = true; }),
       Job(64), 8, I::kSequenceParallel, {"sp", "tp > 1"}},
      {"tp not dividing heads", l70, MakePlan(3, 1, 1),
       Job(64), 3, I::kTpHeads, {"tp 3", "64 attention heads"}},
      {"tp vs kv heads", Synthetic(24, 6, 4096), MakePlan(4, 1, 1),
       Job(8), 4, I::kTpKvHeads, {"tp 4", "6 KV heads"}},
      {"tp not dividing ffn", Synthetic(32, 32, 1000), MakePlan(16, 1, 1),
       Job(8), 16, I::kTpFfn, {"tp 16", "MLP width 1000"}},
      {"micro-batch divisibility", l70, base,
       Job(100), 64, I::kMicroBatches, {"global batch 100", "dp*micro_batch = 8*1"}},
      {"micro-batch size divisibility", l70, With(base, [](Plan& p) { p.micro_batch = 3; }),
       Job(64), 64, I::kMicroBatches, {"8*3"}},
      {"pp not dividing layers", l70, MakePlan(1, 3, 1),
       Job(8), 3, I::kPpLayers, {"pp 3", "80 layers"}},
      {"pp x vpp not dividing layers", l70, With(il(MakePlan(1, 4, 1)), [](Plan& p) { p.vpp = 3; }),
       Job(8), 4, I::kPpLayers, {"pp 4 x vpp 3", "80 layers"}},
      {"more model chunks than layers, even split", l405,
       With(il(MakePlan(1, 64, 1)), [](Plan& p) { p.vpp = 2; }), Job(128), 64, I::kPpLayers,
       {"128 model chunks, more than the 126 layers"}},
      {"405b on pp 16 without an uneven split", l405, MakePlan(8, 16, 128),
       Job(2048, 8192), 16384, I::kPpLayers, {"pp 16", "126 layers", "layer_split: balanced"}},
      {"uneven split that does not add up", l405,
       With(MakePlan(1, 8, 1), [](Plan& p) { p.first_stage_layers = p.last_stage_layers = 10; }),
       Job(8), 8, I::kPpLayers,
       {"first_stage_layers 10", "the other 106 of the 126 layers", "6 other stages"}},
      {"uneven split larger than the model", l405,
       With(MakePlan(1, 8, 1), [](Plan& p) { p.first_stage_layers = 127; }),
       Job(8), 8, I::kPpLayers, {"together more than the 126 layers"}},
      {"uneven split with pp 1", l405,
       With(MakePlan(1, 1, 1), [](Plan& p) { p.first_stage_layers = 126; }),
       Job(8), 1, I::kPpLayers, {"needs pp >= 2, got pp 1"}},
      {"uneven split on two stages leaving layers over", l405,
       With(MakePlan(1, 2, 1), [](Plan& p) { p.first_stage_layers = p.last_stage_layers = 60; }),
       Job(8), 2, I::kPpLayers, {"the other 6 of the 126 layers", "0 other stages"}},
      {"uneven split with vpp", l405,
       With(il(MakePlan(1, 8, 1)),
            [](Plan& p) { p.first_stage_layers = p.last_stage_layers = 15; p.vpp = 2; }),
       Job(8), 8, I::kPpLayers, {"needs vpp 1, got vpp 2"}},
      {"vpp without interleaved", l70, With(MakePlan(1, 4, 1), [](Plan& p) { p.vpp = 2; }),
       Job(8), 4, I::kVppSchedule, {"vpp 2", "1f1b"}},
      {"interleaved without vpp", l70, il(MakePlan(1, 4, 1)),
       Job(8), 4, I::kVppSchedule, {"interleaved"}},
      {"interleaved with pp 1", l70, With(il(MakePlan(1, 1, 1)), [](Plan& p) { p.vpp = 2; }),
       Job(8), 1, I::kVppSchedule, {"pp 1"}},
      {"interleaved micro-batches", l70, With(il(MakePlan(1, 4, 1)), [](Plan& p) { p.vpp = 2; }),
       Job(6), 4, I::kInterleavedMicroBatches, {"6 micro-batches", "pp 4"}},
      {"dualpipe with odd pp", l70,
       With(MakePlan(1, 5, 1), [](Plan& p) { p.schedule = Schedule::kDualPipe; }),
       Job(20), 5, I::kDualPipe, {"pp 5"}},
      {"dualpipe with too few micro-batches", l70,
       With(MakePlan(1, 4, 1), [](Plan& p) { p.schedule = Schedule::kDualPipe; }),
       Job(7), 4, I::kDualPipe, {"pp 4", "7 micro-batches"}},
      {"dualpipe with an odd number of micro-batches", l70,
       With(MakePlan(1, 2, 1), [](Plan& p) { p.schedule = Schedule::kDualPipe; }),
       Job(5), 2, I::kDualPipe, {"pp 2", "5 micro-batches", "half go each way"}},
      {"ep on a dense model", l70, With(base, [](Plan& p) { p.ep = 2; }),
       Job(64), 64, I::kExpertParallel, {"ep 2", "dense model"}},
      {"etp on a dense model", l70, With(base, [](Plan& p) { p.etp = 2; }),
       Job(64), 64, I::kExpertParallel, {"dense model"}},
      {"ep not dividing experts", mix, With(MakePlan(1, 1, 3), [](Plan& p) { p.ep = 3; }),
       Job(3), 3, I::kExpertParallel, {"ep 3", "8 experts"}},
      {"ep x etp not dividing tp*cp*dp", mix, With(MakePlan(1, 1, 4), [](Plan& p) { p.ep = 8; }),
       Job(4), 4, I::kExpertParallel, {"ep 8", "tp*cp*dp = 4"}},
      {"MoE with tp but no sequence parallelism", mix, With(MakePlan(2, 1, 4), [](Plan& p) { p.sp = false; }),
       Job(4), 8, I::kSequenceParallel, {"MoE", "sp: true"}},
      {"etp neither 1 nor tp", mix, With(MakePlan(4, 1, 2), [](Plan& p) { p.etp = 2; }),
       Job(2), 8, I::kExpertParallel, {"etp 2", "be 1 or the tp 4"}},
      {"etp without tp", mix, With(MakePlan(1, 1, 4), [](Plan& p) { p.etp = 2; }),
       Job(4), 4, I::kExpertParallel, {"etp 2", "be 1 or the tp 1"}},
      {"etp not dividing expert width", mix, With(MakePlan(1, 1, 3), [](Plan& p) { p.etp = 3; }),
       Job(3), 3, I::kExpertParallel, {"etp 3", "expert width 14336"}},
      {"cp not splitting the sequence", l70, With(MakePlan(8, 1, 4), [](Plan& p) { p.cp = 2; }),
       Job(8, 4098), 64, I::kContextParallel, {"cp 2", "seq_len 4098"}},
      {"selective-op recompute on an MoE model", mix,
       With(MakePlan(1, 1, 3), [](Plan& p) { p.recompute = Recompute::kSelectiveOp; }),
       Job(3), 3, I::kRecomputeMode, {"selective-op", "dense layers"}},
      {"selective-op recompute without fused attention", l70,
       With(base, [](Plan& p) { p.recompute = Recompute::kSelectiveOp; }),
       [] { TrainingJob j = Job(64); j.flash_attention = false; return j; }(), 64, I::kRecomputeMode,
       {"flash_attention: true"}},
      {"full recompute in groups of none", l70,
       With(base, [](Plan& p) { p.recompute = Recompute::kFull; p.recompute_num_layers = 0; }),
       Job(64), 64, I::kRecomputeMode, {"recompute_num_layers 0", "at least 1"}},
      {"full recompute in groups beside MTP", [] { Architecture a = LoadArch("llama-3.1-70b"); a.mtp_layers = 1; return a; }(),
       With(base, [](Plan& p) { p.recompute = Recompute::kFull; p.recompute_num_layers = 2; }),
       Job(64), 64, I::kRecomputeMode, {"recompute_num_layers 2 under uniform", "MTP"}},
      {"dots recompute on an MoE model", mix,
       With(MakePlan(1, 1, 3), [](Plan& p) { p.recompute = Recompute::kDots; }),
       Job(3), 3, I::kRecomputeMode, {"recompute dots", "dense layers"}},
      {"dp_shard not dividing dp", l70, With(base, [](Plan& p) { p.zero = 1; p.dp_shard = 3; }),
       Job(64), 64, I::kDpShard, {"dp_shard 3 must divide dp 8"}},
      {"hybrid sharding without ZeRO", l70, With(base, [](Plan& p) { p.dp_shard = 2; }),
       Job(64), 64, I::kDpShard, {"dp_shard 2 below dp 8", "zero 1, 2 or 3", "got zero 0"}},
      {"named checkpoints on an MoE model", mix,
       With(MakePlan(1, 1, 3), [](Plan& p) { p.recompute = Recompute::kNames; }),
       Job(3), 3, I::kRecomputeMode, {"recompute names", "dense layers"}},
      {"offloading every layer", l70, With(base, [](Plan& p) { p.cpu_offload_layers = 80; }),
       Job(64), 64, I::kCpuOffload, {"cpu_offload_layers 80", "fewer layers than the model's 80"}},
      {"offloading under a pipeline", l70, With(MakePlan(1, 4, 1), [](Plan& p) { p.cpu_offload_layers = 10; }),
       Job(8), 4, I::kCpuOffload, {"pp 1", "got pp 4"}},
      {"offloading with recompute", l70,
       With(base, [](Plan& p) { p.cpu_offload_layers = 10; p.recompute = Recompute::kSelective; }),
       Job(64), 64, I::kCpuOffload, {"recompute none", "recompute selective"}},
      {"offloading an MoE model", mix, With(MakePlan(1, 1, 3), [](Plan& p) { p.cpu_offload_layers = 2; }),
       Job(3), 3, I::kCpuOffload, {"dense layers"}},
  };
  // clang-format on
}

TEST(PlanTest, EveryIssueIsReachableWithAClearMessage) {
  std::set<PlanIssue> seen;
  for (const IssueCase& c : IssueCases()) {
    SCOPED_TRACE(c.what);
    PlanCheck check = CheckPlan(c.arch, c.plan, c.job, c.devices);
    EXPECT_EQ(PlanIssueName(check.issue), PlanIssueName(c.issue)) << check.message;
    EXPECT_FALSE(check.ok());
    EXPECT_FALSE(check.message.empty());
    for (const std::string& part : c.message_parts) {
      EXPECT_NE(check.message.find(part), std::string::npos)
          << "'" << part << "' not in: " << check.message;
    }
    EXPECT_EQ(FindPlanIssue(c.arch, c.plan, c.job, c.devices), check.issue);
    seen.insert(check.issue);
  }
  for (int i = 1; i < static_cast<int>(PlanIssue::kCount); ++i) {
    EXPECT_TRUE(seen.count(static_cast<PlanIssue>(i)) > 0)
        << "no case reaches " << PlanIssueName(static_cast<PlanIssue>(i));
  }
}

// Llama 3 405B: TP 8, PP 16, DP 128 on 16,384 H100s (Llama 3 paper §3.3.2), one layer fewer on
// the first and last stages (126 = 7 + 14·8 + 7).
TEST(PlanTest, Llama405bPublishedLayoutIsValid) {
  Architecture a = LoadArch("llama-3.1-405b");
  Plan p = MakePlan(8, 16, 128);
  p.sp = true;
  p.zero = 1;
  p.first_stage_layers = 7;
  p.last_stage_layers = 7;
  PlanCheck c = CheckPlan(a, p, Job(2048, 8192), 16384);
  EXPECT_TRUE(c.ok()) << c.message;
  EXPECT_TRUE(c.message.empty());
  EXPECT_EQ(MicroBatches(p, Job(2048, 8192)), 16);
  EXPECT_EQ(LayersOnStage(a, p, 0), 7);
  EXPECT_EQ(LayersOnStage(a, p, 1), 8);
  EXPECT_EQ(LayersOnStage(a, p, 15), 7);
  EXPECT_EQ(FirstLayerOfStage(a, p, 15), 119);
}

// The dots policy needs no fused attention (its saved products are the weight GEMMs'); the
// op-level policy does.
TEST(PlanTest, DotsRecomputeWithoutFusedAttention) {
  Architecture a = LoadArch("llama-3.1-8b");
  Plan p = MakePlan(1, 1, 8);
  TrainingJob j = Job(64);
  j.flash_attention = false;
  p.recompute = Recompute::kDots;
  EXPECT_TRUE(CheckPlan(a, p, j, 8).ok());
  p.recompute = Recompute::kSelectiveOp;
  EXPECT_EQ(CheckPlan(a, p, j, 8).issue, PlanIssue::kRecomputeMode);
}

// DeepSeek-V3: PP 16 with DualPipe, EP 64, DP 128 on 2,048 H800s (DeepSeek-V3 report §3.2).
TEST(PlanTest, DeepSeekV3PublishedLayoutIsValid) {
  Architecture a = LoadArch("deepseek-v3");
  Plan p = MakePlan(1, 16, 128);
  p.ep = 64;
  p.zero = 1;
  p.schedule = Schedule::kDualPipe;
  p.recompute = Recompute::kSelective;
  p.first_stage_layers = 5;  // 61 = 5 + 14·4 (the published layout of stages is not given)
  p.last_stage_layers = 0;
  TrainingJob job = Job(15360);
  PlanCheck c = CheckPlan(a, p, job, 2048);
  // 61 - 5 = 56 layers over 15 stages does not split; the split below does.
  EXPECT_EQ(c.issue, PlanIssue::kPpLayers) << c.message;
  p.first_stage_layers = 3;
  p.last_stage_layers = 2;  // 61 = 3 + 14·4 + 2
  c = CheckPlan(a, p, job, 2048);
  EXPECT_TRUE(c.ok()) << c.message;
  EXPECT_EQ(MicroBatches(p, job), 120);
  // The same layout with too few micro-batches for DualPipe.
  EXPECT_EQ(CheckPlan(a, p, Job(128 * 31), 2048).issue, PlanIssue::kDualPipe);
  EXPECT_EQ(CheckPlan(a, p, Job(128 * 32), 2048).issue, PlanIssue::kValid);
}

TEST(PlanTest, UnevenSplitsThatAddUp) {
  Architecture a = LoadArch("llama-3.1-405b");
  struct Case {
    int64_t pp, first, last;
  };
  const Case cases[] = {{8, 15, 15},  {8, 7, 0},  {8, 0, 7}, {2, 63, 63},
                        {2, 100, 26}, {16, 7, 7}, {3, 6, 0}};
  for (const Case& c : cases) {
    Plan p = MakePlan(1, c.pp, 1);
    p.first_stage_layers = c.first;
    p.last_stage_layers = c.last;
    PlanCheck check = CheckPlan(a, p, Job(64), c.pp);
    EXPECT_TRUE(check.ok()) << c.pp << "/" << c.first << "/" << c.last << ": " << check.message;
  }
}

// Stage bookkeeping: layers on each stage sum to the model, and each stage starts where the
// previous ends (an oracle independent of FirstLayerOfStage's shortcut), or under the interleaved
// schedule each chunk where the stage before it in the same pass ends: every layer held once.
TEST(PlanTest, StagesPartitionTheLayers) {
  struct Case {
    const char* id;
    int64_t pp, vpp, first, last;
    bool balanced;
  };
  const Case cases[] = {
      {"llama-3.1-405b", 8, 1, 15, 15, false},  {"llama-3.1-405b", 8, 1, 7, 0, false},
      {"llama-3.1-405b", 8, 1, 0, 7, false},    {"llama-3.1-405b", 16, 1, 7, 7, false},
      {"llama-3.1-405b", 2, 1, 100, 26, false}, {"llama-3.1-405b", 3, 1, 6, 0, false},
      {"llama-3.1-70b", 8, 1, 0, 0, false},     {"llama-3.1-70b", 4, 5, 0, 0, false},
      {"deepseek-v3", 16, 1, 3, 2, false},      {"llama-3.1-70b", 1, 1, 0, 0, false},
      {"llama-3.1-405b", 8, 1, 0, 0, true},     {"llama-3.1-405b", 16, 1, 0, 0, true},
      {"deepseek-v3", 16, 1, 0, 0, true},       {"deepseek-v3", 8, 4, 0, 0, true},
      {"bloom-176b", 12, 1, 0, 0, true},        {"llama-3.1-70b", 8, 1, 0, 0, true},
      {"qwen3-235b-a22b", 8, 4, 0, 0, true},    {"llama-3.1-405b", 125, 1, 0, 0, true},
  };
  for (const Case& c : cases) {
    Architecture a = LoadArch(c.id);
    Plan p = MakePlan(1, c.pp, 1);
    p.vpp = c.vpp;
    if (c.vpp > 1) p.schedule = Schedule::kInterleaved;
    p.first_stage_layers = c.first;
    p.last_stage_layers = c.last;
    p.balanced_layers = c.balanced;
    const int64_t micro_batches = 8 * c.pp;
    PlanCheck check = CheckPlan(a, p, Job(micro_batches), c.pp);
    ASSERT_TRUE(check.ok()) << c.id << " pp " << c.pp << ": " << check.message;
    int64_t sum = 0, fewest = a.layers, most = 0;
    std::vector<int> held(static_cast<size_t>(a.layers), 0);
    for (int64_t s = 0; s < c.pp; ++s) {
      if (PlacedByChunk(a, p)) {
        const int64_t per_chunk = LayersOnStage(a, p, s) / c.vpp;
        for (int64_t k = 0; k < c.vpp; ++k) {
          const int64_t start = FirstLayerOfChunk(a, p, s, k);
          EXPECT_EQ(start, k * a.layers / c.vpp + s * per_chunk) << c.id << " stage " << s << " chunk " << k;
          for (int64_t l = start; l < start + per_chunk && l < a.layers; ++l) ++held[static_cast<size_t>(l)];
        }
      } else {
        EXPECT_EQ(FirstLayerOfStage(a, p, s), sum) << c.id << " pp " << c.pp << " stage " << s;
        for (int64_t l = sum; l < sum + LayersOnStage(a, p, s) && l < a.layers; ++l) ++held[static_cast<size_t>(l)];
      }
      EXPECT_GT(LayersOnStage(a, p, s), 0);
      sum += LayersOnStage(a, p, s);
      fewest = std::min(fewest, LayersOnStage(a, p, s));
      most = std::max(most, LayersOnStage(a, p, s));
    }
    EXPECT_EQ(sum, a.layers) << c.id << " pp " << c.pp;
    EXPECT_EQ(std::count(held.begin(), held.end(), 1), a.layers) << c.id << " pp " << c.pp << ": each layer once";
    if (c.balanced) {
      EXPECT_LE(most - fewest, 1) << c.id << " pp " << c.pp << ": as even as possible";
      if (a.layers % c.pp != 0 && a.layers % c.pp <= c.pp - 2) {
        EXPECT_EQ(LayersOnStage(a, p, 0), fewest) << "the first stage also holds the embedding";
        EXPECT_EQ(LayersOnStage(a, p, c.pp - 1), fewest) << "the last stage also holds the head";
      }
    }
  }
}

// Under the interleaved schedule a stage's chunks lie a pass apart, so a dense prefix longer
// than a chunk leaves the first stage fewer MoE layers than contiguous stages would (here 8, not
// 6: its chunks are layers 0-7 and 32-39 of 64, the first 10 dense), and full recompute by block
// runs again the first layer of each chunk, of which stage 2's are both MoE.
TEST(PlanTest, InterleavedStagesHoldTheirChunksAPassApart) {
  Architecture a = LoadArch("deepseek-v3");
  a.layers = 64;
  a.moe_layer.assign(64, true);
  for (int i = 0; i < 10; ++i) a.moe_layer[static_cast<size_t>(i)] = false;
  a.FinalizeLayers();
  Plan p = MakePlan(1, 4, 1);
  p.vpp = 2;
  p.schedule = Schedule::kInterleaved;
  ASSERT_TRUE(PlacedByChunk(a, p));
  const int64_t moe[] = {8, 14, 16, 16};
  for (int64_t s = 0; s < 4; ++s) EXPECT_EQ(MoeLayersOnStage(a, p, s), moe[s]) << "stage " << s;
  EXPECT_EQ(FirstLayerOfChunk(a, p, 1, 1), 40);
  EXPECT_EQ(RecomputedMoeLayersOnStage(a, p, 0), 0) << "not recomputing by block";
  p.recompute = Recompute::kFull;
  p.recompute_method = RecomputeMethod::kBlock;
  p.recompute_num_layers = 1;
  const int64_t again[] = {1, 1, 2, 2};
  for (int64_t s = 0; s < 4; ++s) EXPECT_EQ(RecomputedMoeLayersOnStage(a, p, s), again[s]) << "stage " << s;
  // The candidates hold the stage with the most MoE layers; past the first pass, every stage.
  int64_t out[5];
  const int n = CandidateStages(a, p, out);
  ASSERT_GT(n, 0);
  EXPECT_NE(std::find(out, out + n, 2), out + n);
  for (int i = 0; i < 40; ++i) a.moe_layer[static_cast<size_t>(i)] = false;
  a.FinalizeLayers();
  EXPECT_EQ(CandidateStages(a, p, out), 0);
  // A single chunk per stage keeps its layers contiguous.
  p.vpp = 1;
  p.schedule = Schedule::k1F1B;
  EXPECT_FALSE(PlacedByChunk(a, p));
  EXPECT_EQ(MoeLayersOnStage(a, p, 1), 0);
  EXPECT_EQ(MoeLayersOnStage(a, p, 2), 8);
  EXPECT_EQ(MoeLayersOnStage(a, p, 3), 16);
}

TEST(PlanTest, BalancedSplit) {
  Architecture a = LoadArch("llama-3.1-405b");  // 126 layers
  Plan p = MakePlan(8, 16, 128);
  TrainingJob job = Job(2048, 8192);
  PlanCheck even = CheckPlan(a, p, job, 16384);
  EXPECT_EQ(even.issue, PlanIssue::kPpLayers);
  EXPECT_NE(even.message.find("layer_split: balanced"), std::string::npos) << even.message;
  p.balanced_layers = true;
  EXPECT_TRUE(CheckPlan(a, p, job, 16384).ok()) << CheckPlan(a, p, job, 16384).message;
  // 126 = 16·7 + 14: the 14 middle stages take 8 layers, the first and last 7.
  EXPECT_EQ(LayersOnStage(a, p, 0), 7);
  EXPECT_EQ(LayersOnStage(a, p, 1), 8);
  EXPECT_EQ(LayersOnStage(a, p, 14), 8);
  EXPECT_EQ(LayersOnStage(a, p, 15), 7);
  // Fewer layers than stages cannot be balanced.
  Plan q = MakePlan(1, 127, 1);
  q.balanced_layers = true;
  EXPECT_EQ(CheckPlan(a, q, Job(127 * 2), 127).issue, PlanIssue::kPpLayers);
  Plan v = MakePlan(1, 64, 1);
  v.vpp = 2;
  v.schedule = Schedule::kInterleaved;
  v.balanced_layers = true;
  const PlanCheck chunks = CheckPlan(a, v, Job(128), 64);
  EXPECT_EQ(chunks.issue, PlanIssue::kPpLayers) << "126 < 64 x 2 chunks";
  // The message names the real cause, not the remedy already taken (layer_split: balanced).
  EXPECT_NE(chunks.message.find("128 model chunks, more than the 126 layers"), std::string::npos)
      << chunks.message;
  EXPECT_EQ(chunks.message.find("layer_split"), std::string::npos) << chunks.message;
}

TEST(PlanTest, MicroBatches) {
  Plan p = MakePlan(8, 16, 128);
  EXPECT_EQ(MicroBatches(p, Job(2048)), 16);
  p.micro_batch = 2;
  EXPECT_EQ(MicroBatches(p, Job(2048)), 8);
  p.dp = 0;
  EXPECT_EQ(MicroBatches(p, Job(2048)), 0) << "no division by zero";
  EXPECT_EQ(Job(2048, 8192).GlobalBatchTokens(), 16777216);
  EXPECT_EQ(MakePlan(8, 16, 128).Devices(), 16384);
}

// DeepSpeed's 16-bit gradient copy comes with its own ZeRO-1 optimizer: stages 2 and 3 are out.
// The output layer's columns on a rank: the vocabulary over TP, the largest shard where TP does not
// divide it (the step's GEMMs and the memory peak both read it).
// Megatron's fused softmax kernel runs where keys are over 16, within its limit and a multiple
// of 4, and micro-batch x heads / TP is a multiple of 4; elsewhere the unfused ops run. Fused
// attention has no softmax of its own, and the other two choices ignore the shape.
TEST(PlanTest, UnfusedSoftmaxFollowsTheKernelsConstraints) {
  Architecture a;
  a.heads = 16;
  Plan p;
  p.tp = 8, p.micro_batch = 1;
  TrainingJob j;
  j.seq_len = 1024;
  j.attention_softmax = AttentionSoftmax::kMegatron;
  EXPECT_FALSE(UnfusedSoftmax(a, p, j)) << "fused attention";
  j.flash_attention = false;
  EXPECT_EQ(ScoreMatricesPerRank(a, p), 2);
  EXPECT_TRUE(UnfusedSoftmax(a, p, j)) << "2 score matrices";
  p.micro_batch = 2;
  EXPECT_FALSE(UnfusedSoftmax(a, p, j)) << "4 score matrices";
  j.seq_len = 4096;
  j.fused_softmax_max_keys = 2048;
  EXPECT_TRUE(UnfusedSoftmax(a, p, j)) << "keys beyond the kernel's limit";
  j.fused_softmax_max_keys = 4096;
  EXPECT_FALSE(UnfusedSoftmax(a, p, j));
  j.seq_len = 16;
  EXPECT_TRUE(UnfusedSoftmax(a, p, j)) << "16 keys or fewer";
  j.seq_len = 1026;
  EXPECT_TRUE(UnfusedSoftmax(a, p, j)) << "keys not a multiple of 4";
  j.attention_softmax = AttentionSoftmax::kFused;
  EXPECT_FALSE(UnfusedSoftmax(a, p, j));
  j.seq_len = 1024;
  j.attention_softmax = AttentionSoftmax::kUnfused;
  EXPECT_TRUE(UnfusedSoftmax(a, p, j));
}

TEST(PlanTest, OutputColumnsPerRank) {
  Architecture a;
  a.vocab = 50257;
  Plan p;
  EXPECT_EQ(OutputColumnsPerRank(a, p), 50257);
  p.tp = 2;
  EXPECT_EQ(OutputColumnsPerRank(a, p), 25129);
  a.vocab = 50304;
  p.tp = 8;
  EXPECT_EQ(OutputColumnsPerRank(a, p), 6288);
}

TEST(PlanTest, MaxZeroStage) {
  TrainingJob j = Job(2048);
  EXPECT_EQ(MaxZeroStage(j), 3);
  j.grad_16bit_copy = true;
  EXPECT_EQ(MaxZeroStage(j), 1);
}

TEST(PlanTest, NamesRoundTrip) {
  for (Schedule s : {Schedule::kGpipe, Schedule::k1F1B, Schedule::kInterleaved, Schedule::kZbH1,
                     Schedule::kDualPipe}) {
    Schedule parsed = Schedule::kGpipe;
    ASSERT_TRUE(ParseSchedule(ScheduleName(s), &parsed)) << ScheduleName(s);
    EXPECT_EQ(parsed, s);
  }
  for (Recompute r : {Recompute::kNone, Recompute::kSelective, Recompute::kFull, Recompute::kSelectiveOp,
                      Recompute::kDots}) {
    Recompute parsed = Recompute::kNone;
    ASSERT_TRUE(ParseRecompute(RecomputeName(r), &parsed));
    EXPECT_EQ(parsed, r);
  }
  Schedule s = Schedule::kZbH1;
  EXPECT_FALSE(ParseSchedule("1F1B", &s));
  EXPECT_FALSE(ParseSchedule("pipedream", &s));
  EXPECT_EQ(s, Schedule::kZbH1);
  Recompute r = Recompute::kFull;
  EXPECT_FALSE(ParseRecompute("partial", &r));
  EXPECT_EQ(ScheduleName(Schedule::k1F1B), "1f1b");
  EXPECT_EQ(ScheduleName(Schedule::kZbH1), "zb-h1");
  EXPECT_EQ(RecomputeName(Recompute::kSelective), "selective");
  EXPECT_EQ(RecomputeName(Recompute::kSelectiveOp), "selective-op");
  EXPECT_EQ(RecomputeName(Recompute::kDots), "dots");

  std::set<std::string> names;
  for (int i = 0; i < static_cast<int>(PlanIssue::kCount); ++i) {
    std::string n(PlanIssueName(static_cast<PlanIssue>(i)));
    EXPECT_FALSE(n.empty());
    EXPECT_EQ(n.find(' '), std::string::npos) << "snake_case key: " << n;
    EXPECT_TRUE(names.insert(n).second) << "duplicate " << n;
  }
  EXPECT_EQ(PlanIssueName(PlanIssue::kValid), "valid");
  EXPECT_EQ(PlanIssueName(PlanIssue::kTpHeads), "tp_heads");
}

TEST(PlanTest, KvReplicationAndGqaDivisibility) {
  Architecture a = LoadArch("llama-3.1-70b");  // 8 KV heads
  for (int64_t tp : {1, 2, 4, 8, 16, 32, 64}) {
    PlanCheck c = CheckPlan(a, MakePlan(tp, 1, 1), Job(8), tp);
    EXPECT_TRUE(c.ok()) << "tp " << tp << ": " << c.message;
  }
}

// The busiest expert rank's load and what a rank dispatches, per routing policy (Megatron-Core's
// capacity factor, drop and pad): dropless follows the imbalance; dropping caps it at CF, below
// the mean too when CF < 1; padding sets it to CF and sends CF times the copies.
TEST(PlanTest, MoeLoadPerRoutingPolicy) {
  TrainingJob j;
  j.moe_imbalance = 1.5;
  EXPECT_DOUBLE_EQ(j.MoeExpertLoad(), 1.5);
  EXPECT_DOUBLE_EQ(j.MoeDispatchRows(), 1.0);
  EXPECT_DOUBLE_EQ(j.MoeDroppedShare(), 0.0);
  j.moe_capacity_factor = 1.2;
  EXPECT_DOUBLE_EQ(j.MoeExpertLoad(), 1.2);
  EXPECT_DOUBLE_EQ(j.MoeDispatchRows(), 1.0);
  EXPECT_NEAR(j.MoeDroppedShare(), 0.2, 1e-15);  // 1 - 1.2 / 1.5
  j.moe_capacity_factor = 2.0;
  EXPECT_DOUBLE_EQ(j.MoeExpertLoad(), 1.5);
  EXPECT_DOUBLE_EQ(j.MoeDroppedShare(), 0.0);
  j.moe_imbalance = 1.0, j.moe_capacity_factor = 0.5;
  EXPECT_DOUBLE_EQ(j.MoeExpertLoad(), 0.5);
  EXPECT_DOUBLE_EQ(j.MoeDroppedShare(), 0.5);
  EXPECT_DOUBLE_EQ(j.MoeDispatchRows(), 0.5) << "dropped before the dispatch: half the copies are sent";
  j.moe_capacity_factor = 1.25, j.moe_pad_to_capacity = true;
  EXPECT_DOUBLE_EQ(j.MoeExpertLoad(), 1.25);
  EXPECT_DOUBLE_EQ(j.MoeDispatchRows(), 1.25);
  EXPECT_DOUBLE_EQ(j.MoeDroppedShare(), 0.0);
}

}  // namespace
// MostLayersPerChunk and RecomputedLayersInModel group the stages by their layer count (O(1), so
// that a search's plans with thousands of stages cost no more than shallow ones); they must give
// what a walk over every stage gives, for even, balanced and given first/last splits.
TEST(PlanTest, StageGroupsGiveWhatEveryStageGives) {
  for (int64_t layers : {1, 2, 7, 61, 126, 5040}) {
    Architecture a = Synthetic(8, 8, 64, layers);
    for (int64_t pp : {1, 2, 3, 5, 8, 16, 35}) {
      if (pp > layers) continue;
      for (int64_t vpp : {1, 2, 3}) {
        for (int64_t first : {0, 1, 3}) {
          for (int64_t last : {0, 2}) {
            if (first + last > layers || (pp == 1 && first + last > 0)) continue;
            for (int64_t block : {1, 2, 5}) {
              Plan p;
              p.pp = pp, p.vpp = vpp, p.schedule = vpp > 1 ? Schedule::kInterleaved : Schedule::k1F1B;
              p.first_stage_layers = first, p.last_stage_layers = last, p.balanced_layers = layers % pp != 0;
              p.recompute = Recompute::kFull, p.recompute_method = RecomputeMethod::kBlock, p.recompute_num_layers = block;
              int64_t most = 0, recomputed = 0;
              for (int64_t s = 0; s < pp; ++s) {
                most = std::max(most, LayersPerChunk(p, LayersOnStage(a, p, s)));
                recomputed += RecomputedLayers(p, LayersOnStage(a, p, s));
              }
              SCOPED_TRACE(::testing::Message() << "L " << layers << " pp " << pp << " vpp " << vpp << " first " << first
                                                << " last " << last << " block " << block);
              EXPECT_EQ(MostLayersPerChunk(a, p), most);
              EXPECT_EQ(RecomputedLayersInModel(a, p), recomputed);
            }
          }
        }
      }
    }
  }
}

}  // namespace preflight
