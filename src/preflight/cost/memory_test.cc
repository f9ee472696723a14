// Tests of cost/memory.h against the closed forms it implements, for one dense layer, the
// micro-batches in flight and a stage's transient peaks (MoE and MLA layers, low-precision storage
// and recompute modules: memory_moe_precision_test.cc; a stage's memory and model states:
// memory_stage_test.cc):
//  - activations: Korthikanti et al. 2022, Eq. 1-6 and Table 2, and the worked GPT-3 example of
//    cost-model-notes §3.2 (h = 12288, a = 96, L = 96, s = 2048, b = 1, t = 8, p = 8);
//  - in-flight micro-batches per schedule: cost-model-notes §3.3;
//  - the last stage's head, ZeRO-3's gathered units, the FP8 weight copy and the optimizer step's
//    fp32 gradient copy.
#include "preflight/cost/memory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>

#include "preflight/cost/memory_test_support.h"
#include "preflight/model/model.h"
#include "preflight/model/test_support.h"

namespace preflight {
namespace {

using test_support::Gpt3;
using test_support::Job;
using test_support::KorthikantiJob;
using test_support::kSbh;
using test_support::LoadArch;
using test_support::Tp8Pp8;

TEST(ActivationTest, KorthikantiPerLayer) {
  const Architecture a = Gpt3();
  const double t = 8, as_over_h = 96.0 * 2048 / 12288;  // 5as/h = 80
  struct Case {
    const char* what;
    bool sp;
    Recompute recompute;
    double want;    // bytes per layer, from the paper's formula
    double worked;  // the notes' worked figure (MB)
  };
  const Case cases[] = {
      {"TP (Eq. 2)", false, Recompute::kNone, kSbh * (10 + 24 / t + 5 * as_over_h / t), 578.8e6},
      {"TP + SP (Eq. 4)", true, Recompute::kNone, kSbh / t * (34 + 5 * as_over_h), 358.6e6},
      {"TP + selective (Table 2)", false, Recompute::kSelective, kSbh * (10 + 24 / t), 327.2e6},
      {"TP + SP + selective (Table 2)", true, Recompute::kSelective, 34 * kSbh / t, 106.95e6},
  };
  for (const Case& c : cases) {
    LayerActivationBytes got =
        ActivationBytesPerLayer(a, Tp8Pp8(c.sp, c.recompute), KorthikantiJob());
    EXPECT_NEAR(got.dense, c.want, c.want * 0.005) << c.what;
    EXPECT_NEAR(got.dense, c.worked, c.worked * 0.005) << c.what;
    EXPECT_EQ(got.moe, 0) << "dense model";
  }
}

TEST(ActivationTest, KorthikantiNoParallelism) {
  // Eq. 1: sbh(34 + 5as/h) = 2,868.9 MB for GPT-3.
  Plan p;
  LayerActivationBytes got = ActivationBytesPerLayer(Gpt3(), p, KorthikantiJob());
  EXPECT_NEAR(got.dense, kSbh * (34 + 80), kSbh * 114 * 0.005);
  EXPECT_NEAR(got.dense, 2868.9e6, 2868.9e6 * 0.005);
}

TEST(ActivationTest, FullRecomputeKeepsLayerInput) {
  // Table 2: 2sbh per layer (50.3 MB); with SP the input is also split over t.
  LayerActivationBytes tp =
      ActivationBytesPerLayer(Gpt3(), Tp8Pp8(false, Recompute::kFull), KorthikantiJob());
  EXPECT_NEAR(tp.recompute_input, 2 * kSbh, 1);
  EXPECT_NEAR(tp.recompute_input, 50.3e6, 0.1e6);
  LayerActivationBytes sp =
      ActivationBytesPerLayer(Gpt3(), Tp8Pp8(true, Recompute::kFull), KorthikantiJob());
  EXPECT_NEAR(sp.recompute_input, 2 * kSbh / 8, 1);
}

TEST(ActivationTest, SaveSeventyPercentForGpt3) {
  // Korthikanti abstract: selective recompute + SP saves 80/(34 + 80) = 70.2% over SP alone.
  Architecture a = Gpt3();
  double sp = ActivationBytesPerLayer(a, Tp8Pp8(true, Recompute::kNone), KorthikantiJob()).dense;
  double sel =
      ActivationBytesPerLayer(a, Tp8Pp8(true, Recompute::kSelective), KorthikantiJob()).dense;
  EXPECT_NEAR(1 - sel / sp, 0.702, 0.002);
}

TEST(ActivationTest, ScalesWithMicroBatchAndContextParallel) {
  Architecture a = Gpt3();
  Plan p = Tp8Pp8(true, Recompute::kSelective);
  double one = ActivationBytesPerLayer(a, p, KorthikantiJob()).dense;
  p.micro_batch = 4;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, KorthikantiJob()).dense, 4 * one);
  p.micro_batch = 1;
  p.cp = 2;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, KorthikantiJob()).dense, one / 2);
}

