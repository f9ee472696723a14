// Tests of cost/memory.h for what recompute and deferred weight gradients hold on a stage: ZB-H1's
// deferred weight-gradient state (the layers', the output layer's and the MTP module's), the
// working sets of selective recompute's modules (the regenerated attention core, the discarding
// modules, a recomputed MoE block), and full recompute by block and by group. Other stage and
// plan tests: memory_stage_test.cc.
#include "preflight/cost/memory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>

#include "preflight/cost/memory_test_support.h"
#include "preflight/model/model.h"
#include "preflight/model/test_support.h"
#include "preflight/parallel/plan.h"

namespace preflight {
namespace {

using test_support::Gpt3;
using test_support::Job;
using test_support::KorthikantiJob;
using test_support::kSbh;
using test_support::LoadArch;
using test_support::Tp8Pp8;

// What ZB-H1 keeps of a layer for a deferred weight-gradient pass: each GEMM's input and its
// output's gradient. A GPT layer at TP 1 (QKV, projection, two MLP GEMMs, 16 bits) holds inputs
// h + h + h + 4h and gradients 3h + h + 4h + h: 32h bytes a token, the zero-bubble paper's 32sbh.
// TP splits what TP splits; the row-parallel GEMMs' output gradients (h each) stay whole.
TEST(StageMemoryTest, ZeroBubbleWeightGradientStateOfAGptLayer) {
  const Architecture a = Gpt3();
  Plan p;
  const TrainingJob j = KorthikantiJob();
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, j).weight_grad_dense, 32 * kSbh);
  p.tp = 8;
  const double h = 12288, t = 8;
  // QKV: input h, gradient 3h/t; projection: input h/t, gradient h; MLP: input h, gradient 4h/t;
  // input 4h/t, gradient h.
  const double per_token = 2 * (h + 3 * h / t) + 2 * (h / t + h) + 2 * (h + 4 * h / t) + 2 * (4 * h / t + h);
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, j).weight_grad_dense, 2048 * per_token);
  p.sp = true;  // the two h-wide inputs are kept sequence-sharded
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, j).weight_grad_dense, 2048 * (per_token - 2 * 2 * h * (1 - 1 / t)));
}

// The output layer's W is deferred as well, on the last stage only: its input (h, 16 bits,
// sequence-sharded with SP) and its logits' gradient (the rank's vocabulary columns, 16 bits) per
// token. GPT-3 at TP 8 with SP: 2·12288/8 + 2·columns bytes a token.
double HeadWeightGradState(const Architecture& a, const Plan& p, const TrainingJob& j) {
  const double columns = static_cast<double>(OutputColumnsPerRank(a, p));
  const double rep = p.sp ? static_cast<double>(p.tp) : 1.0;
  return static_cast<double>(p.micro_batch * j.seq_len) * (2.0 * static_cast<double>(a.hidden) / rep + 2.0 * columns);
}

// ZB-H1's stage s holds (p − s)·M_B, as 1F1B, and the weight-gradient state of the s micro-batches
// whose W it defers: nothing more on the first stage, the most on the last, which defers its
// output layer's W too.
TEST(StageMemoryTest, ZeroBubbleLaterStagesHoldDeferredWeightGradients) {
  const Architecture a = Gpt3();
  const ParamCounts c = CountParameters(a);
  Plan p = Tp8Pp8(true, Recompute::kSelective);
  const TrainingJob j = KorthikantiJob();
  Plan zb = p;
  zb.schedule = Schedule::kZbH1;
  const LayerActivationBytes layer = ActivationBytesPerLayer(a, p, j);
  ASSERT_GT(layer.weight_grad_dense, 0);
  const double head = HeadWeightGradState(a, p, j);
  EXPECT_DOUBLE_EQ(head, 2048.0 * (2.0 * 12288 / 8 + 2.0 * 6400));  // 50,257 padded to 51,200 over 8
  for (int64_t stage : {0, 3, 7}) {
    SCOPED_TRACE(stage);
    const double one_f_one_b = EstimateStageMemory(a, c, p, j, stage, MemoryOptions{}).activations.value();
    const double zero_bubble = EstimateStageMemory(a, c, zb, j, stage, MemoryOptions{}).activations.value();
    const double layers = static_cast<double>(LayersOnStage(a, p, stage));
    const double per_micro_batch = layers * layer.weight_grad_dense + (stage == 7 ? head : 0.0);
    EXPECT_NEAR(zero_bubble - one_f_one_b, static_cast<double>(stage) * per_micro_batch, 1e-9 * zero_bubble);
  }
}

