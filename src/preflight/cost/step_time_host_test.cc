// Tests of a host-bound step (cost/step_time.cc): a measured host profile, the host time of each
// collective call, layers that wait for the GPU, and each micro-batch's input path.
#include "preflight/cost/step_time.h"

#include <gtest/gtest.h>

#include <memory>
#include <utility>

#include "preflight/cost/step_test_support.h"

// In the test-support namespace, so that the shared builders need no using-declarations.
namespace preflight::test_support {
namespace {

// A measured host profile times what the host does per layer and per micro-batch: where the host
// is the slower side, every extra microsecond of it is a microsecond of step, once per layer and
// micro-batch (the no-grad forward only with full recompute) and once per micro-batch around the
// layers. A large model's layers outlast the host, and the profile changes nothing.
TEST(StepTimeTest, AMeasuredHostProfileBindsSmallModelsOnly) {
  const Architecture a = LoadArch("gpt3-175b");
  Architecture small = a;
  small.hidden = 256, small.heads = 4, small.kv_heads = 4, small.head_dim = 64, small.ffn = 1024,
  small.layers = 4;
  const Cluster c = CatalogCluster("a100-sxm-80gb", 1);
  TrainingJob job;
  job.seq_len = 256;
  job.global_batch = 8;  // 8 micro-batches of 1
  Plan p;
  p.recompute = Recompute::kFull;
  // A checkpointed layer costs `ckpt_us`; without recompute, forward `us` and backward 2 x `us`.
  auto profile = [](double ckpt_us, double us) { return Profile(ckpt_us, us, 2 * us, us); };
  auto step = [&](const Architecture& arch, std::shared_ptr<HostProfile> h, const Plan& plan) {
    TrainingJob j = job;
    j.host_profile = std::move(h);
    return EstimateStep(MakeCostContext(arch, CountParameters(arch), j, c), plan);
  };
  const StepTime base = step(small, profile(15000, 5000), p);
  const StepTime more = step(small, profile(16000, 5000), p);
  // 8 micro-batches x 4 layers x 1 ms more per checkpointed layer.
  EXPECT_NEAR((more.step - base.step).value(), 8 * 4 * 1e-3, 1e-9);
  EXPECT_NEAR((more.host_launch - base.host_launch).value(), (more.step - base.step).value(), 1e-9);
  // 8 micro-batches x 1 ms more around the layers (the checkpointed layers unchanged).
  auto around = profile(15000, 6000);
  around->layer_forward = Seconds(5000e-6), around->layer_backward = Seconds(10000e-6);
  EXPECT_NEAR((step(small, around, p).step - base.step).value(), 8 * 1e-3, 1e-9);
  Plan no_recompute = p;
  no_recompute.recompute = Recompute::kNone;
  const StepTime plain = step(small, profile(15000, 5000), no_recompute);
  // Without recompute: 8 x (4 layers x (1 + 2) ms + 1 ms); the checkpointed figure plays no part.
  EXPECT_NEAR((step(small, profile(15000, 6000), no_recompute).step - plain.step).value(),
              8 * (4 * 3e-3 + 1e-3), 1e-9);
  EXPECT_NEAR((step(small, profile(16000, 5000), no_recompute).step - plain.step).value(), 0,
              1e-12);

  // Selective recompute runs as without recompute: the checkpointed figure plays no part.
  Plan selective = p;
  selective.recompute = Recompute::kSelective;
  selective.recompute_modules = 0;  // nothing recomputed
  EXPECT_NEAR((step(small, profile(16000, 5000), selective).step -
               step(small, profile(15000, 5000), selective).step)
                  .value(),
              0, 1e-12);
  EXPECT_NEAR((step(small, profile(15000, 6000), selective).step -
               step(small, profile(15000, 5000), selective).step)
                  .value(),
              8 * (4 * 3e-3 + 1e-3), 1e-9);
  // The modules it recomputes launch their kernels again, at the profile's forward time per kernel:
  // the attention products are a few of a layer's forward kernels.
  selective.recompute_modules = kModuleCoreAttn;
  const double again = (step(small, profile(15000, 6000), selective).step -
                        step(small, profile(15000, 5000), selective).step)
                           .value() -
                       8 * (4 * 3e-3 + 1e-3);
  EXPECT_GT(again, 0);
  EXPECT_LT(again, 8 * 4 * 1e-3 * 0.25);
  // Two stages: the work around the layers is charged on the last one only, once per micro-batch
  // (on every stage it would also lengthen the bubble by the other stage's share).
  Plan two_stages = p;
  two_stages.pp = 2;
  const Cluster pair = CatalogCluster("a100-sxm-80gb", 2);
  auto staged = [&](std::shared_ptr<HostProfile> h) {
    TrainingJob j = job;
    j.host_profile = std::move(h);
    return EstimateStep(MakeCostContext(small, CountParameters(small), j, pair), two_stages)
        .step.value();
  };
  auto around_more = profile(15000, 5000);
  around_more->micro_batch = Seconds(6000e-6);
  EXPECT_NEAR(staged(around_more) - staged(profile(15000, 5000)), 8 * 1e-3, 1e-9);

  Plan big;
  big.tp = 8, big.pp = 8, big.recompute = Recompute::kFull;
  const Cluster node64 = CatalogCluster("a100-sxm-80gb", 64);
  TrainingJob big_job;
  big_job.global_batch = 16;
  auto big_step = [&](std::shared_ptr<HostProfile> h) {
    TrainingJob j = big_job;
    j.host_profile = std::move(h);
    return EstimateStep(MakeCostContext(a, CountParameters(a), j, node64), big).step.value();
  };
  const double without = big_step(nullptr);
  EXPECT_DOUBLE_EQ(big_step(profile(3000, 1000)), without);
  EXPECT_GT(big_step(profile(1e7, 1e6)), without)
      << "a host slower than any GPU work binds every model";
}

// A profile timed on a GPU host gives the host time of one collective call. The layer times are
// taken at TP 1, where Megatron issues no collective: every call the plan adds costs the host its
// measured time, in the forward, the backward and (full recompute) the recomputed forward.
TEST(StepTimeTest, EachCollectiveCallCostsAHostBoundLayerItsMeasuredTime) {
  Architecture small = LoadArch("gpt3-175b");
  small.hidden = 256, small.heads = 4, small.kv_heads = 4, small.head_dim = 64, small.ffn = 1024,
  small.layers = 4;
  auto profile = [](double call_us) {
    auto h = Profile(15000, 5000, 10000, 1000);
    h->collective_call = Seconds(call_us * 1e-6);
    return h;
  };
  auto step = [&](const Plan& p, double call_us) {
    TrainingJob j;
    j.seq_len = 256;
    j.global_batch = 8;  // 8 micro-batches of 1
    j.host_profile = profile(call_us);
    return EstimateStep(MakeCostContext(small, CountParameters(small), j,
                                        CatalogCluster("a100-sxm-80gb", p.tp)),
                        p)
        .step.value();
  };
  Plan p;
  p.recompute = Recompute::kFull;
  // TP 1 issues no collective inside the layers.
  EXPECT_NEAR(step(p, 100) - step(p, 0), 0, 1e-12);
  // TP 2, full recompute: 2 all-reduces in each of forward, recomputed forward and backward, per
  // layer; per micro-batch the embedding's and the head input's all-reduce (the loss's three run at
  // TP 1 too: the profile's per-micro-batch time holds them).
  p.tp = 2;
  const double around = 8 * 2 * 100e-6;
  EXPECT_NEAR(step(p, 100) - step(p, 0), 8 * 4 * 6 * 100e-6 + around, 1e-9);
  // With SP, per block an all-gather and a reduce-scatter forward (twice, with the recomputed
  // forward) and three backward (the input gathered again for the weight gradient); around the
  // layers the embedding's reduce-scatter and all-gather and the head's three.
  p.sp = true;
  const double around_sp = 8 * (2 + 3) * 100e-6;
  EXPECT_NEAR(step(p, 100) - step(p, 0), 8 * 4 * (4 + 4 + 6) * 100e-6 + around_sp, 1e-9);
  // Without recompute, forward and backward only.
  p.sp = false, p.recompute = Recompute::kNone;
  EXPECT_NEAR(step(p, 100) - step(p, 0), 8 * 4 * 4 * 100e-6 + around, 1e-9);
  // Megatron's selective recompute runs no collective again; torchtitan's op-level policy runs
  // the forward's all-reduces (with SP: its all-gathers) again.
  p.recompute = Recompute::kSelective;
  EXPECT_NEAR(step(p, 100) - step(p, 0), 8 * 4 * 4 * 100e-6 + around, 1e-9);
  p.recompute = Recompute::kSelectiveOp;
  EXPECT_NEAR(step(p, 100) - step(p, 0), 8 * 4 * 6 * 100e-6 + around, 1e-9);
  p.sp = true;
  EXPECT_NEAR(step(p, 100) - step(p, 0), 8 * 4 * (4 + 6 + 2) * 100e-6 + around_sp, 1e-9);
}

// With waits in every layer forward, the forward's calls bind the forward phase and the others
// the backward phase, each on its own: a forward far slower on the host than on the GPU pays its
// own calls in full, while a fast backward hides its calls under its GPU work.
TEST(StepTimeTest, CollectiveCallsFallInTheirOwnPhaseWhenLayersWaitForTheGpu) {
  Architecture a = LoadArch("gpt3-175b");
  a.hidden = 1024, a.heads = 16, a.kv_heads = 16, a.head_dim = 64, a.ffn = 4096, a.layers = 4;
  auto step = [&](double call_us) {
    // A forward far beyond the GPU's, a backward far below it.
    auto h = Profile(1e5 + 1, 1e5, 1, 1);
    h->layer_checkpointed_forward = Seconds(0.1);
    h->gpu_waits_per_layer_forward = 2;
    h->collective_call = Seconds(call_us * 1e-6);
    TrainingJob j;
    j.seq_len = 2048;
    j.global_batch = 8;  // 8 micro-batches of one sequence
    j.host_profile = std::move(h);
    Plan p;
    p.tp = 2;
    p.recompute = Recompute::kFull;
    return EstimateStep(
               MakeCostContext(a, CountParameters(a), j, CatalogCluster("a100-sxm-80gb", 2)), p)
        .step.value();
  };
  // Forward: 2 calls of 10 µs per layer and micro-batch bind; the backward's 4 hide; the two
  // calls around the layers hide under the head's GPU work.
  EXPECT_NEAR(step(10) - step(0), 8 * 4 * 2 * 10e-6, 1e-9);
}

// Each micro-batch's input path (Megatron's get_batch): the host waits for the GPU where
// broadcast_data copies the sizes back, so the part after the wait idles the GPU on every stage;
// the data-loader receive before it hides behind the GPU work the host has queued ahead, when
// there is any. A host-bound small model pays both, a GPU-bound large one only the part after.
TEST(StepTimeTest, TheInputPathWaitsForTheGpuOncePerMicroBatch) {
  auto profile = [](double before_us, double after_us) {
    auto h = Profile(3000, 1000, 2000, 1000);
    h->input_before_sync = Seconds(before_us * 1e-6);
    h->input_after_sync = Seconds(after_us * 1e-6);
    return h;
  };
  auto step = [](const Architecture& a, int64_t devices, int64_t global_batch, const Plan& p,
                 std::shared_ptr<HostProfile> h) {
    TrainingJob j;
    j.seq_len = devices == 1 ? 256 : 2048;
    j.global_batch = global_batch;
    j.host_profile = std::move(h);
    return EstimateStep(
               MakeCostContext(a, CountParameters(a), j, CatalogCluster("a100-sxm-80gb", devices)),
               p)
        .step.value();
  };
  Architecture small = LoadArch("gpt3-175b");
  small.hidden = 256, small.heads = 4, small.kv_heads = 4, small.head_dim = 64, small.ffn = 1024,
  small.layers = 4;
  Plan p;
  p.recompute = Recompute::kFull;
  // 8 micro-batches of one sequence, host-bound: 8 x (2 + 0.3) ms.
  EXPECT_NEAR(step(small, 1, 8, p, profile(2000, 300)) - step(small, 1, 8, p, profile(0, 0)),
              8 * 2.3e-3, 1e-9);

  const Architecture big = LoadArch("gpt3-175b");
  Plan pipelined;
  pipelined.tp = 8, pipelined.pp = 8, pipelined.recompute = Recompute::kFull;
  // 16 micro-batches over 8 stages, GPU-bound: the 0.3 ms after the wait on every stage, which
  // the 1F1B schedule pays 16 + 8 - 1 times; the 2 ms receive hides behind queued work.
  EXPECT_NEAR(step(big, 64, 16, pipelined, profile(2000, 300)) -
                  step(big, 64, 16, pipelined, profile(0, 0)),
              (16 + 8 - 1) * 0.3e-3, 1e-9);
}

// Each stage's input path hides its data-loader receive behind its own queued GPU work: the last
// stage behind its layers and the head, the others behind their layers alone. A faster GPU then
// leaves a host-bound pipeline no slower: on the last stage the receive takes back what the head
// gives up, and the other stages, whose work holds no head, wait as before.
TEST(StepTimeTest, EachStageRunsTheInputPathBesideItsOwnGpuWork) {
  Architecture small = LoadArch("gpt3-175b");
  small.hidden = 256, small.heads = 4, small.kv_heads = 4, small.head_dim = 64, small.ffn = 1024,
  small.layers = 8;
  TrainingJob job;
  job.seq_len = 512;
  job.global_batch = 16;
  auto host = Profile(3000, 1000, 2000, 1000);
  host->input_before_sync = Seconds(2000e-6);
  host->input_after_sync = Seconds(300e-6);
  job.host_profile = host;
  Plan p;
  p.pp = 4, p.recompute = Recompute::kNone;
  auto step = [&](double speedup, Schedule schedule) {
    Cluster c = CatalogCluster("a100-sxm-80gb", 4);
    for (Figure& f : c.spec.peak_tflops) f.value *= speedup;
    c.spec.hbm_bandwidth_tbytes_per_s.value *= speedup;
    Plan plan = p;
    plan.schedule = schedule;
    return EstimateStep(MakeCostContext(small, CountParameters(small), job, c), plan).step.value();
  };
  for (Schedule schedule : {Schedule::k1F1B, Schedule::kGpipe}) {
    const double base = step(1, schedule);
    EXPECT_GT(base, 0);
    EXPECT_LE(step(2, schedule), base * (1 + 1e-12)) << static_cast<int>(schedule);
    EXPECT_LE(step(4, schedule), step(2, schedule) * (1 + 1e-12)) << static_cast<int>(schedule);
  }
}

// Zero-bubble schedules run the weight gradients as a pass of their own, bound by its own slower
// side. Bound as one with a host-bound backward, a faster GPU shortened the deferred pass that
// fills the bubble while the host still paced the backward: a longer step, by up to 0.6% here
// (a 24-layer GPT of hidden 1,024 at PP 4 and two micro-batches, with Megatron-DeepSpeed's
// measured host, doubling only the dense peak). Now none of these plans is slower on it.
TEST(StepTimeTest, AHostBoundWeightGradientPassIsBoundOnItsOwn) {
  Architecture small = LoadArch("gpt3-175b");
  small.hidden = 1024, small.heads = 16, small.kv_heads = 16, small.head_dim = 64,
  small.ffn = 4096, small.layers = 24;
  StatusOr<HostProfile> host = Catalog::Default().HostProfileById("megatron-deepspeed-gpt-eager-h200-gpuhost");
  ASSERT_TRUE(host.ok()) << host.status().message();
  TrainingJob job;
  job.seq_len = 1024;
  job.precision = Dtype::kFp16;
  job.host_profile = std::make_shared<HostProfile>(*host);
  auto jobOf = [&](int64_t batch) {
    TrainingJob j = job;
    j.global_batch = batch;
    return j;
  };
  auto planOf = [](Schedule schedule, Recompute recompute) {
    Plan plan;
    plan.pp = 4, plan.dp = 2, plan.schedule = schedule, plan.recompute = recompute;
    return plan;
  };
  auto step = [&](double peak_speedup, Schedule schedule, Recompute recompute, int64_t batch) {
    Cluster c = CatalogCluster("a100-sxm-80gb", 8);
    for (Figure& f : c.spec.peak_tflops) f.value *= peak_speedup;
    return EstimateStep(MakeCostContext(small, CountParameters(small), jobOf(batch), c),
                        planOf(schedule, recompute))
        .step.value();
  };
  int checked = 0;
  for (Schedule schedule : {Schedule::kZbH1, Schedule::kDualPipe}) {
    for (Recompute recompute : {Recompute::kNone, Recompute::kFull}) {
      for (int64_t batch : {4, 8, 16, 64}) {  // 2 to 32 micro-batches per pipeline
        // DualPipe needs at least twice as many micro-batches as stages: 16 and 64 only.
        if (FindPlanIssue(small, planOf(schedule, recompute), jobOf(batch), 8) != PlanIssue::kValid) {
          continue;
        }
        ++checked;
        const double base = step(1, schedule, recompute, batch);
        EXPECT_LE(step(2, schedule, recompute, batch), base * (1 + 1e-12))
            << static_cast<int>(schedule) << " " << static_cast<int>(recompute) << " " << batch;
      }
    }
  }
  EXPECT_EQ(checked, 12) << "ZB-H1 at every batch, DualPipe at 16 and 64";
}

// Megatron-DeepSpeed's layer forward copies two new scalars to the device, and each copy waits for
// the GPU: the host cannot queue the next phase while the GPU runs this one. With such waits, a
// host-bound forward and a GPU-bound backward no longer offset each other, and the next
// micro-batch's data-loader receive hides only behind the last layer's backward.
TEST(StepTimeTest, LayersThatWaitForTheGpuBindEachPhaseOnItsOwn) {
  Architecture a = LoadArch("gpt3-175b");
  a.hidden = 1024, a.heads = 16, a.kv_heads = 16, a.head_dim = 64, a.ffn = 4096, a.layers = 4;
  auto profile = [](double fwd_us, double bwd_us, int64_t waits, double receive_us) {
    auto h = Profile(fwd_us + bwd_us, fwd_us, bwd_us, 1);
    h->layer_checkpointed_forward = Seconds(fwd_us * 1e-6);
    h->gpu_waits_per_layer_forward = waits;
    h->input_before_sync = Seconds(receive_us * 1e-6);
    return h;
  };
  auto step = [&](std::shared_ptr<HostProfile> h) {
    TrainingJob j;
    j.seq_len = 2048;
    j.global_batch = 8;  // 8 micro-batches of one sequence
    j.host_profile = std::move(h);
    Plan p;
    p.recompute = Recompute::kFull;
    return EstimateStep(
               MakeCostContext(a, CountParameters(a), j, CatalogCluster("a100-sxm-80gb", 1)), p)
        .step.value();
  };
  // A forward far slower on the host than on the GPU; a backward phase of 1 or 101 µs of host
  // time, both below its GPU time. With waits, the backward's extra host time hides under its own
  // GPU work but for the idle after each wait (its share per launch: WaitGapSeconds); without, it
  // adds to a layer already bound by the host.
  const double hidden = step(profile(1e5, 101, 2, 0)) - step(profile(1e5, 1, 2, 0));
  EXPECT_GT(hidden, 0);
  EXPECT_LT(hidden, 0.1 * 8 * 4 * 100e-6);
  EXPECT_NEAR(step(profile(1e5, 101, 0, 0)) - step(profile(1e5, 1, 0, 0)), 8 * 4 * 100e-6, 1e-9);
  // The host-bound forward costs its host time, layer by layer, micro-batch by micro-batch.
  EXPECT_NEAR(step(profile(2e5, 1, 2, 0)) - step(profile(1e5, 1, 2, 0)), 8 * 4 * 0.1, 1e-9);
  // A fast host, waits or not: a 1 µs receive hides behind the work queued ahead of it.
  EXPECT_NEAR(step(profile(1, 1, 2, 1)) - step(profile(1, 1, 2, 0)), 0, 1e-12);
  EXPECT_NEAR(step(profile(1, 1, 0, 1)) - step(profile(1, 1, 0, 0)), 0, 1e-12);
  // A long receive: with waits, only the first layer's backward runs beside it, so more of it
  // shows.
  const double with_waits = step(profile(1, 1, 2, 5e4)) - step(profile(1, 1, 2, 0));
  const double without = step(profile(1, 1, 0, 5e4)) - step(profile(1, 1, 0, 0));
  EXPECT_GT(with_waits, without + 1e-6);
  EXPECT_LT(with_waits, 8 * 5e-2 + 1e-9);

  // Without recompute the backward has no waits: the receive hides behind the backward phases of
  // every layer and the head, though not behind the forward's.
  auto plain = [&](std::shared_ptr<HostProfile> h) {
    TrainingJob j;
    j.seq_len = 2048;
    j.global_batch = 8;
    j.host_profile = std::move(h);
    Plan p;
    return EstimateStep(
               MakeCostContext(a, CountParameters(a), j, CatalogCluster("a100-sxm-80gb", 1)), p)
        .step.value();
  };
  EXPECT_NEAR(plain(profile(1, 1, 2, 1)) - plain(profile(1, 1, 2, 0)), 0, 1e-12);
  const double plain_waits = plain(profile(1, 1, 2, 5e4)) - plain(profile(1, 1, 2, 0));
  const double plain_free = plain(profile(1, 1, 0, 5e4)) - plain(profile(1, 1, 0, 0));
  EXPECT_GT(plain_waits, plain_free + 1e-6);
  EXPECT_LT(plain_waits, with_waits) << "four layers' backward hide more than one layer's";
}

// Each wait returns to an idle GPU, which waits in turn for the host's next launch: a layer bound
// by the GPU still pays, per wait, the host's time per operation of that phase (the forward's
// kernels and copies; in full recompute's backward phase, the recomputed forward's and the
// backward's). No waits, no gap; the gap grows with the host's time, whatever the GPU's.
TEST(StepTimeTest, AfterEachWaitTheGpuIdlesUntilTheHostsNextLaunch) {
  Architecture a = LoadArch("gpt3-175b");
  a.layers = 4;  // a wide layer: the GPU outlasts the host in both phases
  Plan p;
  p.recompute = Recompute::kFull;
  // 8 micro-batches of one sequence, under a profile with `waits` per layer forward, F and B of
  // host time in the forward and backward phases, and a data-loader receive before the sync.
  auto context = [&](int64_t waits, double forward_us, double backward_phase_us, double receive_us) {
    auto h = Profile(forward_us + backward_phase_us, forward_us, 1, 1);
    h->layer_checkpointed_forward = Seconds(forward_us * 1e-6);
    h->gpu_waits_per_layer_forward = waits;
    h->input_before_sync = Seconds(receive_us * 1e-6);
    TrainingJob j;
    j.seq_len = 2048;
    j.global_batch = 8;
    j.host_profile = std::move(h);
    return MakeCostContext(a, CountParameters(a), j, CatalogCluster("a100-sxm-80gb", 1));
  };
  auto wait_us = [&](int64_t waits, double forward_us, double backward_phase_us) {
    const LayerTime l = EstimateLayers(context(waits, forward_us, backward_phase_us, 0), p).dense;
    EXPECT_GT(l.forward.value(), 10 * forward_us * 1e-6) << "the GPU is the slower side";
    return l.host_wait.value() * 1e6;
  };
  EXPECT_DOUBLE_EQ(wait_us(0, 100, 0), 0);
  // Forward only: w waits cost w x F / (k + w), k the forward's kernels.
  const double one = wait_us(1, 100, 0), two = wait_us(2, 100, 0);
  ASSERT_GT(one, 0) << "a GPU-bound layer still waits after each wait";
  const double kernels = 100 / one - 1;
  EXPECT_GT(kernels, 5);
  EXPECT_LT(kernels, 100);
  EXPECT_NEAR(two, 2 * 100 / (kernels + 2), 1e-9);
  EXPECT_NEAR(wait_us(2, 200, 0), 2 * two, 1e-9);
  // The backward phase: the recomputed forward's two waits at its host time over 3k + 2 operations.
  EXPECT_NEAR(wait_us(2, 100, 300) - two, 2 * 300 / (3 * kernels + 2), 1e-9);

  // The host, done with its part of a phase the GPU binds, is free for the rest of it, the gap
  // included: the next micro-batch's data-loader receive hides behind the first layer's backward
  // phase less the host's B there, plus the gap, so 100 µs more of B shows 100 (1 - 2/(3k + 2)) µs
  // more of a long receive in each of the 8 micro-batches.
  auto receive_shows = [&](double backward_phase_us) {
    auto step = [&](double receive_us) {
      return EstimateStep(context(2, 100, backward_phase_us, receive_us), p).step.value();
    };
    return step(1e6) - step(0);  // a receive of one second
  };
  EXPECT_NEAR(receive_shows(400) - receive_shows(300), 8 * 100e-6 * (1 - 2 / (3 * kernels + 2)),
              1e-9);
}

}  // namespace
}  // namespace preflight::test_support