// cost-model-notes §3.2: GQA + SwiGLU + flash attention + no dropout stores (12 + 4g)·h + 6F bytes
// per token per layer; Llama-3.1-8B: 139,264 B (plus 4·n_q bytes of fp32 log-sum-exp when the
// attention is not recomputed).
TEST(ActivationTest, Llama31_8bPerToken) {
  Architecture a = LoadArch("llama-3.1-8b");
  TrainingJob j = Job(8192, 8);
  Plan p;
  p.recompute = Recompute::kSelective;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, j).dense / 8192, 139264);
  p.recompute = Recompute::kNone;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, j).dense / 8192, 139264 + 4 * 32);
  // Unfused attention without dropout adds 2·a·s bytes per token.
  j.flash_attention = false;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, j).dense / 8192, 139264 + 2.0 * 32 * 8192);
  // An unfused softmax in 16 bits keeps what the kernel keeps; in fp32 its fp32 output besides
  // the 16-bit copy: 6·a·s.
  j.attention_softmax = AttentionSoftmax::kUnfused;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, j).dense / 8192, 139264 + 2.0 * 32 * 8192);
  j.attention_softmax_in_fp32 = true;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, j).dense / 8192, 139264 + 6.0 * 32 * 8192);
  // With dropout (a GPT layer) the 16-bit copy is dropout's output: 5·a·s fused, 7·a·s unfused.
  Architecture gpt = LoadArch("gpt3-175b");
  ASSERT_TRUE(gpt.dropout);
  auto scores = [&](AttentionSoftmax softmax) {
    TrainingJob g = j;
    g.attention_softmax = softmax;
    return ActivationBytesPerLayer(gpt, p, g).dense / 8192;
  };
  EXPECT_DOUBLE_EQ(scores(AttentionSoftmax::kUnfused) - scores(AttentionSoftmax::kFused), 2.0 * 96 * 8192);
}

// Eager PyTorch's elementwise ops save more than fused kernels, per token of a Llama layer: each
// RMSNorm its fp32 input copy (+4h), SwiGLU the SiLU output (+2F); RoPE's product with the
// frequency buffer saves no q or k. Llama-3.1-8B: 2·4·4096 + 2·14336 = 61,440 bytes. With TP 2
// and SP every term halves. A GPT-2 layer (LayerNorm, learned positions, GeLU) and BLOOM's
// (ALiBi) save the same either way.
TEST(ActivationTest, EagerElementwiseSavesMoreThanFusedKernels) {
  Architecture a = LoadArch("llama-3.1-8b");
  TrainingJob j = Job(8192, 8);
  Plan p;
  p.recompute = Recompute::kNone;
  auto extra = [&](const Architecture& arch, const Plan& plan) {
    TrainingJob eager = j;
    eager.elementwise_fusion = false;
    return (ActivationBytesPerLayer(arch, plan, eager).dense - ActivationBytesPerLayer(arch, plan, j).dense) / 8192;
  };
  EXPECT_DOUBLE_EQ(extra(a, p), 2 * 4 * 4096 + 2 * 14336);
  Plan tp2 = p;
  tp2.tp = 2, tp2.sp = true;
  EXPECT_DOUBLE_EQ(extra(a, tp2), (2 * 4 * 4096 + 2 * 14336) / 2.0);
  // Full recompute keeps only the layer input; the layer being recomputed holds the eager extras.
  Plan full = p;
  full.recompute = Recompute::kFull;
  TrainingJob eager = j;
  eager.elementwise_fusion = false;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, full, eager).recompute_input, ActivationBytesPerLayer(a, full, j).recompute_input);
  EXPECT_DOUBLE_EQ(extra(LoadArch("gpt3-175b"), p), 0);
  EXPECT_DOUBLE_EQ(extra(LoadArch("bloom-176b"), p), 0);
}

