// Tests of cost/memory.h for a pipeline stage and a whole plan against the closed forms it
// implements (one layer's activations: memory_test.cc and memory_moe_precision_test.cc):
//  - a stage's activations: cost-model-notes §3.2 (GPT-3 interleaved), FSDP under a pipeline,
//    PyTorch's cross-entropy, the MTP module (recompute's working sets and ZB-H1's deferred
//    state: memory_recompute_test.cc);
//  - model states: ZeRO §3.1/§5.1 (Ψ = 7.5B, N_d = 64: 120 / 31.4 / 16.6 / 1.9 GB) and Megatron's
//    distributed optimizer (6 + 12/d bytes per parameter), cost-model-notes §3.1;
//  - whole estimates: the worst stage over all stages, and the capacity it fits.
#include "preflight/cost/memory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "preflight/cost/memory_test_support.h"
#include "preflight/model/model.h"
#include "preflight/model/test_support.h"
#include "preflight/parallel/plan.h"

namespace preflight {
namespace {

using test_support::Gpt;
using test_support::Gpt3;
using test_support::Job;
using test_support::KorthikantiJob;
using test_support::kSbh;
using test_support::LoadArch;
using test_support::Tp8Pp8;

// ---------------------------------------------------------------------------------------------
// A stage's activations.

// FSDP2 under torch.distributed.pipelining keeps each stage's 16-bit parameters gathered for the
// step and accumulates its gradients unsharded in fp32: 2 + 4 bytes per parameter of the stage's
// tensor-parallel shard, on top of the sharded states.
TEST(StageMemoryTest, FsdpUnderAPipelineKeepsTheStageGathered) {
  Architecture a = LoadArch("llama-3.1-8b");
  const ParamCounts c = CountParameters(a);
  Plan p;
  p.tp = 2, p.pp = 2, p.dp = 4, p.zero = 3;
  auto stage = [&](bool once) {
    Plan q = p;
    q.fsdp_gather_once = once;
    return EstimateStageMemory(a, c, q, Job(4096, 64), 1, MemoryOptions{});
  };
  const MemoryBreakdown sharded = stage(false), gathered = stage(true);
  // The last stage: 16 of the 32 layers, the final norm and the (untied) LM head, over TP 2 but
  // for the norms (two a layer, and the final one), which TP replicates.
  const double layer = (c.total - 2.0 * 128256 * 4096 - 4096) / 32;
  const double norms = 16 * 2 * 4096.0 + 4096;
  const double local = (16 * layer + 128256.0 * 4096 + 4096 - norms) / 2 + norms;
  EXPECT_NEAR((gathered.weights - sharded.weights).value(), 2 * local, local * 1e-9);
  EXPECT_NEAR((gathered.gradients - sharded.gradients).value(), 4 * local, local * 1e-9);
  EXPECT_DOUBLE_EQ(gathered.activations.value(), sharded.activations.value());
}

// Activation offloading (Megatron-Core's cpu_offloading, Transformer Engine's double-buffered
// handler): N offloaded layers of L keep only what the handler does not move, and one offloaded
// layer's moved tensors are in the double buffer at the peak: the stage holds (L - N + 1) whole
// layers and N - 1 layers' resident parts. A Llama layer (SwiGLU, no dropout) moves everything;
// a GPT layer keeps its two dropout masks and its GeLU's 16-bit input.
TEST(StageMemoryTest, OffloadedLayersKeepWhatTheHandlerLeaves) {
  auto activations = [](const Architecture& a, int64_t offloaded) {
    Plan p;
    p.cpu_offload_layers = offloaded;
    return EstimateStageMemory(a, CountParameters(a), p, Job(4096, 8), 0, MemoryOptions{}).activations.value();
  };
  for (const Architecture& a : {LoadArch("llama-3.1-8b"), Gpt3()}) {
    Plan p;
    const LayerActivationBytes layer = ActivationBytesPerLayer(a, p, Job(4096, 8));
    for (int64_t n : {int64_t{1}, int64_t{10}, a.layers - 1}) {
      SCOPED_TRACE(n);
      const double moved = layer.dense - layer.offload_resident;
      EXPECT_NEAR(activations(a, 0) - activations(a, n), static_cast<double>(n - 1) * moved, 1e-6 * layer.dense);
    }
  }
  Plan p;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(LoadArch("llama-3.1-8b"), p, Job(4096, 8)).offload_resident, 0);
  const Architecture gpt = Gpt3();
  const double tokens = 4096, h = 12288;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(gpt, p, Job(4096, 8)).offload_resident, tokens * (2 * h + 2 * 4 * h));
  // Offloading one layer saves nothing: its moved tensors are the double buffer.
  EXPECT_DOUBLE_EQ(activations(gpt, 1), activations(gpt, 0));
}

