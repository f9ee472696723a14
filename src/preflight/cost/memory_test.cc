// Tests of cost/memory.h against the closed forms it implements, for one layer and the
// micro-batches in flight (a stage's memory and model states: memory_stage_test.cc):
//  - activations: Korthikanti et al. 2022, Eq. 1-6 and Table 2, and the worked GPT-3 example of
//    cost-model-notes §3.2 (h = 12288, a = 96, L = 96, s = 2048, b = 1, t = 8, p = 8);
//  - in-flight micro-batches per schedule: cost-model-notes §3.3.
#include "preflight/cost/memory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <utility>

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

// cost-model-notes §3.2, MoE layers: 4h + 4E·2 + k(2h + 6F_e) + N_s·6F_s for the FFN, plus the
// attention part.
TEST(ActivationTest, MixtralMoeLayerPerToken) {
  Architecture a = LoadArch("mixtral-8x7b");
  Plan p;
  p.recompute = Recompute::kSelective;
  const double h = 4096, E = 8, k = 2, Fe = 14336, g = 8.0 / 32;
  const double attention = 8 * h + 4 * g * h;  // LN in, QKV in, Q, K+V, projection in
  const double ffn = 4 * h + 8 * E + k * (2 * h + 6 * Fe);
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, Job(4096, 8)).moe / 4096, attention + ffn);
  // With TP 2 and SP each GPU holds half the sequence and the routed copies of its half: all of it
  // halves. With expert TP 2 as well, the expert-TP pair gathers its tokens (the FC1 input twice
  // over) and each holds half of every expert's width.
  p.tp = 2, p.sp = true;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, Job(4096, 8)).moe / 4096, (attention + ffn) / 2);
  p.etp = 2;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, Job(4096, 8)).moe / 4096,
                   (attention + 4 * h + 8 * E) / 2 + k * (2 * 2 * h + 6 * Fe) / 2);
  // The busiest expert rank, which the step model times at moe_imbalance x the mean tokens, holds
  // that many routed copies too (dropless routing keeps all it receives); nothing else grows.
  TrainingJob busy = Job(4096, 8);
  busy.moe_imbalance = 3;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, busy).moe / 4096,
                   (attention + 4 * h + 8 * E) / 2 + 3 * k * (2 * 2 * h + 6 * Fe) / 2);
  // A capacity factor keeps at most CF times the mean copies (Megatron-Core drops the rest before
  // the dispatch); padded to capacity, exactly CF times, however balanced the routing.
  busy.moe_capacity_factor = 1.25;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, busy).moe / 4096,
                   (attention + 4 * h + 8 * E) / 2 + 1.25 * k * (2 * 2 * h + 6 * Fe) / 2);
  busy.moe_imbalance = 1;
  busy.moe_pad_to_capacity = true;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, busy).moe / 4096,
                   (attention + 4 * h + 8 * E) / 2 + 1.25 * k * (2 * 2 * h + 6 * Fe) / 2);
}

// cost-model-notes §3.2: DeepSeek-V3 MLA ≈ 200 KB and MoE-FFN ≈ 256 KB per token per layer.
TEST(ActivationTest, DeepSeekV3MlaAndMoePerToken) {
  Architecture a = LoadArch("deepseek-v3");
  Plan p;
  p.recompute = Recompute::kSelective;
  const double h = 7168, nh = 128;
  // LN in 2h, down-projection in 2h, c_Q pre/post 2·2·1536, q 2·nh·192, c_KV pre/post 2·2·512,
  // k_rope 2·64, k 2·nh·192, v 2·nh·128, attention output 2·nh·128.
  const double mla = 2 * h + 2 * h + 4 * 1536 + 2 * nh * 192 + 4 * 512 + 2 * 64 + 2 * nh * 192 +
                     2 * nh * 128 + 2 * nh * 128;
  EXPECT_DOUBLE_EQ(mla, 200832);
  const double moe_ffn = 28672 + 2048 + 8 * (14336 + 12288) + 12288;  // the notes' itemisation
  EXPECT_DOUBLE_EQ(moe_ffn, 256000);
  LayerActivationBytes got = ActivationBytesPerLayer(a, p, Job(4096, 8));
  EXPECT_DOUBLE_EQ(got.moe / 4096, mla + moe_ffn);
  EXPECT_GT(got.dense, 0) << "the first three layers are dense";
}

