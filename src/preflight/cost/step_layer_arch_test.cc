// Tests of one layer's work where the architecture shapes it (cost/step_layer.cc): routed experts
// with few tokens, MLA's rotary dimensions, latent norms and gathers, Qwen3's q and k norms, KV
// heads fewer than the TP ranks, expert TP, FP8 dispatch and the shared experts' TP pair. GEMM
// rates: step_layer_test.cc; the loss, elementwise passes, recomputation and FP8 casts:
// step_layer_passes_test.cc.
#include "preflight/cost/step_time.h"

#include <gtest/gtest.h>

#include <cmath>
#include <utility>

#include "preflight/cost/step_test_support.h"

// In the test-support namespace, so that the shared builders need no using-declarations.
namespace preflight::test_support {
namespace {

// With CP 256 a 4k sequence leaves 16 tokens per rank, half a token per expert on average: the
// expert GEMMs still occupy whole tiles, and the step stays finite (a NaN once broke the search's
// ordering of its top K).
TEST(StepLayerTest, ExpertsWithUnderOneTokenStillTakeTime) {
  const Architecture a = LoadArch("deepseek-v3");
  const Cluster c = CatalogCluster("h800-sxm-80gb", 2048);
  TrainingJob job;
  job.seq_len = 4096;
  job.global_batch = 15360;
  Plan p;
  p.cp = 256, p.dp = 4, p.pp = 2, p.zero = 3, p.recompute = Recompute::kFull, p.balanced_layers = true;
  const CostContext ctx = MakeCostContext(a, CountParameters(a), job, c);
  const StepTime t = EstimateStep(ctx, p);
  EXPECT_TRUE(std::isfinite(t.step.value()));
  EXPECT_GT(t.compute.value(), 0);
}

// DeepSeek-V3 (no MTP module) cut to its first `layers` layers (three dense, then MoE) on
// `devices` H800s, 4,096-token sequences.
struct DeepSeekJob {
  Architecture arch;
  Cluster cluster;
  TrainingJob job;
};
DeepSeekJob DeepSeekOnH800(int64_t layers, int64_t devices, int64_t global_batch) {
  DeepSeekJob s{LoadArch("deepseek-v3"), CatalogCluster("h800-sxm-80gb", devices), TrainingJob{}};
  s.arch.layers = layers, s.arch.mtp_layers = 0;
  s.job.seq_len = 4096;
  s.job.global_batch = global_batch;
  return s;
}

// MLA rotates only each head's 64 rotary dimensions of q and the one rotary key all heads share
// (DeepSeek-V2 §2.1.3): eager RoPE (20 bytes an element where the fused kernel moves 4) costs
// tokens × (heads × 64 / TP + 64) elements a layer, three passes with the backward, whatever the
// configured head_dim (MLA's heads are 192 wide in q and k, 128 in v).
TEST(StepLayerTest, MlaRopeRotatesTheRotaryDimensionsOnly) {
  const DeepSeekJob s = DeepSeekOnH800(2, 8, 1);  // two dense MLA layers, one micro-batch
  const Architecture& a = s.arch;
  const Cluster& c = s.cluster;
  const TrainingJob& job = s.job;
  Plan p;
  p.tp = 8, p.sp = true;
  auto step = [&](const Architecture& arch, bool fused) {
    TrainingJob j = job;
    j.elementwise_fusion = fused;
    const CostContext ctx = MakeCostContext(arch, CountParameters(arch), j, c);
    return std::make_pair(EstimateStep(ctx, p), ctx.hbm_rate.value());
  };
  Architecture wide = a;
  wide.head_dim = 2 * a.head_dim;
  EXPECT_DOUBLE_EQ(step(wide, false).first.step.value(), step(a, false).first.step.value());
  // The same model without rotary embedding (learned positions) differs by RoPE's eager bytes.
  Architecture learned = a;
  learned.position_rows = 4096;
  const auto [rope_eager, hbm] = step(a, false);
  const double rope_elements = 4096.0 * (128.0 * 64 / 8 + 64);
  const double other_rope = (rope_eager.other - step(a, true).first.other).value();
  const double other_learned = (step(learned, false).first.other - step(learned, true).first.other).value();
  EXPECT_NEAR(other_rope - other_learned, 2 * 3 * rope_elements * (20 - 4) / hbm, 1e-9);
}

// Qwen3 normalises q and k per head before RoPE: a norm pass over every q and k element the rank
// holds (4 bytes each fused), forward and twice backward, in two more kernels a layer forward.
TEST(StepLayerTest, QkNormsPassOverTheRanksHeads) {
  Job8b s = Llama8bOnH100();
  auto other = [&](const Job8b& v, bool qk_norm) {
    Architecture arch = v.arch;
    arch.qk_norm = qk_norm;  // parameters as without: the norms' weights would move the optimizer
    const CostContext ctx = MakeCostContext(arch, v.params, v.job, v.cluster);
    return std::make_pair(EstimateStep(ctx, v.plan).other.value(), ctx.hbm_rate.value());
  };
  const auto [with, hbm] = other(s, true);
  EXPECT_NEAR(with - other(s, false).first, 32 * 3 * 8192.0 * (32 + 8) * 128 * 4 / hbm, 1e-9);
  // At TP 2 each rank norms half the heads.
  Job8b tp2 = s;
  tp2.plan.tp = 2, tp2.plan.sp = true;
  EXPECT_NEAR(other(tp2, true).first - other(tp2, false).first, 32 * 3 * 8192.0 * (16 + 4) * 128 * 4 / hbm, 1e-9);
  // A host-bound model launches the two norms' kernels, three times with the backward.
  Job8b tiny = s;
  tiny.arch.hidden = 256, tiny.arch.heads = 4, tiny.arch.kv_heads = 1, tiny.arch.head_dim = 64;
  tiny.arch.ffn = 512, tiny.arch.layers = 2;
  tiny.params = CountParameters(tiny.arch);
  tiny.job.seq_len = 128;
  const double host = other(tiny, true).first - other(tiny, false).first;
  EXPECT_NEAR(host, 2 * 3 * 2 * 5e-6, 1e-9);
}

// MLA normalises each latent on the rank's own rows (before the sequence gather): widening kv's
// latent by 512 adds 512 norm elements per token of the rank's 4,096 / 8 rows, forward and twice
// backward; `mla_up_proj` recompute runs the norms again with the up-projections.
TEST(StepLayerTest, MlaLatentNormsRunOnTheRanksRows) {
  const DeepSeekJob s = DeepSeekOnH800(2, 8, 1);  // two dense MLA layers, one micro-batch
  Plan p;
  p.tp = 8, p.sp = true;
  const ParamCounts params = CountParameters(s.arch);
  auto other = [&](const Architecture& arch, const Plan& plan) {
    const CostContext ctx = MakeCostContext(arch, params, s.job, s.cluster);
    return std::make_pair(EstimateStep(ctx, plan).other.value(), ctx.hbm_rate.value());
  };
  const Architecture& a = s.arch;
  Architecture wide = a;
  wide.mla.kv_lora_rank += 512;
  const auto [base, hbm] = other(a, p);
  EXPECT_NEAR(other(wide, p).first - base, 2 * 3 * 512.0 * 512 * 4 / hbm, 1e-9);
  Plan up = p;
  up.recompute = Recompute::kSelective;
  up.recompute_modules = kModuleMlaUpProj;
  EXPECT_NEAR(other(wide, up).first - other(a, up).first, 2 * 4 * 512.0 * 512 * 4 / hbm, 1e-9);
}

// MLA's down-projections are replicated over TP and run before the gather: with SP the attention
// block gathers the latents (q's 1536, kv's 512 and the 64-wide RoPE key), not the 7168-wide
// input, and reduce-scatters the output as usual; the backward reduce-scatters the latents'
// gradients and gathers the q and kv latents (not the RoPE key) again for the up-projections'
// weight gradients. A dense MLA layer's TP traffic per micro-batch, measured as what two more
// layers add.
TEST(StepLayerTest, MlaGathersItsLatentsNotItsInput) {
  Architecture a = LoadArch("deepseek-v3");
  a.mtp_layers = 0;
  const Cluster c = CatalogCluster("h800-sxm-80gb", 8);
  TrainingJob job;
  job.seq_len = 4096;
  job.global_batch = 1;
  Plan p;
  p.tp = 8, p.sp = true;
  auto tp = [&](int64_t layers) {
    Architecture v = a;
    v.layers = layers;  // the first three layers are dense
    const CostContext ctx = MakeCostContext(v, CountParameters(v), job, c);
    return std::make_pair(EstimateStep(ctx, p).exposed_comm.tp.value(), ctx.fabric);
  };
  const auto [three, fabric] = tp(3);
  const double per_layer = three - tp(1).first;  // two dense MLA layers
  const Bytes input(4096.0 * 7168 * 2), latents(4096.0 * (1536 + 512 + 64) * 2);
  const Bytes up_inputs(4096.0 * (1536 + 512) * 2);  // the up-projections' inputs: no RoPE key
  const int64_t per = RanksPerDomain(fabric, 1, 8);
  auto ag = [&](Bytes b) { return AllGatherTime(fabric, b, 8, per).value(); };
  auto rs = [&](Bytes b) { return ReduceScatterTime(fabric, b, 8, per).value(); };
  const double attention = ag(latents) + rs(input) + ag(input) + rs(latents) + ag(up_inputs);
  const double mlp = ag(input) + rs(input) + ag(input) + rs(input) + ag(input);
  EXPECT_NEAR(per_layer, 2 * (attention + mlp), 1e-12);
  // Each rank runs the down-projections on its own sequence shard only: SP saves their FLOPs on
  // the other 7/8 of the tokens, where a GQA layer's GEMMs are the same either way.
  auto compute = [&](const Architecture& arch, bool sp) {
    Plan q = p;
    q.sp = sp;
    return EstimateStep(MakeCostContext(arch, CountParameters(arch), job, c), q).compute.value();
  };
  Architecture mla = a;
  mla.layers = 3;
  EXPECT_LT(compute(mla, true), compute(mla, false));
  Architecture gqa = LoadArch("llama-3.1-8b");
  gqa.layers = 3;
  EXPECT_DOUBLE_EQ(compute(gqa, true), compute(gqa, false));
  // Without SP the input is whole on every rank: the output's all-reduce is of h, and the
  // backward all-reduces the latents' gradients for the column-parallel up-projections.
  p.sp = false;
  const auto [no_sp, no_sp_fabric] = tp(3);
  auto ar = [&](Bytes b) { return AllReduceTime(fabric, b, 8, per).value(); };
  EXPECT_NEAR(no_sp - tp(1).first, 2 * (ar(input) + ar(latents) + 2 * ar(input)), 1e-12);
  // Recomputing the up-projections (`mla_up_proj`) under SP gathers their latents again.
  p.sp = true;
  p.recompute = Recompute::kSelective;
  p.recompute_modules = kModuleCoreAttn;
  const double core_only = tp(3).first - tp(1).first;
  p.recompute_modules = kModuleCoreAttn | kModuleMlaUpProj;
  EXPECT_NEAR(tp(3).first - tp(1).first - core_only, 2 * ag(up_inputs), 1e-12);
}

// With fewer KV heads than TP ranks each rank keeps one whole KV head: 4 KV heads at TP 8 run the
// same K and V projections per rank as 8 heads do.
TEST(StepLayerTest, KvHeadsFewerThanTpAreReplicated) {
  Job8b s = TensorParallelLlama8b(4096, 8);
  auto compute = [&](int64_t kv_heads) {
    return StepWith(s, [&](Job8b& v) {
             v.arch.kv_heads = kv_heads;
             v.params = CountParameters(v.arch);
           }).first.compute.value();
  };
  EXPECT_DOUBLE_EQ(compute(4), compute(8));
  EXPECT_LT(compute(8), compute(16)) << "two heads a rank";
}

// Expert TP splits each expert's width over etp ranks but gives each rank etp times the rows: the
// activation bytes of the busiest expert rank do not depend on it, and they grow with the load
// imbalance as its GEMMs do.
TEST(StepLayerTest, ExpertActivationBytesDoNotShrinkWithExpertTp) {
  Architecture a = LoadArch("mixtral-8x7b");
  const Cluster c = CatalogCluster("h100-sxm-80gb", 8);
  TrainingJob job;
  job.seq_len = 4096;
  job.global_batch = 2;
  Plan p;
  p.tp = 4, p.dp = 2, p.ep = 2, p.sp = true;
  auto other = [&](int64_t etp, double imbalance) {
    Plan q = p;
    q.etp = etp;
    TrainingJob j = job;
    j.moe_imbalance = imbalance;
    const CostContext ctx = MakeCostContext(a, CountParameters(a), j, c);
    return std::make_pair(EstimateStep(ctx, q).other.value(), ctx.hbm_rate.value());
  };
  const auto [etp1, hbm] = other(1, 1.0);
  EXPECT_NEAR(other(4, 1.0).first, etp1, 1e-12);
  // SwiGLU's fused activation moves 6 bytes an element, in 3 passes (the forward's and the
  // backward's two), over 32 layers of T·k/t rows of 14,336, in each of the 1 micro-batch.
  const double routed = 4096.0 * 2 / 4 * 14336 * 6;
  EXPECT_NEAR(other(1, 1.5).first - etp1, 0.5 * 32 * 3 * routed / hbm, 1e-9);
}

// Under FP8 the expert dispatch sends 16-bit tokens (Megatron-Core's dispatchers; Transformer
// Engine casts inside the expert GEMMs) unless the framework casts first (DeepSeek-V3's:
// `fp8_dispatch`), when the dispatch and its backward twin send 1 byte an element and a 4-byte scale
// per 128; the combine and its twin send 16 bits either way. One MoE layer, EP 8 over two nodes, one micro-batch.
TEST(StepLayerTest, Fp8DispatchHalvesTheDispatchOnly) {
  DeepSeekJob s = DeepSeekOnH800(4, 16, 2);
  s.job.precision = Dtype::kFp8;
  Plan p;
  p.ep = 8, p.dp = 2;
  struct Run {
    double ep, other, hbm;
    Fabric fabric;
  };
  auto run = [&](bool fp8_dispatch) {
    TrainingJob j = s.job;
    j.fp8_dispatch = fp8_dispatch;
    const CostContext ctx = MakeCostContext(s.arch, CountParameters(s.arch), j, s.cluster);
    EXPECT_DOUBLE_EQ(DispatchElementBytes(ctx), fp8_dispatch && ctx.fp8_gemms ? 1.03125 : 2.0)
        << "FP8 adds a 4-byte scale per 128 elements (7,392 bytes a token at h = 7,168)";
    const StepTime t = EstimateStep(ctx, p);
    return Run{t.exposed_comm.ep.value(), t.other.value(), ctx.hbm_rate.value(), ctx.fabric};
  };
  const Run sixteen = run(false), fp8 = run(true);
  const int64_t per_domain = RanksPerDomain(sixteen.fabric, 1, 8, 16, 1);
  auto exchange = [&](double bytes) {
    return ExpertExchangeTime(sixteen.fabric, s.arch.moe, 4096.0, 7168, bytes, 8, per_domain, false).value();
  };
  EXPECT_NEAR(sixteen.ep, 2 * (exchange(2) + exchange(2)), 1e-12);
  EXPECT_NEAR(fp8.ep, 2 * (exchange(1.03125) + exchange(2)), 1e-12);
  // The casts follow: quantized once per token before an FP8 dispatch (read 2, write 1) and
  // transposed per routed copy for the weight gradient (read 1, write 1), or cast per routed copy
  // after a 16-bit one (read 2, write 1 + 1): T·h·(2k − 3) more bytes, k = 8.
  EXPECT_NEAR(sixteen.other - fp8.other, 4096.0 * 7168 * (2 * 8 - 3) / sixteen.hbm, 1e-12);
  // Without FP8 GEMMs the flag changes nothing.
  s.job.precision = Dtype::kBf16;
  EXPECT_NEAR(run(true).ep, run(false).ep, 1e-12);
  EXPECT_DOUBLE_EQ(run(true).other, run(false).other);
}

// Token dropping at a capacity factor (Megatron-Core's --moe-expert-capacity-factor) cuts the
// busiest expert rank's copies to CF times the mean: below the imbalance its experts' GEMMs and
// activation run as a dropless step at load CF, above it as the imbalance alone. Padded to
// capacity, every rank computes, permutes and dispatches CF·T·k rows, whatever the imbalance:
// the all-to-alls carry CF times the copies (one MoE layer, EP 8 over two nodes). An exchange
// ends with its busiest rank, which receives the load times the mean.
TEST(StepLayerTest, ACapacityFactorCapsTheBusiestExpertRankAndPaddingFillsIt) {
  const DeepSeekJob s = DeepSeekOnH800(4, 16, 2);
  Plan p;
  p.ep = 8, p.dp = 2;
  struct Run {
    double compute, other, ep;
    Fabric fabric;
  };
  auto run = [&](double imbalance, double capacity, bool pad) {
    TrainingJob j = s.job;
    j.moe_imbalance = imbalance;
    j.moe_capacity_factor = capacity;
    j.moe_pad_to_capacity = pad;
    const CostContext ctx = MakeCostContext(s.arch, CountParameters(s.arch), j, s.cluster);
    const StepTime t = EstimateStep(ctx, p);
    return Run{t.compute.value(), t.other.value(), t.exposed_comm.ep.value(), ctx.fabric};
  };
  const Run dropless = run(1.5, 0, false), at_cap = run(1.2, 0, false), capped = run(1.5, 1.2, false);
  EXPECT_GT(dropless.compute, at_cap.compute) << "the test needs a load the experts' time follows";
  EXPECT_DOUBLE_EQ(capped.compute, at_cap.compute);
  EXPECT_DOUBLE_EQ(capped.other, at_cap.other);
  EXPECT_LT(capped.ep, dropless.ep) << "the busiest rank receives CF times the mean, not the imbalance";
  const Run roomy = run(1.5, 2.0, false);
  EXPECT_DOUBLE_EQ(roomy.compute, dropless.compute) << "a capacity above the load drops nothing";
  // Padded: the experts run CF·T·k rows at imbalance 1 or 3 alike, and the exchanges carry CF times the rows.
  const Run padded = run(1.0, 1.25, true);
  EXPECT_DOUBLE_EQ(run(3.0, 1.25, true).compute, padded.compute);
  EXPECT_DOUBLE_EQ(padded.compute, run(1.25, 0, false).compute);
  const int64_t per_domain = RanksPerDomain(padded.fabric, 1, 8, 16, 1);
  auto exchange = [&](double rows) {
    return ExpertExchangeTime(padded.fabric, s.arch.moe, rows, 7168, 2, 8, per_domain, false).value();
  };
  // An exchange ends with its busiest rank: the dropless one receives 1.5 times the mean, the
  // capped one CF 1.2 times, the padded one CF 1.25 times (and every rank sends as much).
  EXPECT_NEAR(dropless.ep, 4 * exchange(1.5 * 4096), 1e-12);
  EXPECT_NEAR(capped.ep, 4 * exchange(1.2 * 4096), 1e-12);
  EXPECT_NEAR(padded.ep, 4 * exchange(1.25 * 4096), 1e-12);
}

// HFU counts the expert rows the GEMMs run: padded to CF 1.25, a quarter more of the routed
// experts' forward and backward (3 × their forward FLOPs per token, top-k copies of the SwiGLU
// experts' three matrices: 2·k·3·h·F_e in each MoE layer); MFU keeps the model's count.
TEST(StepLayerTest, HardwareFlopsCountThePaddedExpertRows) {
  const DeepSeekJob s = DeepSeekOnH800(4, 16, 2);
  Plan p;
  p.ep = 8, p.dp = 2;
  TrainingJob j = s.job;
  j.moe_capacity_factor = 1.25, j.moe_pad_to_capacity = true;
  const CostContext ctx = MakeCostContext(s.arch, CountParameters(s.arch), j, s.cluster);
  const double experts = 2.0 * 8 * 3 * 7168 * 2048 * static_cast<double>(s.arch.MoeLayerCount());  // k = 8, F_e = 2,048
  ASSERT_DOUBLE_EQ(ctx.expert_flops_per_token_fwd, experts);
  const StepTime t = EstimateStep(ctx, p);
  EXPECT_NEAR(t.hfu / t.mfu, 1 + 0.25 * 3 * experts / ctx.model_flops_per_token, 1e-12);
  j.moe_pad_to_capacity = false;  // dropping at 1.25 runs no extra rows
  const StepTime dropped = EstimateStep(MakeCostContext(s.arch, CountParameters(s.arch), j, s.cluster), p);
  EXPECT_DOUBLE_EQ(dropped.hfu, dropped.mfu);
}

// Megatron-Core's shared experts are a tensor-parallel MLP of their own: with TP and no expert TP
// an MoE layer has two TP blocks (attention, shared experts), one all-reduce each way per block.
TEST(StepLayerTest, SharedExpertsHaveTheirOwnTensorParallelPair) {
  const DeepSeekJob s = DeepSeekOnH800(4, 16, 8);  // three dense layers and one MoE layer
  const Architecture& a = s.arch;
  const Cluster& c = s.cluster;
  const TrainingJob& job = s.job;
  Plan p;
  p.tp = 2, p.ep = 8, p.dp = 8;
  auto tp_time = [&](const Architecture& arch) {
    const CostContext ctx = MakeCostContext(arch, CountParameters(arch), job, c);
    return std::make_pair(EstimateStep(ctx, p).exposed_comm.tp.value(), ctx.fabric);
  };
  Architecture unshared = a;
  unshared.moe.shared_ffn = 0;
  const auto [with_shared, fabric] = tp_time(a);
  const double pair = AllReduceTime(fabric, Bytes(4096.0 * 7168 * 2), 2, 2).value();
  const double micro_batches = 8.0 / 8;
  EXPECT_NEAR(with_shared - tp_time(unshared).first, micro_batches * 2 * pair, 1e-12);
}

}  // namespace
}  // namespace preflight::test_support