// Qwen3's per-head q and k norms keep their inputs: a fused norm its 16-bit input, eager RMSNorm
// its fp32 copy besides (6 bytes), per element of the rank's q and k heads. On Llama-3.1-8B's
// shape (32 query and 8 KV heads of 128): 2·(32 + 8)·128 = 10,240 bytes per token, halved at TP 2.
TEST(ActivationTest, QkNormsKeepTheirInputs) {
  Architecture a = LoadArch("llama-3.1-8b");
  TrainingJob j = Job(8192, 8);
  Plan p;
  p.recompute = Recompute::kNone;
  Architecture qk = a;
  qk.qk_norm = true;
  auto added = [&](const Plan& plan, bool fused) {
    TrainingJob v = j;
    v.elementwise_fusion = fused;
    return (ActivationBytesPerLayer(qk, plan, v).dense - ActivationBytesPerLayer(a, plan, v).dense) / 8192;
  };
  EXPECT_DOUBLE_EQ(added(p, true), 2.0 * 40 * 128);
  EXPECT_DOUBLE_EQ(added(p, false), 6.0 * 40 * 128);
  Plan tp2 = p;
  tp2.tp = 2, tp2.sp = true;
  EXPECT_DOUBLE_EQ(added(tp2, true), 2.0 * 40 * 128 / 2);
}

// torchtitan's op-level selective recompute keeps, per token of a Llama layer, its input (2h), the
// outputs of wq (2q), wv (2kv), fused attention (2q, and 4 bytes of log-sum-exp per head), w1 (2F)
// and w2 (2h: the 7th product, odd, so saved): 63,616 bytes on Llama-3.1-8B, where Megatron's
// selective recompute keeps 139,264. On a stage it holds that for every layer, plus the layer being
// recomputed.
TEST(ActivationTest, OpLevelSelectiveRecomputeKeepsTheSavedProducts) {
  Architecture a = LoadArch("llama-3.1-8b");
  TrainingJob j = Job(8192, 8);
  Plan p;
  p.recompute = Recompute::kSelectiveOp;
  const LayerActivationBytes bytes = ActivationBytesPerLayer(a, p, j);
  EXPECT_DOUBLE_EQ(bytes.op_sac / 8192,
                   2 * 4096 + 2 * 4096 + 2 * 1024 + 2 * 4096 + 4 * 32 + 2 * 14336 + 2 * 4096);
  const MemoryBreakdown b = EstimateStageMemory(a, CountParameters(a), p, j, 0, MemoryOptions{});
  const double head = 8192.0 * (4 * 4096 + 4 * 128256);  // final norm and head inputs, fp32 logits
  // The layer being recomputed adds what the policy did not keep of it, or the head its logits:
  // the head's backward ends before the last layer's begins.
  EXPECT_NEAR(b.activations.value(), 32 * bytes.op_sac + std::max(bytes.dense - bytes.op_sac, head), 1);
  p.recompute = Recompute::kSelective;
  EXPECT_GT(EstimateStageMemory(a, CountParameters(a), p, j, 0, MemoryOptions{}).activations.value(),
            1.5 * b.activations.value());
}

// Under TP with SP the policy also keeps both reduce-scatters' outputs (wo's and w2's, [tokens/t,
// hidden] each), while w2's product stays a full-width partial sum on every rank.
TEST(ActivationTest, OpLevelSelectiveRecomputeUnderTensorParallelKeepsTheScatteredOutputs) {
  Architecture a = LoadArch("llama-3.1-8b");
  TrainingJob j = Job(8192, 8);
  Plan p;
  p.recompute = Recompute::kSelectiveOp;
  p.tp = 4, p.sp = true;
  const double per_token = ActivationBytesPerLayer(a, p, j).op_sac / 8192;
  const double sharded = (2 * 4096 + 2 * 1024 + 2 * 4096 + 4 * 32 + 2 * 14336) / 4.0;
  EXPECT_DOUBLE_EQ(per_token, 2 * 4096 / 4.0 + sharded + 2 * 4096 + 2 * (2 * 4096 / 4.0));
}