// Under FP8 each FP8 GEMM keeps the FP8 cast of its input for its weight gradient (Transformer
// Engine saves `inputmat`/`ln_out` as cast): per token of a Llama-3.1-8B layer the QKV input and
// the first MLP GEMM's input drop from 2h to h bytes and the second MLP GEMM's input from 2F to F,
// and the attention output from the projection's 16-bit input to its cast (-q) where the
// attention products are recomputed (selective recompute of core_attn: the checkpoint keeps the
// kernel's inputs only): -2h - F - q = -2·4096 - 14336 - 4096. Without recompute the fused kernel
// keeps its 16-bit output for its own backward and the cast comes beside it (+q); unfused
// attention's backward does not read the output (-q). fp8_saved_inputs: false keeps 16-bit inputs.
TEST(ActivationTest, Fp8GemmsKeepTheirInputsInOneByte) {
  Architecture a = LoadArch("llama-3.1-8b");
  TrainingJob j = Job(8192, 8);
  Plan p;
  p.recompute = Recompute::kSelective;
  TrainingJob fp8 = j;
  fp8.precision = Dtype::kFp8;
  const auto delta = [&](const Plan& q, bool flash) {
    TrainingJob b = j, f = fp8;
    b.flash_attention = f.flash_attention = flash;
    return (ActivationBytesPerLayer(a, q, f).dense - ActivationBytesPerLayer(a, q, b).dense) / 8192;
  };
  EXPECT_DOUBLE_EQ(delta(p, true), -2 * 4096 - 14336 - 4096);
  EXPECT_DOUBLE_EQ(delta(p, false), -2 * 4096 - 14336 - 4096);
  Plan none = p;
  none.recompute = Recompute::kNone;
  EXPECT_DOUBLE_EQ(delta(none, true), -2 * 4096 - 14336 + 4096);
  EXPECT_DOUBLE_EQ(delta(none, false), -2 * 4096 - 14336 - 4096);
  // Under core_attn recompute neither keeps scores or its own copy of the output: the same bytes.
  TrainingJob unfused = fp8;
  unfused.flash_attention = false;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, fp8).dense, ActivationBytesPerLayer(a, p, unfused).dense);
  // With TP 2 and SP every term halves.
  Plan tp2 = p;
  tp2.tp = 2, tp2.sp = true;
  const double bf16 = ActivationBytesPerLayer(a, p, j).dense / 8192;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, tp2, fp8).dense / 8192, (bf16 - 2 * 4096 - 14336 - 4096) / 2);
  fp8.fp8_saved_inputs = false;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, fp8).dense / 8192, bf16);
}

// NVFP4 keeps the same casts as FP8 at half a byte and a scale byte per 16 elements (0.5625): each
// saved GEMM input 1.4375 bytes below its 16 bits where FP8's is 1 below, and the attention
// output's extra copy 0.5625 bytes where FP8's is 1.
TEST(ActivationTest, Nvfp4GemmsKeepTheirInputsInFourBitsAndScales) {
  Architecture a = LoadArch("llama-3.1-8b");
  TrainingJob j = Job(8192, 8);
  TrainingJob fp4 = j;
  fp4.precision = Dtype::kFp4;
  Plan p;
  p.recompute = Recompute::kSelective;
  const auto delta = [&](const Plan& q) {
    return (ActivationBytesPerLayer(a, q, fp4).dense - ActivationBytesPerLayer(a, q, j).dense) / 8192;
  };
  const double q = 0.5 + 1.0 / 16;
  EXPECT_DOUBLE_EQ(delta(p), (q - 2) * (2 * 4096 + 14336 + 4096));
  Plan none = p;
  none.recompute = Recompute::kNone;
  EXPECT_DOUBLE_EQ(delta(none), (q - 2) * (2 * 4096 + 14336) + q * 4096);
}