// DeepSeek-V3's MTP module sits after the last layer and shares the output layer: the last stage
// also defers the MTP layer's W (an MoE layer's state), its projection's (input 2h, output h) and
// the second pass through the output layer (its input and logits' gradient again).
TEST(StageMemoryTest, ZeroBubbleLastStageDefersTheMtpModuleAndBothHeadPasses) {
  const Architecture a = LoadArch("deepseek-v3");
  ASSERT_EQ(a.mtp_layers, 1);
  const ParamCounts c = CountParameters(a);
  Plan p;
  p.pp = 4, p.ep = 8, p.dp = 8;
  const TrainingJob j = Job(4096, 64);
  Plan zb = p;
  zb.schedule = Schedule::kZbH1;
  const LayerActivationBytes layer = ActivationBytesPerLayer(a, p, j);
  const int64_t last = 3;
  const double layers = static_cast<double>(LayersOnStage(a, p, last));
  ASSERT_EQ(a.MoeLayersIn(FirstLayerOfStage(a, p, last), LayersOnStage(a, p, last)), LayersOnStage(a, p, last));
  const double h = static_cast<double>(a.hidden), tokens = 4096;
  const double projection = tokens * (2.0 * 2 * h + 2.0 * h);
  const double per_micro_batch = (layers + 1) * layer.weight_grad_moe + projection + 2 * HeadWeightGradState(a, p, j);
  const double one_f_one_b = EstimateStageMemory(a, c, p, j, last, MemoryOptions{}).activations.value();
  const double zero_bubble = EstimateStageMemory(a, c, zb, j, last, MemoryOptions{}).activations.value();
  EXPECT_NEAR(zero_bubble - one_f_one_b, 3 * per_micro_batch, 1e-9 * zero_bubble);
}

// With fewer micro-batches than stages, ZB-H1's stage holds no more than the step has: those in
// flight (min(p − s, M)) and of the rest at most s deferred. GPT-3 at PP 8 with M = 4: stages 0–4
// defer none, stage 5 one, stage 7 three.
TEST(StageMemoryTest, ZeroBubbleDefersNoMoreMicroBatchesThanTheStepHas) {
  const Architecture a = Gpt3();
  const ParamCounts c = CountParameters(a);
  Plan p = Tp8Pp8(true, Recompute::kSelective);
  TrainingJob j = KorthikantiJob();
  j.global_batch = 4;
  ASSERT_EQ(MicroBatches(p, j), 4);
  Plan zb = p;
  zb.schedule = Schedule::kZbH1;
  const LayerActivationBytes layer = ActivationBytesPerLayer(a, p, j);
  const double want[8] = {0, 0, 0, 0, 0, 1, 2, 3};
  for (int64_t stage = 0; stage < 8; ++stage) {
    SCOPED_TRACE(stage);
    const double one_f_one_b = EstimateStageMemory(a, c, p, j, stage, MemoryOptions{}).activations.value();
    const double zero_bubble = EstimateStageMemory(a, c, zb, j, stage, MemoryOptions{}).activations.value();
    const double layers = static_cast<double>(LayersOnStage(a, p, stage));
    const double head = stage == 7 ? HeadWeightGradState(a, p, j) : 0.0;
    EXPECT_NEAR(zero_bubble - one_f_one_b, want[stage] * (layers * layer.weight_grad_dense + head), 1e-9 * zero_bubble);
  }
}