// JAX's dots policy (MaxText's remat "minimal") keeps the layer input and the outputs of the weight
// products: q, k, v and the MLP's gate and up split by TP; the output projection's and the down
// projection's [tokens, hidden] outputs and the input sequence-sharded with SP. Llama 3.1 8B (32
// heads, 8 KV heads of 128, MLP 14336) at TP 4 with SP: per token 2·4096·3/4 + (2·(4096 + 2·1024)
// + 4·14336)/4 bytes.
TEST(ActivationTest, DotsPolicyKeepsTheWeightProductsOutputs) {
  Architecture a = LoadArch("llama-3.1-8b");
  TrainingJob j = Job(8192, 8);
  Plan p;
  p.tp = 4, p.sp = true, p.recompute = Recompute::kDots;
  const LayerActivationBytes bytes = ActivationBytesPerLayer(a, p, j);
  EXPECT_DOUBLE_EQ(bytes.dots / 8192, 2.0 * 4096 * 3 / 4 + (2.0 * (4096 + 2 * 1024) + 4.0 * 14336) / 4);
  const MemoryBreakdown b = EstimateStageMemory(a, CountParameters(a), p, j, 0, MemoryOptions{});
  const double head = 8192.0 * (4 * 4096 / 4.0 + 4 * 128256 / 4.0);  // final norm and head inputs, fp32 logits
  EXPECT_NEAR(b.activations.value(), 32 * bytes.dots + std::max(bytes.dense - bytes.dots, head), 1);
  // Between full recompute (the input alone) and selective recompute (everything but the
  // attention products).
  p.recompute = Recompute::kFull;
  const double full = EstimateStageMemory(a, CountParameters(a), p, j, 0, MemoryOptions{}).activations.value();
  p.recompute = Recompute::kSelective;
  const double selective = EstimateStageMemory(a, CountParameters(a), p, j, 0, MemoryOptions{}).activations.value();
  EXPECT_GT(b.activations.value(), 1.5 * full);
  EXPECT_LT(b.activations.value(), 0.8 * selective);
  // Without SP the layer input and the two [tokens, hidden] outputs stay whole on every TP rank.
  p.recompute = Recompute::kDots, p.sp = false;
  const double no_sp = ActivationBytesPerLayer(a, p, j).dots;
  EXPECT_DOUBLE_EQ(no_sp / 8192, 2.0 * 4096 * 3 + (2.0 * (4096 + 2 * 1024) + 4.0 * 14336) / 4);
  // An ungated MLP keeps one first product (GPT-2 layout: 2·4h per token at TP 1).
  Plan g;
  g.recompute = Recompute::kDots;
  const Architecture gpt = test_support::Gpt(4096, 32, 24, 50304, 2048);
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(gpt, g, Job(2048, 1)).dots / 2048,
                   2.0 * 4096 * 3 + 2.0 * 3 * 4096 + 2.0 * 4 * 4096);
}

// ---------------------------------------------------------------------------------------------
// In-flight micro-batches, in units of the stage's own layer stack (memory.h).

