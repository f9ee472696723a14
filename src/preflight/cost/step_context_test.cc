// Tests of the rates a cost context reads (cost/step_context.cc): fused attention at the catalog's
// measured kernel rates in the FlashAttention convention (causal work halved, backward 2.5x the
// forward) by sequence length and head dimension, the sustained (power-limited) GEMM rate, and the
// fallback to the GEMM rate, with a warning, where the catalog has no measurement.
#include "preflight/cost/step_time.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "preflight/base/test_support.h"
#include "preflight/catalog/gemm_table.h"
#include "preflight/cost/step_test_support.h"

// In the test-support namespace, so that the shared builders need no using-declarations.
namespace preflight::test_support {
namespace {

TEST(StepContextTest, CatalogHasMeasuredAttentionRatesForH100) {
  const Job8b s = Llama8bOnH100();
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  // The kernel benchmarks are bursts: they run at the sustained / burst ratio in a step.
  const double sustain = SustainedRatio(s.cluster.spec, Dtype::kBf16);
  EXPECT_DOUBLE_EQ(ctx.flash_fwd_rate.value(), s.cluster.spec.attention_fwd_tflops.value * 1e12 * sustain);
  EXPECT_DOUBLE_EQ(ctx.flash_bwd_rate.value(), s.cluster.spec.attention_bwd_tflops.value * 1e12 * sustain);
  EXPECT_LT(ctx.flash_fwd_rate.value(), ctx.attention_rate.value()) << "fused attention runs below MAMF";
  EXPECT_FALSE(HasWarning(ctx, "fused-attention"));
}

// The power limit: a step holds the sustained large-GEMM rate (MSMF), and every burst benchmark
// (the shape table, the attention kernels) is scaled by sustained / burst.
TEST(StepContextTest, SustainedFractionReplacesTheBurstRates) {
  Job8b s = Llama8bOnH100();
  HardwareSpec& h = s.cluster.spec;
  h.gemm_kernel_us = Figure{};  // a fixed time per kernel does not scale with the clock
  const int bf16 = DtypeIndex(Dtype::kBf16);
  ASSERT_TRUE(h.sustained_fraction[bf16].known()) << "catalog h100 entry carries a sustained figure";
  h.sustained_fraction[bf16].value = h.gemm_fraction[bf16].value * 0.8;
  const CostContext slow = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_DOUBLE_EQ(SustainedRatio(h, Dtype::kBf16), 0.8);
  EXPECT_NEAR(slow.gemm_rate.value(), h.peak(Dtype::kBf16).value * 1e12 * h.sustained_fraction[bf16].value, 1e3);
  EXPECT_NEAR(slow.flash_fwd_rate.value(), h.attention_fwd_tflops.value * 1e12 * 0.8, 1e3);
  EXPECT_NEAR(slow.gemm_rate_max.value(), std::max(slow.gemm_rate.value(), h.gemm_table->MaxRate(Dtype::kBf16) * 0.8), 1e3);
  const double slow_step = EstimateStep(slow, s.plan).compute.value();

  for (Figure& f : h.sustained_fraction) f = Figure{};  // none on the device: the burst figures stand
  const CostContext burst = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_DOUBLE_EQ(SustainedRatio(h, Dtype::kBf16), 1.0);
  EXPECT_NEAR(burst.gemm_rate.value(), h.peak(Dtype::kBf16).value * 1e12 * h.gemm_fraction[bf16].value, 1e3);
  EXPECT_DOUBLE_EQ(burst.flash_fwd_rate.value(), h.attention_fwd_tflops.value * 1e12);
  // Every tensor-core term is 0.8x as fast; the step's compute is 1/0.8 as long.
  EXPECT_NEAR(slow_step, EstimateStep(burst, s.plan).compute.value() / 0.8, slow_step * 1e-9);
}

// A dtype with a burst figure and no sustained one takes the ratio another dtype of the same device
// measured: the GB200 has a sustained FP8 figure (Azure's cuBLASLt after 10,000 warm-ups) and none
// in bf16, so its bf16 GEMMs, and an FP8 run's 16-bit work, run at FP8's sustained / burst ratio,
// and the plan says so. They ran at the burst figures.
TEST(StepContextTest, ADtypeWithoutASustainedFigureBorrowsTheDevicesRatio) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("gb200-nvl72", 8);
  const HardwareSpec& h = s.cluster.spec;
  const int bf16 = DtypeIndex(Dtype::kBf16), fp8 = DtypeIndex(Dtype::kFp8);
  ASSERT_FALSE(h.sustained_fraction[bf16].known());
  ASSERT_TRUE(h.sustained_fraction[fp8].known() && h.gemm_fraction[bf16].known());
  const double ratio = h.sustained_fraction[fp8].value / h.gemm_fraction[fp8].value;
  EXPECT_EQ(SustainedRatioDtype(h, Dtype::kBf16), Dtype::kFp8);
  EXPECT_DOUBLE_EQ(SustainedRatio(h, Dtype::kBf16), ratio);
  const CostContext bf16_run = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_NEAR(bf16_run.gemm_rate.value(), h.peak(Dtype::kBf16).value * 1e12 * h.gemm_fraction[bf16].value * ratio, 1e3);
  EXPECT_TRUE(HasWarning(bf16_run, "fp8's sustained / burst ratio")) << "the plan says where the ratio comes from";
  s.job.precision = Dtype::kFp8;
  const CostContext fp8_run = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_NEAR(fp8_run.attention_rate.value(), h.peak(Dtype::kBf16).value * 1e12 * h.gemm_fraction[bf16].value * ratio, 1e3);
  EXPECT_TRUE(HasWarning(fp8_run, "16-bit work"));
}

// The GB200's FP4 figure comes from the same 10,000-warm-up Azure run as its sustained FP8 one: a
// sustained figure alone, so FP4 GEMMs run at 0.763 of the FP4 peak. As a burst figure it had been
// scaled again by FP8's sustained / burst ratio (0.804): the power limit charged twice.
TEST(StepContextTest, TheGb200Fp4FigureIsSustainedAndNotScaledAgain) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("gb200-nvl72", 8);
  s.job.precision = Dtype::kFp4;
  const HardwareSpec& h = s.cluster.spec;
  const int fp4 = DtypeIndex(Dtype::kFp4);
  ASSERT_TRUE(h.sustained_fraction[fp4].known());
  EXPECT_FALSE(h.gemm_fraction[fp4].known()) << "no burst FP4 figure is measured on this device";
  EXPECT_DOUBLE_EQ(SustainedRatio(h, Dtype::kFp4), 1.0);
  const CostContext c = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_NEAR(c.gemm_rate.value(), h.peak(Dtype::kFp4).value * 1e12 * 0.763, 1e3);
  EXPECT_FALSE(HasWarning(c, "no sustained fp4"));
}