// PyTorch's F.cross_entropy on fp32 logits (torchtitan) holds 12 bytes per logit at its backward
// peak where Megatron's in-place vocab-parallel loss holds 4, and the same loss under torch.compile
// (the upcast fused: the 16-bit logits and their 16-bit gradient) 4 too; only the last stage has
// the logits.
TEST(StageMemoryTest, PytorchCrossEntropyHoldsThreeFp32CopiesOfTheLogits) {
  Architecture a = LoadArch("llama-3.1-8b");
  TrainingJob j = Job(8192, 16);
  Plan p;
  p.pp = 2;
  p.micro_batch = 1;
  auto activations = [&](CrossEntropy loss, int64_t stage) {
    TrainingJob v = j;
    v.cross_entropy = loss;
    return EstimateStageMemory(a, CountParameters(a), p, v, stage, MemoryOptions{})
        .activations.value();
  };
  const CrossEntropy eager = CrossEntropy::kPytorch, megatron = CrossEntropy::kMegatron;
  EXPECT_DOUBLE_EQ(activations(eager, 0), activations(megatron, 0));
  EXPECT_NEAR(activations(eager, 1) - activations(megatron, 1), 8192.0 * 128256 * (12 - 4), 1);
  EXPECT_DOUBLE_EQ(activations(CrossEntropy::kCompiled, 1), activations(megatron, 1));
}

// The last stage keeps each micro-batch's head input and fp32 logits until that micro-batch's
// backward: under 1F1B one micro-batch's, under GPipe (every forward before any backward) all of
// them, beside its layers' stacks.
TEST(StageMemoryTest, GpipeKeepsEveryMicroBatchsLogits) {
  Architecture a = LoadArch("llama-3.1-8b");
  const TrainingJob j = Job(4096, 32);
  Plan p;
  p.pp = 4, p.micro_batch = 1;
  auto activations = [&](Schedule s, int64_t stage) {
    Plan q = p;
    q.schedule = s;
    return EstimateStageMemory(a, CountParameters(a), q, j, stage, MemoryOptions{}).activations.value();
  };
  const double head = 4096.0 * (4 * 4096 + 4 * 128256);  // per micro-batch
  // The layers' part scales with the micro-batches in flight (32 under GPipe, 1 on 1F1B's last
  // stage); the first stage (no head) shows it: its stack is 4 micro-batches' under 1F1B.
  const double stack = activations(Schedule::k1F1B, 0) / 4;
  EXPECT_NEAR(activations(Schedule::k1F1B, 3), stack + head, 1);
  EXPECT_NEAR(activations(Schedule::kGpipe, 3), 32 * (stack + head), 32);
}

// Each DeepSeek-V3 MTP module on the last stage keeps one transformer layer's activations (an MoE
// layer, as the model's last) and its projection's 2h-wide input, besides its output head.
TEST(StageMemoryTest, MtpModuleKeepsItsLayerActivations) {
  Architecture a = LoadArch("deepseek-v3");
  const TrainingJob j = Job(4096, 8);
  Plan p;
  p.ep = 8, p.micro_batch = 1;
  auto activations = [&](int64_t mtp) {
    Architecture v = a;
    v.mtp_layers = mtp;
    return EstimateStageMemory(v, CountParameters(v), p, j, 0, MemoryOptions{}).activations.value();
  };
  const double per_token = ActivationBytesPerLayer(a, p, j).moe / 4096;
  const double expected = 4096.0 * (per_token + 4 * 7168 + 4 * 7168 + 4.0 * 129280);
  EXPECT_NEAR(activations(1) - activations(0), expected, 1);
  // Megatron-Core's MTP layer skips recompute by block: it keeps its activations whole there, where
  // full recompute of every layer keeps its input alone.
  p.recompute = Recompute::kFull;
  const LayerActivationBytes full_layer = ActivationBytesPerLayer(a, p, j);
  EXPECT_NEAR(activations(1) - activations(0), 4096.0 * (8 * 7168 + 4.0 * 129280) + full_layer.recompute_input, 1);
  p.recompute_method = RecomputeMethod::kBlock, p.recompute_num_layers = 2;
  EXPECT_NEAR(activations(1) - activations(0), 4096.0 * (8 * 7168 + 4.0 * 129280) + full_layer.moe, 1);
}

