// Tests of the collectives around the layers (cost/step_time.cc, step_pipeline.cc): pipeline
// sends, gradient buckets and ZeRO's reductions and gathers, hidden and exposed TP and CP
// communication and what the hidden collectives take from the compute, flattened gradients, tied
// embeddings. The experts' all-to-alls, DualPipe and the zero-bubble schedules:
// step_time_expert_comm_test.cc; ZeRO gathers, the optimizer and the per-layer report:
// step_time_test.cc; host-bound layers and input paths: step_time_host_test.cc.
#include "preflight/cost/step_time.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "preflight/cost/collectives.h"
#include "preflight/cost/step_test_support.h"

// In the test-support namespace, so that the shared builders need no using-declarations.
namespace preflight::test_support {
namespace {

// Interleaved schedule: with overlapped sends only the fill is exposed (p - 1 boundaries each
// way); with the 2021-22 Megatron's synchronous sends every micro-batch crosses every chunk
// boundary on the critical path (m·v + p - 1).
TEST(StepTimeTest, SynchronousPipelineSendsAreExposed) {
  Architecture a = LoadArch("gpt3-175b");
  a.tied_embeddings = false;  // the sends alone: no gradient sum between the first and last stage
  const Cluster c = CatalogCluster("a100-sxm-80gb", 64);
  TrainingJob job;
  job.global_batch = 64;
  Plan p;
  p.tp = 8, p.pp = 8, p.vpp = 3, p.schedule = Schedule::kInterleaved, p.sp = true;
  const CostContext ctx = MakeCostContext(a, CountParameters(a), job, c);
  const double overlapped = EstimateStep(ctx, p).exposed_comm.pp.value();
  p.overlap_p2p_comm = false;
  const double synchronous = EstimateStep(ctx, p).exposed_comm.pp.value();
  ASSERT_GT(overlapped, 0);
  EXPECT_NEAR(synchronous / overlapped, (64.0 * 3 + 7) / 7, 1e-9);
}

// Stage s's ranks send to stage s + 1's, tp·cp·dp ranks on (Megatron's order): small stages share
// a scale-up domain, but once the pipeline outgrows one domain some boundary leaves it, and its
// sends (over the network) pace the pipeline. A scale-up domain of 72 (NVL72) keeps them all on
// NVLink.
TEST(StepTimeTest, PipelineSendsLeaveTheDomainWhereStagesOutgrowIt) {
  Architecture a = LoadArch("llama-3.1-8b");
  a.tied_embeddings = false;
  TrainingJob job;
  job.seq_len = 8192;
  job.global_batch = 64;
  Plan p;
  p.pp = 4, p.dp = 2;  // 8 ranks: one node
  auto sends = [&](const Cluster& c, const Plan& plan) {
    const CostContext ctx = MakeCostContext(a, CountParameters(a), job, c);
    return std::make_pair(EstimateStep(ctx, plan).exposed_comm.pp.value(), ctx.fabric);
  };
  const auto [in_node, fabric] = sends(CatalogCluster("h100-sxm-80gb", 8), p);
  const double micro_batches = 64.0 / 2;
  const double tokens_h2 = 8192.0 * 4096 * 2;
  EXPECT_NEAR(in_node, 2 * PointToPointTime(fabric, Bytes(tokens_h2), false).value() * (micro_batches + 3), 1e-12);
  p.pp = 8;  // 16 ranks: the boundary between stages 3 and 4 leaves the node
  const auto [two_nodes, fabric16] = sends(CatalogCluster("h100-sxm-80gb", 16), p);
  EXPECT_NEAR(two_nodes, 2 * PointToPointTime(fabric16, Bytes(tokens_h2), true).value() * (micro_batches + 7), 1e-12);
  const auto [nvl72, fabric72] = sends(CatalogCluster("gb200-nvl72", 16), p);
  EXPECT_NEAR(nvl72, 2 * PointToPointTime(fabric72, Bytes(tokens_h2), false).value() * (micro_batches + 7), 1e-12);
}

// With the reduction overlapped, Megatron-Core reduce-scatters the gradients (and gathers the
// parameters) in buckets of max(40M, 1M x DP) parameters, one collective each.
TEST(StepTimeTest, GradientsAreReducedInBuckets) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("h100-sxm-80gb", 64);
  s.job.seq_len = 128;  // a short backward: the reduction shows
  s.job.global_batch = 64;
  s.plan.dp = 64;
  s.plan.zero = 1;
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  const StepTime t = EstimateStep(ctx, s.plan);
  const double local = static_cast<double>(s.params.TotalWithMtp());
  const double buckets = std::ceil(local / 64e6);
  const int64_t per = RanksPerDomain(ctx.fabric, 1, 64);
  const double grads = buckets * ReduceScatterTime(ctx.fabric, Bytes(local * 4 / buckets), 64, per).value();
  const double params = buckets * AllGatherTime(ctx.fabric, Bytes(local * 2 / buckets), 64, per).value();
  const double expected = std::max(0.0, grads - t.stage_backward.value()) + std::max(0.0, params - t.stage_forward.value());
  ASSERT_GT(expected, 0);
  EXPECT_NEAR(t.exposed_comm.dp.value(), expected, expected * 1e-9);
}

// On GB200 NVL72 racks a TP-16 layout takes 64 GPUs of each 72-GPU rack (PlacedDomain), so its TP
// groups stay inside the rack: its TP time is that of racks of 64, and a rack of 72 is no slower
// than one of 16 or 36 (filled in rank order, racks of 36 and 72 cut TP groups in two).
TEST(StepTimeTest, TensorGroupsStayInsideAnNvl72Rack) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("gb200-nvl72", 1152);
  s.job.global_batch = 1152 / 64 * 4;
  s.plan.tp = 16, s.plan.pp = 4, s.plan.dp = 1152 / 64, s.plan.sp = true;
  auto step = [&](int64_t domain) {
    s.cluster.scale_up_domain = domain;
    const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
    return EstimateStep(ctx, s.plan);
  };
  const StepTime rack = step(72), sixty_four = step(64), sixteen = step(16), half_rack = step(36);
  EXPECT_DOUBLE_EQ(rack.exposed_comm.tp.value(), sixty_four.exposed_comm.tp.value());
  EXPECT_LE(rack.step.value(), sixteen.step.value());
  EXPECT_LE(rack.step.value(), half_rack.step.value());
  EXPECT_LT(rack.exposed_comm.tp.value(), step(8).exposed_comm.tp.value());
}