// DeepSeek-V3 under FP8, against the itemisation above: the latents' up-projections keep their
// cast (-1536 - 512), the attention output projection its cast in place of its 16-bit input
// (-nh·128, the attention products being recomputed);
// each routed copy's first GEMM input (-h) and second GEMM input (-Fe) one byte, as the shared
// expert's second input (-Fs); the shared expert keeps its own cast of the norm output (+h) beside
// the 16-bit one the router keeps. The two down-projections each keep a cast of the input norm's
// output: 2h, as the one 16-bit tensor they shared.
// DeepSeek-V3's own storage (technical report §3.3.3), per token of an MoE layer against the FP8
// figure, under the report's recompute (norms, MLA up-projections, the experts' activation; not
// the attention products): the attention output once in E5M6 (1.5 bytes) instead of the kernel's
// 16 bits and the projection's cast (3 bytes): -1.5·nh·128; the SwiGLU inputs (gate and up) of
// each routed copy and of the shared expert in FP8: -2·(k·Fe + Fs). Dense layers keep only the
// attention saving. Where core_attn is recomputed only the 1-byte cast stays, and the storage
// saves nothing on the attention output.
TEST(ActivationTest, DeepSeekV3LowPrecisionStorage) {
  Architecture a = LoadArch("deepseek-v3");
  Plan p;
  p.recompute = Recompute::kSelective;
  p.recompute_modules = kModuleLayernorm | kModuleMlaUpProj | kModuleMoeAct;
  TrainingJob fp8 = Job(4096, 8);
  fp8.precision = Dtype::kFp8;
  TrainingJob low = fp8;
  low.low_precision_activations = true;
  const double nh = 128, k = 8, Fe = 2048, Fs = 2048;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, low).moe / 4096,
                   ActivationBytesPerLayer(a, p, fp8).moe / 4096 - 1.5 * nh * 128 - 2 * (k * Fe + Fs));
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, low).dense / 4096,
                   ActivationBytesPerLayer(a, p, fp8).dense / 4096 - 1.5 * nh * 128);
  Plan core = p;
  core.recompute_modules |= kModuleCoreAttn;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, core, low).dense, ActivationBytesPerLayer(a, core, fp8).dense);
  // Unfused attention keeps only the projection's 1-byte cast: the storage never adds to it.
  fp8.flash_attention = low.flash_attention = false;
  EXPECT_LE(ActivationBytesPerLayer(a, p, low).dense, ActivationBytesPerLayer(a, p, fp8).dense);
}

TEST(ActivationTest, DeepSeekV3UnderFp8) {
  Architecture a = LoadArch("deepseek-v3");
  Plan p;
  p.recompute = Recompute::kSelective;
  TrainingJob j = Job(4096, 8), fp8 = j;
  fp8.precision = Dtype::kFp8;
  const double h = 7168, nh = 128, k = 8, Fe = 2048, Fs = 2048;
  const double delta = -1536 - 512 - nh * 128 - k * (h + Fe) - Fs + h;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, fp8).moe / 4096,
                   ActivationBytesPerLayer(a, p, j).moe / 4096 + delta);
  // `layernorm` drops the 16-bit norm outputs, not the GEMMs' casts.
  p.recompute_modules = kModuleCoreAttn | kModuleLayernorm;
  const double recomputed16 = ActivationBytesPerLayer(a, p, j).moe / 4096;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, fp8).moe / 4096, recomputed16 + delta + 2 * h);
  // The other modules, each against its 16-bit figure. `moe_act` drops each routed copy's 1-byte
  // FC2 input (its 16-bit one in bf16): the FP8 saving shrinks by k·Fe. `mla_up_proj` keeps only
  // the 16-bit latents either way: the casts of their norms' outputs go too. `moe` and
  // `shared_experts` drop the shared expert's own cast (+h no more), and hold it again in the
  // working set of the layer being recomputed.
  auto fp8_delta = [&](uint32_t modules) {
    Plan q = p;
    q.recompute_modules = kModuleCoreAttn | modules;
    return (ActivationBytesPerLayer(a, q, fp8).moe - ActivationBytesPerLayer(a, q, j).moe) / 4096;
  };
  EXPECT_DOUBLE_EQ(fp8_delta(kModuleMoeAct), delta + k * Fe);
  EXPECT_DOUBLE_EQ(fp8_delta(kModuleMlaUpProj), delta + 1536 + 512);
  EXPECT_DOUBLE_EQ(fp8_delta(kModuleSharedExperts), delta + Fs - h);
  EXPECT_DOUBLE_EQ(fp8_delta(kModuleMoe), delta + k * (h + Fe) + Fs - h);
  Plan moe = p;
  moe.recompute_modules = kModuleCoreAttn | kModuleMoe;
  EXPECT_DOUBLE_EQ((ActivationBytesPerLayer(a, moe, fp8).moe_module_working -
                    ActivationBytesPerLayer(a, moe, j).moe_module_working) / 4096,
                   -k * (h + Fe) - Fs + h);
  // With TP 2 and SP every term halves; with expert TP 2 as well, each routed copy's FC1 input
  // comes twice over (the expert-TP pair's tokens), one byte each.
  Plan tp2 = p;
  tp2.recompute_modules = kModuleCoreAttn;
  tp2.tp = 2, tp2.sp = true;
  EXPECT_DOUBLE_EQ((ActivationBytesPerLayer(a, tp2, fp8).moe - ActivationBytesPerLayer(a, tp2, j).moe) / 4096,
                   delta / 2);
  tp2.etp = 2;
  EXPECT_DOUBLE_EQ((ActivationBytesPerLayer(a, tp2, fp8).moe - ActivationBytesPerLayer(a, tp2, j).moe) / 4096,
                   (delta - k * h) / 2);
}