// Under a pipeline the working set of a recomputed MoE block is added once to the stage.
TEST(StageMemoryTest, RecomputedMoeBlockHoldsOneLayerWhileItsBackwardRuns) {
  Architecture a = LoadArch("deepseek-v3");
  const ParamCounts c = CountParameters(a);
  Plan p;
  p.tp = 2, p.sp = true, p.pp = 8, p.ep = 8, p.dp = 8;
  p.recompute = Recompute::kSelective;
  p.recompute_modules = kModuleMoe;
  const TrainingJob j = Job(4096, 512);
  const LayerActivationBytes layer = ActivationBytesPerLayer(a, p, j);
  Plan attn_only = p;
  attn_only.recompute_modules = kModuleCoreAttn;
  const double with_block = EstimateStageMemory(a, c, p, j, 4, MemoryOptions{}).activations.value();
  const double in_flight = InFlightMicroBatches(p, MicroBatches(p, j), 4);
  const int64_t n = LayersOnStage(a, p, 4), first = FirstLayerOfStage(a, p, 4);
  const double moe_layers = static_cast<double>(a.MoeLayersIn(first, n));
  const double dense_layers = static_cast<double>(n) - moe_layers;
  ASSERT_EQ(dense_layers, 0) << "stage 4 holds MoE layers only";
  EXPECT_NEAR(with_block, in_flight * moe_layers * layer.moe + layer.moe_module_working,
              1e-6 * with_block);
  // Only a stage with dense layers holds a recomputed dense MLP's working set: with `mlp`, stage 0.
  Plan mlp = p;
  mlp.recompute_modules = kModuleMlp;
  const LayerActivationBytes m = ActivationBytesPerLayer(a, mlp, j);
  ASSERT_GT(m.dense_module_working, 0);
  const double mid = EstimateStageMemory(a, c, mlp, j, 4, MemoryOptions{}).activations.value();
  EXPECT_NEAR(mid, in_flight * moe_layers * m.moe, 1e-6 * mid);
  EXPECT_LT(with_block,
            EstimateStageMemory(a, c, attn_only, j, 4, MemoryOptions{}).activations.value());
}

// What stage `stage` keeps of `per_layer` bytes a layer: its micro-batches in flight times its layers.
double StageStack(const Architecture& a, const Plan& p, const TrainingJob& j, int64_t stage, double per_layer) {
  return InFlightMicroBatches(p, MicroBatches(p, j), stage) * static_cast<double>(LayersOnStage(a, p, stage)) * per_layer;
}

// Selective recompute of the attention core regenerates one layer's saved core in that layer's
// backward: the unfused scores (5 bytes a score with dropout), or a fused kernel's fp32
// log-sum-exp (4 bytes a head), and the 16-bit attention output (2 bytes a value of a head);
// nothing when the core is not among the recomputed modules. With the MLP recomputed too, the
// larger of the two modules counts (they run one after the other).
TEST(StageMemoryTest, SelectiveRecomputeHoldsOneLayersRegeneratedCore) {
  const Architecture a = Gpt3();
  const ParamCounts c = CountParameters(a);
  Plan p = Tp8Pp8(true, Recompute::kSelective);
  TrainingJob j = KorthikantiJob();
  const double tokens = 2048, per_rank_heads = 96.0 / 8;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, j).core_attn_working, tokens * per_rank_heads * (5 * 2048 + 2 * 128));
  const double with_core = EstimateStageMemory(a, c, p, j, 0, MemoryOptions{}).activations.value();
  j.flash_attention = true;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, j).core_attn_working, tokens * per_rank_heads * (4 + 2 * 128));
  j.flash_attention = false;
  Plan mlp_only = p;
  mlp_only.recompute_modules = kModuleMlp;
  const LayerActivationBytes m = ActivationBytesPerLayer(a, mlp_only, j);
  EXPECT_EQ(m.core_attn_working, 0.0);
  Plan both = p;
  both.recompute_modules = kModuleCoreAttn | kModuleMlp;
  const LayerActivationBytes l = ActivationBytesPerLayer(a, both, j);
  ASSERT_GT(l.dense_module_working, 0.0);
  // Both modules recomputed: each layer kept drops the MLP's internals as well, and the peak adds
  // the larger working set, not both.
  const double both_total = EstimateStageMemory(a, c, both, j, 0, MemoryOptions{}).activations.value();
  const double kept_less = StageStack(a, p, j, 0, ActivationBytesPerLayer(a, p, j).dense - l.dense);
  EXPECT_NEAR(both_total, with_core - kept_less - l.core_attn_working + std::max(l.dense_module_working, l.core_attn_working),
              1e-9 * both_total);
}