// ZeRO-2 keeps only its shard of the gradients, so it reduce-scatters each micro-batch's as the
// backward makes them: m reductions a step against ZeRO-1's one, each hidden (with the overlap)
// under its own micro-batch's backward; the parameter gather stays once a step.
TEST(StepTimeTest, ZeroTwoReducesEveryMicroBatch) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("h100-sxm-80gb", 64);
  s.job.seq_len = 128;
  s.job.global_batch = 256;  // 4 micro-batches per rank
  s.plan.dp = 64;
  s.plan.overlap_grad_reduce = false;
  s.plan.overlap_param_gather = false;
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  const double m = 4;
  const double local = static_cast<double>(s.params.TotalWithMtp());
  const int64_t per = RanksPerDomain(ctx.fabric, 1, 64);
  const double reduce = ReduceScatterTime(ctx.fabric, Bytes(local * 4), 64, per).value();
  const double gather = AllGatherTime(ctx.fabric, Bytes(local * 2), 64, per).value();
  s.plan.zero = 1;
  const StepTime one = EstimateStep(ctx, s.plan);
  s.plan.zero = 2;
  const StepTime two = EstimateStep(ctx, s.plan);
  EXPECT_NEAR(one.exposed_comm.dp.value(), reduce + gather, (reduce + gather) * 1e-9);
  EXPECT_NEAR(two.exposed_comm.dp.value(), m * reduce + gather, (m * reduce + gather) * 1e-9);
  EXPECT_GT(two.step.value(), one.step.value());

  // Overlapped: in buckets, each micro-batch's reductions under that micro-batch's backward.
  s.plan.overlap_grad_reduce = true;
  const StepTime hidden = EstimateStep(ctx, s.plan);
  const double buckets = std::ceil(local / 64e6);
  const double bucketed = buckets * ReduceScatterTime(ctx.fabric, Bytes(local * 4 / buckets), 64, per).value();
  const double gathers = buckets * AllGatherTime(ctx.fabric, Bytes(local * 2 / buckets), 64, per).value();
  const double expected = m * std::max(0.0, bucketed - hidden.stage_backward.value()) + gathers;
  EXPECT_NEAR(hidden.exposed_comm.dp.value(), expected, expected * 1e-9);
}