// DeepSeek-V3 under NVFP4, against the same itemisation: each cast FP8 keeps in one byte is
// q = 0.5 + 1/16 bytes (half a byte and an E4M3 scale per 16 elements), so each 16-bit input a
// cast replaces saves 2 - q, the shared expert's own cast adds q, and the two down-projections'
// casts of the input norm's output come to 2q·h where the one 16-bit tensor they share is 2h.
TEST(ActivationTest, DeepSeekV3UnderNvfp4) {
  Architecture a = LoadArch("deepseek-v3");
  Plan p;
  p.recompute = Recompute::kSelective;
  TrainingJob j = Job(4096, 8), fp4 = j;
  fp4.precision = Dtype::kFp4;
  const double h = 7168, nh = 128, k = 8, Fe = 2048, Fs = 2048, q = 0.5 + 1.0 / 16;
  const double delta = (q - 2) * (1536 + 512 + nh * 128 + k * (h + Fe) + Fs) + q * h + (2 * q - 2) * h;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, fp4).moe / 4096, ActivationBytesPerLayer(a, p, j).moe / 4096 + delta);
  // `layernorm` drops the 16-bit norm outputs, not the GEMMs' casts.
  p.recompute_modules = kModuleCoreAttn | kModuleLayernorm;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, fp4).moe / 4096,
                   ActivationBytesPerLayer(a, p, j).moe / 4096 + delta + 2 * h);
}

