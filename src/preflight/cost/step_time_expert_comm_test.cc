// Tests of the experts' all-to-alls and of the schedules that place the step's work and
// collectives (cost/step_time.cc, step_pipeline.cc): the 1F1B all-to-all overlap, the
// shared-expert overlap, DeepEP, all-to-alls that outlast the compute beside them, DualPipe's
// mirror stages and the zero-bubble schedules' deferred weight gradients. The other collectives
// around the layers: step_time_comm_test.cc.
#include "preflight/cost/step_time.h"

#include <gtest/gtest.h>

#include <memory>

#include "preflight/cost/collectives.h"
#include "preflight/cost/step_test_support.h"

// In the test-support namespace, so that the shared builders need no using-declarations.
namespace preflight::test_support {
namespace {

// DualPipe's rank r runs stages r and pp - 1 - r, half the micro-batches through each: the ends
// share the head's work instead of the last stage carrying it alone. Llama 3.1 8B on PP 4 (8 layers
// a stage, L each, the head H on the last): 1F1B's slowest stage takes 8L + H a micro-batch, the
// whole model 32L + H, and DualPipe's slowest rank (the ends) (16L + H) / 2.
TEST(StepTimeTest, DualPipeRanksRunTwoMirrorStages) {
  Job8b s = Llama8bOnH100();
  s.plan.tp = 1, s.plan.dp = 1, s.plan.pp = 1;
  s.job.global_batch = 32;
  auto compute = [&](int64_t pp, Schedule schedule) {
    return StepWith(s, [&](Job8b& v) {
             v.plan.pp = pp;
             v.plan.schedule = schedule;
           }).first.compute.value();
  };
  const double whole = compute(1, Schedule::k1F1B), last = compute(4, Schedule::k1F1B);
  const double layer = (whole - last) / 24;  // 32L + H - (8L + H)
  EXPECT_NEAR(compute(4, Schedule::kDualPipe), 4 * layer + last / 2, 1e-9 * whole);
  // Each rank holds two stages' parameters, and each stage's gradients are summed over its two
  // copies: at DP 1 an all-reduce between the pair, over NVLink when the job fits in one node.
  s.plan.overlap_grad_reduce = false, s.plan.overlap_param_gather = false;
  const auto [pair, pair_ctx] = StepWith(s, [&](Job8b& v) {
    v.plan.pp = 2;
    v.plan.schedule = Schedule::kDualPipe;
    v.cluster = CatalogCluster("h100-sxm-80gb", 2);
  });
  const double grads = 4.0 * static_cast<double>(s.params.total);  // fp32 main gradients, whole model
  EXPECT_NEAR(pair.exposed_comm.dp.value(), AllReduceTime(pair_ctx.fabric, Bytes(grads), 2, 2).value(), 1e-12);
  // Under ZeRO-1 with DP 2 the pair sums the shard each holds after the reduce-scatter.
  const auto [sharded, sharded_ctx] = StepWith(s, [&](Job8b& v) {
    v.plan.pp = 2, v.plan.dp = 2, v.plan.zero = 1;
    v.plan.schedule = Schedule::kDualPipe;
    v.cluster = CatalogCluster("h100-sxm-80gb", 4);
  });
  const Fabric& f = sharded_ctx.fabric;
  const double weights = 2.0 * static_cast<double>(s.params.total);
  EXPECT_NEAR(sharded.exposed_comm.dp.value(),
              ReduceScatterTime(f, Bytes(grads), 2, 2).value() + AllGatherTime(f, Bytes(weights), 2, 2).value() +
                  AllReduceTime(f, Bytes(grads / 2), 2, 2).value(),
              1e-12);
  s.plan.dp = 2;
  const StepTime dual = StepWith(s, [&](Job8b& v) {
                          v.plan.pp = 4;
                          v.plan.schedule = Schedule::kDualPipe;
                        }).first;
  const StepTime one = StepWith(s, [&](Job8b& v) { v.plan.pp = 4; }).first;
  EXPECT_GT(dual.exposed_comm.dp.value(), 1.9 * one.exposed_comm.dp.value());
  // 1F1B's busiest device holds the last stage (8 layers, head, final norm); DualPipe's the ends.
  const double params = static_cast<double>(s.params.dense_layer), head = 128256.0 * 4096;
  const double one_f_one_b = 8 * params + head + 4096, ends = 16 * params + 2 * head + 4096;
  EXPECT_NEAR(dual.optimizer.value() / one.optimizer.value(), ends / one_f_one_b, 1e-9);
}

// A collective that outlasts even the slowed compute beside it adds nothing beyond its own time:
// the compute finishes under it. Here the experts' all-to-alls over a thin network dwarf the layer
// (4 micro-batches: the 1F1B all-to-all overlap needs another micro-batch to pair a pass with).
TEST(StepTimeTest, CollectivesThatOutlastTheComputeAddNoContention) {
  Job8b s = DeepSeekV3OnH800(16, 1024, 64, /*gbits=*/10);
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  ASSERT_GT(ctx.collective_share, 0.0);
  const StepTime plain = EstimateStep(ctx, s.plan);
  s.plan.ep_comm_overlap = true;
  const StepTime overlapped = EstimateStep(ctx, s.plan);
  ASSERT_GT(overlapped.exposed_comm.ep.value(), 0.5 * plain.exposed_comm.ep.value());
  EXPECT_EQ(overlapped.comm_contention.value(), 0.0);
  EXPECT_LT(overlapped.step.value(), plain.step.value());
}

// Megatron-Core's shared-expert overlap runs the shared experts beside the dispatcher: each
// phase's all-to-alls hide under that phase's shared-expert products (the recomputed forward's
// under the recomputed ones). Over a thin network the all-to-alls outlast them in every phase, so
// the exposed EP time falls by exactly the shared experts' compute, which the step still runs.
// The 1F1B all-to-all overlap hides more, alone (with 8 micro-batches: it pairs one micro-batch's
// forward with another's backward, and leaves the first forward and the last backward alone).
TEST(StepTimeTest, SharedExpertOverlapHidesTheAllToAllsUnderTheSharedExperts) {
  for (Recompute r : {Recompute::kNone, Recompute::kFull}) {
    SCOPED_TRACE(r == Recompute::kFull ? "full recompute" : "no recompute");
    Job8b s = DeepSeekV3OnH800(64, 4096, 512, /*gbits=*/10);
    s.plan.recompute = r;
    const auto [plain, ctx] = StepWith(s, [](Job8b&) {});
    const auto [hidden, ctx2] = StepWith(s, [](Job8b& v) { v.plan.shared_expert_overlap = true; });
    const auto [unshared, ctx3] = StepWith(s, [](Job8b& v) { v.arch.moe.shared_ffn = 0; });
    const double shared = plain.compute.value() - unshared.compute.value();
    ASSERT_GT(shared, 0.0);
    ASSERT_GT(plain.exposed_comm.ep.value(), 2 * shared) << "the all-to-alls must outlast the shared experts";
    EXPECT_NEAR(plain.exposed_comm.ep.value() - hidden.exposed_comm.ep.value(), shared, 1e-9 * shared);
    EXPECT_EQ(hidden.compute.value(), plain.compute.value());
    // The shared experts, slowed by the SMs the all-to-alls hold, still finish under them.
    EXPECT_EQ(hidden.comm_contention.value(), plain.comm_contention.value());
    EXPECT_LT(hidden.step.value(), plain.step.value());
    const auto [a2a, ctx4] = StepWith(s, [](Job8b& v) { v.plan.ep_comm_overlap = true; });
    const auto [both, ctx5] = StepWith(s, [](Job8b& v) {
      v.plan.ep_comm_overlap = true;
      v.plan.shared_expert_overlap = true;
    });
    EXPECT_EQ(both.step.value(), a2a.step.value());
    EXPECT_LT(a2a.exposed_comm.ep.value(), hidden.exposed_comm.ep.value());
    // Without shared experts there is nothing to hide under.
    const auto [none, ctx6] = StepWith(s, [](Job8b& v) {
      v.arch.moe.shared_ffn = 0;
      v.plan.shared_expert_overlap = true;
    });
    EXPECT_EQ(none.step.value(), unshared.step.value());
  }
  // Over NVLink alone (one node), with shared experts 16 times as wide, the shared experts
  // outlast the all-to-alls: those vanish, and the SMs they hold slow the shared experts instead.
  Job8b s = DeepSeekV3OnH800(8, 4096, 8);
  s.arch.moe.shared_ffn *= 16;
  const auto [plain, ctx] = StepWith(s, [](Job8b&) {});
  const auto [hidden, ctx2] = StepWith(s, [](Job8b& v) { v.plan.shared_expert_overlap = true; });
  ASSERT_GT(plain.exposed_comm.ep.value(), 0.0);
  EXPECT_EQ(hidden.exposed_comm.ep.value(), 0.0);
  EXPECT_GT(hidden.comm_contention.value(), plain.comm_contention.value());
  EXPECT_LT(hidden.step.value(), plain.step.value());
}

// Expert all-to-alls hidden behind the whole layer run on while the compute waits for exposed CP
// (and TP) collectives: a faster attention kernel, whose ring exchange then stands exposed for as
// long as the kernel saved, leaves the step no slower. Counted apart, the two exposures once
// spent the same compute twice, and the step grew by 3% (DeepSeek-V3, CP 4, EP 32, 1F1B).
TEST(StepTimeTest, HiddenAllToAllsRunOnWhileTheComputeWaitsForOtherCollectives) {
  Job8b s = DeepSeekV3OnH800(1024, 4096, 1024);
  s.cluster = CatalogCluster("h100-sxm-80gb", 1024);
  s.plan.pp = 16, s.plan.dp = 16, s.plan.cp = 4, s.plan.ep = 32;
  s.plan.balanced_layers = true;
  s.plan.ep_comm_overlap = true;
  CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  const StepTime base = EstimateStep(ctx, s.plan);
  ctx.flash_fwd_rate = FlopsPerSecond(ctx.flash_fwd_rate.value() * 1.5);
  ctx.flash_bwd_rate = FlopsPerSecond(ctx.flash_bwd_rate.value() * 1.5);
  ctx.flash_curves.Scale(1.5);
  const StepTime faster = EstimateStep(ctx, s.plan);
  ASSERT_LT(faster.compute.value(), base.compute.value());
  ASSERT_GT(faster.exposed_comm.cp.value(), base.exposed_comm.cp.value()) << "the ring must be exposed";
  ASSERT_GT(base.exposed_comm.ep.value(), 0.0) << "the all-to-alls must outlast the layer";
  EXPECT_LE(faster.step.value(), base.step.value() * (1 + 1e-9));
  EXPECT_LE(faster.exposed_comm.ep.value(), base.exposed_comm.ep.value() * (1 + 1e-9));
}

// A zero-bubble schedule fills its bubble with deferred weight gradients, but only with those the
// layer's hidden all-to-alls do not need: moved out of a layer bound by its all-to-alls, they
// would not shorten it. More expert work (a busier expert rank) then never shrinks the bubble, as
// it once did (ZB-H1 and DualPipe, DeepSeek-V3 over a thin network: the step fell with it).
TEST(StepTimeTest, ZeroBubbleSchedulesFillTheBubbleOnlyWithWorkTheAllToAllsDoNotNeed) {
  for (Schedule schedule : {Schedule::kZbH1, Schedule::kDualPipe}) {
    SCOPED_TRACE(schedule == Schedule::kZbH1 ? "zb-h1" : "dualpipe");
    Job8b s = DeepSeekV3OnH800(1024, 4096, 1024, /*gbits=*/100);
    s.plan.tp = 2, s.plan.pp = 4, s.plan.dp = 128, s.plan.ep = 128, s.plan.sp = true;
    s.plan.balanced_layers = true;
    s.plan.schedule = schedule;
    s.plan.ep_comm_overlap = true;
    auto bubble = [&](double imbalance) {
      const auto [t, ctx] = StepWith(s, [&](Job8b& v) { v.job.moe_imbalance = imbalance; });
      EXPECT_GT(t.exposed_comm.ep.value(), 0.0) << "the all-to-alls must outlast the layer";
      EXPECT_GT(t.bubble.value(), 0.0);
      return t.bubble.value();
    };
    EXPECT_GE(bubble(1.5), bubble(1.0));
    EXPECT_GE(bubble(2.0), bubble(1.5));
  }
}

// ZB-H1 on stages that differ (the last one holds the output layer): the slowest stage waits for
// the other stages' forwards and input gradients and fills its idle slots with its own weight
// gradients, so a faster pass never gives a longer step. Scaling the other stages' whole time by
// the slowest stage's share outside its weight-gradient credit, as the model once did, gave this
// host-bound plan (Megatron 1.7B at PP 8 and four micro-batches, a Megatron-LM host profile) a
// step 1.7% longer on a device of twice the peak.
TEST(StepTimeTest, AFasterDeviceNeverLengthensAZeroBubbleStepOnUnequalStages) {
  const Architecture a = LoadArch("megatron-1.7b");
  StatusOr<HostProfile> host = Catalog::Default().HostProfileById("megatron-lm-gpt-eager-zen3");
  ASSERT_TRUE(host.ok()) << host.status().message();
  TrainingJob j;
  j.seq_len = 2048, j.global_batch = 4, j.precision = Dtype::kBf16;
  j.host_profile = std::make_shared<HostProfile>(*host);
  Plan plan;
  plan.tp = 4, plan.pp = 8, plan.sp = true, plan.zero = 1, plan.schedule = Schedule::kZbH1;
  plan.recompute = Recompute::kSelectiveOp, plan.overlap_grad_reduce = false;
  ASSERT_EQ(FindPlanIssue(a, plan, j, 32), PlanIssue::kValid);
  auto step = [&](double speedup) {
    Cluster c = CatalogCluster("a100-sxm-80gb", 32);
    for (Figure& f : c.spec.peak_tflops) f.value *= speedup;
    return EstimateStep(MakeCostContext(a, CountParameters(a), j, c), plan);
  };
  const StepTime base = step(1), better = step(2);
  ASSERT_GT(base.host_launch.value(), 0.0) << "the host paces some of the stages";
  EXPECT_LE(better.step.value(), base.step.value() * (1 + 1e-12));
}

// The weight gradients the all-to-alls need stay in the layer, and so do the host's launches of
// them: a zero-bubble schedule's deferred pass holds only the launches of what it defers. Over a
// thin network DualPipe defers none of DeepSeek-V3's MoE layers' weight gradients; charged every
// weight gradient's launches, that empty pass had the GPU wait for the host (about 50 us a layer
// here). 1F1B, which defers nothing, is the control: its step is GPU-bound in every phase.
TEST(StepTimeTest, ADeferredWeightGradientPassLaunchesOnlyWhatItDefers) {
  Job8b s = DeepSeekV3OnH800(64, 4096, 256, /*gbits=*/5);
  s.plan.pp = 2, s.plan.dp = 32, s.plan.ep = 32;
  s.plan.balanced_layers = true;
  s.plan.ep_comm_overlap = true;
  for (Schedule schedule : {Schedule::k1F1B, Schedule::kDualPipe}) {
    SCOPED_TRACE(ScheduleName(schedule));
    s.plan.schedule = schedule;
    ASSERT_EQ(FindPlanIssue(s.arch, s.plan, s.job, 64), PlanIssue::kValid);
    const auto [t, ctx] = StepWith(s, [](Job8b&) {});
    EXPECT_GT(t.exposed_comm.ep.value(), 0.0) << "the all-to-alls must outlast the layer";
    EXPECT_EQ(t.host_launch.value(), 0.0) << "the GPU binds every phase";
  }
}

// Under the shared-expert overlap the backward all-to-alls hide under the shared experts'
// backward, their weight gradients included: where the all-to-alls outlast it, ZB-H1 cannot move
// those into its bubble. A wider shared expert, whose extra work all hides all-to-all time, then
// leaves the bubble as it was; counted free, its weight gradients once shrank it.
TEST(StepTimeTest, ZeroBubbleKeepsTheSharedWeightGradientsTheAllToAllsNeed) {
  Job8b s = DeepSeekV3OnH800(1024, 4096, 1024, /*gbits=*/10);
  s.plan.tp = 2, s.plan.pp = 4, s.plan.dp = 128, s.plan.ep = 128, s.plan.sp = true;
  s.plan.balanced_layers = true;
  s.plan.schedule = Schedule::kZbH1;
  s.plan.shared_expert_overlap = true;
  auto bubble = [&](int64_t widen) {
    const auto [t, ctx] = StepWith(s, [&](Job8b& v) { v.arch.moe.shared_ffn *= widen; });
    EXPECT_GT(t.exposed_comm.ep.value(), 0.0) << "the all-to-alls must outlast the shared experts";
    return t.bubble.value();
  };
  const double narrow = bubble(1);
  ASSERT_GT(narrow, 0.0);
  EXPECT_GE(bubble(2), narrow * (1 - 1e-9));
}

// DeepEP sends a token over the network once per remote node its experts are on: DeepSeek-V3's
// node-limited routing reaches 4 of 8 nodes, 3.5 remote, where Megatron's all-to-all sends all 8
// copies, 7 of them off the node (cost-model-notes §4.6). On a thin network that halves the time.
TEST(StepTimeTest, DeepEpSendsEachTokenOncePerRemoteNode) {
  Job8b s = DeepSeekV3OnH800(64, 4096, 64, /*gbits=*/10);
  auto ep = [&](bool dedup) {
    const auto [t, ctx] = StepWith(s, [&](Job8b& v) { v.job.ep_node_dedup = dedup; });
    return t.exposed_comm.ep.value();
  };
  EXPECT_NEAR(ep(true) / ep(false), 3.5 / 7.0, 0.01);
  s.cluster = CatalogCluster("h800-sxm-80gb", 64, /*scale_out_gbits_per_s=*/3200);
  EXPECT_GT(ep(true) / ep(false), 0.55) << "on a fast network NVLink forwarding is the bound";
}

// DeepEP's kernels hold their own SMs (20 by default, DeepEP's Buffer.num_sms), not NCCL's: the
// experts' hidden dispatch and combine slow the compute beside them by that share instead.
TEST(StepTimeTest, DeepEpHoldsItsOwnShareOfTheSms) {
  Job8b s = DeepSeekV3OnH800(64, 4096, 256, /*gbits=*/3200);  // 4 micro-batches, 3 of 4 passes paired
  s.job.ep_node_dedup = true;
  s.plan.ep_comm_overlap = true;
  auto contention = [&](int64_t units) {
    const auto [t, ctx] = StepWith(s, [&](Job8b& v) { v.job.ep_comm_units = units; });
    EXPECT_NEAR(ctx.ep_collective_share, static_cast<double>(units) / 132.0, 1e-12);
    EXPECT_NEAR(ctx.collective_share, 16.0 / 132.0, 1e-12) << "TP, CP and DP keep NCCL's share";
    return t.comm_contention.value();
  };
  const double at16 = contention(16), at20 = contention(20), at40 = contention(40);
  ASSERT_GT(at16, 0.0) << "the all-to-alls must hide under the layer for the test to mean anything";
  EXPECT_GT(at20, at16);
  // While the collectives stay hidden the cost is linear in the share: 20 -> 40 adds five times
  // what 16 -> 20 adds.
  EXPECT_NEAR(at40 - at20, 5 * (at20 - at16), 1e-9 * at40);
  s.job.ep_node_dedup = false;
  const auto [nccl, ctx] = StepWith(s, [](Job8b&) {});
  EXPECT_EQ(ctx.ep_collective_share, ctx.collective_share) << "the alltoall dispatcher runs NCCL";
}

// Zero-bubble schedules fill their bubble with the deferred weight gradients, whatever share of the
// backward those take: under full recompute the backward also runs the forward again, so the
// weight gradients are well under half of it and ZB-H1 leaves more than the forward's share of
// 1F1B's bubble ((p - 1)(F + B - W) rather than (p - 1) F), though still less than 1F1B.
TEST(StepTimeTest, ZeroBubbleSchedulesDeferTheWeightGradientsTheyTime) {
  Job8b s = Llama8bOnH100();
  s.job.global_batch = 16;
  s.plan.dp = 2;
  s.plan.pp = 4;
  s.plan.recompute = Recompute::kFull;
  const auto [one_f_one_b, c1] = StepWith(s, [](Job8b&) {});
  const auto [zb, c2] = StepWith(s, [](Job8b& v) { v.plan.schedule = Schedule::kZbH1; });
  const double f = one_f_one_b.stage_forward.value(), b = one_f_one_b.stage_backward.value();
  const double forward_share = one_f_one_b.bubble.value() * f / (f + b);
  EXPECT_GT(zb.bubble.value(), forward_share * 1.05);
  EXPECT_LT(zb.bubble.value(), one_f_one_b.bubble.value());
}

// With fewer micro-batches than stages, ZB-H1 has fewer weight gradients to move into idle slots
// than boundaries: one micro-batch moves none, and its bubble is 1F1B's less one W per boundary
// (the backward chain no longer waits for it). Faster weight gradients then do not lengthen this
// step, as they did under the paper's form at every m (GPT 1.7B, TP 4, PP 4, one micro-batch).
TEST(StepTimeTest, ZeroBubbleMovesOnlyTheWeightGradientsItHas) {
  Job8b s = Llama8bOnH100();
  s.arch = LoadArch("megatron-1.7b");
  s.params = CountParameters(s.arch);
  s.job.seq_len = 8192;
  s.job.global_batch = 1;
  s.plan.tp = 4, s.plan.pp = 4, s.plan.dp = 1;
  s.cluster = CatalogCluster("h200-sxm-141gb", 16);
  const auto [one_f_one_b, c1] = StepWith(s, [](Job8b&) {});
  const auto [zb, c2] = StepWith(s, [](Job8b& v) { v.plan.schedule = Schedule::kZbH1; });
  ASSERT_GT(zb.bubble.value(), 0.0);
  EXPECT_LT(zb.bubble.value(), one_f_one_b.bubble.value());
  auto step = [&](double speedup) {
    Job8b v = s;
    v.plan.schedule = Schedule::kZbH1;
    for (Figure& f : v.cluster.spec.peak_tflops) f.value *= speedup;
    return StepWith(v, [](Job8b&) {}).first.step.value();
  };
  EXPECT_LE(step(2), step(1) * (1 + 1e-12));
  EXPECT_LE(step(4), step(2) * (1 + 1e-12));
}

// Megatron-Core's 1F1B all-to-all overlap pairs one micro-batch's forward with another's backward:
// the first forward and the last backward run alone, their all-to-alls exposed. With the layer
// long enough to hide a paired pass's all-to-alls (Mixtral on one NVLink node), the exposed time
// is that unpaired share of the all-to-alls the plain schedule exposes in full: 1 of 8 passes
// without a pipeline; in the interleaved schedule (PP 2, VPP 2) the first rank's warm-up and
// cool-down, (2 - 1)·2 + (2 - 1)·2 + 1 = 5 of its 8 x 2 chunk passes each way.
TEST(StepTimeTest, AllToAllOverlapLeavesTheUnpairedPassesExposed) {
  auto exposed = [](int64_t pp, bool overlap) {
    Job8b s = DataParallelOnH100("mixtral-8x7b", 4096);
    s.plan.pp = pp, s.plan.dp = 8 / pp, s.plan.ep = 8 / pp;
    s.plan.vpp = pp > 1 ? 2 : 1;
    s.plan.schedule = pp > 1 ? Schedule::kInterleaved : Schedule::k1F1B;
    s.job.global_batch = (pp == 4 ? 16 : 8) * s.plan.dp;  // micro-batches per pipeline
    s.plan.ep_comm_overlap = overlap;
    const auto [t, ctx] = StepWith(s, [](Job8b&) {});
    return t.exposed_comm.ep.value();
  };
  ASSERT_GT(exposed(1, false), 0.0);
  EXPECT_NEAR(exposed(1, true), exposed(1, false) / 8, 1e-9 * exposed(1, false));
  ASSERT_GT(exposed(2, false), 0.0);
  EXPECT_NEAR(exposed(2, true), exposed(2, false) * 5 / 16, 1e-9 * exposed(2, false));
  // PP 4, VPP 2 tells (VPP - 1)·PP from (PP - 1)·VPP: (4 - 1)·2 + (2 - 1)·4 + 1 = 11 of 16 x 2.
  ASSERT_GT(exposed(4, false), 0.0);
  EXPECT_NEAR(exposed(4, true), exposed(4, false) * 11 / 32, 1e-9 * exposed(4, false));
}

// Under DualPipe the paired passes' all-to-alls hide under a forward and a backward at once, and
// under the tensor-parallel waits beside them. A faster scale-up link shortens those waits and
// leaves more of the all-to-alls exposed, the sum alike; the exposure falls in each phase as its
// share of the window, so the data-parallel side, which hides under one phase each way, is not
// handed the difference (it once was: Qwen3-30B-A3B on 128 H800s, 1.4% slower at twice the link).
TEST(StepTimeTest, AFasterScaleUpLinkDoesNotSlowPairedAllToAllsHere) {
  Job8b s = DataParallelOnH100("qwen3-30b-a3b", 8192);  // on 128 H800s below
  s.job.global_batch = 32;
  s.plan.tp = 8, s.plan.pp = 2, s.plan.dp = 8, s.plan.ep = 32, s.plan.zero = 1;
  s.plan.sp = true, s.plan.balanced_layers = true, s.plan.schedule = Schedule::kDualPipe;
  auto step = [&](double link) {
    Cluster c = CatalogCluster("h800-sxm-80gb", 128);
    c.spec.scale_up_gbytes_per_s.value *= link;
    return EstimateStep(MakeCostContext(s.arch, s.params, s.job, c), s.plan);
  };
  const StepTime base = step(1), twice = step(2), four = step(4);
  ASSERT_LT(twice.exposed_comm.tp.value(), base.exposed_comm.tp.value());
  ASSERT_GT(twice.exposed_comm.ep.value(), base.exposed_comm.ep.value()) << "the all-to-alls must surface";
  EXPECT_LE(twice.step.value(), base.step.value() * (1 + 1e-12));
  EXPECT_LE(four.step.value(), twice.step.value() * (1 + 1e-12));
}

}  // namespace
}  // namespace preflight::test_support
