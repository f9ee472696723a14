// Tests of the step around the layers (cost/step_time.cc): ZeRO and FSDP gathers, the optimizer
// and gradient passes, offload copies, recompute modes, per-expert GEMMs and the per-layer report,
// with the data-parallel window and the TP launches they bear on. Pipeline sends and the other
// collectives: step_time_comm_test.cc; expert all-to-alls, DualPipe and zero-bubble schedules:
// step_time_expert_comm_test.cc; host-bound layers and input paths:
// step_time_host_test.cc.
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
// 2 bytes: 54; fp32 training, and a run whose fp32 parameters are cast at each use, update the
// weights in place: Adam, norm and zeroing, 36.
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
  // fp32 parameters cast at each use (MaxText, FSDP2): Adam updates them in place, with no 16-bit
  // copy to write: the bf16 run's 42 less the master-to-model 4 + 2.
  TrainingJob cast_at_use;
  cast_at_use.weight_dtype = Dtype::kFp32;
  EXPECT_DOUBLE_EQ(OptimizerBytesPerParameter(cast_at_use, 2), 36);

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

// Full recompute by block (Megatron-LM's --recompute-method block) runs the forward again for the
// first N layers of each chunk alone: the step grows by the same amount with each layer more, from
// no recompute to full recompute at N = the chunk's layers, and HFU counts the recomputed share.
// Groups (uniform) recompute every layer: the step is full recompute's.
TEST(StepTimeTest, RecomputeByBlockRunsTheForwardAgainForItsLayersAlone) {
  Job8b s = Llama8bOnH100();
  s.plan.pp = 2, s.plan.dp = 4;  // 16 layers a stage
  s.job.global_batch = 32;
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  const auto step = [&](Recompute r, RecomputeMethod method = RecomputeMethod::kUniform, int64_t n = 1) {
    Plan p = s.plan;
    p.recompute = r, p.recompute_method = method, p.recompute_num_layers = n;
    return EstimateStep(ctx, p);
  };
  const StepTime none = step(Recompute::kNone), full = step(Recompute::kFull);
  ASSERT_GT(full.step.value(), none.step.value() * 1.05);
  const double per_layer = (full.step.value() - none.step.value()) / 16;
  for (int64_t n : {1, 4, 8, 15}) {
    SCOPED_TRACE(n);
    const StepTime t = step(Recompute::kFull, RecomputeMethod::kBlock, n);
    EXPECT_NEAR(t.step.value(), none.step.value() + n * per_layer, 1e-9 * full.step.value());
    const double work = t.hfu * t.step.value(), work_none = none.hfu * none.step.value();
    EXPECT_NEAR(work, work_none + (full.hfu * full.step.value() - work_none) * n / 16.0, 1e-9 * work);
    EXPECT_NEAR(t.mfu * t.step.value(), none.mfu * none.step.value(), 1e-9);
  }
  EXPECT_NEAR(step(Recompute::kFull, RecomputeMethod::kBlock, 16).step.value(), full.step.value(), 1e-12);
  EXPECT_NEAR(step(Recompute::kFull, RecomputeMethod::kUniform, 4).step.value(), full.step.value(), 1e-12);
}