// Megatron-Core's recompute_modules, term by term against the DeepSeek-V3 itemisation above
// (TransformerConfig.recompute_modules: layernorm, moe_act and mla_up_proj drop their outputs;
// mlp, moe and shared_experts keep only their inputs).
TEST(ActivationTest, RecomputeModulesDropTheirTerms) {
  Architecture a = LoadArch("deepseek-v3");
  const double h = 7168, nh = 128, k = 8, Fe = 2048, Fs = 2048, F = 18432, E = 256;
  auto per_token = [&](uint32_t modules) {  // beside core_attn, Megatron-Core's default
    Plan p;
    p.recompute = Recompute::kSelective;
    p.recompute_modules = modules | kModuleCoreAttn;
    LayerActivationBytes b = ActivationBytesPerLayer(a, p, Job(4096, 8));
    return std::pair{b.dense / 4096, b.moe / 4096};
  };
  const auto [dense, moe] = per_token(kModuleCoreAttn);
  Plan no_core;
  no_core.recompute = Recompute::kSelective;
  no_core.recompute_modules = kModuleLayernorm;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, no_core, Job(4096, 8)).moe / 4096 - per_token(kModuleLayernorm).second,
                   4 * nh)
      << "without core_attn the fused attention keeps its fp32 log-sum-exp";
  // Norms that are modules of their own in Megatron-Core's Transformer Engine spec: the input norm
  // before MLA (the down-projections' input) in every layer, the pre-MLP norm (the router's input)
  // in MoE layers only; a dense layer's pre-MLP norm is fused into FC1.
  EXPECT_DOUBLE_EQ(moe - per_token(kModuleLayernorm).second, 2 * (2 * h));
  EXPECT_DOUBLE_EQ(dense - per_token(kModuleLayernorm).first, 2 * h);
  // Each routed copy's activation output (the FC2 input); dense layers have no routed experts.
  EXPECT_DOUBLE_EQ(moe - per_token(kModuleMoeAct).second, k * 2 * Fe);
  EXPECT_DOUBLE_EQ(per_token(kModuleMoeAct).first, dense);
  // q and k after RoPE and v, from the latents, and the outputs of the latents' norms (fused into
  // the up-projections, which the checkpoint recomputes from the 16-bit latents).
  EXPECT_DOUBLE_EQ(moe - per_token(kModuleMlaUpProj).second,
                   2 * nh * 192 + 2 * nh * 192 + 2 * nh * 128 + 2 * (1536 + 512));
  // The dense MLP's internals (6F gated) and, its norm being fused into FC1, the norm's output:
  // the checkpoint keeps the norm's input. MoE layers keep theirs.
  EXPECT_DOUBLE_EQ(dense - per_token(kModuleMlp).first, 6 * F + 2 * h);
  EXPECT_DOUBLE_EQ(per_token(kModuleMlp).second, moe);
  // The whole MoE block's internals: router logits and probabilities, routed copies, shared expert.
  EXPECT_DOUBLE_EQ(moe - per_token(kModuleMoe).second, 8 * E + k * (2 * h + 6 * Fe) + 6 * Fs);
  EXPECT_DOUBLE_EQ(moe - per_token(kModuleSharedExperts).second, 6 * Fs);
  // A recomputed block's internals come back for one layer while its backward runs: what it
  // dropped, a dense MLP's norm output with them (it once held 6F alone).
  Plan p;
  p.recompute = Recompute::kSelective;
  p.recompute_modules = kModuleMoe | kModuleMlp;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, Job(4096, 8)).moe_module_working / 4096,
                   8 * E + k * (2 * h + 6 * Fe) + 6 * Fs);
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, Job(4096, 8)).dense_module_working / 4096, 6 * F + 2 * h);
  p.recompute_modules = kModuleCoreAttn | kModuleLayernorm;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, Job(4096, 8)).moe_module_working, 0);
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, Job(4096, 8)).dense_module_working, 0);
  // Standard attention fuses its input norm into QKV: a dense GQA model has no norm of its own,
  // and Qwen3's MoE layers recompute their pre-MLP norm alone.
  for (const char* id : {"llama-3.1-8b", "qwen3-235b-a22b"}) {
    const Architecture g = LoadArch(id);
    Plan base;
    base.recompute = Recompute::kSelective;
    Plan norms = base;
    norms.recompute_modules |= kModuleLayernorm;
    const LayerActivationBytes x = ActivationBytesPerLayer(g, base, Job(4096, 8));
    const LayerActivationBytes y = ActivationBytesPerLayer(g, norms, Job(4096, 8));
    EXPECT_DOUBLE_EQ(y.dense, x.dense) << id;
    if (g.IsMoe()) {
      EXPECT_DOUBLE_EQ((x.moe - y.moe) / 4096, 2.0 * g.hidden) << id;
    }
  }
}

// The modules only mean something under selective recompute, as in Megatron-Core.
TEST(ActivationTest, RecomputeModulesNeedSelectiveRecompute) {
  Architecture a = LoadArch("deepseek-v3");
  Plan none;
  Plan with_modules = none;
  with_modules.recompute_modules = kAllRecomputeModules;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, with_modules, Job(4096, 8)).moe,
                   ActivationBytesPerLayer(a, none, Job(4096, 8)).moe);
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
TEST(MemoryTest, ZeroThreeHoldsTwoGatheredUnitsAndOneGradient) {
  Architecture a = LoadArch("llama-3.1-8b");
  const ParamCounts c = CountParameters(a);
  TrainingJob j = Job(8192, 64);
  Plan p;
  p.dp = 8, p.zero = 3, p.recompute = Recompute::kFull;
  const MemoryBreakdown b = EstimateStageMemory(a, c, p, j, 0, MemoryOptions{});
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
