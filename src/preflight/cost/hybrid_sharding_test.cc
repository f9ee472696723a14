// Tests of hybrid sharding (parallel.dp_shard, HSDP): ZeRO's states sharded over dp_shard ranks
// rather than the whole data-parallel group, and each shard's replicas all-reducing its gradients
// once a step (cost/memory.cc, cost/step_finish.cc ReplicaGradientSeconds; plan rules in
// parallel/plan.cc).
#include <gtest/gtest.h>

#include <cstdint>

#include "preflight/cost/memory.h"
#include "preflight/cost/step_test_support.h"
#include "preflight/cost/step_time.h"
#include "preflight/parallel/plan.h"

namespace preflight::test_support {
namespace {

// Llama 3.1 8B data-parallel over 32 H100s (four nodes), ZeRO `zero`, sharded over `shard` ranks.
Job8b Fsdp(int zero, int64_t shard) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("h100-sxm-80gb", 32);
  s.job.global_batch = 64;
  s.plan.dp = 32, s.plan.zero = zero, s.plan.dp_shard = shard;
  return s;
}

StepTime Step(const Job8b& s) { return EstimateStep(MakeCostContext(s.arch, s.params, s.job, s.cluster), s.plan); }

MemoryBreakdown Memory(const Job8b& s) {
  return EstimateStageMemory(s.arch, s.params, s.plan, s.job, 0, MemoryOptions{});
}

// dp_shard equal to dp is ZeRO as before (the same step and memory as leaving it out).
TEST(HybridShardingTest, ShardingOverTheWholeGroupIsPlainZero) {
  for (int zero : {1, 2, 3}) {
    SCOPED_TRACE(zero);
    const Job8b whole = Fsdp(zero, 0), same = Fsdp(zero, 32);
    EXPECT_NEAR(Step(same).step.value(), Step(whole).step.value(), 1e-12);
    EXPECT_DOUBLE_EQ(Memory(same).Total().value(), Memory(whole).Total().value());
  }
}

// Sharded over 8 of 32 ranks, each device holds 4 times the sharded states: the optimizer's at
// ZeRO 1, the gradients' too at ZeRO 2, the weights' too at ZeRO 3.
TEST(HybridShardingTest, StatesAreShardedOverTheShardGroupOnly) {
  const MemoryBreakdown z1 = Memory(Fsdp(1, 0)), h1 = Memory(Fsdp(1, 8));
  EXPECT_NEAR(h1.optimizer.value(), 4 * z1.optimizer.value(), 1e-6 * h1.optimizer.value());
  EXPECT_DOUBLE_EQ(h1.gradients.value(), z1.gradients.value());
  const MemoryBreakdown z3 = Memory(Fsdp(3, 0)), h3 = Memory(Fsdp(3, 8));
  EXPECT_NEAR(h3.gradients.value(), 4 * z3.gradients.value(), 1e-6 * h3.gradients.value());
  EXPECT_NEAR(h3.optimizer.value(), 4 * z3.optimizer.value(), 1e-6 * h3.optimizer.value());
  EXPECT_GT(h3.weights.value(), 3.9 * z3.weights.value());  // the gathered buffers stay the same
}

// Under context parallelism the shard group is dp_shard x CP ranks: CP 2, DP 16 sharded over 4
// keeps 4 times the ZeRO-1 optimizer state of DP 16 sharded over all 16 (x CP 2).
TEST(HybridShardingTest, TheShardGroupSpansContextParallelism) {
  Job8b whole = Fsdp(1, 0), hybrid = Fsdp(1, 4);
  for (Job8b* s : {&whole, &hybrid}) s->plan.dp = 16, s->plan.cp = 2, s->job.global_batch = 32;
  EXPECT_NEAR(Memory(hybrid).optimizer.value(), 4 * Memory(whole).optimizer.value(),
              1e-6 * Memory(hybrid).optimizer.value());
}

// Sharded over one rank, ZeRO-1's replicas are plain data parallelism: the 32 replicas all-reduce
// the whole gradient, in the buckets ZeRO 0 reduces in, and each device keeps the whole optimizer
// state, as without ZeRO.
TEST(HybridShardingTest, OneRankShardsAreDataParallelism) {
  Job8b zero0 = Fsdp(0, 0), replicated = Fsdp(1, 1);
  for (Job8b* s : {&zero0, &replicated}) s->plan.overlap_grad_reduce = s->plan.overlap_param_gather = false;
  ASSERT_GT(Step(zero0).exposed_comm.dp.value(), 0);
  EXPECT_NEAR(Step(replicated).exposed_comm.dp.value(), Step(zero0).exposed_comm.dp.value(), 1e-12);
  EXPECT_DOUBLE_EQ(Memory(replicated).optimizer.value(), Memory(zero0).optimizer.value());
}

// With nothing overlapped, HSDP over one node (8 of 32 ranks, four replicas) exposes its node's
// ZeRO-3 collectives and the replicas' all-reduce of each shard: more than the same ZeRO-3 on one
// node alone.
TEST(HybridShardingTest, ReplicasAllReduceTheirShardOnceAStep) {
  auto exposed = [](int64_t shard, int64_t dp) {
    Job8b s = Fsdp(3, shard);
    s.plan.dp = dp;
    s.cluster = CatalogCluster("h100-sxm-80gb", dp);
    s.job.global_batch = 2 * dp;
    s.plan.overlap_grad_reduce = s.plan.overlap_param_gather = false;
    return Step(s).exposed_comm.dp.value();
  };
  EXPECT_GT(exposed(8, 32), exposed(0, 8) * 1.05);
}

// The replicas all-reduce once a step at ZeRO 1 (Megatron-Core's distributed-optimizer instances)
// and after every micro-batch at ZeRO 2 (FSDP2's HSDP default): with nothing overlapped, what HSDP
// over one node of four adds to the same ZeRO on that node alone grows with the micro-batches at
// ZeRO 2 only.
TEST(HybridShardingTest, ReplicasReduceOnceAStepAtZeroOneAndEveryMicroBatchAtZeroTwo) {
  auto exposed = [](int zero, int64_t shard, int64_t dp, int64_t micro_batches) {
    Job8b s = Fsdp(zero, shard);
    s.plan.dp = dp;
    s.cluster = CatalogCluster("h100-sxm-80gb", dp);
    s.job.global_batch = micro_batches * dp;
    s.plan.overlap_grad_reduce = s.plan.overlap_param_gather = false;
    return Step(s).exposed_comm.dp.value();
  };
  auto added = [&](int zero, int64_t m) { return exposed(zero, 8, 32, m) - exposed(zero, 0, 8, m); };
  ASSERT_GT(added(1, 1), 0);
  EXPECT_NEAR(added(1, 4), added(1, 1), 1e-9);
  EXPECT_NEAR(added(2, 4), 4 * added(2, 1), 1e-9);
}

// dp_shard must divide dp, and below dp needs ZeRO, a dense model and layer-wise ZeRO-3 gathers.
TEST(HybridShardingTest, PlanRules) {
  const Job8b s = Fsdp(3, 8);
  EXPECT_EQ(CheckPlan(s.arch, s.plan, s.job, 32).issue, PlanIssue::kValid);
  Plan p = s.plan;
  p.dp_shard = 5;
  EXPECT_EQ(CheckPlan(s.arch, p, s.job, 32).issue, PlanIssue::kDpShard);
  p.dp_shard = 8, p.zero = 0;
  EXPECT_EQ(CheckPlan(s.arch, p, s.job, 32).issue, PlanIssue::kDpShard);
  p.zero = 3, p.zero3_gather_per_parameter = true;
  EXPECT_EQ(CheckPlan(s.arch, p, s.job, 32).issue, PlanIssue::kDpShard);
  p.zero3_gather_per_parameter = false, p.dp_shard = 32, p.zero = 0;
  EXPECT_EQ(CheckPlan(s.arch, p, s.job, 32).issue, PlanIssue::kValid) << "the whole group: plain ZeRO 0";
  const Architecture moe = LoadArch("mixtral-8x7b");
  Plan q;
  q.dp = 32, q.zero = 3, q.dp_shard = 8;
  EXPECT_EQ(CheckPlan(moe, q, s.job, 32).issue, PlanIssue::kDpShard);
}

}  // namespace
}  // namespace preflight::test_support