// A collective that runs hidden under compute holds its share of the SMs meanwhile: the step grows by
// that share of the hidden time, exposed communication costs nothing extra, and a device without the
// figure charges nothing.
TEST(StepTimeTest, HiddenCommunicationSlowsComputeByTheSharesItHolds) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("h100-sxm-80gb", 64);
  s.job.global_batch = 64;  // 8k tokens a device: the reductions hide under the backward
  s.plan.dp = 64;
  s.plan.zero = 1;
  CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  ASSERT_NEAR(ctx.collective_share, 16.0 / 132.0, 1e-12);  // the catalog's H100 figures

  s.plan.overlap_grad_reduce = false;
  s.plan.overlap_param_gather = false;
  const StepTime exposed = EstimateStep(ctx, s.plan);
  EXPECT_EQ(exposed.comm_contention.value(), 0.0);

  s.plan.overlap_grad_reduce = true;
  s.plan.overlap_param_gather = true;
  const StepTime hidden = EstimateStep(ctx, s.plan);
  ctx.collective_share = 0;
  const StepTime free_overlap = EstimateStep(ctx, s.plan);
  EXPECT_EQ(free_overlap.comm_contention.value(), 0.0);
  EXPECT_GT(hidden.comm_contention.value(), 0.0);
  EXPECT_NEAR(hidden.step.value() - free_overlap.step.value(), hidden.comm_contention.value(), 1e-12);
  EXPECT_LT(hidden.step.value(), exposed.step.value());  // overlap still pays
}

// Fully hidden TP collectives (Transformer Engine's overlap under the layer's GEMMs) cost exactly
// their share of the SMs for their whole time.
TEST(StepTimeTest, FullyHiddenTensorParallelCollectivesCostTheirShare) {
  Job8b s = Llama8bOnH100();
  s.job.global_batch = 4;
  s.plan.tp = 2;
  s.plan.dp = 4;
  s.plan.sp = true;
  s.plan.overlap_grad_reduce = false;  // no hidden DP traffic
  s.plan.overlap_param_gather = false;
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  const StepTime plain = EstimateStep(ctx, s.plan);
  s.plan.tp_comm_overlap = true;
  const StepTime overlapped = EstimateStep(ctx, s.plan);
  // The embedding's and the output layer's collectives are not Transformer Engine GEMMs: they stay
  // exposed. What the layers' collectives were is what plain exposes beyond them.
  const double around = overlapped.exposed_comm.tp.value();
  ASSERT_GT(around, 0.0);
  const double layers = plain.exposed_comm.tp.value() - around;
  ASSERT_GT(layers, 10 * around);
  EXPECT_NEAR(overlapped.comm_contention.value(), ctx.collective_share * layers, 1e-9 * layers);
}

// Transformer Engine overlaps each phase's TP collectives with that phase's GEMMs: the backward's
// re-gathers and reduce-scatters hide under the dgrad and wgrad GEMMs, not under the forward's.
// On 8 A100s (NVLink 3) a Llama 3.1 8B layer at TP 8 with SP moves more TP traffic than its
// forward GEMMs last, but each phase's traffic fits under its own GEMMs: nothing is exposed per
// layer (measured as what 32 more layers add).
TEST(StepTimeTest, OverlappedTensorParallelHidesEachPhaseUnderItsOwnGemms) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("a100-sxm-80gb", 8);
  s.plan.dp = 1, s.plan.tp = 8, s.plan.sp = true, s.plan.tp_comm_overlap = true;
  auto exposed = [&](int64_t layers) {
    return StepWith(s, [&](Job8b& v) {
             v.arch.layers = layers;
             v.arch.FinalizeLayers();
           }).first.exposed_comm.tp.value();
  };
  EXPECT_NEAR(exposed(64) - exposed(32), 0.0, 1e-12);
  s.plan.tp_comm_overlap = false;
  EXPECT_GT(exposed(64) - exposed(32), 0.0) << "the same traffic, exposed without the overlap";
}

