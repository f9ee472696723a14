// Tests of one layer's work beside its GEMMs (cost/step_layer.cc): the loss and elementwise
// passes, recomputation, eager attention and its softmax, FP8 casts. GEMMs by shape, Transformer
// Engine's TP-overlap pieces and Korthikanti's Table 4: step_layer_test.cc; work the architecture
// shapes (experts, MLA, QK norms, KV heads): step_layer_arch_test.cc.
#include "preflight/cost/step_time.h"

#include <gtest/gtest.h>

#include <tuple>
#include <utility>

#include "preflight/cost/step_test_support.h"

// In the test-support namespace, so that the shared builders need no using-declarations.
namespace preflight::test_support {
namespace {

// The loss moves 52 bytes per logit (Megatron's vocab-parallel cross-entropy: 38 forward through
// an fp32 copy, 14 backward) on the last stage, once per micro-batch, and the embedding's backward
// zero-fills its V x h 16-bit gradient (2 bytes an element), which Megatron's DDP hook then adds
// into the fp32 main gradient (2 + 4 + 4), once per micro-batch: a model that differs only in its
// vocabulary (untied, so no gradient sum) differs in the step's elementwise time by exactly that.
// The step's elementwise ("other") seconds and the HBM rate of Llama 3.1 8B on 8 H100s, two
// micro-batches of one sequence on each DP rank, with `edit` applied to the job.
template <typename Edit>
std::pair<double, double> OtherSecondsAndHbm(Edit edit) {
  Job8b v = Llama8bOnH100();
  v.job.global_batch = 16;
  edit(v);
  const CostContext ctx = MakeCostContext(v.arch, v.params, v.job, v.cluster);
  return {EstimateStep(ctx, v.plan).other.value(), ctx.hbm_rate.value()};
}

TEST(StepLayerTest, CrossEntropyMovesItsPassesOverTheLogits) {
  auto other = [](int64_t vocab, int64_t mtp) {
    return OtherSecondsAndHbm([vocab, mtp](Job8b& v) {
      v.arch.vocab = vocab;
      v.arch.mtp_layers = mtp;
      v.params = CountParameters(v.arch);
      v.job.grad_accumulation_fusion = true;
    });
  };
  const auto [base, hbm] = other(128256, 0);
  const auto [wider, same_hbm] = other(2 * 128256, 0);
  EXPECT_DOUBLE_EQ(same_hbm, hbm);
  const double per_head = 8192.0 * 128256 * 52, per_embedding = 128256.0 * 4096 * 12;
  EXPECT_NEAR(wider - base, 2.0 * (per_head + per_embedding) / hbm, 1e-9);
  // An MTP module has a head and loss of its own and embeds again on the (here only) stage: its
  // embedding's backward zero-fills a dense gradient of the shared table (2 bytes an element),
  // which autograd adds to the main embedding's (read two, write one: 6), and the DDP hook, which
  // runs once for the table whatever its uses, is not charged again.
  const double per_mtp_embedding = 128256.0 * 4096 * (2 + 6);
  EXPECT_NEAR(other(2 * 128256, 1).first - other(128256, 1).first,
              2.0 * (2 * per_head + per_embedding + per_mtp_embedding) / hbm, 1e-9);
}

// Around the layers (HeadPasses), with the parameters held fixed so that only these passes move:
// a learned position table twice as long adds its gradient's zero-fill and, with the weight
// gradients fused into their GEMMs, its addition into the fp32 main gradient (2 + 10 bytes an
// element, per micro-batch); tying the embedding to the head adds the sum of the shared weight's
// two gradients (read two, write one: 6 bytes an element of V x h), and with the fusion the
// zeroed dummy Megatron-Core writes for the head's (2 more); a model without a final norm runs none.
TEST(StepLayerTest, AroundTheLayersThePassesFollowTheModel) {
  auto other = [](int64_t positions, bool tied, bool fusion) {
    return OtherSecondsAndHbm([=](Job8b& v) {
      v.arch.position_rows = positions;
      v.arch.tied_embeddings = tied;
      v.job.grad_accumulation_fusion = fusion;
    }).first;
  };
  const double hbm = OtherSecondsAndHbm([](Job8b&) {}).second;
  const double h = 4096, V = 128256, m = 2;
  EXPECT_NEAR(other(16384, false, true) - other(8192, false, true), m * 12 * 8192 * h / hbm, 1e-9);
  EXPECT_NEAR(other(16384, false, false) - other(8192, false, false), m * 2 * 8192 * h / hbm, 1e-9);
  EXPECT_NEAR(other(0, true, false) - other(0, false, false), m * 6 * V * h / hbm, 1e-9);
  EXPECT_NEAR(other(0, true, true) - other(0, false, true), m * 8 * V * h / hbm, 1e-9);
  // A model without a final norm (OPT with _remove_final_layer_norm) runs none: 2 + 3 passes of
  // 2 bytes over the tokens of each micro-batch fewer.
  const double without = OtherSecondsAndHbm([](Job8b& v) { v.arch.final_norm = false; }).first;
  EXPECT_NEAR(OtherSecondsAndHbm([](Job8b&) {}).first - without, m * 5 * 2 * 8192 * h / hbm, 1e-9);
}

// Under torch.compile (training.cross_entropy: compiled) the loss reads the 16-bit logits twice
// forward and once backward and writes their gradient: 8 bytes per logit, 44 fewer than the
// eager or Megatron loss, on every micro-batch.
TEST(StepLayerTest, CompiledCrossEntropyMovesEightBytesPerLogit) {
  auto other = [](CrossEntropy loss) {
    return OtherSecondsAndHbm([loss](Job8b& v) { v.job.cross_entropy = loss; });
  };
  const auto [eager, hbm] = other(CrossEntropy::kPytorch);
  const auto [compiled, same_hbm] = other(CrossEntropy::kCompiled);
  EXPECT_DOUBLE_EQ(same_hbm, hbm);
  EXPECT_NEAR(eager - compiled, 2.0 * 8192 * 128256 * (52 - 8) / hbm, 1e-9);
}

// Eager PyTorch runs a Llama layer's RMSNorm, RoPE and SwiGLU op by op: 36, 20 and 10 bytes per
// element where the fused kernels move 4, 4 and 6. Forward and backward (twice the forward's
// passes) move the difference for every layer.
TEST(StepLayerTest, EagerElementwiseMovesEveryOpsBytes) {
  Job8b s = Llama8bOnH100();
  auto run = [&](bool fused) {
    const auto [t, ctx] = StepWith(s, [&](Job8b& v) { v.job.elementwise_fusion = fused; });
    EXPECT_DOUBLE_EQ(t.host_launch.value(), 0) << "large GEMMs outlast the launches";
    return std::make_pair(t, ctx.hbm_rate.value());
  };
  const auto [fused, hbm] = run(true);
  const auto [eager, same_hbm] = run(false);
  EXPECT_DOUBLE_EQ(same_hbm, hbm);
  const double tokens = 8192, h = 4096;
  const double per_layer = 2 * tokens * h * (36 - 4) + tokens * (32 + 8) * 128 * (20 - 4) + tokens * 14336 * (10 - 6);
  EXPECT_NEAR((eager.other - fused.other).value(), 32 * 3 * per_layer / hbm, 1e-9);
  EXPECT_NEAR((eager.step - fused.step).value(), (eager.other - fused.other).value(), 1e-9);
  // A LayerNorm and GeLU model without rotary embedding runs the same kernels either way.
  Job8b gpt = s;
  gpt.arch = LoadArch("gpt3-175b");
  gpt.arch.layers = 4;
  gpt.params = CountParameters(gpt.arch);
  gpt.arch.dropout = false;
  auto gpt_step = [&](bool fused) {
    Job8b v = gpt;
    v.job.elementwise_fusion = fused;
    return EstimateStep(MakeCostContext(v.arch, v.params, v.job, v.cluster), v.plan).step.value();
  };
  EXPECT_DOUBLE_EQ(gpt_step(false), gpt_step(true));
  // With dropout, eager PyTorch drops out in a pass of its own before each residual add: 11 bytes
  // per element where Megatron's fused bias-dropout-add moves 7.
  gpt.arch.dropout = true;
  const double gpt_hbm = MakeCostContext(gpt.arch, gpt.params, gpt.job, gpt.cluster).hbm_rate.value();
  EXPECT_NEAR(gpt_step(false) - gpt_step(true), 4.0 * 3 * 2 * 8192 * 12288 * (11.0 - 7.0) / gpt_hbm, 1e-9);

  // A host-bound Llama-shaped model launches 20 more kernels per layer forward eagerly (7 more per
  // RMSNorm, 5 more for RoPE, 1 more for SwiGLU), three times that with the backward.
  Job8b tiny = s;
  tiny.arch.hidden = 256, tiny.arch.heads = 4, tiny.arch.kv_heads = 1, tiny.arch.head_dim = 64;
  tiny.arch.ffn = 512, tiny.arch.layers = 2;
  tiny.params = CountParameters(tiny.arch);
  tiny.job.seq_len = 128;
  auto tiny_step = [&](bool fused) {
    Job8b v = tiny;
    v.job.elementwise_fusion = fused;
    const StepTime t = EstimateStep(MakeCostContext(v.arch, v.params, v.job, v.cluster), v.plan);
    EXPECT_GT(t.host_launch.value(), 0) << "bound by the host";
    return t.other.value();  // elementwise + launch gaps: the host's time where it binds
  };
  EXPECT_NEAR(tiny_step(false) - tiny_step(true), 2 * 3 * 20 * 5e-6, 1e-9);
}

// torchtitan's op-level selective recompute runs wk, wo and w3 again (every second of the seven
// matrix products, in call order) and the forward's elementwise passes, but not fused attention.
TEST(StepLayerTest, OpLevelSelectiveRecomputeRunsThreeProductsAndTheElementwiseAgain) {
  Job8b s = Llama8bOnH100();
  auto run = [&](Recompute r) {
    const auto [t, ctx] = StepWith(s, [&](Job8b& v) { v.plan.recompute = r; });
    return std::make_tuple(t, ctx.model_flops_per_token, ctx.hbm_rate.value());
  };
  const auto [none, flops, hbm] = run(Recompute::kNone);
  const auto [op, same_flops, same_hbm] = run(Recompute::kSelectiveOp);
  const auto [selective, f2, h2] = run(Recompute::kSelective);
  EXPECT_DOUBLE_EQ(same_hbm, hbm);
  // HFU counts the three products' forward FLOPs per token and layer.
  EXPECT_NEAR(op.hfu / op.mfu, (flops + 2.0 * 32 * 4096 * (1024 + 4096 + 14336)) / flops, 1e-12);
  // One more pass of the forward's elementwise bytes per layer: 2 norms, 2 residual adds, RoPE on
  // q and k, and SwiGLU.
  const double tokens = 8192, h = 4096;
  const double fwd_bytes = 2 * tokens * h * 4 + 2 * tokens * h * 6 + tokens * (32 + 8) * 128 * 4 + tokens * 14336 * 6;
  EXPECT_NEAR((op.other - none.other).value(), 32 * fwd_bytes / hbm, 1e-9);
  EXPECT_GT(op.compute.value(), selective.compute.value()) << "three GEMMs outweigh nothing";
  EXPECT_LT(op.compute.value(), none.compute.value() * 4 / 3) << "less than a whole forward again";
}

// Megatron-Core's recompute_modules: each module's forward runs again in the backward. The norms
// are elementwise passes; a dense MLP is two products (and, with TP, its block's collectives); HFU
// counts the recomputed products.
TEST(StepLayerTest, RecomputeModulesRunTheirForwardAgain) {
  Job8b s = Llama8bOnH100();
  auto run = [&](uint32_t modules) {
    const auto [t, ctx] = StepWith(s, [&](Job8b& v) {
      v.plan.recompute = Recompute::kSelective;
      v.plan.recompute_modules = modules;
    });
    return std::make_tuple(t, ctx.model_flops_per_token, ctx.attention_flops_per_token_fwd, ctx.hbm_rate.value());
  };
  const auto [core, flops, attention, hbm] = run(kModuleCoreAttn);
  const auto [norms, f1, a1, h1] = run(kModuleCoreAttn | kModuleLayernorm);
  const auto [mlp, f2, a2, h2] = run(kModuleCoreAttn | kModuleMlp);
  const double tokens = 8192, h = 4096, ffn = 14336;
  // Llama's norms are fused into QKV and FC1 (Megatron-Core's Transformer Engine spec): `layernorm`
  // has no norm of its own to recompute.
  EXPECT_DOUBLE_EQ(norms.step.value(), core.step.value());
  // The MLP's three products again, its fused norm (read 2, write 2 bytes per element) and its
  // SwiGLU pass (read 4, write 2).
  EXPECT_GT(mlp.compute.value(), core.compute.value());
  EXPECT_NEAR((mlp.other - core.other).value(), 32 * (tokens * h * 4 + tokens * ffn * 6) / hbm, 1e-12);
  EXPECT_NEAR(mlp.hfu / mlp.mfu, (flops + attention + 2.0 * 32 * 3 * h * ffn) / flops, 1e-12);
  EXPECT_NEAR(core.hfu / core.mfu, (flops + attention) / flops, 1e-12);
  // Recomputing the MLP costs less than recomputing the whole layer.
  const auto [full, f3] = StepWith(s, [&](Job8b& v) { v.plan.recompute = Recompute::kFull; });
  EXPECT_LT(mlp.compute.value(), full.compute.value());
}

// With TP the recomputed MLP runs its all-reduce pair again; a recomputed MoE block its expert
// all-to-alls (dispatch and combine) once more: half again the plain forward and backward.
TEST(StepLayerTest, RecomputedBlocksRunTheirCollectivesAgain) {
  Job8b s = Llama8bOnH100();
  s.plan.dp = 1, s.plan.tp = 8;
  // The layers' share: 32 layers less 16 (the embedding's and the head's collectives drop out).
  auto tp = [&](uint32_t modules) {
    auto at = [&](int64_t layers) {
      const auto [t, ctx] = StepWith(s, [&](Job8b& v) {
        v.arch.layers = layers;
        v.arch.FinalizeLayers();
        v.plan.recompute = Recompute::kSelective;
        v.plan.recompute_modules = modules;
      });
      return t.exposed_comm.tp.value();
    };
    return at(32) - at(16);
  };
  // Attention and MLP blocks, one pair each way: the MLP's forward pair again is a quarter more.
  EXPECT_NEAR(tp(kModuleMlp) / tp(kModuleCoreAttn), 5.0 / 4.0, 1e-9);

  const Job8b m = DeepSeekV3OnH800(16, 4096, 16);
  auto ep = [&](uint32_t modules) {
    const auto [t, ctx] = StepWith(m, [&](Job8b& v) {
      v.plan.recompute = Recompute::kSelective;
      v.plan.recompute_modules = modules;
    });
    return std::pair{t.exposed_comm.ep.value(), t.hfu / t.mfu};
  };
  const auto [plain, plain_ratio] = ep(kModuleCoreAttn);
  const auto [again, again_ratio] = ep(kModuleCoreAttn | kModuleMoe);
  EXPECT_NEAR(again / plain, 1.5, 1e-12);
  EXPECT_GT(again_ratio, plain_ratio) << "HFU counts the router and the experts again";
  EXPECT_DOUBLE_EQ(ep(kModuleCoreAttn | kModuleMoeAct).first, plain) << "an activation pass moves no tokens";
}

// Eager attention moves its score matrix pass by pass: 13 bytes a score forward with dropout (the
// scores written, softmax 2 + 2, dropout 2 + 2 + 1, the context GEMM reading them) and 19 in the
// backward (dP written, dropout's backward 2 + 1 + 2, softmax's 2 + 2 + 2, dV, dQ and dK reading
// P or dS), not twice the forward. Doubling the heads at a fixed hidden size doubles the scores
// and leaves every GEMM's FLOPs as they were, so the step grows by the score bytes alone.
TEST(StepLayerTest, UnfusedAttentionBackwardMovesNineteenBytesPerScore) {
  const Cluster c = CatalogCluster("a100-sxm-80gb", 1);
  TrainingJob job = EagerFp16Job(1024, 8);
  job.host_overhead_per_kernel_us = 0;
  Plan p;
  p.micro_batch = 8;
  const Architecture a16 = InlineGpt(2048, 4, 16, 1024), a32 = InlineGpt(2048, 4, 32, 1024);
  ASSERT_TRUE(a16.dropout);
  const CostContext c16 = MakeCostContext(a16, CountParameters(a16), job, c);
  const CostContext c32 = MakeCostContext(a32, CountParameters(a32), job, c);
  const PipelineTime t16 = EstimatePipeline(c16, p), t32 = EstimatePipeline(c32, p);
  const double extra_scores = 4.0 /* layers */ * 8 * 16 * 1024.0 * 1024.0;  // 16 more heads
  const double hbm = c16.hbm_rate.value();
  EXPECT_NEAR(t32.stage_forward - t16.stage_forward, extra_scores * 13 / hbm, 1e-9);
  EXPECT_NEAR(t32.stage_backward - t16.stage_backward, extra_scores * 19 / hbm, 1e-9);
}

// Megatron's unfused softmax in fp32 (cast, scale, mask, softmax, cast back) moves 36 bytes a
// score forward where the fused kernel moves 4, and 48 in the backward where it moves 6; in 16 bits
// (mask and softmax) 8 and 14. Under `megatron` the fallback follows the kernel's batch constraint:
// 16 heads at TP 8 give 2 score matrices per sequence, so one sequence falls back and two do not.
TEST(StepLayerTest, UnfusedSoftmaxMovesItsOpsBytes) {
  const Cluster c = CatalogCluster("a100-sxm-80gb", 8);
  const Architecture a = InlineGpt(2048, 4, 16, 1024);
  auto pipeline = [&](AttentionSoftmax softmax, int64_t micro_batch, bool fp32) {
    TrainingJob job = EagerFp16Job(1024, 8 * micro_batch);
    job.host_overhead_per_kernel_us = 0;
    job.attention_softmax = softmax;
    job.attention_softmax_in_fp32 = fp32;
    Plan p;
    p.tp = 8, p.micro_batch = micro_batch, p.recompute = Recompute::kNone;
    return EstimatePipeline(MakeCostContext(a, CountParameters(a), job, c), p);
  };
  const double hbm = MakeCostContext(a, CountParameters(a), EagerFp16Job(1024, 8), c).hbm_rate.value();
  for (const int64_t mb : {1, 2}) {
    const PipelineTime fused = pipeline(AttentionSoftmax::kFused, mb, true);
    const double scores = 4.0 /* layers */ * mb * (16 / 8) * 1024.0 * 1024.0;
    const PipelineTime fp32 = pipeline(AttentionSoftmax::kUnfused, mb, true);
    EXPECT_NEAR(fp32.stage_forward - fused.stage_forward, scores * (36 - 4) / hbm, 1e-9) << mb;
    EXPECT_NEAR(fp32.stage_backward - fused.stage_backward, scores * (48 - 6) / hbm, 1e-9) << mb;
    const PipelineTime half = pipeline(AttentionSoftmax::kUnfused, mb, false);
    EXPECT_NEAR(half.stage_forward - fused.stage_forward, scores * (8 - 4) / hbm, 1e-9) << mb;
    EXPECT_NEAR(half.stage_backward - fused.stage_backward, scores * (14 - 6) / hbm, 1e-9) << mb;
  }
  EXPECT_DOUBLE_EQ(pipeline(AttentionSoftmax::kMegatron, 1, true).stage_forward,
                   pipeline(AttentionSoftmax::kUnfused, 1, true).stage_forward);
  EXPECT_DOUBLE_EQ(pipeline(AttentionSoftmax::kMegatron, 2, true).stage_forward,
                   pipeline(AttentionSoftmax::kFused, 2, true).stage_forward);
}

// The step of a host-bound GPT (hidden 1,024, 4 layers, 16 heads at TP 8, 8 micro-batches of one
// sequence) with an fp32 softmax of the given kind, beside a host profile whose unfused_softmax_op
// is `op_us` (0: not given).
double HostBoundGptStep(AttentionSoftmax softmax, double op_us, Recompute mode = Recompute::kFull,
                        uint32_t modules = kModuleCoreAttn) {
  const Cluster c = CatalogCluster("a100-sxm-80gb", 8);
  const Architecture a = InlineGpt(1024, 4, 16, 1024);
  TrainingJob job = EagerFp16Job(1024, 8);
  auto profile = Profile(3000, 700, 1000, 1800);
  profile->unfused_softmax_op = Seconds(op_us * 1e-6);
  job.host_profile = profile;
  job.attention_softmax = softmax;
  job.attention_softmax_in_fp32 = true;
  Plan p;
  p.tp = 8, p.micro_batch = 1, p.recompute = mode, p.recompute_modules = modules;
  const StepTime t = EstimateStep(MakeCostContext(a, CountParameters(a), job, c), p);
  EXPECT_GT(t.host_launch.value(), 0) << "host-bound";
  return t.step.value();
}

// Beside a host profile (which timed the fused kernel) the fp32 softmax's extra ops cost the host
// in the forward (4), its full recompute (4) and the backward (5 gradient kernels): 13 a layer and
// micro-batch on a host-bound GPT, each at the profile's unfused_softmax_op where it has one, else
// at the profile's forward time per kernel of its layer: 700 us over the 16 kernels it timed (norm,
// QKV, the 7 of eager attention with dropout, projection, residual; norm, FC1, GeLU, FC2, residual).
TEST(StepLayerTest, UnfusedSoftmaxOpsCostTheHostTheirLaunches) {
  auto step = [](AttentionSoftmax softmax, double op_us) { return HostBoundGptStep(softmax, op_us); };
  const double ops = 4.0 /* layers */ * 8 /* micro-batches */ * 13;
  const double at5 = step(AttentionSoftmax::kUnfused, 5), at30 = step(AttentionSoftmax::kUnfused, 30);
  EXPECT_NEAR(at30 - at5, ops * 25e-6, 1e-9);
  EXPECT_DOUBLE_EQ(step(AttentionSoftmax::kFused, 5), step(AttentionSoftmax::kFused, 30))
      << "the profile prices every op of the fused path";
  const double per_op = (step(AttentionSoftmax::kUnfused, 0) - (at5 - ops * 5e-6)) / ops;
  EXPECT_NEAR(per_op, 700e-6 / 16, 1e-12);
}

// The extra ops run again where the recompute mode runs the attention's softmax again: 13 a layer
// under full recompute, selective recompute of the attention products and the dots policy; 9
// (forward 4, backward 5) without recompute, under selective recompute of other modules and under
// torchtitan's op-level policy, which keeps the attention products. Counted from the host time a
// measured per-op figure adds on a host-bound GPT (a layer's GPU work far below its host time).
TEST(StepLayerTest, UnfusedSoftmaxOpsRunAgainWhereTheRecomputeModeDoes) {
  auto launches = [](Recompute mode, uint32_t modules) {
    auto host = [&](double op_us) { return HostBoundGptStep(AttentionSoftmax::kUnfused, op_us, mode, modules); };
    return (host(101) - host(1)) / 100e-6 / (4.0 /* layers */ * 8 /* micro-batches */);
  };
  EXPECT_NEAR(launches(Recompute::kFull, 0), 13, 1e-6);
  EXPECT_NEAR(launches(Recompute::kNone, 0), 9, 1e-6);
  EXPECT_NEAR(launches(Recompute::kSelective, kModuleCoreAttn), 13, 1e-6);
  EXPECT_NEAR(launches(Recompute::kSelective, kModuleMlp), 9, 1e-6);
  EXPECT_NEAR(launches(Recompute::kSelectiveOp, 0), 9, 1e-6);
  EXPECT_NEAR(launches(Recompute::kDots, 0), 13, 1e-6);
}

// FP8 casts are separate memory passes (Transformer Engine in Megatron-Core): for a dense Llama
// layer, the inputs of the output projection and FC2 are cast with their transposes in the forward
// (4 bytes per element), the inputs the fused norms write in FP8 (QKV, FC1) are transposed in the
// backward (2), and every output gradient is cast with its transpose (4).
TEST(StepLayerTest, Fp8CastsAreSeparateMemoryPasses) {
  Job8b s = Llama8bOnH100();
  const CostContext bf16 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  s.job.precision = Dtype::kFp8;
  const CostContext fp8 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  ASSERT_TRUE(fp8.fp8_gemms);
  const StepTime a = EstimateStep(bf16, s.plan), b = EstimateStep(fp8, s.plan);
  ASSERT_EQ(a.host_launch.value(), 0.0);
  ASSERT_EQ(b.host_launch.value(), 0.0);
  const Architecture& x = s.arch;
  const double T = static_cast<double>(s.job.seq_len), h = static_cast<double>(x.hidden);
  const double q = static_cast<double>(x.heads * x.head_dim), kv = static_cast<double>(x.kv_heads * x.head_dim);
  const double f = static_cast<double>(x.ffn);
  const double fwd = 4 * T * q + 4 * T * f;
  const double bwd = 2 * T * h + 4 * T * (q + 2 * kv) + 4 * T * h + 2 * T * h + 4 * T * 2 * f + 4 * T * h;
  const double expected = static_cast<double>(x.layers) * (fwd + bwd) / fp8.hbm_rate.value();
  EXPECT_NEAR(b.other.value() - a.other.value(), expected, expected * 1e-9);
}

// Llama 3.1 8B's step in FP8 under `recipe`, less the same under delayed scaling (the "other"
// time, where the casts go), with the sizes a layer's casts read: per token, the attention's q
// and kv widths and the FFN width; the layers and the HBM rate turn bytes per layer into seconds.
struct Fp8RecipeDelta {
  double seconds = 0, T = 0, h = 0, q = 0, kv = 0, f = 0, layers = 0, hbm = 0;
  double Expected(double bytes_per_layer) const { return layers * bytes_per_layer / hbm; }
};
Fp8RecipeDelta AgainstDelayedScaling(Fp8Recipe recipe) {
  Job8b s = Llama8bOnH100();
  s.job.precision = Dtype::kFp8;
  const CostContext delayed = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  s.job.fp8_recipe = recipe;
  const CostContext other = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  const StepTime a = EstimateStep(delayed, s.plan), b = EstimateStep(other, s.plan);
  EXPECT_EQ(b.host_launch.value(), 0.0);
  const Architecture& x = s.arch;
  return {b.other.value() - a.other.value(),
          static_cast<double>(s.job.seq_len),
          static_cast<double>(x.hidden),
          static_cast<double>(x.heads * x.head_dim),
          static_cast<double>(x.kv_heads * x.head_dim),
          static_cast<double>(x.ffn),
          static_cast<double>(x.layers),
          other.hbm_rate.value()};
}

// Current scaling (Float8CurrentScaling): each cast first reads its 16-bit input for the amax (2
// bytes per element), and QKV's and FC1's inputs, which a fused norm cannot write in FP8 without
// knowing their amax, are cast like the others: per layer 2 more bytes for every cast element,
// and those two inputs cast in the forward (4 + 2) instead of transposed in the backward (2).
TEST(StepLayerTest, Fp8CurrentScalingReadsEveryCastInputOnceMore) {
  const Fp8RecipeDelta d = AgainstDelayedScaling(Fp8Recipe::kCurrent);
  const double T = d.T, h = d.h, q = d.q, kv = d.kv, f = d.f;
  const double inputs = 2 * T * q + 2 * T * f;                 // the cast inputs' amax reads
  const double norms = (6 - 2) * T * h * 2;                    // QKV and FC1 inputs: cast, not transposed
  const double grads = 2 * T * (q + 2 * kv) + 2 * T * h + 2 * T * 2 * f + 2 * T * h;  // amax reads
  const double expected = d.Expected(inputs + norms + grads);
  EXPECT_NEAR(d.seconds, expected, expected * 1e-9);
}

// MXFP8 (MXFP8BlockScaling): no amax pass, but the norms' outputs are cast like the others (4 bytes
// in the forward instead of the 2-byte transpose in the backward), and every cast writes an E8M0
// scale per 32 elements for each of its two copies (2/32 bytes per element).
TEST(StepLayerTest, Mxfp8CastsTheNormOutputsAndWritesBlockScales) {
  const Fp8RecipeDelta d = AgainstDelayedScaling(Fp8Recipe::kMxfp8);
  const double T = d.T, h = d.h, q = d.q, kv = d.kv, f = d.f;
  const double scales = 2.0 / 32;
  const double inputs = (T * q + T * f) * scales;     // the cast inputs' scales
  const double norms = 2 * T * h * (4 + scales - 2);  // QKV and FC1 inputs: cast, not transposed
  const double grads = (T * (q + 2 * kv) + 2 * T * h + 2 * T * f) * scales;
  const double expected = d.Expected(inputs + norms + grads);
  EXPECT_NEAR(d.seconds, expected, expected * 1e-9);
}

// NVFP4 on a GB200 against FP8 current scaling there: both read every cast input for the amax and
// cast the norms' outputs, so each cast element moves the same bytes but for the copies it writes,
// two of half a byte and an E4M3 scale byte per 16 elements each (2 x 0.5625) in place of two
// bytes: 0.875 bytes fewer per element of every cast, the inputs' and the output gradients' alike.
TEST(StepLayerTest, Nvfp4CastsWriteHalfBytesAndScalesPer16) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("gb200-nvl72", 8);
  s.job.precision = Dtype::kFp8;
  s.job.fp8_recipe = Fp8Recipe::kCurrent;
  const CostContext fp8 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  s.job.precision = Dtype::kFp4;
  const CostContext fp4 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  ASSERT_TRUE(fp4.fp4_gemms);
  EXPECT_GT(fp4.gemm_rate.value(), 2 * fp8.gemm_rate.value()) << "the GB200's measured FP4 rate (7628 against 2907)";
  const StepTime a = EstimateStep(fp8, s.plan), b = EstimateStep(fp4, s.plan);
  const Architecture& x = s.arch;
  const double T = static_cast<double>(s.job.seq_len), h = static_cast<double>(x.hidden);
  const double q = static_cast<double>(x.heads * x.head_dim), kv = static_cast<double>(x.kv_heads * x.head_dim);
  const double f = static_cast<double>(x.ffn);
  const double inputs = T * (h + q + h + f);                         // QKV, proj, FC1, FC2 inputs
  const double grads = T * ((q + 2 * kv) + h + 2 * f + h);           // their output gradients
  const double expected = -0.875 * static_cast<double>(x.layers) * (inputs + grads) / fp4.hbm_rate.value();
  EXPECT_NEAR(b.other.value() - a.other.value(), expected, std::abs(expected) * 1e-9);
  EXPECT_LT(b.compute.value(), a.compute.value());
}

// The blockwise recipe (Float8BlockScaling) casts like MXFP8: no amax pass, the norms' outputs cast,
// and a scale per block for each copy, here an FP32 one per 128 elements, the same 1/32 byte per
// element as MXFP8's E8M0 byte per 32; so its casts cost what MXFP8's do, and more than delayed
// scaling's.
TEST(StepLayerTest, Fp8BlockwiseCastsLikeMxfp8WithFp32ScalesPer128) {
  const Fp8RecipeDelta mx = AgainstDelayedScaling(Fp8Recipe::kMxfp8);
  const Fp8RecipeDelta block = AgainstDelayedScaling(Fp8Recipe::kBlockwise);
  EXPECT_GT(block.seconds, 0.0);
  EXPECT_NEAR(block.seconds, mx.seconds, mx.seconds * 1e-9);
}

}  // namespace
}  // namespace preflight::test_support