TEST(InFlightTest, Schedules) {
  struct Case {
    const char* what;
    Schedule schedule;
    int64_t pp, vpp, micro_batches, stage;
    double want;
  };
  const Case cases[] = {
      {"1f1b stage 0 holds p", Schedule::k1F1B, 8, 1, 64, 0, 8},
      {"1f1b stage r holds p - r", Schedule::k1F1B, 8, 1, 64, 3, 5},
      {"1f1b last stage holds 1", Schedule::k1F1B, 8, 1, 64, 7, 1},
      {"1f1b with fewer micro-batches than stages", Schedule::k1F1B, 8, 1, 4, 0, 4},
      {"zb-h1 like 1f1b", Schedule::kZbH1, 8, 1, 64, 0, 8},
      // Interleaved p = 8, v = 3: 2·7 + 2·8 + 1 = 31 chunk-micro-batches of L/24 layers, i.e.
      // 31/3 stacks of L/8 layers = L·(1 + 7/24) (Korthikanti §4.2.3).
      {"interleaved stage 0", Schedule::kInterleaved, 8, 3, 64, 0, 31.0 / 3},
      {"interleaved last stage", Schedule::kInterleaved, 8, 3, 64, 7, (2 * 8 + 1) / 3.0},
      {"gpipe holds all", Schedule::kGpipe, 8, 1, 64, 0, 64},
      {"gpipe holds all on any stage", Schedule::kGpipe, 8, 1, 64, 5, 64},
      {"dualpipe p + 1", Schedule::kDualPipe, 16, 1, 120, 0, 17},
      {"pp 1 holds one", Schedule::k1F1B, 1, 1, 64, 0, 1},
  };
  for (const Case& c : cases) {
    Plan p;
    p.pp = c.pp;
    p.vpp = c.vpp;
    p.schedule = c.schedule;
    EXPECT_NEAR(InFlightMicroBatches(p, c.micro_batches, c.stage), c.want, 1e-12) << c.what;
  }
  Plan p;
  p.pp = 8;
  p.vpp = 3;
  p.schedule = Schedule::kInterleaved;
  EXPECT_NEAR(InFlightMicroBatches(p, 64, 0) / p.pp, 1 + 7.0 / 24, 1e-12)
      << "in units of all L layers";
}

// Megatron's 1F1B all-to-all overlap (--overlap-moe-expert-parallel-comm) warms up one forward
// more, in place of the steady state's forward before its backward: each combined step runs a
// forward layer beside a backward layer that releases its state, so the peak stays the
// schedule's (31 chunk-micro-batches at p = 8, v = 3), within a layer.
TEST(InFlightTest, AllToAllOverlapKeepsThePeak) {
  Plan p;
  p.pp = 8;
  p.vpp = 3;
  p.schedule = Schedule::kInterleaved;
  const double without = InFlightMicroBatches(p, 64, 0);
  p.ep_comm_overlap = true;
  EXPECT_NEAR(InFlightMicroBatches(p, 64, 0), without, 1e-12);
  EXPECT_NEAR(InFlightMicroBatches(p, 64, 0), 31.0 / 3, 1e-12);
}

// The last stage's peak is its head's (logits and loss) or a layer's backward, not both: the
// head's backward ends, freeing the logits, before the last layer's recompute begins. Llama 3.1
// 8B over PP 4 at 8K tokens with full recompute: each of the stage's 8 layers keeps its input, and
// the head's 4.3 GB of fp32 logits outweigh the recomputed layer's activations.
TEST(ActivationTest, TheLastStageHoldsTheHeadOrALayerNotBoth) {
  Architecture a = LoadArch("llama-3.1-8b");
  TrainingJob j = Job(8192, 64);
  Plan p;
  p.pp = 4, p.dp = 1, p.recompute = Recompute::kFull;
  const LayerActivationBytes bytes = ActivationBytesPerLayer(a, p, j);
  const MemoryBreakdown b = EstimateStageMemory(a, CountParameters(a), p, j, 3, MemoryOptions{});
  const double head = 8192.0 * (4 * 4096 + 4 * 128256);
  ASSERT_GT(head, bytes.dense);
  EXPECT_NEAR(b.activations.value(), 8 * bytes.recompute_input + head, 1);
}

// ZeRO-3 gathers a unit at a time: at the peak the running unit and the prefetched one are whole
// in 16 bits and the running unit's gradient is whole. Llama 3.1 8B's largest unit is its
// embedding or output layer (128,256 x 4,096, untied), whose neighbour is a layer (218M
// parameters). DeepSpeed's per-parameter gathers hold one tensor (the embedding) and a reduce
// bucket of the layer; with DP 1 nothing is sharded and nothing is gathered.
// Llama 3.1 8B at 8K tokens under ZeRO-3 over 8 ranks with full recompute: the FSDP case the
// gathered-unit tests share.
struct Llama8bZero3 {
  Architecture a = LoadArch("llama-3.1-8b");
  ParamCounts c = CountParameters(a);
  TrainingJob j = Job(8192, 64);
  Plan p = [] {
    Plan plan;
    plan.dp = 8, plan.zero = 3, plan.recompute = Recompute::kFull;
    return plan;
  }();
  MemoryBreakdown Estimate() const { return EstimateStageMemory(a, c, p, j, 0, MemoryOptions{}); }
};