// Full recompute runs context parallelism's KV exchange again with the attention it recomputes,
// and that exchange hides under the recomputed attention as the first forward's hides under its
// own: where the forward's and backward's exchanges are hidden, each under its own phase's
// attention, the repeated one is too, and holds the SMs it shares meanwhile (forward 1, backward
// 2, again 1: 4/3 of the contention). At a shorter sequence the forward's exchange outlasts the
// forward's attention and shows, whatever slack the backward has.
TEST(StepTimeTest, RepeatedContextParallelExchangeHidesUnderTheRecomputedAttention) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("h100-sxm-80gb", 16, 150);  // CP over two nodes on slow NICs
  s.job.seq_len = 24576, s.job.global_batch = 4;
  s.plan.tp = 1, s.plan.dp = 1, s.plan.cp = 16;
  {
    const StepTime shorter = StepWith(s, [&](Job8b&) {}).first;
    EXPECT_GT(shorter.exposed_comm.cp.value(), 0.0) << "the forward's exchange outlasts its attention";
  }
  s.job.seq_len = 32768;
  s.plan.tp = 1, s.plan.dp = 1, s.plan.cp = 16;
  auto step = [&](Recompute r) {
    return StepWith(s, [&](Job8b& v) { v.plan.recompute = r; }).first;
  };
  const StepTime none = step(Recompute::kNone), full = step(Recompute::kFull);
  ASSERT_GT(none.comm_contention.value(), 0.0) << "an exchange to hide";
  EXPECT_EQ(none.exposed_comm.cp.value(), 0.0);
  EXPECT_EQ(full.exposed_comm.cp.value(), 0.0);
  EXPECT_NEAR(full.comm_contention.value() / none.comm_contention.value(), 4.0 / 3, 1e-9);
}

// Around the layers, TP adds the vocab-parallel embedding's all-reduce (forward), the output
// layer's input-gradient all-reduce (backward) and the cross-entropy's three fp32 all-reduces per
// token (forward); with SP, reduce-scatters and all-gathers instead of the two all-reduces. Measured as what a model of 2L layers adds beyond twice the L-layer model's layers.
TEST(StepTimeTest, TensorParallelEmbeddingHeadAndLossCollectives) {
  Job8b s = Llama8bOnH100();
  s.plan.dp = 1, s.plan.tp = 8;
  for (const bool sp : {false, true}) {
    SCOPED_TRACE(sp ? "sp" : "no sp");
    auto tp = [&](int64_t layers) {
      const auto [t, ctx] = StepWith(s, [&](Job8b& v) {
        v.arch.layers = layers;
        v.arch.FinalizeLayers();
        v.plan.sp = sp;
      });
      return std::make_pair(t.exposed_comm.tp.value(), ctx);
    };
    const auto [t16, ctx] = tp(16);
    const double around = 2 * t16 - tp(32).first;  // the layers' part doubles; this part does not
    const double tokens = 8192, h = 4096;
    const int64_t per = RanksPerDomain(ctx.fabric, 1, 8);
    const Bytes act(tokens * h * 2);
    const double loss = 3 * AllReduceTime(ctx.fabric, Bytes(tokens * 4), 8, per).value();
    // With SP: the embedding's reduce-scatter and all-gather; the head's all-gather forward, and
    // backward its input gathered again for the weight gradient and the gradient reduce-scattered.
    const double pairs = sp ? 3 * AllGatherTime(ctx.fabric, act, 8, per).value() +
                                  2 * ReduceScatterTime(ctx.fabric, act, 8, per).value()
                            : 2 * AllReduceTime(ctx.fabric, act, 8, per).value();
    const double m = 8;  // micro-batches of one sequence
    EXPECT_NEAR(around, m * (pairs + loss), 1e-9 * around);
  }
}