// An fp16 run's attention products run at the fp16 peak and efficiency, as its GEMMs do: the
// A100's fp16 GEMMs measure 0.822 of 312 TFLOP/s where bf16's measure 0.869. They ran at bf16's.
TEST(StepContextTest, AnFp16RunsAttentionRunsAtTheFp16Rate) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("a100-sxm-80gb", 8);
  s.job.precision = Dtype::kFp16;
  const HardwareSpec& h = s.cluster.spec;
  // Azure's fp16 figure after 10,000 warm-ups: a sustained one, with no burst fp16 figure beside it
  // (bf16's burst figure pairs with it: SixteenBitFiguresPairAtEqualPeaks).
  ASSERT_TRUE(h.sustained_fraction[DtypeIndex(Dtype::kFp16)].known());
  ASSERT_FALSE(h.gemm_fraction[DtypeIndex(Dtype::kFp16)].known());
  const CostContext c = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_NEAR(c.attention_rate.value(), h.peak(Dtype::kFp16).value * 1e12 * 0.822, 1e3);
  EXPECT_FALSE(HasWarning(c, "no sustained fp16")) << "the A100's fp16 figure is not a burst one";
  EXPECT_NEAR(c.attention_rate.value(), c.gemm_rate.value(), 1e3);
}

// The A100 has a burst bf16 figure (MAMF, 0.869) and a sustained fp16 one (Azure's cuBLASLt after
// 10,000 warm-ups, 0.822) at equal 16-bit peaks: one tensor-core rate at two clocks. A bf16 run
// holds the sustained rate, and its burst-measured fused attention runs at their ratio; an fp16
// run is as it was. The bf16 GEMMs ran at the burst figure, with a warning that it was an upper bound.
TEST(StepContextTest, SixteenBitFiguresPairAtEqualPeaks) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("a100-sxm-80gb", 8);
  const HardwareSpec& h = s.cluster.spec;
  const Figure& burst = h.gemm_fraction[DtypeIndex(Dtype::kBf16)];
  const Figure& sustained = h.sustained_fraction[DtypeIndex(Dtype::kFp16)];
  ASSERT_TRUE(burst.known() && sustained.known());
  ASSERT_FALSE(h.sustained_fraction[DtypeIndex(Dtype::kBf16)].known() || h.gemm_fraction[DtypeIndex(Dtype::kFp16)].known());
  EXPECT_EQ(SixteenBitPartner(h, Dtype::kBf16), Dtype::kFp16);
  EXPECT_EQ(SixteenBitPartner(h, Dtype::kFp8), std::nullopt);
  const double ratio = sustained.value / burst.value;
  EXPECT_DOUBLE_EQ(SustainedRatio(h, Dtype::kBf16), ratio);
  EXPECT_DOUBLE_EQ(SustainedRatio(h, Dtype::kFp16), ratio);
  const double peak = h.peak(Dtype::kBf16).value * 1e12;
  s.job.flash_attention = true;
  const CostContext bf16 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_NEAR(bf16.gemm_rate.value(), peak * sustained.value, 1e3);
  EXPECT_NEAR(bf16.attention_rate.value(), peak * sustained.value, 1e3);
  EXPECT_NEAR(bf16.flash_fwd_rate.value(), h.attention_fwd_tflops.value * 1e12 * ratio, 1e3);
  EXPECT_FALSE(HasWarning(bf16, "no sustained bf16")) << "the fp16 figure is the rate's sustained one";
  s.job.precision = Dtype::kFp16;
  const CostContext fp16 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_NEAR(fp16.gemm_rate.value(), peak * sustained.value, 1e3) << "not scaled a second time";
  EXPECT_NEAR(fp16.flash_fwd_rate.value(), bf16.flash_fwd_rate.value(), 1e3);
}