TEST(MemoryTest, ZeroThreeHoldsTwoGatheredUnitsAndOneGradient) {
  Llama8bZero3 f;
  const Architecture& a = f.a;
  const ParamCounts& c = f.c;
  const TrainingJob& j = f.j;
  Plan& p = f.p;
  const MemoryBreakdown b = f.Estimate();
  const double total = static_cast<double>(c.total), unit = 128256.0 * 4096;
  const double layer = static_cast<double>(c.dense_layer);
  ASSERT_GT(unit, layer);
  // Model states stay the shards; the gathered buffers are transient ("other").
  EXPECT_NEAR(b.weights.value(), 2 * total / 8, 1);
  EXPECT_NEAR(b.gradients.value(), 4 * total / 8, 1);
  const MemoryOptions none{};
  auto reserved = [&](const MemoryBreakdown& m) {
    return none.runtime_reserved.value() + m.activations.value() * none.activation_temporaries_fraction;
  };
  EXPECT_NEAR(b.other.value(), reserved(b) + 2 * (unit + layer) + 4 * unit, 1);
  p.zero3_gather_per_parameter = true;
  const MemoryBreakdown deepspeed = EstimateStageMemory(a, c, p, j, 0, MemoryOptions{});
  EXPECT_NEAR(deepspeed.other.value(), reserved(deepspeed) + 2 * unit + 4 * layer, 1);
  p.zero3_gather_per_parameter = false;
  p.dp = 1;
  const MemoryBreakdown alone = EstimateStageMemory(a, c, p, j, 0, MemoryOptions{});
  EXPECT_NEAR(alone.other.value(), reserved(alone), 1);
  // Gathered once for the step (FSDP2 without resharding), the stage stays whole instead.
  p.dp = 8, p.fsdp_gather_once = true;
  const MemoryBreakdown once = EstimateStageMemory(a, c, p, j, 0, MemoryOptions{});
  EXPECT_NEAR(once.weights.value(), 2 * total / 8 + 2 * total, 1);
  EXPECT_NEAR(once.other.value(), reserved(once), 1);
}

// MaxText's FSDP (training.weight_dtype: fp32, grad_reduce_dtype: bf16): the fp32 parameter is the
// only copy and the optimizer's master (4 + 8 bytes a parameter, not 2 + 12), and a layer's unsharded
// gradient waits for its reduce-scatter in bf16 while the sharded gradients stay fp32.
TEST(MemoryTest, Fp32WeightsKeepNoSixteenBitCopyAndTheReductionDtypeSizesTheGatheredGradient) {
  Llama8bZero3 f;
  const MemoryBreakdown megatron = f.Estimate();
  TrainingJob& j = f.j;
  j.weight_dtype = Dtype::kFp32;
  j.grad_reduce_dtype = Dtype::kBf16;
  const MemoryBreakdown maxtext = f.Estimate();
  const double total = static_cast<double>(f.c.total), unit = 128256.0 * 4096;
  EXPECT_NEAR(maxtext.weights.value(), 4 * total / 8, 1);
  EXPECT_NEAR(maxtext.optimizer.value(), 8 * total / 8, 1);
  EXPECT_NEAR(megatron.optimizer.value(), 12 * total / 8, 1);
  EXPECT_NEAR(maxtext.gradients.value(), megatron.gradients.value(), 1);
  EXPECT_NEAR(megatron.other.value() - maxtext.other.value(), (4 - 2) * unit, 1);
  // Unset, the reduction moves the gradient buffer's dtype.
  j.grad_reduce_dtype.reset();
  j.grad_dtype = Dtype::kBf16;
  EXPECT_EQ(j.GradReduceDtype(), Dtype::kBf16);
}

