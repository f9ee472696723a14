// Tests of cost/memory.h against the closed forms it implements:
//  - activations: Korthikanti et al. 2022, Eq. 1-6 and Table 2, and the worked GPT-3 example of
//    cost-model-notes §3.2 (h = 12288, a = 96, L = 96, s = 2048, b = 1, t = 8, p = 8);
//  - in-flight micro-batches per schedule: cost-model-notes §3.3;
//  - model states: ZeRO §3.1/§5.1 (Ψ = 7.5B, N_d = 64: 120 / 31.4 / 16.6 / 1.9 GB) and Megatron's
//    distributed optimizer (6 + 12/d bytes per parameter), cost-model-notes §3.1.
#include "preflight/cost/memory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "preflight/catalog/catalog.h"
#include "preflight/model/load.h"
#include "preflight/model/hf_config.h"
#include "preflight/model/model.h"
#include "preflight/model/test_support.h"

namespace preflight {
namespace {

using test_support::LoadArch;

// A GPT-2-style model as Korthikanti and ZeRO describe it: MHA, GeLU MLP of 4h, LayerNorm,
// biases, learned positions, tied embeddings, dropout.
Architecture Gpt(int64_t h, int64_t heads, int64_t layers, int64_t vocab, int64_t positions) {
  Architecture a;
  a.name = "gpt";
  a.model_type = "gpt2";
  a.hidden = h;
  a.heads = heads;
  a.kv_heads = heads;
  a.head_dim = h / heads;
  a.ffn = 4 * h;
  a.layers = layers;
  a.vocab = vocab;
  a.max_positions = positions;
  a.position_rows = positions;
  a.activation = MlpActivation::kGelu;
  a.gated_mlp = false;
  a.norm = NormKind::kLayerNorm;
  a.qkv_bias = a.attn_out_bias = a.mlp_bias = true;
  a.tied_embeddings = true;
  a.dropout = true;
  return a;
}

// GPT-3 175B as in Korthikanti's worked example.
Architecture Gpt3() { return Gpt(12288, 96, 96, 51200, 2048); }

TrainingJob Job(int64_t seq_len, int64_t global_batch) {
  TrainingJob j;
  j.seq_len = seq_len;
  j.global_batch = global_batch;
  return j;
}

// Korthikanti's setting: unfused attention (the score matrix and its dropout mask are stored).
TrainingJob KorthikantiJob() {
  TrainingJob j = Job(2048, 64);
  j.flash_attention = false;
  return j;
}

Plan Tp8Pp8(bool sp, Recompute r) {
  Plan p;
  p.tp = 8;
  p.pp = 8;
  p.sp = sp;
  p.recompute = r;
  return p;
}

constexpr double kSbh = 2048.0 * 1 * 12288;  // s·b·h

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

// torchtitan's op-level selective recompute keeps, per token of a Llama layer, its input (2h), the
// outputs of wq (2q), wv (2kv), fused attention (2q, and 4 bytes of log-sum-exp per head) and w1
// (2F): 55,424 bytes on Llama-3.1-8B, where Megatron's selective recompute keeps 139,264. On a stage
// it holds that for every layer, plus the layer being recomputed.
TEST(ActivationTest, OpLevelSelectiveRecomputeKeepsTheSavedProducts) {
  Architecture a = LoadArch("llama-3.1-8b");
  TrainingJob j = Job(8192, 8);
  Plan p;
  p.recompute = Recompute::kSelectiveOp;
  const LayerActivationBytes bytes = ActivationBytesPerLayer(a, p, j);
  EXPECT_DOUBLE_EQ(bytes.op_sac / 8192, 2 * 4096 + 2 * 4096 + 2 * 1024 + 2 * 4096 + 4 * 32 + 2 * 14336);
  const MemoryBreakdown b = EstimateStageMemory(a, CountParameters(a), p, j, 0, MemoryOptions{});
  const double head = 8192.0 * (4 * 4096 + 4 * 128256);  // final norm and head inputs, fp32 logits
  EXPECT_NEAR(b.activations.value(), 32 * bytes.op_sac + bytes.dense + head, 1);
  p.recompute = Recompute::kSelective;
  EXPECT_GT(EstimateStageMemory(a, CountParameters(a), p, j, 0, MemoryOptions{}).activations.value(),
            2 * b.activations.value());
}

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
  // The last stage: 16 of the 32 layers, the final norm and the (untied) LM head, over TP 2.
  const double layer = (c.total - 2.0 * 128256 * 4096 - 4096) / 32;
  const double local = (16 * layer + 128256.0 * 4096 + 4096) / 2;
  EXPECT_NEAR((gathered.weights - sharded.weights).value(), 2 * local, local * 1e-9);
  EXPECT_NEAR((gathered.gradients - sharded.gradients).value(), 4 * local, local * 1e-9);
  EXPECT_DOUBLE_EQ(gathered.activations.value(), sharded.activations.value());
}

// PyTorch's F.cross_entropy on fp32 logits (torchtitan) holds 12 bytes per logit at its backward
// peak where Megatron's in-place vocab-parallel loss holds 4; only the last stage has the logits.
TEST(StageMemoryTest, PytorchCrossEntropyHoldsThreeFp32CopiesOfTheLogits) {
  Architecture a = LoadArch("llama-3.1-8b");
  TrainingJob j = Job(8192, 16);
  Plan p;
  p.pp = 2;
  p.micro_batch = 1;
  auto activations = [&](bool pytorch, int64_t stage) {
    TrainingJob v = j;
    v.pytorch_cross_entropy = pytorch;
    return EstimateStageMemory(a, CountParameters(a), p, v, stage, MemoryOptions{}).activations.value();
  };
  EXPECT_DOUBLE_EQ(activations(true, 0), activations(false, 0));
  EXPECT_NEAR(activations(true, 1) - activations(false, 1), 8192.0 * 128256 * (12 - 4), 1);
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
  // q and k after RoPE and v, from the latents.
  EXPECT_DOUBLE_EQ(moe - per_token(kModuleMlaUpProj).second, 2 * nh * 192 + 2 * nh * 192 + 2 * nh * 128);
  // The dense MLP's internals (6F gated) and, its norm being fused into FC1, the norm's output:
  // the checkpoint keeps the norm's input. MoE layers keep theirs.
  EXPECT_DOUBLE_EQ(dense - per_token(kModuleMlp).first, 6 * F + 2 * h);
  EXPECT_DOUBLE_EQ(per_token(kModuleMlp).second, moe);
  // The whole MoE block's internals: router logits and probabilities, routed copies, shared expert.
  EXPECT_DOUBLE_EQ(moe - per_token(kModuleMoe).second, 8 * E + k * (2 * h + 6 * Fe) + 6 * Fs);
  EXPECT_DOUBLE_EQ(moe - per_token(kModuleSharedExperts).second, 6 * Fs);
  // A recomputed block's internals come back for one layer while its backward runs.
  Plan p;
  p.recompute = Recompute::kSelective;
  p.recompute_modules = kModuleMoe | kModuleMlp;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, Job(4096, 8)).moe_module_working / 4096,
                   8 * E + k * (2 * h + 6 * Fe) + 6 * Fs);
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(a, p, Job(4096, 8)).dense_module_working / 4096, 6 * F);
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