// Where the 16-bit peaks differ (Gaudi 3: bf16 1677, fp16 459 TFLOP/s) the dtypes are two rates,
// and neither reads the other's figures.
TEST(StepContextTest, SixteenBitFiguresStayApartAtUnequalPeaks) {
  const HardwareSpec h = CatalogCluster("gaudi3", 8).spec;
  ASSERT_NE(h.peak(Dtype::kBf16).value, h.peak(Dtype::kFp16).value);
  EXPECT_EQ(SixteenBitPartner(h, Dtype::kFp16), std::nullopt);
  EXPECT_FALSE(BurstGemmFraction(h, Dtype::kFp16).known());
  EXPECT_EQ(GemmFigureDtype(h, h.gemm_fraction, Dtype::kFp16), Dtype::kFp16);
}

// A borrowed 16-bit figure that is itself a proxy is listed under its own field: a bf16 run on the
// A100 40GB reads the 80GB part's fp16 sustained figure.
TEST(StepContextTest, APairedFigureIsListedUnderItsOwnField) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("a100-sxm-40gb", 8);
  const CostContext c = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  const auto listed = [&](const std::string& figure) {
    return std::any_of(c.proxy_figures.begin(), c.proxy_figures.end(),
                       [&](const ProxyFigure& p) { return p.figure == figure && p.measured_on == "a100-sxm-80gb"; });
  };
  EXPECT_TRUE(listed("efficiency.sustained_fraction.fp16"));
  EXPECT_TRUE(listed("efficiency.gemm_fraction.bf16"));
}

// A proxy grid runs at its measuring device's sustained / burst ratio: an FP8 run on the H100 reads
// the H200's grid at the H200's ratio (0.932), not the H100's (0.985); a grid that carries no
// source ratio takes the reading device's.
TEST(StepContextTest, AProxyGridRunsAtItsMeasuringDevicesRatio) {
  Job8b s = Llama8bOnH100();
  s.job.precision = Dtype::kFp8;
  const HardwareSpec& h = s.cluster.spec;
  ASSERT_GT(h.gemm_table->SourceSustain(Dtype::kFp8), 0.0);
  const CostContext c = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_DOUBLE_EQ(c.gemm_sustain, h.gemm_table->SourceSustain(Dtype::kFp8));
  EXPECT_LT(c.gemm_sustain, SustainedRatio(h, Dtype::kFp8));
  auto unresolved = std::make_shared<GemmTable>(*h.gemm_table);
  unresolved->SetSourceSustain(Dtype::kFp8, 0);
  s.cluster.spec.gemm_table = unresolved;
  const CostContext own = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_DOUBLE_EQ(own.gemm_sustain, SustainedRatio(s.cluster.spec, Dtype::kFp8));
  EXPECT_LT(EstimateStep(own, s.plan).compute.value(), EstimateStep(c, s.plan).compute.value());
}

// A sustained figure without a burst one is the large-GEMM fraction itself; a shape table measured
// at sustained clocks (clock: sustained) is not scaled again.
TEST(StepContextTest, SustainedFigureAloneAndSustainedTables) {
  Job8b s = Llama8bOnH100();
  HardwareSpec& h = s.cluster.spec;
  const int bf16 = DtypeIndex(Dtype::kBf16);
  const double sustained = h.sustained_fraction[bf16].value;
  h.gemm_fraction[bf16] = Figure{};
  const CostContext alone = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_NEAR(alone.gemm_rate.value(), h.peak(Dtype::kBf16).value * 1e12 * sustained, 1e3);
  EXPECT_NEAR(alone.attention_rate.value(), h.peak(Dtype::kBf16).value * 1e12 * sustained, 1e3);
  EXPECT_FALSE(HasWarning(alone, "GEMM"));

  s = Llama8bOnH100();
  const CostContext burst_table = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_LT(burst_table.gemm_sustain, 1.0);
  auto sustained_table = std::make_shared<GemmTable>(*s.cluster.spec.gemm_table);
  sustained_table->sustained = true;
  s.cluster.spec.gemm_table = sustained_table;
  const CostContext as_measured = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_DOUBLE_EQ(as_measured.gemm_sustain, 1.0);
  EXPECT_DOUBLE_EQ(as_measured.gemm_rate.value(), burst_table.gemm_rate.value());  // MSMF either way
}