// An output-discarding module's backward regenerates what it dropped: MLA's up-projections
// (`mla_up_proj`) q, k after RoPE and v (2 bytes each: 128 heads x (2 x 192 + 128) per token at
// TP 1) and the latents' norm outputs beside the latents (2 x (1,536 + 512)), on DeepSeek-V3's
// MoE layers at 4,096 tokens. The stage holds it once, as the largest of a layer's modules.
TEST(StageMemoryTest, DiscardingModulesRegenerateWhatTheyDropped) {
  const Architecture a = LoadArch("deepseek-v3");
  const ParamCounts c = CountParameters(a);
  Plan p;
  p.pp = 16, p.ep = 8, p.dp = 8;
  p.recompute = Recompute::kSelective;
  p.recompute_modules = kModuleMlaUpProj;
  const TrainingJob j = Job(4096, 64);
  const LayerActivationBytes l = ActivationBytesPerLayer(a, p, j);
  const double per_token = 2.0 * 128 * (2 * 192 + 128) + 2.0 * (1536 + 512);
  EXPECT_DOUBLE_EQ(l.discarded_working_moe, 4096 * per_token);
  EXPECT_DOUBLE_EQ(l.discarded_working_dense, 4096 * per_token);
  EXPECT_EQ(l.core_attn_working, 0.0);
  // With the attention core recomputed as well, the larger of the two working sets counts.
  Plan both = p;
  both.recompute_modules = kModuleMlaUpProj | kModuleCoreAttn;
  const LayerActivationBytes b = ActivationBytesPerLayer(a, both, j);
  ASSERT_GT(b.core_attn_working, 0.0);
  const double stage = EstimateStageMemory(a, c, both, j, 8, MemoryOptions{}).activations.value();
  const double kept = stage - std::max(b.core_attn_working, b.discarded_working_moe);
  EXPECT_NEAR(kept, StageStack(a, both, j, 8, b.moe), 1e-9 * stage);
}

// Megatron-LM's --recompute-method. By block, the first N layers of each chunk keep their input
// alone and the others everything: against full recompute, each layer not recomputed adds its
// activations less its input, per micro-batch in flight (4 on stage 0 of 1F1B at PP 4); N at or
// past the chunk's layers is full recompute. Uniform groups of N keep one input a group and
// recompute a group at a time: N layers' activations while its backward runs.
TEST(StageMemoryTest, RecomputeByBlockAndByGroup) {
  Architecture a = LoadArch("llama-3.1-70b");
  ParamCounts c = CountParameters(a);
  TrainingJob j = Job(8192, 512);
  Plan p;
  p.tp = 8, p.pp = 4, p.dp = 2, p.sp = true, p.zero = 1;
  p.recompute = Recompute::kFull;
  const LayerActivationBytes layer = ActivationBytesPerLayer(a, p, j);
  const auto activations = [&](RecomputeMethod method, int64_t n, int64_t vpp = 1) {
    Plan q = p;
    q.recompute_method = method, q.recompute_num_layers = n;
    if (vpp > 1) q.vpp = vpp, q.schedule = Schedule::kInterleaved;
    return EstimateStageMemory(a, c, q, j, 0, MemoryOptions{}).activations.value();
  };
  const double full = activations(RecomputeMethod::kUniform, 1);
  for (int64_t n : {1, 5, 19}) {
    SCOPED_TRACE(n);
    EXPECT_NEAR(activations(RecomputeMethod::kBlock, n) - full, 4.0 * (20 - n) * (layer.dense - layer.recompute_input),
                1e-6 * full);
  }
  EXPECT_DOUBLE_EQ(activations(RecomputeMethod::kBlock, 20), full);
  EXPECT_DOUBLE_EQ(activations(RecomputeMethod::kBlock, 64), full);
  // Uniform groups of 4: 5 inputs a micro-batch where each layer kept one, and 4 layers' activations
  // where one was recomputed at a time.
  EXPECT_NEAR(activations(RecomputeMethod::kUniform, 4) - full, 4.0 * (5 - 20) * layer.recompute_input + 3 * layer.dense,
              1e-6 * full);
  // Interleaved: N a chunk. Five chunks of 4 layers a stage: block 1 recomputes 5 of its 20 layers.
  Plan vp = p;
  vp.vpp = 5, vp.schedule = Schedule::kInterleaved;
  EXPECT_EQ(RecomputedLayers(vp, 20), 20);
  vp.recompute_method = RecomputeMethod::kBlock, vp.recompute_num_layers = 1;
  EXPECT_EQ(RecomputedLayers(vp, 20), 5);
  vp.recompute_num_layers = 9;
  EXPECT_EQ(RecomputedLayers(vp, 20), 20);
  EXPECT_GT(activations(RecomputeMethod::kBlock, 1, 5), activations(RecomputeMethod::kBlock, 2, 5));
  // Other modes recompute no layer whole.
  vp.recompute = Recompute::kSelective;
  EXPECT_EQ(RecomputedLayers(vp, 20), 0);
  // Uniform groups form inside each chunk: past the chunk's 4 layers a group holds the chunk.
  EXPECT_DOUBLE_EQ(activations(RecomputeMethod::kUniform, 16, 5), activations(RecomputeMethod::kUniform, 4, 5));
  // Groups of 2 against 4: 10 inputs a micro-batch against 5, two layers recomputed at once
  // against four; (2·3 + 4·4 + 1) / 5 = 4.6 micro-batches in flight on stage 0 (Megatron's warm-up).
  EXPECT_NEAR(activations(RecomputeMethod::kUniform, 4, 5) - activations(RecomputeMethod::kUniform, 2, 5),
              4.6 * (5 - 10) * layer.recompute_input + 2 * layer.dense, 1e-6 * full);
}