// The last stage of a pipeline holds a copy of the word embedding for the MTP modules' input
// (shared with the main model, DeepSeek-V3 §2.2), besides the modules themselves.
TEST(ModelStateTest, MtpLastStageHoldsAnEmbeddingCopy) {
  Architecture a = LoadArch("deepseek-v3");
  Plan p;
  p.pp = 2;
  const TrainingJob j = Job(4096, 8);
  auto last_weights = [&](int64_t mtp) {
    Architecture v = a;
    v.mtp_layers = mtp;
    return EstimateStageMemory(v, CountParameters(v), p, j, 1, MemoryOptions{}).weights.value();
  };
  Architecture with = a;
  with.mtp_layers = 1;
  const double added = static_cast<double>(CountParameters(with).mtp) + 129280.0 * 7168;
  EXPECT_NEAR(last_weights(1) - last_weights(0), 2 * added, 1);
}

// With fewer KV heads than TP ranks each rank holds one whole KV head: 4 KV heads at TP 8 keep
// the weights and activations 8 heads do.
TEST(ModelStateTest, KvHeadsFewerThanTpAreReplicated) {
  Plan p;
  p.tp = 8, p.sp = true;
  const TrainingJob j = Job(4096, 8);
  auto stage = [&](int64_t kv_heads) {
    Architecture a = LoadArch("llama-3.1-8b");
    a.kv_heads = kv_heads;
    return EstimateStageMemory(a, CountParameters(a), p, j, 0, MemoryOptions{});
  };
  const MemoryBreakdown four = stage(4), eight = stage(8);
  EXPECT_DOUBLE_EQ(four.weights.value(), eight.weights.value());
  EXPECT_DOUBLE_EQ(four.activations.value(), eight.activations.value());
  EXPECT_LT(eight.weights.value(), stage(16).weights.value());
}

// DualPipe pairs stages r and pp - 1 - r on one rank; with a balanced split the heaviest pair need
// not involve the stages that are the heaviest alone, so every rank is a candidate.
TEST(EstimateTest, DualPipeFindsTheHeaviestPair) {
  Architecture a = LoadArch("mixtral-8x7b");
  const ParamCounts c = CountParameters(a);
  Plan p;
  p.pp = 12, p.dp = 2, p.ep = 2, p.schedule = Schedule::kDualPipe, p.balanced_layers = true;
  const TrainingJob j = Job(4096, 48);
  double heaviest = 0;
  for (int64_t r = 0; r < 12; ++r) {
    heaviest = std::max(heaviest, EstimateStageMemory(a, c, p, j, r, MemoryOptions{}).Total().value());
  }
  EXPECT_DOUBLE_EQ(EstimateMemory(a, c, p, j, Bytes(1e12), MemoryOptions{}).worst.Total().value(), heaviest);
}