// ZeRO-3's gathers run on a stream of their own: under the compute of the stage's micro-batches
// and through its idle time in the pipeline's fill and drain, where they slow no compute. Its
// gradients' reduce-scatters run as the backward makes them, under the backward phases alone, and
// without overlap_grad_reduce are exposed whole, as ZeRO-1's and ZeRO-2's are. (Hidden under the
// compute alone, a faster GPU shrank the gathers' window while a zero-bubble schedule's bubble
// grew: a longer step. This case runs the default 1F1B schedule, whose bubble the window
// includes. Until 2026-12-03 the reductions hid in the whole window too, overlap or not, so ZeRO-3
// was timed faster than ZeRO-2, whose traffic is a part of its own.)
TEST(StepTimeTest, ZeroThreeCollectivesRunThroughThePipelineBubble) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("h100-sxm-80gb", 32, /*scale_out_gbits_per_s=*/25);
  s.job.global_batch = 64;  // 4 micro-batches per pipeline
  s.plan.dp = 16, s.plan.pp = 2, s.plan.zero = 3;
  auto step = [&](bool gathers, bool reductions) {
    return StepWith(s, [&](Job8b& v) {
             v.plan.overlap_param_gather = gathers;
             v.plan.overlap_grad_reduce = reductions;
           }).first;
  };
  const StepTime none = step(false, false), gathers = step(true, false);
  const StepTime both = step(true, true), only_reductions = step(false, true);
  const double comm = none.exposed_comm.dp.value();
  const double busy = 4 * (both.stage_forward + both.stage_backward).value();
  const double backwards = 4 * both.stage_backward.value();
  ASSERT_GT(both.bubble.value(), 0.0);
  // Each overlap hides the collectives' time up to its window: the gathers the whole stage and
  // its bubble, the reductions the backwards (both outlast theirs here).
  EXPECT_NEAR(comm - gathers.exposed_comm.dp.value(), busy + both.bubble.value(), 1e-9 * comm);
  EXPECT_NEAR(comm - only_reductions.exposed_comm.dp.value(), backwards, 1e-9 * comm);
  // Together: what outlasts the whole window, and no less than the reductions beyond theirs.
  EXPECT_GE(both.exposed_comm.dp.value(), comm - busy - both.bubble.value() - 1e-9 * comm);
  EXPECT_LE(both.exposed_comm.dp.value(), only_reductions.exposed_comm.dp.value());
  EXPECT_LE(both.exposed_comm.dp.value(), gathers.exposed_comm.dp.value());
  // Reductions that outlast the backwards slow their compute no more than ZeRO-2's would: here,
  // far beyond them over a 25 Gb/s network, not at all (charged against the whole window, they
  // cost 16/132 of their time again).
  EXPECT_EQ(only_reductions.comm_contention.value(), 0.0);
}

// With the gradients reduced as they are made and no overlap of either kind lost, ZeRO-3 moves
// ZeRO-2's reductions and more: its step is no shorter than ZeRO-2's on the same layout.
TEST(StepTimeTest, ZeroThreeIsNoFasterThanZeroTwo) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("h100-sxm-80gb", 32, /*scale_out_gbits_per_s=*/25);
  s.job.global_batch = 64;
  s.plan.dp = 16, s.plan.pp = 2;
  // (overlap_grad_reduce, overlap_param_gather): the GPT-3 example's (false, true) hid ZeRO-3's
  // reductions in the whole step while ZeRO-2's were exposed. DualPipe's rank holds two stages,
  // each making its gradients in half the micro-batches (ZeRO-2 once counted them twice there).
  for (Schedule schedule : {Schedule::k1F1B, Schedule::kDualPipe}) {
    for (auto [reduce, gather] : {std::pair{false, false}, {false, true}, {true, true}}) {
      SCOPED_TRACE(testing::Message() << ScheduleName(schedule) << ", overlap_grad_reduce " << reduce
                                      << ", overlap_param_gather " << gather);
      auto step = [&](int zero) {
        return StepWith(s, [&](Job8b& v) {
                 v.plan.zero = zero;
                 v.plan.schedule = schedule;
                 v.plan.overlap_grad_reduce = reduce;
                 v.plan.overlap_param_gather = gather;
               }).first;
      };
      EXPECT_GE(step(3).exposed_comm.dp.value(), step(2).exposed_comm.dp.value());
    }
  }
}