// By block, the backward's working set is a recomputed layer's: DeepSeek-V3's first stage of 4
// layers (3 dense, then MoE) recomputing 3 holds a dense layer at the peak, not the MoE one it
// keeps whole; recomputing all 4, the MoE one (each less its input, already on the stack).
TEST(StageMemoryTest, RecomputeByBlockWorksOnTheLayersItRecomputes) {
  Architecture a = LoadArch("deepseek-v3");
  const TrainingJob j = Job(4096, 64);
  Plan p;
  p.pp = 4, p.ep = 8, p.dp = 8, p.first_stage_layers = 4;
  p.recompute = Recompute::kFull, p.recompute_method = RecomputeMethod::kBlock;
  const LayerActivationBytes layer = ActivationBytesPerLayer(a, p, j);
  ASSERT_GT(layer.moe, layer.dense);
  const auto activations = [&](int64_t n) {
    Plan q = p;
    q.recompute_num_layers = n;
    return EstimateStageMemory(a, CountParameters(a), q, j, 0, MemoryOptions{}).activations.value();
  };
  const double in_flight = 4;  // 1F1B, stage 0 of 4
  EXPECT_NEAR(activations(3), in_flight * (3 * layer.recompute_input + layer.moe) + layer.dense - layer.recompute_input, 1);
  EXPECT_NEAR(activations(4), in_flight * 4 * layer.recompute_input + layer.moe - layer.recompute_input, 1);
}

// The fewest block layers that fit a budget, against a count-by-count scan: dense and MoE (a dense
// prefix), with and without interleaving, over budgets from below full recompute to above none.
TEST(StageMemoryTest, FewestBlockLayersMatchAScan) {
  struct Case {
    const char* model;
    int64_t tp, pp, vpp, ep;
  };
  for (const Case& k : {Case{"llama-3.1-70b", 8, 4, 1, 1}, Case{"llama-3.1-70b", 4, 4, 5, 1},
                        Case{"deepseek-v3", 2, 8, 1, 8}, Case{"deepseek-v3", 2, 4, 2, 8}}) {
    SCOPED_TRACE(std::string(k.model) + " pp " + std::to_string(k.pp) + " vpp " + std::to_string(k.vpp));
    Architecture a = LoadArch(k.model);
    ParamCounts c = CountParameters(a);
    TrainingJob j = Job(8192, 512);
    Plan p;
    p.tp = k.tp, p.pp = k.pp, p.dp = 8, p.ep = k.ep, p.sp = true, p.zero = 1;
    if (k.vpp > 1) p.vpp = k.vpp, p.schedule = Schedule::kInterleaved;
    p.recompute = Recompute::kFull, p.recompute_method = RecomputeMethod::kBlock;
    const int64_t most = MostLayersPerChunk(a, p);
    ASSERT_GT(most, 1);
    const auto bytes = [&](int64_t n) {
      Plan q = p;
      q.recompute_num_layers = n;
      return EstimateMemory(a, c, q, j, Bytes::GiB(1e6), MemoryOptions{}).worst.Total().value();
    };
    const double low = bytes(most), high = bytes(1);
    ASSERT_LT(low, high);
    for (double f : {-0.1, 0.0, 0.05, 0.3, 0.5, 0.77, 0.99, 1.0, 1.2}) {
      const double budget = low + f * (high - low);
      int64_t scan = 0;
      for (int64_t n = 1; n < most && scan == 0; ++n) {
        if (bytes(n) <= budget) scan = n;
      }
      EXPECT_EQ(FewestBlockLayersWithin(a, c, p, j, Bytes(budget), MemoryOptions{}), scan) << f;
    }
  }
}

}  // namespace
}  // namespace preflight