// cost-model-notes §3.2: GPT-3, SP + selective, interleaved m = 3: 10.27 GB × (1 + 7/24) = 13.26 GB
// on the first stage, what the layers keep; at the peak one layer's backward also holds its
// regenerated attention core (unfused, with dropout: 5 bytes a score, 96/8 heads a rank, 2,048
// scores a token, and its 16-bit output, 2 bytes for each of a head's 128 values: 258 MB).
TEST(StageMemoryTest, Gpt3InterleavedActivations) {
  Architecture a = Gpt3();
  ParamCounts c = CountParameters(a);
  Plan p = Tp8Pp8(true, Recompute::kSelective);
  p.vpp = 3;
  p.schedule = Schedule::kInterleaved;
  p.dp = 1;
  TrainingJob j = KorthikantiJob();
  const double core = ActivationBytesPerLayer(a, p, j).core_attn_working;
  EXPECT_DOUBLE_EQ(core, 2048.0 * 96 / 8 * (5 * 2048 + 2 * 128));
  MemoryBreakdown b = EstimateStageMemory(a, c, p, j, 0, MemoryOptions{});
  EXPECT_NEAR(b.activations.value() - core, 13.26e9, 13.26e9 * 0.01);
  // 1F1B without interleaving holds exactly the L layers: 10.27 GB (+ embedding dropout).
  Plan q = Tp8Pp8(true, Recompute::kSelective);
  MemoryBreakdown b1 = EstimateStageMemory(a, c, q, j, 0, MemoryOptions{});
  EXPECT_NEAR(b1.activations.value() - core, 10.27e9, 10.27e9 * 0.01);
  // Full recompute: 2sbh per layer over L layers (4.83 GB), plus the one layer being recomputed
  // and the embedding dropout mask of each micro-batch in flight (sbh·p without SP, §4.3). The
  // recomputed layer holds all its activations again, its attention scores (5as/t per token,
  // unfused) among them, but for its input (2sbh without SP), which the stack already holds.
  Plan f = Tp8Pp8(false, Recompute::kFull);
  MemoryBreakdown bf = EstimateStageMemory(a, c, f, j, 0, MemoryOptions{});
  const double one_layer = ActivationBytesPerLayer(a, f, j).dense;
  EXPECT_NEAR(one_layer, kSbh * (10 + 24.0 / 8 + 5.0 * 96 * 2048 / (8 * 12288)), 1);
  EXPECT_NEAR(bf.activations.value(), 4.83e9 + one_layer - 2 * kSbh + 8 * kSbh, 0.01e9);
}

// ---------------------------------------------------------------------------------------------
// Model states.

double StateBytes(const MemoryBreakdown& b) {
  return (b.weights + b.gradients + b.optimizer).value();
}

// ZeRO paper §5.1 / Fig. 1: Ψ = 7.5B, N_d = 64, K = 12, 16-bit weights and gradients.
TEST(ModelStateTest, ZeroPaperExample) {
  Architecture a = Gpt(4096, 32, 36, 51200, 2048);  // Megatron's 7.5B shape
  ParamCounts c = CountParameters(a);
  const double psi = static_cast<double>(c.total);
  ASSERT_NEAR(psi, 7.5e9, 0.05e9);
  TrainingJob j = Job(2048, 64);
  j.grad_dtype = Dtype::kBf16;
  struct Case {
    int zero;
    double bytes_per_param;  // ZeRO §5.1
    double paper_gb;         // for Ψ = 7.5B, rounded to 0.1 GB in the paper
  };
  const Case cases[] = {{0, 2 + 2 + 12, 120},
                        {1, 4 + 12.0 / 64, 31.4},
                        {2, 2 + 14.0 / 64, 16.6},
                        {3, 16.0 / 64, 1.9}};
  for (const Case& k : cases) {
    Plan p;
    p.dp = 64;
    p.zero = k.zero;
    MemoryBreakdown b = EstimateStageMemory(a, c, p, j, 0, MemoryOptions{});
    EXPECT_NEAR(StateBytes(b), k.bytes_per_param * psi, psi * 1e-9) << "zero " << k.zero;
    EXPECT_NEAR(StateBytes(b) / 1e9 * 7.5e9 / psi, k.paper_gb, 0.05) << "zero " << k.zero;
  }
}