// An FP8 run reads the catalog's FP8 grid where the device has one (Blackwell: OpenXLA's sm_100
// E4M3 table; Hopper: the H200's own measurement, a labelled proxy on the H100), scaled by the FP8
// sustained / burst ratio; where the table has no grid for the run's dtype (the B200's FP4), its
// GEMMs run at the large-GEMM rate and the bf16 grid times only the 16-bit GEMMs.
TEST(StepContextTest, Fp8GemmsReadTheFp8GridWhereTheCatalogHasOne) {
  Job8b s = Llama8bOnH100();
  s.job.precision = Dtype::kFp8;
  s.cluster = CatalogCluster("b200-180gb", 8);
  const CostContext b200 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  ASSERT_NE(b200.gemm_table, nullptr);
  EXPECT_EQ(b200.gemm_dtype, Dtype::kFp8);
  EXPECT_DOUBLE_EQ(b200.gemm_sustain, SustainedRatio(s.cluster.spec, Dtype::kFp8));
  EXPECT_LT(b200.gemm_sustain, 1.0);
  EXPECT_NEAR(b200.gemm_table->Rate(Dtype::kFp8, 4096, 4096, 4096), 2765.0e12, 1e9);  // the file's 4096^3 row
  EXPECT_NE(b200.gemm16_table, nullptr) << "the bf16 grid still times the 16-bit GEMMs";

  s.cluster = CatalogCluster("gb200-nvl72", 8);  // the same grid, as a labelled proxy
  const CostContext gb200 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  ASSERT_NE(gb200.gemm_table, nullptr);
  EXPECT_EQ(gb200.gemm_dtype, Dtype::kFp8);
  EXPECT_EQ(gb200.gemm_table->proxy_of, "b200-180gb");

  s.cluster = CatalogCluster("h100-sxm-80gb", 8);  // the H200's fp8 grid, as a labelled proxy
  const CostContext h100 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  ASSERT_NE(h100.gemm_table, nullptr);
  EXPECT_EQ(h100.gemm_dtype, Dtype::kFp8);
  EXPECT_EQ(h100.gemm_table->ProxyOf(Dtype::kFp8), "h200-sxm-141gb");
  EXPECT_NE(h100.gemm16_table, nullptr);

  s.cluster = CatalogCluster("b200-180gb", 8);  // a table without an fp4 grid: the wave model
  s.job.precision = Dtype::kFp4;
  const CostContext fp4 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_EQ(fp4.gemm_table, nullptr);
  EXPECT_NE(fp4.gemm16_table, nullptr);
}

// MXFP8 on a device without block-scaled tensor cores (no FP4 rate: Hopper) is timed, with a warning;
// on Blackwell it is not warned about, nor is delayed scaling on Hopper.
TEST(StepContextTest, Mxfp8WarnsWhereTheDeviceHasNoFp4) {
  auto warns = [](const CostContext& c) {
    for (const std::string& w : c.warnings) {
      if (w.find("fp8_recipe mxfp8") != std::string::npos) return true;
    }
    return false;
  };
  Job8b s = Llama8bOnH100();
  s.job.precision = Dtype::kFp8;
  EXPECT_FALSE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
  s.job.fp8_recipe = Fp8Recipe::kMxfp8;
  EXPECT_TRUE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
  s.cluster = CatalogCluster("b200-180gb", 8);
  EXPECT_FALSE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
}

// The blockwise recipe's GEMMs keep the FP8 rate, with a warning that the block scales' cost inside
// them is not priced; not under delayed scaling, nor where the GEMMs fall back to 16 bits.
TEST(StepContextTest, BlockwiseWarnsThatItsScalesAreNotPriced) {
  auto warns = [](const CostContext& c) {
    return std::any_of(c.warnings.begin(), c.warnings.end(),
                       [](const std::string& w) { return w.find("fp8_recipe blockwise") != std::string::npos; });
  };
  Job8b s = Llama8bOnH100();
  s.job.precision = Dtype::kFp8;
  const CostContext delayed = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_FALSE(warns(delayed));
  s.job.fp8_recipe = Fp8Recipe::kBlockwise;
  const CostContext block = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_TRUE(warns(block));
  EXPECT_EQ(block.gemm_rate.value(), delayed.gemm_rate.value());
  EXPECT_FALSE(std::any_of(block.warnings.begin(), block.warnings.end(),
                           [](const std::string& w) { return w.find("fp8_recipe mxfp8") != std::string::npos; }));
  s.cluster = CatalogCluster("a100-sxm-80gb", 8);
  EXPECT_FALSE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster))) << "no FP8: 16-bit GEMMs";
}

// FP8 GEMMs on a device with no measured FP8 efficiency run at BF16's measured fraction of the FP8
// peak, with a warning: on a TPU v5p, whose FP8 peak equals its BF16 one, never faster than BF16
// (the datasheet peak at 100% would be). Where FP8 has its own figure (H100), that one.
TEST(StepContextTest, Fp8WithoutItsOwnEfficiencyTakesBf16s) {
  auto warns = [](const CostContext& c) { return HasWarning(c, "no measured fp8 GEMM efficiency"); };
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("tpu-v5p", 8);
  const HardwareSpec& v5p = s.cluster.spec;
  ASSERT_FALSE(v5p.gemm_fraction[DtypeIndex(Dtype::kFp8)].known());
  ASSERT_EQ(v5p.peak(Dtype::kFp8).value, v5p.peak(Dtype::kBf16).value);
  const CostContext bf16 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  s.job.precision = Dtype::kFp8;
  const CostContext fp8 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_TRUE(fp8.fp8_gemms);
  EXPECT_DOUBLE_EQ(fp8.gemm_rate.value(), bf16.gemm_rate.value());
  EXPECT_TRUE(warns(fp8));
  EXPECT_FALSE(warns(bf16));
  s.cluster = CatalogCluster("h100-sxm-80gb", 8);
  const HardwareSpec& h100 = s.cluster.spec;
  const CostContext own = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_FALSE(warns(own));
  EXPECT_NEAR(own.gemm_rate.value(),
              h100.peak(Dtype::kFp8).value * 1e12 * h100.sustained_fraction[DtypeIndex(Dtype::kFp8)].value, 1e3);
}

// DeepEP is NVIDIA's: on another vendor's device the plan says it is timed as if the stack had it.
TEST(StepContextTest, DeepEpOffNvidiaIsNamed) {
  auto warns = [](const CostContext& c) { return HasWarning(c, "DeepEP is written for NVIDIA GPUs"); };
  Job8b s = DataParallelOnH100("qwen3-30b-a3b", 4096);
  s.job.ep_node_dedup = true;
  EXPECT_FALSE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
  s.cluster = CatalogCluster("mi300x", 8);
  EXPECT_TRUE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
  s.job.ep_node_dedup = false;
  EXPECT_FALSE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
}

