// Tests of cost/memory.h against the closed forms it implements, for one layer of an MoE or MLA
// model and for low-precision storage (dense layers, the micro-batches in flight and a stage's
// transient peaks: memory_test.cc):
//  - MoE and MLA layers: cost-model-notes §3.2 (Mixtral 8x7B, DeepSeek-V3);
//  - the FP8 and NVFP4 casts a GEMM keeps of its input, and DeepSeek-V3's own storage;
//  - Megatron-Core's recompute_modules, term by term against the DeepSeek-V3 itemisation.
#include "preflight/cost/memory.h"

#include <gtest/gtest.h>

#include <utility>

#include "preflight/cost/memory_test_support.h"
#include "preflight/model/model.h"
#include "preflight/model/test_support.h"

namespace preflight {
namespace {

using test_support::Job;
using test_support::LoadArch;

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

}  // namespace
}  // namespace preflight
