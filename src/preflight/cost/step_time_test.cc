// Tests of the step around the layers (cost/step_time.cc): ZeRO and FSDP gathers, the optimizer
// and gradient passes, exposed and hidden collectives, pipeline sends and schedules. Host-bound
// layers and input paths: step_time_host_test.cc.
#include "preflight/cost/step_time.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "preflight/cost/memory.h"
#include "preflight/cost/step_test_support.h"

// In the test-support namespace, so that the shared builders need no using-declarations.
namespace preflight::test_support {
namespace {

// DeepSpeed's early ZeRO-3 gathers each parameter tensor of at least 1e5 elements on its own
// (GPT-3: the four weight matrices of a layer; biases and norms stay whole), three times per
// micro-batch under full recompute; per gather the host builds and fills one view per rank
// (host_overhead_per_kernel_us each way). Without that host cost the time is the sum of the
// tensors' all-gathers. Its gradients (default configuration) are all-reduced whole in buckets of
// 5e8 elements, where layer mode reduce-scatters each layer's.
TEST(StepTimeTest, PerParameterZero3GathersEachLargeTensor) {
  Job8b s;
  s.arch = LoadArch("gpt3-175b");
  s.params = CountParameters(s.arch);
  s.job.seq_len = 2048;
  s.job.global_batch = 64;
  s.job.precision = Dtype::kFp16;
  s.job.grad_dtype = Dtype::kFp16;
  s.cluster = CatalogCluster("a100-sxm-80gb", 64, /*scale_out_gbits_per_s=*/200);
  s.plan.dp = 64, s.plan.zero = 3, s.plan.recompute = Recompute::kFull, s.plan.overlap_param_gather = false;
  s.plan.overlap_grad_reduce = false;
  auto dp = [&](bool per_parameter, double host_us) {
    const auto [t, ctx] = StepWith(s, [&](Job8b& v) {
      v.plan.zero3_gather_per_parameter = per_parameter;
      v.job.host_overhead_per_kernel_us = host_us;
    });
    return std::pair{t.exposed_comm.dp.value(), ctx};
  };
  const auto [layer, ctx] = dp(false, 0);
  const Fabric& f = ctx.fabric;
  const int64_t per = RanksPerDomain(f, 1, 64);
  const double h = 12288, layers = 96, m = 1;
  auto gather = [&](double elements) { return AllGatherTime(f, Bytes(elements * 2), 64, per).value(); };
  const double tensors = gather(h * 3 * h) + gather(h * h) + gather(h * 4 * h) + gather(4 * h * h);
  // Layer mode spreads the embeddings (51200 words, 2048 positions, tied head) over the layers.
  const double whole = gather(static_cast<double>(s.params.total) / layers);
  const double edges = gather(51200 * h) + gather(2048 * h);
  const double total = static_cast<double>(s.params.total), buckets = std::ceil(total / 5e8);
  const double grads = buckets * AllReduceTime(f, Bytes(total * 2 / buckets), 64, per).value() -
                       layers * ReduceScatterTime(f, Bytes(total / layers * 2), 64, per).value();
  EXPECT_NEAR(dp(true, 0).first - layer, m * (3 * (layers * tensors + edges) - 2 * layers * whole + grads), 1e-9 * layer);
  // With the host's 64 views and 64 copies per gather at 5 µs each (the copies run beside the
  // gather, which is longer here): 4 tensors per layer and the two embeddings.
  EXPECT_NEAR(dp(true, 5).first - dp(true, 0).first, m * 3 * (4 * layers + 2) * 64 * 5e-6, 1e-9 * layer);
  // Each micro-batch gathers again; and the gathers synchronise first, so nothing hides them even
  // when the plan says parameter gathers overlap.
  const double one = dp(true, 5).first - dp(false, 5).first;
  s.job.global_batch = 128;
  EXPECT_NEAR(dp(true, 5).first - dp(false, 5).first, 2 * one, 1e-9 * one);
  const double plain = dp(true, 5).first;
  s.plan.overlap_param_gather = true;
  EXPECT_DOUBLE_EQ(dp(true, 5).first, plain);
}

// ZeRO-3 gathers a layer's parameters for every micro-batch's forward and backward; FSDP2 under a
// pipeline (fsdp_gather_once) gathers them once per step and reduce-scatters once, so its exposed
// data-parallel time does not grow with the micro-batches.
TEST(StepTimeTest, FsdpGatheredOncePerStepDoesNotGrowWithMicroBatches) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("h100-sxm-80gb", 16);
  s.plan.dp = 8, s.plan.pp = 2, s.plan.zero = 3, s.plan.overlap_param_gather = false;
  auto dp = [&](bool once, int64_t global_batch) {
    const auto [t, ctx] = StepWith(s, [&](Job8b& v) {
      v.plan.fsdp_gather_once = once;
      v.job.global_batch = global_batch;
    });
    return t.exposed_comm.dp.value();
  };
  EXPECT_DOUBLE_EQ(dp(true, 16), dp(true, 64));
  EXPECT_GT(dp(false, 64), dp(false, 16) * 3);
  EXPECT_LT(dp(true, 16), dp(false, 16));
}

// The optimizer step's passes per parameter (Megatron's mixed-precision optimizer): bf16 with fp32
// main gradients: norm 4, Adam 2 x (4 + 8) + 4, master to model 4 + 2, zeroing 4 = 42 bytes;
// fp16 with 16-bit main gradients adds their fp32 copy (2 + 4) and the unscale (4 + 4) and zeroes
// 2 bytes: 54; fp32 training updates the weights in place: Adam, norm and zeroing, 36.
TEST(StepTimeTest, OptimizerPassesPerParameter) {
  TrainingJob job;
  job.precision = Dtype::kBf16;
  job.grad_dtype = Dtype::kFp32;
  EXPECT_DOUBLE_EQ(OptimizerBytesPerParameter(job, 2), 42);
  job.precision = Dtype::kFp16;
  EXPECT_DOUBLE_EQ(OptimizerBytesPerParameter(job, 2), 50);
  job.grad_dtype = Dtype::kFp16;
  EXPECT_DOUBLE_EQ(OptimizerBytesPerParameter(job, 2), 54);
  job.optimizer_dtype = Dtype::kBf16;  // 16-bit moments: 8 bytes fewer read and written
  EXPECT_DOUBLE_EQ(OptimizerBytesPerParameter(job, 2), 46);
  TrainingJob fp32;
  fp32.precision = Dtype::kFp32;
  EXPECT_DOUBLE_EQ(OptimizerBytesPerParameter(fp32, 4), 36);

  // The step charges them once over the local parameters at the HBM rate.
  Job8b s = Llama8bOnH100();
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  const double local = static_cast<double>(s.params.TotalWithMtp()) / (s.plan.tp * s.plan.pp);
  const double shard = s.plan.zero >= 1 ? static_cast<double>(s.plan.dp) : 1.0;
  EXPECT_NEAR(EstimateStep(ctx, s.plan).optimizer.value(),
              local / shard * OptimizerBytesPerParameter(s.job, 2) / ctx.hbm_rate.value(), 1e-12);
}

// Activation offloading: each offloaded layer's moved tensors go to the host beside
// layers/offloaded layers' forward and come back beside as many layers' backward; only what is
// longer than that shows, as offload_copies inside `other`. On the H100's PCIe link (55.4 GB/s)
// Llama 3.1 8B's 8k-token layers (about 1.1 GB moved) outlast one layer's compute; with half the
// layers offloaded each copy has two layers to hide behind. A device whose link is not in the
// catalog times no copies.
TEST(StepTimeTest, OffloadCopiesShowWhereTheLayersDoNotHideThem) {
  Job8b s = Llama8bOnH100();
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  ASSERT_NEAR(ctx.host_link_rate.value(), 55.4e9, 1);
  const StepTime base = EstimateStep(ctx, s.plan);
  EXPECT_EQ(base.offload_copies.value(), 0);
  auto offloaded = [&](int64_t n, const CostContext& c) {
    Plan p = s.plan;
    p.cpu_offload_layers = n;
    return EstimateStep(c, p);
  };
  const LayerActivationBytes layer = ActivationBytesPerLayer(s.arch, s.plan, s.job);
  const double copy = (layer.dense - layer.offload_resident) / 55.4e9;
  const double fwd = base.stage_forward.value() / 32, bwd = base.stage_backward.value() / 32;
  ASSERT_GT(copy, fwd);  // the premise: one layer's forward does not hide one copy
  for (int64_t n : {31, 16, 8}) {
    SCOPED_TRACE(n);
    const double window = 32.0 / static_cast<double>(n);
    const double want = n * (std::max(0.0, copy - window * fwd) + std::max(0.0, copy - window * bwd));
    const StepTime t = offloaded(n, ctx);
    EXPECT_NEAR(t.offload_copies.value(), want, 1e-9 * want + 1e-12);
    EXPECT_NEAR((t.other - base.other).value(), t.offload_copies.value(), 1e-9);
    EXPECT_NEAR((t.step - base.step).value(), t.offload_copies.value(), 1e-9);
  }
  EXPECT_GT(offloaded(31, ctx).offload_copies.value(), offloaded(16, ctx).offload_copies.value());
  CostContext unknown = ctx;
  unknown.host_link_rate = BytesPerSecond(0);
  EXPECT_EQ(offloaded(31, unknown).offload_copies.value(), 0);
  EXPECT_DOUBLE_EQ(offloaded(31, unknown).step.value(), base.step.value());
}

// The data-parallel gradient reduce and parameter gather run on through every wait that lengthens
// the phase they hide under: offload copies the layers do not hide, and the host's work where it
// outlasts the GPU's. A faster HBM shortens the GPU's work and lengthens those waits by as much,
// so it must not lengthen the step; it did while the windows held only the GPU's work (the waits
// grew, the windows shrank, the DP exposure grew). Llama-2-7B at TP 8 x DP 8 on H100s, ZeRO 1.
TEST(StepTimeTest, DataParallelCommRunsOnThroughTheWaitsOfItsPhase) {
  Job8b s = DataParallelOnH100("llama-2-7b", 4096);
  s.cluster = CatalogCluster("h100-sxm-80gb", 64);
  s.plan.tp = 8, s.plan.dp = 8, s.plan.zero = 1;
  auto step = [&](const Job8b& v, double hbm_scale) {
    CostContext ctx = MakeCostContext(v.arch, v.params, v.job, v.cluster);
    ctx.hbm_rate = ctx.hbm_rate * hbm_scale;
    return EstimateStep(ctx, v.plan);
  };
  Job8b offload = s;
  offload.plan.cpu_offload_layers = 16;
  Job8b host = s;
  host.arch = LoadArch("megatron-1.7b");
  host.params = CountParameters(host.arch);
  host.job.seq_len = 2048;
  host.job.host_profile = Profile(3000, 1500, 1500, 1000);
  for (const auto& [what, v] : {std::pair<const char*, const Job8b&>{"offload", offload}, {"host-bound", host}}) {
    SCOPED_TRACE(what);
    const StepTime base = step(v, 1), fast = step(v, 2);
    ASSERT_GT(base.other.value(), 0);
    ASSERT_GT(base.exposed_comm.dp.value() + base.offload_copies.value() + base.host_launch.value(), 0);
    ASSERT_LT(fast.optimizer.value(), base.optimizer.value());  // the premise: HBM matters
    EXPECT_LE(fast.step.value(), base.step.value());
    EXPECT_LE(fast.exposed_comm.dp.value(), base.exposed_comm.dp.value() + 1e-15);
  }
  // The windows hold the waits: the phases grow by the copies' exposure, per micro-batch.
  const StepTime with = step(offload, 1), without = step(s, 1);
  const double m = static_cast<double>(MicroBatches(offload.plan, offload.job));
  ASSERT_GT(with.offload_copies.value(), 0);
  EXPECT_NEAR((with.stage_forward + with.stage_backward - without.stage_forward - without.stage_backward).value(),
              with.offload_copies.value() / m, 1e-12);
}

// Recomputation runs in the backward: the forward phase, the window the parameter gathers hide in
// and what the backward's gradient reduce does not, is the same whatever is recomputed. The
// forward's exposed collectives are each kind's own (TP's beyond the forward's products, CP's
// beyond its attention); they were the layer's exposure split by raw traffic, so that a recomputed
// CP exchange, hidden, drew exposed TP time out of the forward, and dropping recompute (or a faster
// attention) lengthened a step bound by its gradient reduce. Llama 3.1 8B at TP 8 x CP 2 x DP 2.
TEST(StepTimeTest, RecomputeLeavesTheForwardPhaseAlone) {
  auto step = [](const Job8b& v, Recompute r) {
    Plan p = v.plan;
    p.recompute = r;
    return EstimateStep(MakeCostContext(v.arch, v.params, v.job, v.cluster), p);
  };
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("h100-sxm-80gb", 32);
  s.job.global_batch = 2;
  s.plan.tp = 8, s.plan.cp = 2, s.plan.dp = 2, s.plan.sp = false;
  const StepTime none = step(s, Recompute::kNone);
  ASSERT_GT(none.exposed_comm.tp.value(), 0);
  ASSERT_GT(none.exposed_comm.dp.value(), 0);  // the premise: the gradient reduce is exposed
  for (Recompute r : {Recompute::kSelective, Recompute::kFull, Recompute::kSelectiveOp, Recompute::kDots}) {
    SCOPED_TRACE(RecomputeName(r));
    const StepTime t = step(s, r);
    EXPECT_NEAR(t.stage_forward.value(), none.stage_forward.value(), 1e-12);
    EXPECT_LE(none.step.value(), t.step.value() * (1 + 1e-12));
  }
  // Where the forward's KV exchange outlasts its attention (CP 16 over two nodes on slow NICs),
  // it shows in the forward whatever the backward's slack, and recomputation, which exchanges
  // again in the backward, leaves the forward as it is.
  Job8b ring = Llama8bOnH100();
  ring.cluster = CatalogCluster("h100-sxm-80gb", 16, 150);
  ring.job.seq_len = 24576, ring.job.global_batch = 4;
  ring.plan.dp = 1, ring.plan.cp = 16;
  const StepTime ring_none = step(ring, Recompute::kNone);
  ASSERT_GT(ring_none.exposed_comm.cp.value(), 0);
  for (Recompute r : {Recompute::kFull, Recompute::kDots}) {
    SCOPED_TRACE(RecomputeName(r));
    const StepTime t = step(ring, r);
    EXPECT_NEAR(t.stage_forward.value(), ring_none.stage_forward.value(), 1e-12);
    EXPECT_GE(t.exposed_comm.cp.value(), ring_none.exposed_comm.cp.value());
  }
}

// Without gradient-accumulation fusion every micro-batch adds each local weight gradient to the
// main-gradient buffer in its own pass: 2 + 2 x 4 bytes per parameter with fp32 main gradients,
// 2 + 2 x 2 with 16-bit ones, m times per step; with the fusion the pass is not there.
TEST(StepTimeTest, UnfusedGradientAccumulationIsOnePassPerMicroBatch) {
  Job8b s = Llama8bOnH100();
  s.job.global_batch = 64;  // 8 micro-batches of 1 on each of 8 DP ranks
  s.plan.micro_batch = 1;
  const double m = static_cast<double>(s.job.global_batch / (s.plan.dp * s.plan.micro_batch));
  const double local = static_cast<double>(s.params.TotalWithMtp()) / (s.plan.tp * s.plan.pp);
  for (Dtype grad : {Dtype::kFp32, Dtype::kBf16}) {
    s.job.grad_dtype = grad;
    s.job.grad_accumulation_fusion = true;
    const StepTime with_fusion = EstimateStep(MakeCostContext(s.arch, s.params, s.job, s.cluster), s.plan);
    s.job.grad_accumulation_fusion = false;
    const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
    const StepTime without = EstimateStep(ctx, s.plan);
    const double bytes = 2 + 2 * (grad == Dtype::kFp32 ? 4 : 2);
    EXPECT_NEAR((without.other - with_fusion.other).value(), m * local * bytes / ctx.hbm_rate.value(), 1e-9);
    EXPECT_NEAR((without.step - with_fusion.step).value(), (without.other - with_fusion.other).value(), 1e-9);
    EXPECT_GT(with_fusion.step.value(), 0);
  }
}

// torchtitan's op-level policy saves reduce-scatter outputs but not all-reduces or all-gathers:
// without SP its recomputed forward runs the forward's all-reduces again, as full recompute does;
// with SP only the all-gathers, so it sits between Megatron's selective recompute (none) and full.
TEST(StepTimeTest, OpLevelRecomputeRunsTheForwardsGathersAgain) {
  Job8b s = TensorParallelLlama8b(4096, 8);
  s.plan.tp_comm_overlap = false;
  auto tp_comm = [&](Recompute r, bool sp) {
    Job8b v = s;
    v.plan.recompute = r;
    v.plan.sp = sp;
    return EstimateStep(MakeCostContext(v.arch, v.params, v.job, v.cluster), v.plan).exposed_comm.tp.value();
  };
  EXPECT_NEAR(tp_comm(Recompute::kSelectiveOp, false), tp_comm(Recompute::kFull, false), 1e-12);
  EXPECT_GT(tp_comm(Recompute::kSelectiveOp, false), tp_comm(Recompute::kSelective, false) * 1.2);
  EXPECT_GT(tp_comm(Recompute::kSelectiveOp, true), tp_comm(Recompute::kSelective, true) * 1.1);
  EXPECT_LT(tp_comm(Recompute::kSelectiveOp, true), tp_comm(Recompute::kFull, true) * 0.95);
}

// JAX's dots policy runs the attention products and every elementwise pass of the forward again,
// no weight product and no collective: slower than selective recompute of the attention products
// by the forward's elementwise work, faster than full recompute by the weight products; HFU counts
// the attention products again, as selective recompute does.
TEST(StepTimeTest, DotsPolicyRecomputesAttentionAndElementwiseWork) {
  Job8b s = TensorParallelLlama8b(4096, 8);
  s.plan.tp_comm_overlap = false;
  auto step = [&](Recompute r) {
    Job8b v = s;
    v.plan.recompute = r;
    return EstimateStep(MakeCostContext(v.arch, v.params, v.job, v.cluster), v.plan);
  };
  const StepTime dots = step(Recompute::kDots), selective = step(Recompute::kSelective),
                 full = step(Recompute::kFull), none = step(Recompute::kNone);
  EXPECT_NEAR(dots.compute.value(), selective.compute.value(), 1e-12);
  EXPECT_GT(dots.other.value(), selective.other.value());
  // `other` holds the elementwise passes and the host's launch waits; this run is GPU-bound (no
  // launch wait), so only the passes, the same under both, remain.
  EXPECT_NEAR(dots.other.value(), full.other.value(), 1e-12);
  EXPECT_LT(dots.compute.value(), full.compute.value() * 0.9);
  EXPECT_NEAR(dots.exposed_comm.tp.value(), none.exposed_comm.tp.value(), 1e-12);
  EXPECT_NEAR(dots.hfu / dots.mfu, selective.hfu / selective.mfu, 1e-12);
  EXPECT_GT(dots.hfu / dots.mfu, 1.0);
  // Full recompute runs every layer's forward again, but not the output head (docs/conventions.md).
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  const double forward = ctx.model_flops_per_token / 3, head = 2.0 * 4096 * 128256;
  EXPECT_DOUBLE_EQ(ctx.head_flops_per_token_fwd, head);
  EXPECT_NEAR(full.hfu / full.mfu, (3 * forward + forward - head) / (3 * forward), 1e-12);
}

// Host-bound Llama 3.1 8B at TP 8 (2 ms a kernel): the GPU's wait for the launches, with `change`
// applied to the plan.
template <typename F>
double HostBoundLaunch(F change) {
  Job8b s = TensorParallelLlama8b(4096, 8);
  s.job.host_overhead_per_kernel_us = 2000;
  change(s.plan);
  return EstimateStep(MakeCostContext(s.arch, s.params, s.job, s.cluster), s.plan).host_launch.value();
}

// The host launches the dots policy's recomputed kernels again: all of a layer's forward but its
// four weight products and its collectives. Host-bound (2 ms a kernel), the launch wait sits
// between no recompute (forward and backward) and full recompute (the whole forward again).
TEST(StepTimeTest, DotsPolicyLaunchesAllButTheWeightProductsAgain) {
  auto launch = [](Recompute r) { return HostBoundLaunch([&](Plan& p) { p.recompute = r; }); };
  const double none = launch(Recompute::kNone), dots = launch(Recompute::kDots), full = launch(Recompute::kFull);
  EXPECT_GT(dots, none);
  EXPECT_LT(dots, full);
}

// Each TP block's forward launches one all-reduce, or with SP an all-gather and a reduce-scatter:
// host-bound at 2 ms a kernel, SP's extra launch per block (two blocks a layer, forward and about
// twice in the backward) is what separates the two, the GPU's own difference being milliseconds
// against seconds.
TEST(StepTimeTest, TensorParallelBlocksLaunchOneCollectiveWithoutSp) {
  auto launch = [](bool sp) { return HostBoundLaunch([&](Plan& p) { p.sp = sp; }); };
  const double extra = 8 * 32 * 3 * 2 * 2e-3;  // 8 micro-batches of 32 layers
  EXPECT_NEAR(launch(true) - launch(false), extra, 0.02 * extra);
}

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

// EstimateLayers reports a layer as the step sums it: one more layer adds its products, its
// elementwise passes and its exposed collectives to every micro-batch of a one-stage pipeline,
// whatever the recompute mode, and its parts add up to its total.
TEST(StepTimeTest, LayerTimesAreWhatEachLayerAddsToTheStep) {
  for (Recompute r : {Recompute::kNone, Recompute::kSelective, Recompute::kFull}) {
    SCOPED_TRACE(RecomputeName(r));
    Job8b s = TensorParallelLlama8b(8192, 2);
    s.plan.recompute = r;
    Job8b s16 = s, s17 = s;  // each context points at its job's architecture: both kept alive
    s16.arch.layers = 16, s17.arch.layers = 17;
    s16.params = CountParameters(s16.arch), s17.params = CountParameters(s17.arch);
    const CostContext ctx16 = MakeCostContext(s16.arch, s16.params, s16.job, s16.cluster);
    const CostContext ctx17 = MakeCostContext(s17.arch, s17.params, s17.job, s17.cluster);
    const PipelineTime a = EstimatePipeline(ctx16, s.plan), b = EstimatePipeline(ctx17, s.plan);
    const LayerTimes l = EstimateLayers(ctx16, s.plan);
    EXPECT_TRUE(l.has_dense);
    EXPECT_FALSE(l.has_moe);
    const LayerTime& d = l.dense;
    ASSERT_GT(d.exposed_comm.tp.value(), 0);  // the premise: TP 2 leaves collectives exposed
    const double products = (d.forward + d.backward + d.recompute).value();
    EXPECT_NEAR(b.compute - a.compute, products, 1e-9 * products);
    EXPECT_NEAR(b.memory - a.memory, d.elementwise.value(), 1e-9 * products);
    EXPECT_NEAR(b.tp - a.tp, d.exposed_comm.tp.value(), 1e-9 * products);
    EXPECT_NEAR(b.stage_total - a.stage_total, d.total.value(), 1e-9 * products);
    EXPECT_NEAR(d.total.value(), products + (d.elementwise + d.exposed_comm.Total() + d.contention + d.host_wait).value(),
                1e-12 * products);
    EXPECT_GT(d.attention_forward.value(), 0);
    EXPECT_LT(d.attention_forward.value(), d.forward.value());
    EXPECT_LT(d.attention_backward.value(), d.backward.value());
    const double again = r == Recompute::kNone ? 0
                         : r == Recompute::kFull ? d.forward.value()
                                                 : d.attention_forward.value();  // core_attn alone
    EXPECT_DOUBLE_EQ(d.recompute.value(), again);
  }
  // An MoE model reports its MoE layers apart, their expert all-to-alls among the exposed
  // collectives.
  Job8b moe = DeepSeekV3OnH800(64, 4096, 64);
  const LayerTimes m = EstimateLayers(MakeCostContext(moe.arch, moe.params, moe.job, moe.cluster), moe.plan);
  ASSERT_TRUE(m.has_moe);
  ASSERT_TRUE(m.has_dense);  // DeepSeek-V3's first three layers
  EXPECT_GT(m.moe.exposed_comm.ep.value(), 0);
  EXPECT_EQ(m.dense.exposed_comm.ep.value(), 0);
  // A model whose every layer is MoE has no dense layer to report.
  Job8b mixtral = DataParallelOnH100("mixtral-8x7b", 4096);
  mixtral.plan.ep = 8;
  const LayerTimes x =
      EstimateLayers(MakeCostContext(mixtral.arch, mixtral.params, mixtral.job, mixtral.cluster), mixtral.plan);
  EXPECT_TRUE(x.has_moe);
  EXPECT_FALSE(x.has_dense);
  EXPECT_GT(x.moe.total.value(), 0);
}

}  // namespace
}  // namespace preflight::test_support