// Transformer Engine's FP8 copy is of the GEMM weights: the embedding and the output layer (not
// TE modules) have none. Llama 3.1 8B on one device: 3 bytes a parameter but 2 for those two.
TEST(MemoryTest, TheFp8CopySkipsTheEmbeddingAndTheOutputLayer) {
  Architecture a = LoadArch("llama-3.1-8b");
  const ParamCounts c = CountParameters(a);
  TrainingJob j = Job(8192, 8);
  j.precision = Dtype::kFp8;
  Plan p;
  p.recompute = Recompute::kFull;
  const MemoryBreakdown b = EstimateStageMemory(a, c, p, j, 0, MemoryOptions{});
  const double vocab = 2.0 * 128256 * 4096;
  EXPECT_NEAR(b.weights.value(), 3 * static_cast<double>(c.total) - vocab, 1);
  // FP8 parameters (Megatron-Core's --fp8-param-gather): the FP8 casts replace the 16-bit GEMM
  // weights, 1 byte a parameter, and the embedding and output layer keep their 2.
  j.weight_dtype = Dtype::kFp8;
  const MemoryBreakdown fp8 = EstimateStageMemory(a, c, p, j, 0, MemoryOptions{});
  EXPECT_NEAR(fp8.weights.value(), static_cast<double>(c.total) + vocab, 1);
  EXPECT_NEAR(fp8.optimizer.value(), b.optimizer.value(), 1);  // the fp32 master stays
}

// An optimizer with fp32 main weights copies 16-bit gradients into fp32 at its step, when the
// activations are gone: 4 bytes a parameter, sharded as the optimizer states are, beyond the
// training peak only where it outgrows what the step frees. A small-activation plan (full recompute,
// one short sequence) of Llama 3.1 8B on one device: the step is the peak.
TEST(MemoryTest, TheOptimizerStepHoldsAnFp32CopyOf16BitGradients) {
  Architecture a = LoadArch("llama-3.1-8b");
  const ParamCounts c = CountParameters(a);
  const double total = static_cast<double>(c.total);
  TrainingJob j = Job(1024, 8);
  j.grad_dtype = Dtype::kFp16;
  Plan p;
  p.recompute = Recompute::kFull;
  const MemoryOptions options{};
  const MemoryBreakdown b = EstimateStageMemory(a, c, p, j, 0, options);
  const double freed = b.activations.value() + b.other.value() - options.runtime_reserved.value();
  ASSERT_LT(freed, 4 * total);
  EXPECT_NEAR(b.optimizer_step.value(), 4 * total - freed, 1);
  // The step's peak is the model states, the runtime and the copy.
  EXPECT_NEAR(b.Total().value(), (2 + 2 + 12 + 4) * total + options.runtime_reserved.value(), 1);

  // With ZeRO-1 over 8 ranks the copy is of the rank's shard, which the activations outgrow.
  p.dp = 8, p.zero = 1;
  const MemoryBreakdown sharded = EstimateStageMemory(a, c, p, j, 0, options);
  const double sharded_freed = sharded.activations.value() + sharded.other.value() - options.runtime_reserved.value();
  EXPECT_NEAR(sharded.optimizer_step.value(), std::max(0.0, 4 * total / 8 - sharded_freed), 1);
  p.dp = 1, p.zero = 0;

  // fp32 gradients (Megatron-Core's main_grad, DeepSpeed's bf16 optimizer) are the main ones: no copy.
  j.grad_dtype = Dtype::kFp32;
  EXPECT_EQ(EstimateStageMemory(a, c, p, j, 0, options).optimizer_step.value(), 0);
  // Nor is there one without main weights (fp32 training).
  j.grad_dtype = Dtype::kFp16;
  j.precision = Dtype::kFp32;
  EXPECT_EQ(EstimateStageMemory(a, c, p, j, 0, options).optimizer_step.value(), 0);

  // Long sequences without recompute: the activations the step frees outgrow the copy.
  TrainingJob wide = Job(8192, 1);
  wide.grad_dtype = Dtype::kFp16;
  Plan none;
  EXPECT_EQ(EstimateStageMemory(a, c, none, wide, 0, options).optimizer_step.value(), 0);
}

}  // namespace
}  // namespace preflight
