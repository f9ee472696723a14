// Tests of recompute `names` (JAX's named checkpoints, MaxText's remat_policy "custom"): the
// products, collectives and bytes it runs again and keeps, against the dots policy and full
// recompute it spans (cost/step_layer.cc, cost/step_time.cc, cost/activation_bytes.cc).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>

#include "preflight/cost/memory.h"
#include "preflight/cost/step_test_support.h"
#include "preflight/cost/step_time.h"

namespace preflight::test_support {
namespace {

constexpr uint32_t kEveryProduct = kSavedQuery | kSavedKey | kSavedValue | kSavedOutProj | kSavedMlpWi0 |
                                   kSavedMlpWi1 | kSavedMlpWo | kSavedLayerInput;

// Llama 3.1 8B at TP 4 with SP on one H100 node, one sequence of 4,096 tokens per rank.
Job8b TpLlama() {
  Job8b s = TensorParallelLlama8b(4096, 4);
  s.plan.sp = true;
  s.plan.tp_comm_overlap = false;
  return s;
}

StepTime Step(Job8b s, Recompute r, uint32_t saved = 0, uint32_t offloaded = 0) {
  s.plan.recompute = r;
  s.plan.recompute_saved = saved;
  s.plan.recompute_offloaded = offloaded;
  return EstimateStep(MakeCostContext(s.arch, s.params, s.job, s.cluster), s.plan);
}

LayerActivationBytes Bytes(const Job8b& s, uint32_t saved, uint32_t offloaded = 0) {
  Plan p = s.plan;
  p.recompute = Recompute::kNames;
  p.recompute_saved = saved;
  p.recompute_offloaded = offloaded;
  return ActivationBytesPerLayer(s.arch, p, s.job);
}

// Keeping every weight product's output and recomputing the attention products is the dots
// policy (checkpoint_dots_with_no_batch_dims): the same step, HFU and kept bytes.
TEST(NamedCheckpointsTest, KeepingEveryProductIsTheDotsPolicy) {
  const Job8b s = TpLlama();
  const StepTime dots = Step(s, Recompute::kDots), names = Step(s, Recompute::kNames, kEveryProduct);
  EXPECT_NEAR(names.step.value(), dots.step.value(), 1e-12);
  EXPECT_NEAR(names.hfu, dots.hfu, 1e-12);
  Plan p = s.plan;
  p.recompute = Recompute::kDots;
  EXPECT_DOUBLE_EQ(Bytes(s, kEveryProduct).names, ActivationBytesPerLayer(s.arch, p, s.job).dots);
}

// Keeping nothing but the layer input is full recompute as JAX runs it: the same bytes kept, but
// the MLP's output product, whose output only the next layer reads, never runs again, and neither
// does the reduce-scatter after it. HFU counts the forward again without the head and without
// that product (2 FLOPs per weight: 2·4096·14336 per token and layer).
TEST(NamedCheckpointsTest, KeepingNothingSkipsTheMlpOutputProduct) {
  const Job8b s = TpLlama();
  const StepTime full = Step(s, Recompute::kFull), names = Step(s, Recompute::kNames);
  EXPECT_LT(names.compute.value(), full.compute.value());
  EXPECT_LT(names.exposed_comm.tp.value(), full.exposed_comm.tp.value());
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  const double forward = ctx.model_flops_per_token / 3, head = ctx.head_flops_per_token_fwd;
  const double wo = 2.0 * 32 * 4096 * 14336;
  EXPECT_NEAR(full.hfu / full.mfu, (4 * forward - head) / (3 * forward), 1e-12);
  EXPECT_NEAR(names.hfu / names.mfu, (4 * forward - head - wo) / (3 * forward), 1e-12);
  Plan p = s.plan;
  p.recompute = Recompute::kFull;
  EXPECT_DOUBLE_EQ(Bytes(s, 0).names, ActivationBytesPerLayer(s.arch, p, s.job).recompute_input);
}

// Each kept name takes its product out of the recomputed forward, and only its own: keeping q, k
// and v (MaxText's save_qkv_proj) saves their GEMM, keeping the attention output the attention
// products, keeping the output projection its GEMM and the reduce-scatter after it.
TEST(NamedCheckpointsTest, EachKeptNameSavesItsOwnProduct) {
  const Job8b s = TpLlama();
  const StepTime none = Step(s, Recompute::kNames);
  const StepTime qkv = Step(s, Recompute::kNames, kSavedQuery | kSavedKey | kSavedValue);
  const StepTime context = Step(s, Recompute::kNames, kSavedContext);
  const StepTime out = Step(s, Recompute::kNames, kSavedOutProj);
  const StepTime mlp = Step(s, Recompute::kNames, kSavedMlpWi0 | kSavedMlpWi1);
  for (const StepTime* t : {&qkv, &context, &out, &mlp}) EXPECT_LT(t->compute.value(), none.compute.value());
  EXPECT_NEAR(qkv.exposed_comm.tp.value(), none.exposed_comm.tp.value(), 1e-12);
  EXPECT_NEAR(context.exposed_comm.tp.value(), none.exposed_comm.tp.value(), 1e-12);
  EXPECT_LT(out.exposed_comm.tp.value(), none.exposed_comm.tp.value());
  // The MLP's input products are the largest share of a Llama layer's recomputed forward.
  EXPECT_LT(mlp.compute.value(), qkv.compute.value());
  EXPECT_LT(mlp.compute.value(), out.compute.value());
  // Keeping the MLP's output product changes nothing: nothing recomputes it.
  const StepTime wo = Step(s, Recompute::kNames, kSavedMlpWo);
  EXPECT_NEAR(wo.step.value(), none.step.value(), 1e-12);
}

// Kept bytes per token (TP 4, SP; Llama 3.1 8B: 32 heads and 8 KV heads of 128, MLP 14336): the
// layer input sequence-sharded (2·4096/4), q (2·4096/4), k and v (2·1024/4 each), the attention
// output with its fp32 log-sum-exp per head ((2·4096 + 4·32)/4), the MLP's gate and up (2·14336/4
// each), the output projection's and the MLP's [tokens, hidden] outputs (2·4096/4 each). An
// offloaded tensor is in host memory, the layer input among them.
TEST(NamedCheckpointsTest, KeptBytesAreTheNamedTensorsInDeviceMemory) {
  const Job8b s = TpLlama();
  const double tokens = 4096;
  const double input = 2.0 * 4096 / 4;
  EXPECT_DOUBLE_EQ(Bytes(s, kSavedQuery).names / tokens, input + 2.0 * 4096 / 4);
  EXPECT_DOUBLE_EQ(Bytes(s, kSavedKey | kSavedValue).names / tokens, input + 2 * 2.0 * 1024 / 4);
  EXPECT_DOUBLE_EQ(Bytes(s, kSavedContext).names / tokens, input + (2.0 * 4096 + 4.0 * 32) / 4);
  EXPECT_DOUBLE_EQ(Bytes(s, kSavedMlpWi0 | kSavedMlpWi1).names / tokens, input + 2 * 2.0 * 14336 / 4);
  EXPECT_DOUBLE_EQ(Bytes(s, kSavedOutProj | kSavedMlpWo).names / tokens, input + 2 * 2.0 * 4096 / 4);
  EXPECT_DOUBLE_EQ(Bytes(s, 0, kSavedQuery | kSavedLayerInput).names, 0.0);
  // Offloading leaves the step time as keeping in device memory does (the copies are not timed).
  EXPECT_NEAR(Step(s, Recompute::kNames, 0, kSavedQuery).step.value(),
              Step(s, Recompute::kNames, kSavedQuery).step.value(), 1e-12);
}

// Without SP a recomputed output projection all-reduces its output again; kept, the layer's
// collectives are the dots policy's (none again).
TEST(NamedCheckpointsTest, WithoutSpTheRecomputedOutputProjectionAllReducesAgain) {
  Job8b s = TpLlama();
  s.plan.sp = false;
  const StepTime dots = Step(s, Recompute::kDots), none = Step(s, Recompute::kNames);
  const StepTime out = Step(s, Recompute::kNames, kSavedOutProj);
  EXPECT_GT(none.exposed_comm.tp.value(), dots.exposed_comm.tp.value());
  EXPECT_NEAR(out.exposed_comm.tp.value(), dots.exposed_comm.tp.value(), 1e-12);
}

// Under context parallelism the recomputed attention products exchange keys and values again;
// keeping the attention output keeps the exchange to the forward's and the backward's.
TEST(NamedCheckpointsTest, KeepingTheAttentionOutputSavesTheKvExchangeAgain) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("h100-sxm-80gb", 16, 25);
  s.job.seq_len = 24576, s.job.global_batch = 4;
  s.plan.dp = 1, s.plan.cp = 16;
  const StepTime none = Step(s, Recompute::kNone), dots = Step(s, Recompute::kDots);
  const StepTime names = Step(s, Recompute::kNames), context = Step(s, Recompute::kNames, kSavedContext);
  // The premise: on 25 Gb/s NICs the exchange outlasts the attention it hides under, in the
  // backward too, so an exchange run again shows.
  ASSERT_GT(dots.exposed_comm.cp.value(), none.exposed_comm.cp.value());
  EXPECT_NEAR(names.exposed_comm.cp.value(), dots.exposed_comm.cp.value(), 1e-12);
  EXPECT_NEAR(context.exposed_comm.cp.value(), none.exposed_comm.cp.value(), 1e-12);
}

// `context` names the fused kernel's output: with eager attention nothing carries it, so keeping
// it changes neither the step nor the kept bytes.
TEST(NamedCheckpointsTest, EagerAttentionHasNoContextToKeep) {
  Job8b s = TpLlama();
  s.job.flash_attention = false;
  EXPECT_NEAR(Step(s, Recompute::kNames, kSavedContext).step.value(), Step(s, Recompute::kNames).step.value(), 1e-12);
  EXPECT_DOUBLE_EQ(Bytes(s, kSavedContext).names, Bytes(s, 0).names);
}

// A stage keeps each layer's named tensors and, while one layer's backward runs, the larger of that
// layer's other activations and the output head's working set (the final norm's and the head's
// inputs and the fp32 logits, as for the dots policy: ActivationTest.DotsPolicyKeepsTheWeightProductsOutputs).
TEST(NamedCheckpointsTest, TheStageKeepsTheNamedTensorsAndOneLayerAgain) {
  const Job8b s = TpLlama();
  Plan p = s.plan;
  p.recompute = Recompute::kNames;
  p.recompute_saved = kSavedQuery | kSavedKey | kSavedValue;
  const LayerActivationBytes bytes = ActivationBytesPerLayer(s.arch, p, s.job);
  const MemoryBreakdown b = EstimateStageMemory(s.arch, s.params, p, s.job, 0, MemoryOptions{});
  const double head = 4096.0 * (4 * 4096 / 4.0 + 4 * 128256 / 4.0);
  EXPECT_NEAR(b.activations.value(), 32 * bytes.names + std::max(bytes.dense - bytes.names, head), 1);
  // Offloading the three and the layer input leaves only the working set on the device.
  p.recompute_offloaded = p.recompute_saved | kSavedLayerInput;
  p.recompute_saved = 0;
  const LayerActivationBytes off = ActivationBytesPerLayer(s.arch, p, s.job);
  EXPECT_DOUBLE_EQ(off.names, 0.0);
  EXPECT_NEAR(EstimateStageMemory(s.arch, s.params, p, s.job, 0, MemoryOptions{}).activations.value(),
              std::max(off.dense, head), 1);
}

// Host-bound (2 ms a kernel), the host launches again what is recomputed: keeping nothing, the
// whole forward but the MLP's output product (fewer launches than full recompute, more than the
// dots policy); keeping every product, the dots policy's launches.
TEST(NamedCheckpointsTest, TheHostLaunchesWhatIsRecomputed) {
  Job8b s = TpLlama();
  s.job.host_overhead_per_kernel_us = 2000;
  const auto launch = [&](Recompute r, uint32_t saved = 0) { return Step(s, r, saved).host_launch.value(); };
  EXPECT_LT(launch(Recompute::kNames), launch(Recompute::kFull));
  EXPECT_GT(launch(Recompute::kNames), launch(Recompute::kDots));
  EXPECT_NEAR(launch(Recompute::kNames, kEveryProduct), launch(Recompute::kDots), 1e-12);
}

}  // namespace
}  // namespace preflight::test_support