// GEMMs that run at a burst figure with no sustained one beside it (the MI325X's) are said to: not
// on the B200, B300, GB300 (the B300's MSMF as a labelled proxy since 2026-12-07) or H100, whose
// sustained figures the step reads instead.
TEST(StepContextTest, BurstFiguresWithoutASustainedOneAreNamed) {
  auto warns = [](const CostContext& c) {
    return std::any_of(c.warnings.begin(), c.warnings.end(),
                       [](const std::string& w) { return w.find("no sustained bf16 GEMM figure") != std::string::npos; });
  };
  Job8b s = Llama8bOnH100();
  EXPECT_FALSE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
  s.cluster = CatalogCluster("b200-180gb", 8);
  EXPECT_FALSE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
  s.cluster = CatalogCluster("b300-288gb", 8);
  EXPECT_FALSE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
  s.cluster = CatalogCluster("gb300-nvl72", 8);
  EXPECT_FALSE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
  s.cluster = CatalogCluster("mi325x", 8);
  EXPECT_TRUE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
}

// The GB300 holds the B300's sustained rates (MSMF, one GPU at 1,100 W) as labelled proxies, as its
// burst figures are the B300's MAMF: its large GEMMs run at 1,519 TFLOP/s in bf16, the B300's
// sustained / burst ratio (1519 / 1769) times its burst figure, and the step lists the figure.
TEST(StepContextTest, TheGb300HoldsTheB300sSustainedRates) {
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("gb300-nvl72", 8);
  const HardwareSpec& h = s.cluster.spec;
  const CostContext c = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_NEAR(c.gemm_rate.value(), 1519e12, 2e12);
  EXPECT_NEAR(SustainedRatio(h, Dtype::kBf16), 1519.0 / 1769, 2e-3);
  const auto listed = std::any_of(c.proxy_figures.begin(), c.proxy_figures.end(), [](const ProxyFigure& p) {
    return p.figure == "efficiency.sustained_fraction.bf16" && p.measured_on == "b300-288gb";
  });
  EXPECT_TRUE(listed);
}

// Without the SMs a collective holds, hidden collectives are free: the plan says so (B300), not
// where the catalog has both figures (H100; H20, 16 of 78 since 2026-12-07; B200, 32 of 148), nor on
// one device.
TEST(StepContextTest, FreeHiddenCollectivesAreNamed) {
  auto warns = [](const CostContext& c) {
    return std::any_of(c.warnings.begin(), c.warnings.end(),
                       [](const std::string& w) { return w.find("collectives hidden under compute slow nothing") != std::string::npos; });
  };
  Job8b s = Llama8bOnH100();
  EXPECT_FALSE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
  s.cluster = CatalogCluster("b200-180gb", 8);
  const CostContext b200 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_FALSE(warns(b200));
  EXPECT_DOUBLE_EQ(b200.collective_share, 32.0 / 148.0);
  s.cluster = CatalogCluster("h20-96gb", 8);  // the H100's NVLink and NICs: NCCL's 16 SMs, of 78
  const CostContext h20 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_FALSE(warns(h20));
  EXPECT_DOUBLE_EQ(h20.collective_share, 16.0 / 78.0);
  s.cluster = CatalogCluster("b300-288gb", 8);
  const CostContext b300 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_TRUE(warns(b300));
  EXPECT_EQ(b300.collective_share, 0.0);
  s.cluster = CatalogCluster("b300-288gb", 1);
  EXPECT_FALSE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
}

// A peak its source marks uncertain is named where the GEMMs run at it, and only there.
TEST(StepContextTest, UncertainPeakIsNamedWhereTheGemmsRunAtIt) {
  auto warns = [](const CostContext& c) {
    return std::any_of(c.warnings.begin(), c.warnings.end(),
                       [](const std::string& w) { return w.find("marked uncertain by its source") != std::string::npos; });
  };
  Job8b s = Llama8bOnH100();
  s.cluster = CatalogCluster("gaudi3", 8);
  EXPECT_FALSE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster))) << "bf16 is the whitepaper's";
  s.job.precision = Dtype::kFp16;
  EXPECT_TRUE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
  s.cluster.spec.peak_tflops[DtypeIndex(Dtype::kFp16)].uncertain = false;
  EXPECT_FALSE(warns(MakeCostContext(s.arch, s.params, s.job, s.cluster)));
}

// Halving both kernel rates adds exactly the attention time at the original rates:
// per layer and micro-batch 4·T·s·(heads·head_dim) FLOPs, forward at half, backward at 1.25x.
// (Without the catalog's rates by sequence length, the long-sequence figures apply.)
TEST(StepContextTest, FusedAttentionTimeFollowsTheKernelRates) {
  Job8b s = Llama8bOnH100();
  s.cluster.spec.attention_curves = AttentionCurves{};
  const double base = Compute(s);
  const double sustain = SustainedRatio(s.cluster.spec, Dtype::kBf16);
  const double fwd = s.cluster.spec.attention_fwd_tflops.value * 1e12 * sustain;
  const double bwd = s.cluster.spec.attention_bwd_tflops.value * 1e12 * sustain;
  s.cluster.spec.attention_fwd_tflops.value /= 2;
  s.cluster.spec.attention_bwd_tflops.value /= 2;
  const double slower = Compute(s);
  const double T = 8192, q = static_cast<double>(s.arch.heads * s.arch.head_dim);
  const double core_flops = 4 * T * T * q;
  const double expected = static_cast<double>(s.arch.layers) * core_flops * (0.5 / fwd + 1.25 / bwd);
  EXPECT_NEAR(slower - base, expected, expected * 1e-9);
}