// Megatron: bf16 weights, fp32 main grads: 18 B/param; distributed optimizer 6 + 12/d.
// cost-model-notes §3.1: Llama-3.1-8B gives 144.5 GB, 60.2 GB (d = 8) and 49.7 GB (d = 64).
TEST(ModelStateTest, MegatronDistributedOptimizer) {
  Architecture a = LoadArch("llama-3.1-8b");
  ParamCounts c = CountParameters(a);
  const double psi = static_cast<double>(c.total);
  struct Case {
    int64_t dp;
    int zero;
    double bytes_per_param, worked_gb;
  };
  const Case cases[] = {
      {8, 0, 18, 144.5}, {8, 1, 6 + 12.0 / 8, 60.2}, {64, 1, 6 + 12.0 / 64, 49.7}};
  for (const Case& k : cases) {
    Plan p;
    p.dp = k.dp;
    p.zero = k.zero;
    MemoryBreakdown b = EstimateStageMemory(a, c, p, Job(8192, 512), 0, MemoryOptions{});
    EXPECT_NEAR(StateBytes(b), k.bytes_per_param * psi, psi * 1e-9)
        << "dp " << k.dp << " zero " << k.zero;
    EXPECT_NEAR(StateBytes(b) / 1e9, k.worked_gb, 0.05) << "dp " << k.dp << " zero " << k.zero;
    EXPECT_NEAR(b.gradients.value(), 4 * psi, psi * 1e-9)
        << "fp32 main grads stay whole at zero <= 1";
  }
}

TEST(ModelStateTest, PrecisionVariants) {
  Architecture a = LoadArch("llama-2-7b");
  ParamCounts c = CountParameters(a);
  const double psi = static_cast<double>(c.total);
  struct Case {
    const char* what;
    Dtype precision;
    bool fp8_copy;
    Dtype optimizer;
    double weights, optimizer_bytes;
  };
  const Case cases[] = {
      {"bf16", Dtype::kBf16, true, Dtype::kFp32, 2, 12},
      {"fp8 keeps bf16 + an fp8 copy", Dtype::kFp8, true, Dtype::kFp32, 3, 12},
      {"fp8 primary weights", Dtype::kFp8, false, Dtype::kFp32, 2, 12},
      {"fp32 has no master copy", Dtype::kFp32, true, Dtype::kFp32, 4, 8},
      {"bf16 Adam moments", Dtype::kBf16, true, Dtype::kBf16, 2, 8},
  };
  for (const Case& k : cases) {
    TrainingJob j = Job(4096, 8);
    j.precision = k.precision;
    j.fp8_weight_copy = k.fp8_copy;
    j.optimizer_dtype = k.optimizer;
    Plan p;
    p.dp = 8;
    MemoryBreakdown b = EstimateStageMemory(a, c, p, j, 0, MemoryOptions{});
    // The FP8 copy is of the GEMM weights: Llama 2's embedding and output layer (32,000 x 4,096
    // each) keep none.
    const double no_copy = k.weights == 3 ? 2.0 * 32000 * 4096 : 0.0;
    EXPECT_NEAR(b.weights.value(), k.weights * psi - no_copy, psi * 1e-9) << k.what;
    EXPECT_NEAR(b.optimizer.value(), k.optimizer_bytes * psi, psi * 1e-9) << k.what;
  }
}

// DeepSpeed's BF16_Optimizer (BLOOM's runs) keeps the stage's bf16 gradients until the next
// backward starts, beside the unsharded fp32 ones: 2 more bytes per local parameter, unsharded by
// ZeRO-1, whatever the DP degree; fp32 training has no 16-bit gradients and keeps its 4 bytes.
TEST(ModelStateTest, Bf16OptimizerKeeps16BitGradients) {
  Architecture a = LoadArch("llama-2-7b");
  ParamCounts c = CountParameters(a);
  const double psi = static_cast<double>(c.total);
  for (int64_t dp : {1, 8}) {
    Plan p;
    p.dp = dp;
    p.zero = 1;
    TrainingJob j = Job(4096, 8);
    auto stage = [&] { return EstimateStageMemory(a, c, p, j, 0, MemoryOptions{}); };
    const MemoryBreakdown freed = stage();
    j.grad_16bit_copy = true;
    const MemoryBreakdown kept = stage();
    EXPECT_NEAR(kept.gradients.value(), 6 * psi, psi * 1e-9) << "dp " << dp;
    EXPECT_NEAR((kept.gradients - freed.gradients).value(), 2 * psi, psi * 1e-9) << "dp " << dp;
    EXPECT_DOUBLE_EQ(kept.weights.value(), freed.weights.value());
    EXPECT_DOUBLE_EQ(kept.optimizer.value(), freed.optimizer.value());
    // At ZeRO 2 the optimizer is another one: sharded fp32 gradients only.
    p.zero = 2;
    EXPECT_NEAR(stage().gradients.value(), 4 * psi / static_cast<double>(dp), psi * 1e-9) << "dp " << dp;
    p.zero = 1;
    j.precision = Dtype::kFp32;
    EXPECT_NEAR(stage().gradients.value(), 4 * psi, psi * 1e-9);
  }
}