// Under a pipeline the working set of a recomputed MoE block is added once to the stage.
TEST(StageMemoryTest, RecomputedMoeBlockHoldsOneLayerWhileItsBackwardRuns) {
  Architecture a = LoadArch("deepseek-v3");
  const ParamCounts c = CountParameters(a);
  Plan p;
  p.tp = 2, p.sp = true, p.pp = 8, p.ep = 8, p.dp = 8;
  p.recompute = Recompute::kSelective;
  p.recompute_modules = kModuleMoe;
  const TrainingJob j = Job(4096, 512);
  const LayerActivationBytes layer = ActivationBytesPerLayer(a, p, j);
  Plan attn_only = p;
  attn_only.recompute_modules = kModuleCoreAttn;
  const double with_block = EstimateStageMemory(a, c, p, j, 4, MemoryOptions{}).activations.value();
  const double in_flight = InFlightMicroBatches(p, MicroBatches(p, j), 4);
  const int64_t n = LayersOnStage(a, p, 4), first = FirstLayerOfStage(a, p, 4);
  const double moe_layers = static_cast<double>(a.MoeLayersIn(first, n));
  const double dense_layers = static_cast<double>(n) - moe_layers;
  ASSERT_EQ(dense_layers, 0) << "stage 4 holds MoE layers only";
  EXPECT_NEAR(with_block, in_flight * moe_layers * layer.moe + layer.moe_module_working, 1e-6 * with_block);
  // Only a stage with dense layers holds a recomputed dense MLP's working set: with `mlp`, stage 0.
  Plan mlp = p;
  mlp.recompute_modules = kModuleMlp;
  const LayerActivationBytes m = ActivationBytesPerLayer(a, mlp, j);
  ASSERT_GT(m.dense_module_working, 0);
  const double mid = EstimateStageMemory(a, c, mlp, j, 4, MemoryOptions{}).activations.value();
  EXPECT_NEAR(mid, in_flight * moe_layers * m.moe, 1e-6 * mid);
  EXPECT_LT(with_block, EstimateStageMemory(a, c, attn_only, j, 4, MemoryOptions{}).activations.value());
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

// cost-model-notes §3.2: GPT-3, SP + selective, interleaved m = 3: 10.27 GB × (1 + 7/24) = 13.26 GB
// on the first stage.
TEST(StageMemoryTest, Gpt3InterleavedActivations) {
  Architecture a = Gpt3();
  ParamCounts c = CountParameters(a);
  Plan p = Tp8Pp8(true, Recompute::kSelective);
  p.vpp = 3;
  p.schedule = Schedule::kInterleaved;
  p.dp = 1;
  TrainingJob j = KorthikantiJob();
  MemoryBreakdown b = EstimateStageMemory(a, c, p, j, 0, MemoryOptions{});
  EXPECT_NEAR(b.activations.value(), 13.26e9, 13.26e9 * 0.01);
  // 1F1B without interleaving holds exactly the L layers: 10.27 GB (+ embedding dropout).
  Plan q = Tp8Pp8(true, Recompute::kSelective);
  MemoryBreakdown b1 = EstimateStageMemory(a, c, q, j, 0, MemoryOptions{});
  EXPECT_NEAR(b1.activations.value(), 10.27e9, 10.27e9 * 0.01);
  // Full recompute: 2sbh per layer over L layers (4.83 GB), plus the one layer being recomputed
  // and the embedding dropout mask of each micro-batch in flight (sbh·p without SP, §4.3).
  Plan f = Tp8Pp8(false, Recompute::kFull);
  MemoryBreakdown bf = EstimateStageMemory(a, c, f, j, 0, MemoryOptions{});
  const double one_layer = ActivationBytesPerLayer(a, f, j).dense;
  EXPECT_NEAR(one_layer, kSbh * (10 + 24.0 / 8), 1) << "recomputed layer: no stored scores";
  EXPECT_NEAR(bf.activations.value(), 4.83e9 + one_layer + 8 * kSbh, 0.01e9);
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
    EXPECT_NEAR(b.weights.value(), k.weights * psi, psi * 1e-9) << k.what;
    EXPECT_NEAR(b.optimizer.value(), k.optimizer_bytes * psi, psi * 1e-9) << k.what;
  }
}

TEST(ModelStateTest, TensorAndExpertSharding) {
  // Mixtral, TP 2, EP 8, DP 32 (64 devices), ZeRO-1: dense parameters split over TP, experts over
  // EP; optimizer states over DP (dense) and the expert-DP group tp·dp/ep = 8.
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
  MemoryBreakdown b = EstimateStageMemory(a, c, p, Job(4096, 64), 0, MemoryOptions{});
  const double on_device = dense / 2 + expert / 8;
  EXPECT_NEAR(b.weights.value(), 2 * on_device, on_device * 1e-9);
  EXPECT_NEAR(b.gradients.value(), 4 * on_device, on_device * 1e-9);
  EXPECT_NEAR(b.optimizer.value(), 12 * (dense / 2 / 32 + expert / 8 / 8), on_device * 1e-9);
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