// The kernel's rate at the run's sequence length: H100 cuDNN attention at 2k runs at 484 / 465
// TFLOP/s (FlashAttention-3 paper, Fig. 5(d) and 6(b)) where the 8k figures are 529 / 518, so
// the attention takes exactly that much longer than at the long-sequence figures.
TEST(StepContextTest, FusedAttentionRunsAtItsRateForTheSequenceLength) {
  Job8b s = DataParallelOnH100("llama-3.1-8b", 2048);
  const double sustain = SustainedRatio(s.cluster.spec, Dtype::kBf16);
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_DOUBLE_EQ(FlashRatesAt(ctx, 2048, 128).forward.value(), 484e12 * sustain);
  EXPECT_DOUBLE_EQ(FlashRatesAt(ctx, 2048, 128).backward.value(), 465e12 * sustain);
  const double curved = Compute(s);
  s.cluster.spec.attention_curves = AttentionCurves{};
  const double flat = Compute(s);
  const double T = 2048, q = static_cast<double>(s.arch.heads * s.arch.head_dim);
  const double core_flops = 4 * T * T * q;
  const double per_flop = 0.5 / 484e12 + 1.25 / 465e12 - (0.5 / 529e12 + 1.25 / 518e12);
  const double expected = static_cast<double>(s.arch.layers) * core_flops * per_flop / sustain;
  EXPECT_NEAR(curved - flat, expected, expected * 1e-9);
}

// The kernel's rate for the model's head dimension: heads of 64 run at the head-dim-64 curve
// (cuDNN on H100 at 8k: 379 / 432 against 529 / 518 for heads of 128), heads between the measured
// ones in between, and larger heads (MLA's 192-wide scores) at the largest measured (128).
TEST(StepContextTest, FusedAttentionRunsAtItsRateForTheHeadDimension) {
  Job8b s = Llama8bOnH100();
  const double sustain = SustainedRatio(s.cluster.spec, Dtype::kBf16);
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_DOUBLE_EQ(FlashRatesAt(ctx, 8192, 64).forward.value(), 379e12 * sustain);
  EXPECT_DOUBLE_EQ(FlashRatesAt(ctx, 8192, 64).backward.value(), 432e12 * sustain);
  EXPECT_DOUBLE_EQ(FlashRatesAt(ctx, 8192, 192).forward.value(), 529e12 * sustain);
  const double mid = FlashRatesAt(ctx, 8192, std::sqrt(64.0 * 128.0)).forward.value();  // halfway in log(head dim)
  EXPECT_NEAR(mid, (379e12 + 529e12) / 2 * sustain, 1e9);
  EXPECT_DOUBLE_EQ(FlashHeadDim(LoadArch("deepseek-v3")), 192);
  EXPECT_DOUBLE_EQ(FlashHeadDim(s.arch), 128);
  // Half the head dimension with twice the heads: the same attention FLOPs, at the slower rates.
  const double at128 = Compute(s);
  s.arch.heads *= 2, s.arch.kv_heads *= 2, s.arch.head_dim /= 2;
  EXPECT_GT(Compute(s), at128);
}

// Context parallelism runs each attention call on one rank's share of the sequence: at CP 4 an 8k
// sequence runs at the 2k rates.
TEST(StepContextTest, ContextParallelAttentionRunsAtItsBlockLength) {
  Job8b s = Llama8bOnH100();
  s.plan.dp = 2, s.plan.cp = 4;
  const double curved = Compute(s);
  const AttentionCurve::Point at2k = s.cluster.spec.attention_curves.At(2048, 128);
  FlatAttention(&s, at2k);
  EXPECT_DOUBLE_EQ(Compute(s), curved);
  const AttentionCurve::Point at8k = Catalog::Default().Hardware("h100-sxm-80gb")->attention_curves.At(8192, 128);
  FlatAttention(&s, at8k);
  EXPECT_LT(Compute(s), curved);
}

// Sliding-window layers read the curve at their window (or the CP block, when shorter), the other
// layers at the CP block; a window no shorter than the sequence changes nothing.
TEST(StepContextTest, SlidingWindowLayersRunAtTheirWindowsRate) {
  Job8b s = Llama8bOnH100();
  const double full = Compute(s);
  s.arch.sliding_window = 8192;
  EXPECT_DOUBLE_EQ(Compute(s), full);
  s.arch.sliding_window = 1024;
  const double windowed = Compute(s);
  const AttentionCurve::Point at8k = s.cluster.spec.attention_curves.At(8192, 128);
  FlatAttention(&s, at8k);
  EXPECT_GT(windowed, Compute(s)) << "the window's layers run at the 1k rates, below the 8k ones";
  // At CP 8 every call is a 1k block: the window (4k) reads the curve there too.
  s = Llama8bOnH100();
  s.plan.dp = 1, s.plan.cp = 8;
  s.arch.sliding_window = 4096;
  const double cp8 = Compute(s);
  const AttentionCurve::Point at1k = s.cluster.spec.attention_curves.At(1024, 128);
  FlatAttention(&s, at1k);
  EXPECT_DOUBLE_EQ(Compute(s), cp8);
}

