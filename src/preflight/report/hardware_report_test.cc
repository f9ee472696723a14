// Tests of report/hardware_report.h: `catalog show` gives every figure with its source, names each
// dtype's sustained figure and says what a GEMM kernel's fixed time is charged beyond.
#include "preflight/report/hardware_report.h"

#include <gtest/gtest.h>

#include <string>

#include "preflight/catalog/catalog.h"

namespace preflight {
namespace {

using json = nlohmann::json;

TEST(HardwareReportTest, JsonAndText) {
  StatusOr<HardwareSpec> h = Catalog::Default().Hardware("h100-sxm-80gb");
  ASSERT_TRUE(h.ok()) << h.status().message();
  const json j = HardwareJson(*h);
  EXPECT_EQ(j["id"], "h100-sxm-80gb");
  EXPECT_DOUBLE_EQ(j["peak_tflops"]["bf16"]["value"].get<double>(), 989.4);
  EXPECT_FALSE(j["peak_tflops"]["bf16"]["source"].get<std::string>().empty());
  EXPECT_EQ(j["peak_tflops"]["fp4"]["unsupported"], true);
  EXPECT_DOUBLE_EQ(j["memory"]["capacity_gib"]["value"].get<double>(), 80);
  EXPECT_TRUE(j["price_usd_per_device_hour"].contains("low"));
  std::string text = HardwareText(*h);
  EXPECT_NE(text.find("h100-sxm-80gb"), std::string::npos);
  EXPECT_NE(text.find("sources:"), std::string::npos);
  EXPECT_NE(text.find("unsupported"), std::string::npos) << "fp4 on Hopper";
  // The attention kernels' rates by sequence length, for the default kernel and the others.
  const json& attn = j["efficiency"]["fused_attention_tflops"];
  ASSERT_EQ(attn["by_seq_len"].size(), 2u);  // head dims 64 and 128
  EXPECT_DOUBLE_EQ(attn["by_seq_len"][1]["head_dim"].get<double>(), 128);
  ASSERT_EQ(attn["by_seq_len"][1]["rows"].size(), 6u);
  EXPECT_DOUBLE_EQ(attn["by_seq_len"][1]["rows"][2][1].get<double>(), 484);  // cuDNN forward at 2k
  EXPECT_DOUBLE_EQ(attn["others"]["fa2"]["by_seq_len"][1]["rows"][0][2].get<double>(), 214);
  EXPECT_NE(text.find("cudnn9, head dim 128, by sequence length (forward/backward TFLOP/s): 512: 315/305"),
            std::string::npos)
      << text;
}

// The text lists the source of every figure the file gives, as --json does, with a labelled proxy
// marked by the device it was measured on and a doubted value marked uncertain (both in --json too).
TEST(HardwareReportTest, TextSourcesCoverEveryFigureWithItsMarks) {
  StatusOr<HardwareSpec> h = Catalog::Default().Hardware("h100-sxm-80gb");
  ASSERT_TRUE(h.ok()) << h.status().message();
  const std::string text = HardwareText(*h);
  for (const char* what : {"  power: ", "  fp16 peak: ", "  HBM efficiency: ", "  all-reduce busbw scale-up: ",
                           "  fa2 forward: ", "  bf16 sustained GEMM efficiency [proxy: measured on h200-sxm-141gb]: "}) {
    EXPECT_NE(text.find(what), std::string::npos) << what;
  }
  StatusOr<HardwareSpec> g = Catalog::Default().Hardware("gaudi3");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_NE(HardwareText(*g).find("  fp16 peak [uncertain]: "), std::string::npos);
  EXPECT_EQ(HardwareJson(*g)["peak_tflops"]["fp16"]["uncertain"], true);
  EXPECT_FALSE(HardwareJson(*g)["peak_tflops"]["bf16"].contains("uncertain"));
}

// `catalog show` names each dtype's sustained figure, and says which dtypes keep their burst ones.
TEST(HardwareReportTest, SustainedFiguresPerDtype) {
  HardwareSpec h;
  h.id = "test";
  h.gemm_fraction[DtypeIndex(Dtype::kBf16)] = Figure::Known(0.8, "burst");
  h.gemm_fraction[DtypeIndex(Dtype::kFp8)] = Figure::Known(0.7, "burst");
  EXPECT_NE(HardwareText(h).find("sustained at the power limit: unknown"), std::string::npos);
  h.sustained_fraction[DtypeIndex(Dtype::kFp8)] = Figure::Known(0.56, "sustained");
  std::string text = HardwareText(h);
  EXPECT_NE(text.find("sustained at the power limit: fp8 GEMM 0.56 (burst figures scaled by 0.800); bf16 and fp16 "
                      "take each other's figures where their peaks are equal (one tensor-core rate), and a dtype still "
                      "without both scales its burst figures by the factor of the first of bf16, fp8, fp4, fp16 and tf32 "
                      "with both"),
            std::string::npos)
      << text;
  h.sustained_fraction[DtypeIndex(Dtype::kBf16)] = Figure::Known(0.76, "sustained");
  text = HardwareText(h);
  EXPECT_NE(text.find("bf16 GEMM 0.76 (burst figures scaled by 0.950); fp8 GEMM 0.56"), std::string::npos) << text;
  EXPECT_NE(text.find("fp8 sustained GEMM efficiency: sustained"), std::string::npos) << text;
  // A sustained figure with no burst one beside it scales nothing: it is the large-GEMM rate.
  h.sustained_fraction[DtypeIndex(Dtype::kFp4)] = Figure::Known(0.76, "sustained");
  text = HardwareText(h);
  EXPECT_NE(text.find("fp4 GEMM 0.76 (no burst figure: the large-GEMM rate itself)"), std::string::npos) << text;
}

// The A100's figures: a burst bf16 one (MAMF) and a sustained fp16 one (Azure's cuBLASLt after
// 10,000 warm-ups) at equal 16-bit peaks. The fp16 figure scales the bf16 burst one; with unequal
// peaks the two stay apart. It said fp16's figure had no burst one beside it.
TEST(HardwareReportTest, SixteenBitFiguresPairAtEqualPeaks) {
  HardwareSpec h;
  h.id = "test";
  h.peak_tflops[DtypeIndex(Dtype::kBf16)] = Figure::Known(312, "peak");
  h.peak_tflops[DtypeIndex(Dtype::kFp16)] = Figure::Known(312, "peak");
  h.gemm_fraction[DtypeIndex(Dtype::kBf16)] = Figure::Known(0.869, "burst");
  h.sustained_fraction[DtypeIndex(Dtype::kFp16)] = Figure::Known(0.822, "sustained");
  std::string text = HardwareText(h);
  EXPECT_NE(text.find("fp16 GEMM 0.822 (burst figures scaled by 0.946, against bf16's burst figure)"),
            std::string::npos)
      << text;
  h.peak_tflops[DtypeIndex(Dtype::kFp16)] = Figure::Known(156, "peak");
  text = HardwareText(h);
  EXPECT_NE(text.find("fp16 GEMM 0.822 (no burst figure: the large-GEMM rate itself)"), std::string::npos) << text;
}

// `catalog show` says what a GEMM kernel's fixed time is charged beyond: the waves only where the
// SM count is known, and nothing where no fixed time was measured.
TEST(HardwareReportTest, GemmKernelFixedTime) {
  HardwareSpec h;
  h.id = "test";
  EXPECT_NE(HardwareText(h).find("GEMM kernel: no fixed time measured (none charged)"), std::string::npos);
  EXPECT_NE(HardwareText(h).find("large-GEMM efficiency; no SM count, so no waves"), std::string::npos);
  h.gemm_kernel_us = Figure::Known(5.2, "measured");
  std::string text = HardwareText(h);
  EXPECT_NE(text.find("GEMM kernel: 5.2 us per kernel beyond the large-GEMM rate, for a dtype"), std::string::npos) << text;
  EXPECT_NE(text.find("GEMM kernel fixed time: measured"), std::string::npos) << text;
  h.compute_units = Figure::Known(132, "whitepaper");
  h.gemm_kernel_us.proxy_of = "other";
  text = HardwareText(h);
  EXPECT_NE(text.find("5.2 us per kernel beyond the large-GEMM rate and its waves, for a dtype without a measured "
                      "table, measured on other"),
            std::string::npos)
      << text;
}

// `catalog show` says how much longer a 16-bit GEMM with an odd dimension takes, with the device
// it was measured on when that is another, and that nothing is charged where it is unknown.
TEST(HardwareReportTest, OddWidthGemmSlowdown) {
  HardwareSpec h;
  h.id = "test";
  EXPECT_NE(HardwareText(h).find("GEMM with an odd dimension: no slowdown measured (none charged)"), std::string::npos);
  h.gemm_odd_width_slowdown = Figure::Known(2.2, "nanoGPT A/B");
  std::string text = HardwareText(h);
  EXPECT_NE(text.find("GEMM with an odd dimension (16-bit): 2.2x the aligned time\n"), std::string::npos) << text;
  EXPECT_NE(text.find("odd-width GEMM slowdown: nanoGPT A/B"), std::string::npos) << text;
  h.gemm_odd_width_slowdown.proxy_of = "a100-sxm-40gb";
  text = HardwareText(h);
  EXPECT_NE(text.find("2.2x the aligned time, measured on a100-sxm-40gb"), std::string::npos) << text;
  EXPECT_EQ(HardwareJson(h)["efficiency"]["gemm_odd_width_slowdown"]["value"], 2.2);
}

}  // namespace
}  // namespace preflight