TEST(ModelStateTest, TensorAndExpertSharding) {
  // Mixtral, TP 2, EP 8, DP 32 (64 devices), ZeRO-1: dense parameters split over TP but for the
  // ones TP replicates (each layer's two RMSNorms and its 8 x 4096 router, and the final norm),
  // experts over EP; optimizer states over DP (dense) and the expert-DP group tp·dp/ep = 8.
  Architecture a = LoadArch("mixtral-8x7b");
  ParamCounts c = CountParameters(a);
  Plan p;
  p.tp = 2;
  p.dp = 32;
  p.ep = 8;
  p.sp = true;
  p.zero = 1;
  const double expert = 32.0 * c.routed_experts_per_moe_layer;
  const double dense = static_cast<double>(c.total) - expert;
  const double replicated = 32.0 * (2 * 4096 + 8 * 4096) + 4096;
  EXPECT_EQ(c.moe_layer_replicated, 10 * 4096);
  MemoryBreakdown b = EstimateStageMemory(a, c, p, Job(4096, 64), 0, MemoryOptions{});
  const double dense_on_device = (dense - replicated) / 2 + replicated;
  const double on_device = dense_on_device + expert / 8;
  EXPECT_NEAR(b.weights.value(), 2 * on_device, on_device * 1e-9);
  EXPECT_NEAR(b.gradients.value(), 4 * on_device, on_device * 1e-9);
  EXPECT_NEAR(b.optimizer.value(), 12 * (dense_on_device / 32 + expert / 8 / 8), on_device * 1e-9);
}

TEST(ModelStateTest, DualPipeDoublesParameters) {
  Architecture a = LoadArch("llama-3.1-70b");
  ParamCounts c = CountParameters(a);
  Plan p;
  p.pp = 4;
  p.dp = 2;
  TrainingJob j = Job(4096, 64);
  MemoryBreakdown one = EstimateStageMemory(a, c, p, j, 1, MemoryOptions{});
  p.schedule = Schedule::kDualPipe;
  MemoryBreakdown two = EstimateStageMemory(a, c, p, j, 1, MemoryOptions{});
  EXPECT_DOUBLE_EQ(two.weights.value(), 2 * one.weights.value());
  EXPECT_DOUBLE_EQ(two.optimizer.value(), 2 * one.optimizer.value());
}

// DualPipe's rank r holds stages r and pp - 1 - r: the ends pair the embedding with the head (each
// counted once), and the PP + 1 micro-batches in flight fall half on each of the two stages.
TEST(ModelStateTest, DualPipePairsMirrorStages) {
  Architecture a = LoadArch("llama-3.1-70b");
  ParamCounts c = CountParameters(a);
  Plan p;
  p.pp = 4, p.dp = 2, p.schedule = Schedule::kDualPipe;
  TrainingJob j = Job(4096, 64);
  const MemoryBreakdown end = EstimateStageMemory(a, c, p, j, 0, MemoryOptions{});
  const MemoryBreakdown mirror = EstimateStageMemory(a, c, p, j, 3, MemoryOptions{});
  EXPECT_DOUBLE_EQ(end.weights.value(), mirror.weights.value()) << "one rank, seen from either stage";
  EXPECT_DOUBLE_EQ(end.activations.value(), mirror.activations.value());
  Plan one_f_one_b = p;
  one_f_one_b.schedule = Schedule::k1F1B;
  const double first = EstimateStageMemory(a, c, one_f_one_b, j, 0, MemoryOptions{}).weights.value();
  const double last = EstimateStageMemory(a, c, one_f_one_b, j, 3, MemoryOptions{}).weights.value();
  EXPECT_DOUBLE_EQ(end.weights.value(), first + last);
  // Activations: 20 layers a stage, full layers kept (no recompute): (4 + 1) / 2 micro-batches
  // through each stage's 20 layers, and the head's logits once.
  const double layer = ActivationBytesPerLayer(a, p, j).dense;
  const double head = 4096.0 * (4 * 8192 + 4 * 128256);
  EXPECT_NEAR(end.activations.value(), 2 * 2.5 * 20 * layer + head, 1e-6 * end.activations.value());
}