// A causal sliding window of w keys over s tokens computes s·w − w²/2 scores (each query sees
// min(i + 1, w) keys), not half of s·w: gemma2's layers alternate it with global attention (s²/2).
// At one flat rate the attention time follows the scores per query averaged over the two kinds,
// [s/2 + w − w²/(2s)] / 2: 4096 without a window, 2944 at w = 2048 and 3584 at 4096 for s = 8192,
// so the two windows save attention time in the ratio 1152 : 512.
TEST(StepContextTest, SlidingWindowCountsTheScoresItComputes) {
  Job8b s = Llama8bOnH100();
  FlatAttention(&s, s.cluster.spec.attention_curves.At(8192, 128));
  const double none = Compute(s);
  s.arch.sliding_window = 2048;
  const double w2k = Compute(s);
  s.arch.sliding_window = 4096;
  const double w4k = Compute(s);
  EXPECT_NEAR((none - w2k) / (none - w4k), 1152.0 / 512, 1e-9);
  // Eager attention computes every score and masks the window afterwards: no saving.
  s.job.flash_attention = false;
  const double eager_window = Compute(s);
  s.arch.sliding_window = 0;
  EXPECT_DOUBLE_EQ(Compute(s), eager_window);
}

// The search's lower bound on attention time uses the kernel's fastest rates at any length.
TEST(StepContextTest, AttentionBoundUsesTheFastestMeasuredRates) {
  Job8b s = DataParallelOnH100("llama-3.1-8b", 2048);
  const double sustain = SustainedRatio(s.cluster.spec, Dtype::kBf16);
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  // cuDNN on H100: 539 forward at 16k, 518 backward at 8k.
  EXPECT_DOUBLE_EQ(FlashSecondsPerFlop(ctx), (0.5 / 539e12 + 1.25 / 518e12) / sustain);
  for (double len : {512.0, 2048.0, 8192.0, 65536.0}) {
    const FlashRates r = FlashRatesAt(ctx, len, 128);
    EXPECT_LE(FlashSecondsPerFlop(ctx), 0.5 / r.forward.value() + 1.25 / r.backward.value()) << len;
  }
}

// A scenario that names another measured kernel (training.attention_kernel) runs attention at its
// rates: FlashAttention-2 on H100, 333 / 318 TFLOP/s against cuDNN's 529 / 518, both scaled to the
// sustained clock.
TEST(StepContextTest, ANamedAttentionKernelRunsAtItsOwnRates) {
  Job8b s = Llama8bOnH100();
  const CostContext vendor = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  s.job.attention_kernel = "fa2";
  const CostContext fa2 = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_NEAR(fa2.flash_fwd_rate.value() / vendor.flash_fwd_rate.value(), 333.0 / 529.0, 1e-12);
  EXPECT_NEAR(fa2.flash_bwd_rate.value() / vendor.flash_bwd_rate.value(), 318.0 / 518.0, 1e-12);
  // ... and by sequence length, its own curve: FlashAttention-2 at 2k, 298 / 291.
  const double sustain = SustainedRatio(s.cluster.spec, Dtype::kBf16);
  EXPECT_DOUBLE_EQ(FlashRatesAt(fa2, 2048, 128).forward.value(), 298e12 * sustain);
  EXPECT_DOUBLE_EQ(FlashRatesAt(fa2, 2048, 128).backward.value(), 291e12 * sustain);
  EXPECT_GT(EstimateStep(fa2, s.plan).compute.value(), EstimateStep(vendor, s.plan).compute.value());
}

TEST(StepContextTest, UnfusedAttentionIgnoresTheFusedKernelRates) {
  Job8b s = Llama8bOnH100();
  s.job.flash_attention = false;
  const double base = Compute(s);
  s.cluster.spec.attention_fwd_tflops.value /= 2;
  s.cluster.spec.attention_bwd_tflops.value /= 2;
  s.cluster.spec.attention_curves.Scale(0.5);
  EXPECT_DOUBLE_EQ(Compute(s), base);
}