namespace preflight::test_support {
namespace {

// Transformer Engine's grouped linear layer (moe_gemm_per_expert) launches a GEMM per local expert
// over 4 compute streams. With 4 local experts (EP 32 of 128) they run in one round: the GPU time
// is the grouped kernel's, and only the launches differ (2 x 4 + 1 kernels for the experts'
// GEMMs and activation in place of 3, each forward, backward (twice) and nothing recomputed). With
// 16 (EP 8) they run in 4 rounds: each round a grouped GEMM with its own waves and fixed kernel
// time, at least the 3 more fixed times per GEMM of the one-kernel layer, forward, and fewer
// than a round per expert would add.
TEST(StepTimeTest, PerExpertGemmsLaunchEachExpertAndRunInRoundsOfFour) {
  auto layer = [](int64_t ep, bool per_expert, double host_us) {
    Job8b s = DataParallelOnH100("qwen3-30b-a3b", 4096);
    s.plan.dp = 32;
    s.cluster = CatalogCluster("h100-sxm-80gb", 32);
    s.plan.ep = ep;
    s.job.precision = Dtype::kFp8;  // no FP8 table on the H100: the wave model and its fixed time
    s.job.moe_gemm_per_expert = per_expert;
    s.job.host_overhead_per_kernel_us = host_us;
    const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
    return std::make_pair(EstimateLayers(ctx, s.plan).moe, ctx.gemm_kernel.value());
  };
  // EP 32: one round, the same products; launch-bound at 10 ms a kernel, 3 x 6 more launches.
  EXPECT_DOUBLE_EQ(layer(32, true, 0).first.forward.value(), layer(32, false, 0).first.forward.value());
  EXPECT_DOUBLE_EQ(layer(32, true, 0).first.backward.value(), layer(32, false, 0).first.backward.value());
  const double launch = 1e4 * 1e-6;
  EXPECT_NEAR(layer(32, true, 1e4).first.total.value() - layer(32, false, 1e4).first.total.value(),
              3 * 6 * launch, 1e-9);
  // EP 8: four rounds.
  const auto [grouped, fixed] = layer(8, false, 0);
  const auto [rounds, fixed_again] = layer(8, true, 0);
  ASSERT_GT(fixed, 0);
  EXPECT_GE(rounds.forward.value() - grouped.forward.value(), 2 * 3 * fixed * (1 - 1e-9));
  // ... and well short of the 2 x 15 more a GEMM per round, 16 rounds, would add.
  EXPECT_LT(rounds.forward.value() - grouped.forward.value(), 2 * 15 * fixed);
  EXPECT_GT(rounds.backward.value(), grouped.backward.value());
}

}  // namespace
}  // namespace preflight::test_support

namespace preflight::test_support {
namespace {

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

}  // namespace
}  // namespace preflight::test_support