TEST(ModelStateTest, TiedHeadCopyOnLastStage) {
  // Megatron keeps a copy of a tied embedding on the last stage when pp > 1.
  Architecture a = Gpt(4096, 32, 36, 51200, 2048);
  ParamCounts c = CountParameters(a);
  Plan p;
  p.pp = 2;
  MemoryBreakdown last = EstimateStageMemory(a, c, p, Job(2048, 8), 1, MemoryOptions{});
  const double layers = 18.0 * c.dense_layer;
  EXPECT_NEAR(last.weights.value(), 2 * (layers + c.final_norm + 51200.0 * 4096), 1);
  MemoryBreakdown first = EstimateStageMemory(a, c, p, Job(2048, 8), 0, MemoryOptions{});
  EXPECT_NEAR(first.weights.value(), 2 * (layers + c.embedding), 1);
}

// ---------------------------------------------------------------------------------------------
// Whole estimates.

TEST(EstimateTest, OtherIsRuntimePlusTemporaries) {
  Architecture a = LoadArch("llama-3.1-8b");
  ParamCounts c = CountParameters(a);
  Plan p;
  p.dp = 8;
  MemoryBreakdown b = EstimateStageMemory(a, c, p, Job(8192, 8), 0, MemoryOptions{});
  EXPECT_NEAR(b.other.value(), Bytes::GiB(0.75).value() + 0.05 * b.activations.value(), 1);
  MemoryOptions none;
  none.runtime_reserved = Bytes(0);
  none.activation_temporaries_fraction = 0;
  EXPECT_EQ(EstimateStageMemory(a, c, p, Job(8192, 8), 0, none).other.value(), 0);
  EXPECT_DOUBLE_EQ(b.Total().value(),
                   (b.weights + b.gradients + b.optimizer + b.activations + b.other).value());
}

TEST(EstimateTest, GrowsWithMicroBatchShrinksWithRecompute) {
  Architecture a = LoadArch("llama-3.1-70b");
  ParamCounts c = CountParameters(a);
  TrainingJob j = Job(8192, 512);
  Plan p;
  p.tp = 8;
  p.pp = 4;
  p.dp = 2;
  p.sp = true;
  p.zero = 1;
  double last = 0;
  for (int64_t mb : {1, 2, 4}) {
    p.micro_batch = mb;
    MemoryEstimate e = EstimateMemory(a, c, p, j, Bytes::GiB(80), MemoryOptions{});
    EXPECT_GT(e.worst.Total().value(), last) << "micro_batch " << mb;
    last = e.worst.Total().value();
  }
  p.micro_batch = 1;
  double prev = 1e30;
  for (Recompute r : {Recompute::kNone, Recompute::kSelective, Recompute::kFull}) {
    p.recompute = r;
    MemoryEstimate e = EstimateMemory(a, c, p, j, Bytes::GiB(80), MemoryOptions{});
    EXPECT_LT(e.worst.activations.value(), prev) << RecomputeName(r);
    prev = e.worst.activations.value();
  }
}

TEST(EstimateTest, FitsFlipsWithCapacity) {
  Architecture a = LoadArch("llama-3.1-8b");
  ParamCounts c = CountParameters(a);
  Plan p;
  p.dp = 8;
  p.zero = 1;
  TrainingJob j = Job(8192, 8);
  MemoryEstimate probe = EstimateMemory(a, c, p, j, Bytes::GiB(1000), MemoryOptions{});
  const Bytes need = probe.worst.Total();
  MemoryEstimate above = EstimateMemory(a, c, p, j, need + Bytes(1), MemoryOptions{});
  MemoryEstimate below = EstimateMemory(a, c, p, j, need - Bytes(1), MemoryOptions{});
  EXPECT_TRUE(above.fits);
  EXPECT_GT(above.headroom_fraction, 0);
  EXPECT_FALSE(below.fits);
  EXPECT_LT(below.headroom_fraction, 0);
  EXPECT_EQ(above.capacity, need + Bytes(1));
  EXPECT_EQ(above.worst.Total(), below.worst.Total()) << "capacity does not change the need";
  EXPECT_NEAR(probe.headroom_fraction, 1 - need.value() / Bytes::GiB(1000).value(), 1e-12);
}