// The figures a step reads that were measured on another device are listed, each once, by where
// they sit in the hardware file: the H800's GEMM, HBM and attention figures are the H100's, its
// sustained rate the H200's; the bus bandwidths a cluster overrides are not read, so not listed;
// the A100's figures are its own.
TEST(StepContextTest, ProxyFiguresAreTheBorrowedOnesTheStepReads) {
  Job8b s = DeepSeekV3OnH800(64, 4096, 64);
  s.job.precision = Dtype::kBf16;
  const auto listed = [](const CostContext& ctx, const std::string& figure) {
    const auto it = std::find_if(ctx.proxy_figures.begin(), ctx.proxy_figures.end(),
                                 [&](const ProxyFigure& p) { return p.figure == figure; });
    return it == ctx.proxy_figures.end() ? std::string() : it->measured_on;
  };
  CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_EQ(listed(ctx, "efficiency.gemm_fraction.bf16"), "h100-sxm-80gb");
  EXPECT_EQ(listed(ctx, "efficiency.sustained_fraction.bf16"), "h200-sxm-141gb");
  EXPECT_EQ(listed(ctx, "data/gemm/h800-sxm-80gb.yaml"), "h100-sxm-80gb");
  EXPECT_EQ(listed(ctx, "efficiency.hbm_fraction"), "h100-sxm-80gb");
  EXPECT_EQ(listed(ctx, "efficiency.fused_attention_tflops.forward"), "h100-sxm-80gb");
  EXPECT_EQ(listed(ctx, "efficiency.allreduce_busbw_gbytes_per_s.scale_out"), "h100-sxm-80gb");
  EXPECT_EQ(listed(ctx, "efficiency.gemm_fraction.fp8"), "") << "a bf16 job reads no FP8 figure";
  EXPECT_EQ(listed(ctx, "data/gemm/h800-sxm-80gb.yaml: shapes.fp8"), "") << "nor the FP8 grid";
  for (size_t i = 0; i < ctx.proxy_figures.size(); ++i) {
    for (size_t j = i + 1; j < ctx.proxy_figures.size(); ++j) {
      EXPECT_NE(ctx.proxy_figures[i].figure, ctx.proxy_figures[j].figure) << "listed once";
    }
  }
  // FP8 adds the FP8 efficiencies and keeps the 16-bit ones its attention and output layer use.
  s.job.precision = Dtype::kFp8;
  ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_EQ(listed(ctx, "efficiency.gemm_fraction.fp8"), "h100-sxm-80gb");
  EXPECT_EQ(listed(ctx, "efficiency.gemm_fraction.bf16"), "h100-sxm-80gb");
  // Its FP8 grid by shape is the H200's measurement, its 16-bit grid still the H100's.
  EXPECT_EQ(listed(ctx, "data/gemm/h800-sxm-80gb.yaml: shapes.fp8"), "h200-sxm-141gb");
  EXPECT_EQ(listed(ctx, "data/gemm/h800-sxm-80gb.yaml"), "h100-sxm-80gb");
  // A grid the step does not read is not listed: an fp32 run's GEMMs (tf32) read no grid of this table.
  s.job.precision = Dtype::kFp32;
  EXPECT_EQ(listed(MakeCostContext(s.arch, s.params, s.job, s.cluster), "data/gemm/h800-sxm-80gb.yaml"), "");
  s.job.precision = Dtype::kFp8;
  // A bus bandwidth the cluster measured itself replaces the catalog's.
  s.cluster.scale_out_busbw_gbytes_per_s = 40;
  ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_EQ(listed(ctx, "efficiency.allreduce_busbw_gbytes_per_s.scale_out"), "");
  // Unfused attention reads no kernel rate.
  s.job.flash_attention = false;
  ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_EQ(listed(ctx, "efficiency.fused_attention_tflops.forward"), "");
  Job8b a100 = Llama8bOnH100();
  a100.cluster = CatalogCluster("a100-sxm-80gb", 8);
  EXPECT_TRUE(MakeCostContext(a100.arch, a100.params, a100.job, a100.cluster).proxy_figures.empty());
}

// A GEMM table a scenario names (cluster.gemm_table) is listed by the path it was read from, not as
// the catalog's table of that device.
TEST(StepContextTest, AUsersGemmTableIsNamedByItsPath) {
  Job8b s = DeepSeekV3OnH800(64, 4096, 64);
  s.job.precision = Dtype::kBf16;
  const std::string path = test_support::WriteFile(
      test_support::ScratchDir("preflight_gemm_name_"), "mine.yaml",
      "id: h800-sxm-80gb\nsource: x\nproxy_of: h100-sxm-80gb\nshapes:\n  bf16:\n"
      "    - [256, 256, 256, 10]\n    - [256, 256, 512, 10]\n    - [256, 512, 256, 10]\n    - [256, 512, 512, 10]\n"
      "    - [512, 256, 256, 10]\n    - [512, 256, 512, 10]\n    - [512, 512, 256, 10]\n    - [512, 512, 512, 10]\n");
  auto table = LoadGemmTableFor(s.cluster.spec, path);
  ASSERT_TRUE(table.ok()) << table.status().message();
  s.cluster.spec.gemm_table = *table;
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  const auto named = [&](const std::string& figure) {
    return std::any_of(ctx.proxy_figures.begin(), ctx.proxy_figures.end(),
                       [&](const ProxyFigure& p) { return p.figure == figure && p.measured_on == "h100-sxm-80gb"; });
  };
  EXPECT_TRUE(named(path));
  EXPECT_FALSE(named("data/gemm/h800-sxm-80gb.yaml"));
}

TEST(StepContextTest, UnknownAttentionRateFallsBackToTheGemmRateWithAWarning) {
  Job8b s = Llama8bOnH100();
  s.cluster.spec.attention_fwd_tflops = Figure{};
  s.cluster.spec.attention_bwd_tflops = Figure{};
  const CostContext with_curve = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_FALSE(HasWarning(with_curve, "fused-attention")) << "the rates by sequence length still time it";
  s.cluster.spec.attention_curves = AttentionCurves{};
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  EXPECT_DOUBLE_EQ(ctx.flash_fwd_rate.value(), ctx.attention_rate.value());
  EXPECT_DOUBLE_EQ(ctx.flash_bwd_rate.value(), ctx.attention_rate.value());
  EXPECT_TRUE(HasWarning(ctx, "fused-attention"));
}

}  // namespace
}  // namespace preflight::test_support