// Without gradient-accumulation fusion every micro-batch adds each local weight gradient to the
// main-gradient buffer in its own pass: 2 + 2 x 4 bytes per parameter with fp32 main gradients,
// 2 + 2 x 2 with 16-bit ones, m times per step; with the fusion the pass is there only for the
// embedding table, whose gradient no GEMM makes.
TEST(StepTimeTest, UnfusedGradientAccumulationIsOnePassPerMicroBatch) {
  Job8b s = Llama8bOnH100();
  s.job.global_batch = 64;  // 8 micro-batches of 1 on each of 8 DP ranks
  s.plan.micro_batch = 1;
  const double m = static_cast<double>(s.job.global_batch / (s.plan.dp * s.plan.micro_batch));
  const double table = static_cast<double>(s.arch.vocab * s.arch.hidden);
  const double local = static_cast<double>(s.params.TotalWithMtp()) / (s.plan.tp * s.plan.pp) - table;
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

// PyTorch's FSDP passes beside its collectives, over the device's unsharded parameters: FSDP1's
// backward concatenates the 16-bit gradients into the flat gradient (2 + 2 bytes a parameter, each
// micro-batch), and its post-backward stream casts them to fp32 (2 + 4) and pre-divides them in
// place (4 + 4); FSDP2 copies each of a micro-batch's two gathers out of its flat buffer (2 + 2
// bytes in bf16) and the 16-bit gradients into the reduce-scatter input in the reduce dtype (2 + 4
// in fp32, which NCCL averages: no division), or, gathering once a step, one copy-out and one copy
// of the accumulated fp32 gradients (4 + 4) a step. The collectives are timed as without them.
TEST(StepTimeTest, FsdpCopiesArePassesOverTheUnshardedParameters) {
  Job8b s = Llama8bOnH100();
  s.job.global_batch = 64;  // 8 micro-batches of 1 on each of 8 DP ranks
  s.job.grad_reduce_dtype = Dtype::kFp32;
  s.plan.micro_batch = 1, s.plan.zero = 3;
  const double m = 8;
  const DeviceParams held = ParamsOnDevice(s.arch, s.params, s.plan, 0);
  const double local = held.dense + held.expert;
  auto step = [&](Plan::Fsdp fsdp, bool once) {
    Job8b v = s;
    v.plan.fsdp = fsdp, v.plan.fsdp_gather_once = once;
    const CostContext ctx = MakeCostContext(v.arch, v.params, v.job, v.cluster);
    return std::pair{EstimateStep(ctx, v.plan), ctx.hbm_rate.value()};
  };
  for (bool once : {false, true}) {
    const auto [none, hbm] = step(Plan::Fsdp::kNone, once);
    const StepTime v1 = step(Plan::Fsdp::kFsdp1, once).first, v2 = step(Plan::Fsdp::kFsdp2, once).first;
    EXPECT_NEAR((v1.other - none.other).value(), m * local * (4 + 6 + 8) / hbm, 1e-12);
    const double fsdp2 = once ? local * (4 + 8) / hbm : m * local * (2 * 4 + 2 + 4) / hbm;
    EXPECT_NEAR((v2.other - none.other).value(), fsdp2, 1e-12);
    EXPECT_NEAR((v2.step - none.step).value(), fsdp2, 1e-12);
    EXPECT_DOUBLE_EQ(v2.exposed_comm.dp.value(), none.exposed_comm.dp.value());
  }
  // Under a pipeline the other stages' copies lengthen the bubble as the rest of their time does
  // (with gradient-accumulation fusion on, the copies alone); a zero-bubble schedule's is left.
  s.plan.pp = 2, s.plan.dp = 4;
  ASSERT_TRUE(s.job.grad_accumulation_fusion);
  for (Schedule schedule : {Schedule::k1F1B, Schedule::kZbH1}) {
    s.plan.schedule = schedule;
    const StepTime none = step(Plan::Fsdp::kNone, false).first, v1 = step(Plan::Fsdp::kFsdp1, false).first;
    if (schedule == Schedule::k1F1B) {
      EXPECT_GT(v1.bubble.value(), none.bubble.value());
    } else {
      EXPECT_DOUBLE_EQ(v1.bubble.value(), none.bubble.value());
    }
  }
  s.plan.pp = 1, s.plan.dp = 8, s.plan.schedule = Schedule::k1F1B;
  // Reducing in bf16, FSDP1 casts nothing and pre-divides 2 + 2 bytes; FSDP2 divides only in fp16,
  // before its copy into the reduce-scatter input (2 + 2 more bytes a parameter, each micro-batch).
  s.job.grad_reduce_dtype = Dtype::kBf16;
  const auto [none16, hbm16] = step(Plan::Fsdp::kNone, false);
  EXPECT_NEAR((step(Plan::Fsdp::kFsdp1, false).first.other - none16.other).value(), m * local * (4 + 4) / hbm16, 1e-12);
  const StepTime bf16 = step(Plan::Fsdp::kFsdp2, false).first;
  s.job.grad_reduce_dtype = Dtype::kFp16;
  EXPECT_NEAR((step(Plan::Fsdp::kFsdp2, false).first.other - bf16.other).value(), m * local * 4 / hbm16, 1e-12);
  s.job.grad_reduce_dtype = Dtype::kFp32;
  // Without ZeRO-3 there is no FSDP to copy (the scenario refuses the pair; the model ignores it).
  s.plan.zero = 1;
  EXPECT_DOUBLE_EQ(step(Plan::Fsdp::kFsdp2, false).first.step.value(), step(Plan::Fsdp::kNone, false).first.step.value());
}

// fp32 weights at ZeRO 0-2 are cast at each use, as PyTorch's autocast does over fp32 parameters:
// every forward casts the local weights to 16 bits (4 + 2 bytes a parameter), again in a forward
// full recompute runs, and the backward casts each weight gradient to fp32 (2 + 4), each micro-batch.
// ZeRO-3 casts its shards before gathering them: no pass over the unsharded weights.
TEST(StepTimeTest, Fp32WeightsAreCastAtEachUseWithoutZeroThree) {
  Job8b s = Llama8bOnH100();
  s.job.global_batch = 64;  // 8 micro-batches of 1 on each of 8 DP ranks
  s.plan.micro_batch = 1, s.plan.zero = 1;
  const double m = 8;
  const DeviceParams held = ParamsOnDevice(s.arch, s.params, s.plan, 0);
  const double local = held.dense + held.expert;
  auto other = [&](Dtype weights, Recompute recompute, int zero) {
    Job8b v = s;
    v.job.weight_dtype = weights, v.plan.recompute = recompute, v.plan.zero = zero;
    const CostContext ctx = MakeCostContext(v.arch, v.params, v.job, v.cluster);
    return std::pair{EstimateStep(ctx, v.plan).other.value(), ctx.hbm_rate.value()};
  };
  const auto [bf16, hbm] = other(Dtype::kBf16, Recompute::kNone, 1);
  EXPECT_NEAR(other(Dtype::kFp32, Recompute::kNone, 1).first - bf16, m * local * (6 + 6) / hbm, 1e-12);
  const double bf16_full = other(Dtype::kBf16, Recompute::kFull, 1).first;
  EXPECT_NEAR(other(Dtype::kFp32, Recompute::kFull, 1).first - bf16_full, m * local * (2 * 6 + 6) / hbm, 1e-12);
  EXPECT_DOUBLE_EQ(other(Dtype::kFp32, Recompute::kNone, 3).first, other(Dtype::kBf16, Recompute::kNone, 3).first);
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

// HFU counts what selective recompute runs again in every transformer layer, DeepSeek-V3's MTP
// layer (an MoE layer of the same configuration) included, as its core-attention share did: the
// MLA up-projections of 62 layers and the MoE blocks of 59, 53.75 GFLOP a token (52.84 without the
// MTP layer, which the count had left out).
TEST(StepTimeTest, SelectiveRecomputeFlopsCountTheMtpLayer) {
  Job8b s = DeepSeekV3OnH800(64, 4096, 64);
  s.plan.recompute = Recompute::kSelective;
  s.plan.recompute_modules = kModuleMlaUpProj | kModuleMoe;
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  const StepTime t = EstimateStep(ctx, s.plan);
  const double mla = 2.0 * (1536 * 128 * 192 + 512 * 128 * 256);
  const double moe = 2.0 * 7168 * 256 + 8 * 2.0 * 3 * 7168 * 2048 + 2.0 * 3 * 7168 * 2048;
  EXPECT_NEAR((t.hfu / t.mfu - 1) * ctx.model_flops_per_token, 62 * mla + 59 * moe, 1e-6 * 62 * mla);
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
    s.cluster.spec.gemm_table.reset();  // no table by shape: the wave model and its fixed time
    s.plan.ep = ep;
    s.job.precision = Dtype::kFp8;
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


// On a TPU slice the plan's groups take the axes JAX's mesh gives them: TP 8 and FSDP 16 on a
// v5p's 4 x 4 x 8 slice (128 chips), TP the axis of 8 (2 links of 6, where the 2 x 2 x 2 block it
// would take alone has 3), so TP's collectives take up to 1.5 times as long (their latency aside)
// as where the catalog gives no slice shapes.
TEST(StepTimeTest, TorusGroupsTakeTheAxesOfTheirMesh) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("tpu-v5p", 128);
  ASSERT_FALSE(s.cluster.spec.torus_slices.empty());
  s.job.seq_len = 4096;
  s.job.global_batch = 16;
  s.plan.tp = 8;
  s.plan.dp = 16;
  s.plan.sp = true;
  s.plan.zero = 3;
  const CostContext placed = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  const double on_axes = EstimateLayers(placed, s.plan).dense.exposed_comm.tp.value();
  Cluster unshaped = s.cluster;
  unshaped.spec.torus_slices.clear();
  const CostContext best = MakeCostContext(s.arch, s.params, s.job, unshaped);
  const double in_blocks = EstimateLayers(best, s.plan).dense.exposed_comm.tp.value();
  ASSERT_GT(in_blocks, 0);
  EXPECT_GT(on_axes / in_blocks, 1.3);  // the links' ratio, less the latency both pay
  EXPECT_LE(on_axes / in_blocks, 1.5 + 1e-9);
  // A plan whose one group spans the whole slice is unchanged: FSDP over all 128 chips.
  s.plan.tp = 1;
  s.plan.dp = 128;
  s.plan.sp = false;
  s.job.global_batch = 128;
  EXPECT_DOUBLE_EQ(EstimateStep(placed, s.plan).step.value(), EstimateStep(best, s.plan).step.value());
}

}  // namespace
}  // namespace preflight::test_support