// Where ZeRO-3's links outlast even the compute they slow, the step ends with the links: the
// compute's delay adds nothing past their exposure. (Charged window by window, the reductions'
// delay in the backwards was added where the gathers' exposure past the step already held it:
// 1.24 s a step on the Qwen3-235B FSDP row, up to 0.09 s here at 65 Gb/s.)
TEST(StepTimeTest, ZeroThreeContentionEndsWhereItsLinksDo) {
  Job8b s = Llama8bOnH100();
  s.job.global_batch = 64;
  s.plan.dp = 16, s.plan.pp = 2, s.plan.zero = 3;
  s.plan.overlap_grad_reduce = true, s.plan.overlap_param_gather = true;
  int contended = 0;
  // Fine steps: the fault lived between 60 and 67 Gb/s.
  for (double gbits = 5; gbits <= 800; gbits *= 1.03) {
    SCOPED_TRACE(testing::Message() << gbits << " Gb/s");
    s.cluster = CatalogCluster("h100-sxm-80gb", 32, gbits);
    const auto [t, ctx] = StepWith(s, [](Job8b&) {});
    ASSERT_GT(ctx.collective_share, 0.0);
    // No TP, CP or EP: the data-parallel streams are the only collectives under the stages' work
    // (GEMMs and the memory-bound kernels), which they can delay by at most share / (1 - share) of it.
    const double work = t.compute.value() + t.other.value();
    const double most = ctx.collective_share / (1 - ctx.collective_share) * work;
    EXPECT_LE(t.comm_contention.value(), std::max(0.0, most - t.exposed_comm.dp.value()) + 1e-9);
    contended += t.comm_contention.value() > 0;
  }
  EXPECT_GT(contended, 0) << "over a fast network the hidden streams slow the compute";
}

// DeepSpeed's engine at ZeRO 0 copies the gradients into its bucket buffer and back after the
// backward, and scales the reduced bucket when DP > 1: two or three passes that each read and
// write every local gradient.
TEST(StepTimeTest, FlattenedGradientsCostTheirCopies) {
  Job8b s = Llama8bOnH100();
  s.job.grad_dtype = Dtype::kFp16;
  auto other = [&](bool flatten, int64_t dp) {
    const auto [t, ctx] = StepWith(s, [&](Job8b& v) {
      v.plan.grad_flatten = flatten;
      v.plan.dp = dp, v.plan.pp = 8 / dp;
    });
    return std::make_pair(t.other.value(), ctx);
  };
  const auto [plain, ctx] = other(false, 8);
  const double params = static_cast<double>(s.params.total), hbm = ctx.hbm_rate.value();
  EXPECT_NEAR(other(true, 8).first - plain, 3 * 2 * 2 * params / hbm, 1e-12);
  // At DP 1 no scaling pass; of the 8 pipeline stages the last holds the most (4 layers, the head
  // and the final norm) and finishes last.
  const double last = 4.0 * static_cast<double>(s.params.dense_layer) + 128256.0 * 4096 + 4096;
  EXPECT_NEAR(other(true, 1).first - other(false, 1).first, 2 * 2 * 2 * last / hbm, 1e-12);
}

// Tied input and output embeddings on different pipeline stages sum the word embedding's gradient
// between the first and the last stage once per step (here inside one node, fp32 main gradients).
TEST(StepTimeTest, TiedEmbeddingsAcrossStagesSumTheirGradientOncePerStep) {
  Job8b s = Llama8bOnH100();
  s.plan.dp = 4, s.plan.pp = 2;
  auto pp = [&](bool tied, int64_t stages) {
    const auto [t, ctx] = StepWith(s, [&](Job8b& v) {
      v.arch.tied_embeddings = tied;
      v.plan.pp = stages;
      v.plan.dp = 8 / stages;
    });
    return std::make_pair(t.exposed_comm.pp.value(), ctx);
  };
  const auto [tied, ctx] = pp(true, 2);
  const double expected = AllReduceTime(ctx.fabric, Bytes(128256.0 * 4096 * 4), 2, 2).value();
  EXPECT_NEAR(tied - pp(false, 2).first, expected, 1e-12);
  EXPECT_EQ(pp(true, 1).first, 0.0);  // one stage holds both
  // An MTP layer keeps a copy of the embedding on the last stage, tied or not.
  const auto [mtp, c2] = StepWith(s, [&](Job8b& v) { v.arch.mtp_layers = 1; });
  const auto [untied, c3] = StepWith(s, [](Job8b&) {});
  EXPECT_NEAR(mtp.exposed_comm.pp.value() - untied.exposed_comm.pp.value(), expected, 1e-12);
  // DualPipe holds the first and the last stage on one rank.
  const auto [dual, c4] = StepWith(s, [&](Job8b& v) {
    v.arch.tied_embeddings = true;
    v.plan.schedule = Schedule::kDualPipe;
  });
  const auto [dual_untied, c5] = StepWith(s, [&](Job8b& v) { v.plan.schedule = Schedule::kDualPipe; });
  EXPECT_EQ(dual.exposed_comm.pp.value(), dual_untied.exposed_comm.pp.value());
}

}  // namespace
}  // namespace preflight::test_support