// The reported worst stage must be the most loaded of all stages (brute force over every stage).
TEST(EstimateTest, WorstStageIsTheMaximumOverAllStages) {
  struct Case {
    const char* what;
    const char* id;
    int64_t tp, pp, dp, ep, first, last;
    Schedule schedule;
  };
  const Case cases[] = {
      {"dense 1f1b", "llama-3.1-70b", 8, 4, 2, 1, 0, 0, Schedule::k1F1B},
      {"dense gpipe", "llama-3.1-70b", 8, 4, 2, 1, 0, 0, Schedule::kGpipe},
      {"uneven 405b", "llama-3.1-405b", 8, 16, 8, 1, 7, 7, Schedule::k1F1B},
      // DeepSeek-V3: the first three layers are dense. With one layer on the first stage, stage 1
      // holds two dense and two MoE layers while stage 2 holds four MoE layers.
      {"deepseek-v3, dense prefix", "deepseek-v3", 1, 16, 128, 64, 1, 0, Schedule::k1F1B},
      {"deepseek-v3 dualpipe", "deepseek-v3", 1, 16, 128, 64, 3, 2, Schedule::kDualPipe},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    Architecture a = LoadArch(k.id);
    ParamCounts c = CountParameters(a);
    Plan p;
    p.tp = k.tp;
    p.pp = k.pp;
    p.dp = k.dp;
    p.ep = k.ep;
    p.sp = k.tp > 1;
    p.zero = 1;
    p.schedule = k.schedule;
    p.first_stage_layers = k.first;
    p.last_stage_layers = k.last;
    TrainingJob j = Job(4096, 128 * k.dp);
    ASSERT_TRUE(CheckPlan(a, p, j, p.Devices()).ok()) << CheckPlan(a, p, j, p.Devices()).message;
    MemoryEstimate e = EstimateMemory(a, c, p, j, Bytes::GiB(80), MemoryOptions{});
    double best = -1;
    int64_t best_stage = -1;
    for (int64_t s = 0; s < p.pp; ++s) {
      double total = EstimateStageMemory(a, c, p, j, s, MemoryOptions{}).Total().value();
      if (total > best) best = total, best_stage = s;
    }
    EXPECT_DOUBLE_EQ(e.worst.Total().value(), best)
        << "the worst stage is " << best_stage << ", reported " << e.worst_stage;
    EXPECT_EQ(e.worst_stage, best_stage);
    EXPECT_NEAR(e.in_flight_micro_batches,
                InFlightMicroBatches(p, MicroBatches(p, j), e.worst_stage), 1e-12);
  }
}

// A synthetic MoE model whose MoE layers alternate (moe_layer_freq 2): middle stages differ.
TEST(EstimateTest, WorstStageWithAlternatingMoeLayers) {
  Architecture a = LoadArch("mixtral-8x7b");
  a.layers = 12;
  a.moe_layer.assign(12, false);
  for (int64_t i = 0; i < 12; i += 2) a.moe_layer[i] = true;  // MoE on even layers
  a.FinalizeLayers();
  ParamCounts c = CountParameters(a);
  Plan p;
  p.pp = 4;
  p.dp = 1;
  p.first_stage_layers = 1;  // stage 0: layer 0; 1: 1-5 (2 MoE); 2: 6-10 (3 MoE); 3: layer 11
  p.last_stage_layers = 1;
  TrainingJob j = Job(1024, 16);
  ASSERT_TRUE(CheckPlan(a, p, j, 4).ok()) << CheckPlan(a, p, j, 4).message;
  MemoryEstimate e = EstimateMemory(a, c, p, j, Bytes::GiB(80), MemoryOptions{});
  double best = 0;
  for (int64_t s = 0; s < 4; ++s) {
    best = std::max(best, EstimateStageMemory(a, c, p, j, s, MemoryOptions{}).Total().value());
  }
  EXPECT_DOUBLE_EQ(e.worst.Total().value(), best);
  EXPECT_EQ(e.worst_stage, 2);
}

}  // namespace
}  // namespace preflight
