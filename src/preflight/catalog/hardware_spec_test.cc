// Tests of catalog/hardware_spec.h: hardware files that fail validation fail with InvalidArgument
// naming the file and the field; the fused-attention kernels a device lists, with their rates by
// sequence length and head dimension; dtype names.
#include "preflight/catalog/hardware_spec.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "preflight/base/test_support.h"
#include "preflight/catalog/catalog.h"
#include "preflight/catalog/catalog_test_support.h"

namespace preflight {
namespace {

using test_support::Contains;
using test_support::ScratchDir;
using test_support::WriteFile;

constexpr const char* kValidHardware = R"(id: test-device
vendor: Test
name: "Test device"
software_stack: "none"
launch_year: {value: 2024, source: "test"}
peak_tflops:
  fp64: {unknown: true}
  fp32: {unknown: true}
  tf32: {unknown: true}
  bf16: {value: 100, source: "test sheet"}
  fp16: {value: 100, source: "test sheet"}
  fp8: {unsupported: true, source: "test sheet"}
  fp4: {unsupported: true, source: "test sheet"}
  int8: {unknown: true, note: "not published"}
memory:
  capacity_gib: {value: 64, source: "test sheet"}
  bandwidth_tbytes_per_s: {value: 2, source: "test sheet"}
scale_up:
  name: "link"
  unidirectional_gbytes_per_s: {value: 100, source: "test sheet"}
  domain_devices: {value: 8, source: "test sheet"}
scale_out:
  gbits_per_s_per_device: {value: 200, source: "test sheet"}
power_w: {value: 500, source: "test sheet"}
price_usd_per_device_hour: {low: 1, high: 2, date: "2026-01", source: "test price"}
efficiency:
  gemm_fraction:
    bf16: {value: 0.8, source: "test bench"}
  hbm_fraction: {unknown: true}
  allreduce_busbw_gbytes_per_s:
    scale_up: {unknown: true}
    scale_out: {unknown: true}
)";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "test bug: '" << from << "' not in the template";
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "test bug: '" << from << "' not unique";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(HardwareSpecTest, TemplateIsValid) {
  std::string path = WriteFile(ScratchDir(), "test-device.yaml", kValidHardware);
  StatusOr<HardwareSpec> h = LoadHardwareSpec(path);
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->id, "test-device");
  EXPECT_EQ(h->file, path);
  EXPECT_TRUE(h->peak(Dtype::kBf16).known());
  EXPECT_DOUBLE_EQ(h->peak(Dtype::kBf16).value, 100);
  EXPECT_EQ(h->peak(Dtype::kBf16).source, "test sheet");
  EXPECT_TRUE(h->peak(Dtype::kFp8).unsupported());
  EXPECT_FALSE(h->peak(Dtype::kFp64).known());
  EXPECT_FALSE(h->peak(Dtype::kFp64).unsupported());
  EXPECT_EQ(h->peak(Dtype::kInt8).note, "not published");
  EXPECT_TRUE(h->price.known);
  EXPECT_DOUBLE_EQ(h->price.high_usd, 2);
  EXPECT_DOUBLE_EQ(h->gemm_fraction[DtypeIndex(Dtype::kBf16)].value, 0.8);
  EXPECT_FALSE(h->gemm_fraction[DtypeIndex(Dtype::kFp8)].known());
  EXPECT_EQ(h->scale_up_name, "link");
  EXPECT_DOUBLE_EQ(h->scale_up_domain_devices.value, 8);
  // And through a Catalog, by path.
  StatusOr<HardwareSpec> by_path = Catalog::Default().Hardware(path);
  ASSERT_TRUE(by_path.ok()) << by_path.status().message();
}

struct BadHardwareCase {
  const char* what;
  const char* from;
  const char* to;
  const char* field;  // must appear in the message
};

TEST(HardwareSpecTest, InvalidFilesNameFileAndField) {
  const BadHardwareCase cases[] = {
      {"figure without source", R"(bf16: {value: 100, source: "test sheet"})", "bf16: {value: 100}",
       "peak_tflops.bf16.source"},
      {"empty source", R"(power_w: {value: 500, source: "test sheet"})",
       R"(power_w: {value: 500, source: ""})", "power_w.source"},
      {"negative value", R"(capacity_gib: {value: 64, source: "test sheet"})",
       R"(capacity_gib: {value: -64, source: "test sheet"})", "memory.capacity_gib.value"},
      {"value not a number", R"(power_w: {value: 500, source: "test sheet"})",
       R"(power_w: {value: lots, source: "test sheet"})", "power_w.value"},
      {"unknown top-level key", "power_w:", "colour: red\npower_w:", "colour"},
      {"unknown key inside a figure", R"(capacity_gib: {value: 64, source: "test sheet"})",
       R"(capacity_gib: {value: 64, source: "test sheet", units: GiB})",
       "memory.capacity_gib.units"},
      {"unknown key inside a section", "  name: \"link\"\n", "  name: \"link\"\n  lanes: 4\n",
       "scale_up.lanes"},
      {"zero HBM bandwidth", "bandwidth_tbytes_per_s: {value: 2,", "bandwidth_tbytes_per_s: {value: 0,",
       "memory.bandwidth_tbytes_per_s.value"},
      {"fractional scale-up domain", "domain_devices: {value: 8,", "domain_devices: {value: 0.5,",
       "scale_up.domain_devices.value"},
      {"zero bf16 peak", R"(bf16: {value: 100, source: "test sheet"})", R"(bf16: {value: 0, source: "test sheet"})",
       "peak_tflops.bf16.value"},
      // An FP8 peak below BF16's put a run's MFU above 100% (fuzzing found it).
      {"fp8 peak below bf16", R"(fp8: {unsupported: true, source: "test sheet"})",
       R"(fp8: {value: 99, source: "test sheet"})", "peak_tflops.fp8.value"},
      {"power of 1e300 W", R"(power_w: {value: 500, source: "test sheet"})",
       R"(power_w: {value: 1e300, source: "test sheet"})", "power_w.value"},
      // Achieved figures the step divides by: a vanishing one once gave 300-digit step times.
      {"vanishing HBM fraction", "  hbm_fraction: {unknown: true}\n",
       "  hbm_fraction: {value: 1e-300, source: \"bench\"}\n", "efficiency.hbm_fraction.value"},
      {"zero scale-up bus bandwidth", "    scale_up: {unknown: true}\n", "    scale_up: {value: 0, source: \"bench\"}\n",
       "efficiency.allreduce_busbw_gbytes_per_s.scale_up.value"},
      {"scale-out bus bandwidth above the NIC share", "    scale_out: {unknown: true}\n",
       "    scale_out: {value: 30, source: \"bench\"}\n", "efficiency.allreduce_busbw_gbytes_per_s.scale_out.value"},
      {"fractional node", "  gbits_per_s_per_device: {value: 200, source: \"test sheet\"}\n",
       "  gbits_per_s_per_device: {value: 200, source: \"test sheet\"}\n  node_devices: {value: 7.5, source: \"sheet\"}\n",
       "scale_out.node_devices.value"},
      {"unknown topology", "  name: \"link\"\n", "  name: \"link\"\n  topology: dragonfly\n", "scale_up.topology"},
      {"torus without its axes", "  name: \"link\"\n", "  name: \"link\"\n  topology: torus\n",
       "scale_up.torus_dimensions"},
      {"four-axis torus", "  name: \"link\"\n",
       "  name: \"link\"\n  topology: torus\n  torus_dimensions: {value: 4, source: \"sheet\"}\n",
       "scale_up.torus_dimensions.value"},
      {"torus axes behind a switch", "  name: \"link\"\n",
       "  name: \"link\"\n  torus_dimensions: {value: 3, source: \"sheet\"}\n", "scale_up.torus_dimensions"},
      {"torus slices behind a switch", "  name: \"link\"\n",
       "  name: \"link\"\n  torus_slices: {source: \"page\", rows: [[4, 4, 1]]}\n", "scale_up.torus_slices"},
      {"torus slices without a source", "  name: \"link\"\n",
       "  name: \"link\"\n  topology: torus\n  torus_dimensions: {value: 2, source: \"sheet\"}\n  torus_slices: {rows: [[4, 4, 1]]}\n", "scale_up.torus_slices.source"},
      {"torus slice with a side too many", "  name: \"link\"\n",
       "  name: \"link\"\n  topology: torus\n  torus_dimensions: {value: 2, source: \"sheet\"}\n  torus_slices: {source: \"page\", rows: [[4, 4, 4, 1]]}\n", "scale_up.torus_slices.rows[0]"},
      {"torus slice with a fractional side", "  name: \"link\"\n",
       "  name: \"link\"\n  topology: torus\n  torus_dimensions: {value: 2, source: \"sheet\"}\n  torus_slices: {source: \"page\", rows: [[4, 2.5, 1]]}\n", "scale_up.torus_slices.rows[0]"},
      {"torus slice that half wraps", "  name: \"link\"\n",
       "  name: \"link\"\n  topology: torus\n  torus_dimensions: {value: 2, source: \"sheet\"}\n  torus_slices: {source: \"page\", rows: [[4, 4, 0.5]]}\n", "scale_up.torus_slices.rows[0]"},
      {"two torus slices of one chip count", "  name: \"link\"\n",
       "  name: \"link\"\n  topology: torus\n  torus_dimensions: {value: 2, source: \"sheet\"}\n  torus_slices: {source: \"page\", rows: [[2, 8, 1], [4, 4, 1]]}\n", "scale_up.torus_slices.rows[1]"},
      {"full mesh without a peer rate", "  name: \"link\"\n", "  name: \"link\"\n  topology: full_mesh\n",
       "scale_up.peer_gbytes_per_s"},
      {"peer rate behind a switch", "  name: \"link\"\n",
       "  name: \"link\"\n  peer_gbytes_per_s: {value: 48, source: \"bench\"}\n", "scale_up.peer_gbytes_per_s"},
      {"unknown dtype", "  int8: {unknown: true, note: \"not published\"}\n",
       "  int8: {unknown: true, note: \"not published\"}\n  int3: {unknown: true}\n",
       "peak_tflops.int3"},
      {"missing dtype", "  fp64: {unknown: true}\n", "", "peak_tflops.fp64"},
      {"missing id", "id: test-device\n", "", "id"},
      {"empty id", "id: test-device\n", "id: \"  \"\n", "id"},
      {"vendor on two lines", "vendor: Test\n", "vendor: \"Te\\nst\"\n", "vendor"},
      {"link name with a bell", "  name: \"link\"\n", "  name: \"li\\ank\"\n", "scale_up.name"},
      {"missing section", "memory:\n", "memoir:\n", "memoir"},
      {"unsupported outside peak_tflops", R"(power_w: {value: 500, source: "test sheet"})",
       R"(power_w: {unsupported: true, source: "test sheet"})", "power_w.unsupported"},
      {"unknown: false", R"(launch_year: {value: 2024, source: "test"})",
       "launch_year: {unknown: false}", "launch_year.unknown"},
      {"a launch year of 1e308", R"(launch_year: {value: 2024, source: "test"})",
       R"(launch_year: {value: 1e308, source: "test"})", "launch_year.value"},
      {"a fractional launch year", R"(launch_year: {value: 2024, source: "test"})",
       R"(launch_year: {value: 2024.5, source: "test"})", "launch_year.value"},
      {"fraction above one", R"(bf16: {value: 0.8, source: "test bench"})",
       R"(bf16: {value: 1.5, source: "test bench"})", "efficiency.gemm_fraction.bf16.value"},
      {"burst fraction below a thousandth, with a sustained figure beside it",
       "    bf16: {value: 0.8, source: \"test bench\"}\n  hbm_fraction: {unknown: true}\n",
       "    bf16: {value: 1e-6, source: \"test bench\"}\n  sustained_fraction:\n    bf16: {value: 0.5, source: "
       "\"test bench\"}\n  hbm_fraction: {unknown: true}\n",
       "efficiency.gemm_fraction.bf16.value"},
      {"no bf16 GEMM figure (data/hardware/README.md: always include bf16)",
       R"(bf16: {value: 0.8, source: "test bench"})", R"(fp8: {value: 0.7, source: "test bench"})",
       "efficiency.gemm_fraction.bf16"},
      {"burst fraction below a thousandth", R"(bf16: {value: 0.8, source: "test bench"})",
       R"(bf16: {value: 1e-6, source: "test bench"})", "efficiency.gemm_fraction.bf16.value"},
      {"HBM fraction of zero", "  hbm_fraction: {unknown: true}\n", "  hbm_fraction: {value: 0, source: \"b\"}\n",
       "efficiency.hbm_fraction.value"},
      {"peak of zero, with attention rates it bounds", "  bf16: {value: 100, source: \"test sheet\"}\n",
       "  bf16: {value: 0, source: \"test sheet\"}\n", "peak_tflops.bf16.value"},
      {"capacity of zero", "capacity_gib: {value: 64,", "capacity_gib: {value: 0,", "memory.capacity_gib.value"},
      {"negative price", "{low: 1, high: 2,", "{low: -1.99, high: 5,", "price_usd_per_device_hour.low"},
      {"no compute units", R"(power_w: {value: 500, source: "test sheet"})",
       "power_w: {value: 500, source: \"test sheet\"}\ncompute_units: {value: 0, source: \"sheet\"}",
       "compute_units.value"},
      {"fractional compute units", R"(power_w: {value: 500, source: "test sheet"})",
       "power_w: {value: 500, source: \"test sheet\"}\ncompute_units: {value: 1.5, source: \"sheet\"}",
       "compute_units.value"},
      {"compute units beyond any chip", R"(power_w: {value: 500, source: "test sheet"})",
       "power_w: {value: 500, source: \"test sheet\"}\ncompute_units: {value: 1e300, source: \"sheet\"}",
       "compute_units.value"},
      {"sustained above the burst", "  hbm_fraction: {unknown: true}\n",
       "  sustained_fraction:\n    bf16: {value: 0.9, source: \"test bench\"}\n  hbm_fraction: "
       "{unknown: true}\n",
       "efficiency.sustained_fraction.bf16.value"},
      {"GEMM kernel time in the wrong unit", "  hbm_fraction: {unknown: true}\n",
       "  gemm_kernel_us: {value: 7100, source: \"bench\"}\n  hbm_fraction: {unknown: true}\n",
       "efficiency.gemm_kernel_us.value"},
      {"odd-width GEMM faster than aligned", "  hbm_fraction: {unknown: true}\n",
       "  gemm_odd_width_slowdown: {value: 0.5, source: \"A/B\"}\n  hbm_fraction: {unknown: true}\n",
       "efficiency.gemm_odd_width_slowdown.value"},
      {"unaligned-width GEMM faster than aligned", "  hbm_fraction: {unknown: true}\n",
       "  gemm_unaligned_width_slowdown:\n    four_byte_rows: {value: 2, source: \"A/B\"}\n"
       "    eight_byte_rows: {value: 0.9, source: \"A/B\"}\n  hbm_fraction: {unknown: true}\n",
       "efficiency.gemm_unaligned_width_slowdown.eight_byte_rows.value"},
      {"unaligned-width GEMM with an unknown row kind", "  hbm_fraction: {unknown: true}\n",
       "  gemm_unaligned_width_slowdown:\n    four_byte_rows: {value: 2, source: \"A/B\"}\n"
       "    eight_byte_rows: {value: 2, source: \"A/B\"}\n    sixteen: {value: 2, source: \"A/B\"}\n"
       "  hbm_fraction: {unknown: true}\n",
       "efficiency.gemm_unaligned_width_slowdown.sixteen"},
      {"price range inverted", "{low: 1, high: 2,", "{low: 3, high: 2,",
       "price_usd_per_device_hour.high"},
      {"price date not a month", R"(date: "2026-01")", R"(date: "Jan 2026")", "price_usd_per_device_hour.date"},
      {"price date with month 13", R"(date: "2026-01")", R"(date: "2026-13")", "price_usd_per_device_hour.date"},
      // Unknown is `unknown: true`, as for any figure: false or another word is no price at all.
      {"price unknown: false", R"({low: 1, high: 2, date: "2026-01", source: "test price"})", "{unknown: false}",
       "price_usd_per_device_hour.unknown"},
      {"price unknown: banana", R"({low: 1, high: 2, date: "2026-01", source: "test price"})", "{unknown: banana}",
       "price_usd_per_device_hour.unknown"},
      {"figure given as a bare number", R"(power_w: {value: 500, source: "test sheet"})",
       "power_w: 500", "power_w"},
      {"attention above the 16-bit peak", "    scale_out: {unknown: true}\n",
       "    scale_out: {unknown: true}\n  fused_attention_tflops:\n"
       "    forward: {value: 150, source: \"bench\"}\n    backward: {value: 50, source: "
       "\"bench\"}\n",
       "efficiency.fused_attention_tflops.forward.value"},
      {"collective units without compute units", R"(power_w: {value: 500, source: "test sheet"})",
       "power_w: {value: 500, source: \"test sheet\"}\ncollective_compute_units: {value: 16, "
       "source: \"log\"}",
       "collective_compute_units"},
      {"collective units not below compute units", R"(power_w: {value: 500, source: "test sheet"})",
       "power_w: {value: 500, source: \"test sheet\"}\ncompute_units: {value: 16, source: "
       "\"sheet\"}\n"
       "collective_compute_units: {value: 16, source: \"log\"}",
       "collective_compute_units.value"},
      {"collective units not a whole number", R"(power_w: {value: 500, source: "test sheet"})",
       "power_w: {value: 500, source: \"test sheet\"}\ncompute_units: {value: 16, source: "
       "\"sheet\"}\n"
       "collective_compute_units: {value: 2.5, source: \"log\"}",
       "collective_compute_units.value"},
      {"proxy_of not an id", R"(bf16: {value: 0.8, source: "test bench"})",
       R"(bf16: {value: 0.8, source: "test bench", proxy_of: "Other Device"})", "efficiency.gemm_fraction.bf16.proxy_of"},
      {"proxy_of empty", R"(bf16: {value: 0.8, source: "test bench"})",
       R"(bf16: {value: 0.8, source: "test bench", proxy_of: ""})", "efficiency.gemm_fraction.bf16.proxy_of"},
      {"proxy_of on an unknown figure", "  hbm_fraction: {unknown: true}\n",
       "  hbm_fraction: {unknown: true, proxy_of: other-device}\n", "efficiency.hbm_fraction.proxy_of"},
      {"attention without backward", "    scale_out: {unknown: true}\n",
       "    scale_out: {unknown: true}\n  fused_attention_tflops:\n"
       "    forward: {value: 60, source: \"bench\"}\n",
       "efficiency.fused_attention_tflops.backward"},
  };
  std::string dir = ScratchDir();
  for (const BadHardwareCase& c : cases) {
    SCOPED_TRACE(c.what);
    std::string path = WriteFile(dir, "bad.yaml", Replace(kValidHardware, c.from, c.to));
    StatusOr<HardwareSpec> h = LoadHardwareSpec(path);
    ASSERT_FALSE(h.ok());
    EXPECT_EQ(h.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(h.status().message(), path)) << h.status().message();
    EXPECT_TRUE(Contains(h.status().message(), path + ": " + c.field + ":"))
        << h.status().message();
    EXPECT_EQ(h.status().message().find('\n'), std::string::npos) << "one line";
    const std::string m = h.status().message();
    EXPECT_EQ(m.find(", got "), m.rfind(", got ")) << "what was got, said once: " << m;
    const std::string field = c.field;
    const bool value_field = field.size() > 6 && field.compare(field.size() - 6, 6, ".value") == 0;
    EXPECT_FALSE(value_field && Contains(m, "got nothing")) << "a value given is not nothing: " << m;
  }
}

TEST(HardwareSpecTest, ProxyOfNamesTheDeviceAFigureWasMeasuredOn) {
  const std::string text = Replace(kValidHardware, R"(bf16: {value: 0.8, source: "test bench"})",
                                   R"(bf16: {value: 0.8, source: "measured on the sibling", proxy_of: sibling-1.0_x})");
  StatusOr<HardwareSpec> h = LoadHardwareSpec(WriteFile(ScratchDir(), "proxy.yaml", text));
  ASSERT_TRUE(h.ok()) << h.status().message();
  const Figure& f = h->gemm_fraction[DtypeIndex(Dtype::kBf16)];
  EXPECT_EQ(f.proxy_of, "sibling-1.0_x");
  EXPECT_TRUE(f.proxy());
  EXPECT_FALSE(h->peak(Dtype::kBf16).proxy()) << "the device's own figure";
}

// A value its source marks uncertain carries the mark (plan warns where the GEMMs run at it); the
// mark is true or false, nothing else.
TEST(HardwareSpecTest, UncertainMarksAValueItsSourceDoubts) {
  const std::string text = Replace(kValidHardware, R"(fp16: {value: 100, source: "test sheet"})",
                                   R"(fp16: {value: 100, uncertain: true, source: "test sheet, marked ?"})");
  StatusOr<HardwareSpec> h = LoadHardwareSpec(WriteFile(ScratchDir(), "uncertain.yaml", text));
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_TRUE(h->peak(Dtype::kFp16).uncertain);
  EXPECT_FALSE(h->peak(Dtype::kBf16).uncertain);
  const std::string bad = Replace(kValidHardware, R"(fp16: {value: 100, source: "test sheet"})",
                                  R"(fp16: {value: 100, uncertain: maybe, source: "test sheet"})");
  StatusOr<HardwareSpec> b = LoadHardwareSpec(WriteFile(ScratchDir(), "uncertain-bad.yaml", bad));
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(Contains(b.status().message(), "peak_tflops.fp16.uncertain")) << b.status().message();
}

TEST(HardwareSpecTest, FusedAttentionIsOptional) {
  StatusOr<HardwareSpec> without =
      LoadHardwareSpec(WriteFile(ScratchDir(), "a.yaml", kValidHardware));
  ASSERT_TRUE(without.ok()) << without.status().message();
  EXPECT_FALSE(without->attention_fwd_tflops.known());
  std::string text = Replace(kValidHardware, "    scale_out: {unknown: true}\n",
                             "    scale_out: {unknown: true}\n  fused_attention_tflops:\n"
                             "    forward: {value: 60, source: \"bench\"}\n"
                             "    backward: {value: 50, source: \"bench\"}\n");
  StatusOr<HardwareSpec> with = LoadHardwareSpec(WriteFile(ScratchDir(), "b.yaml", text));
  ASSERT_TRUE(with.ok()) << with.status().message();
  EXPECT_DOUBLE_EQ(with->attention_fwd_tflops.value, 60);
  EXPECT_DOUBLE_EQ(with->attention_bwd_tflops.value, 50);
}

// The lines that end kValidHardware's efficiency section with a fused-attention kernel "vendor"
// at 60 / 50 TFLOP/s (a test then replaces that section's last line with them).
std::string VendorAttention() {
  return "    scale_out: {unknown: true}\n  fused_attention_tflops:\n    kernel: vendor\n"
         "    forward: {value: 60, source: \"bench\"}\n"
         "    backward: {value: 50, source: \"bench\"}\n";
}

// Other fused-attention kernels measured on a device load by name; the default one is named too.
TEST(HardwareSpecTest, OtherAttentionKernelsLoadByName) {
  const std::string block = VendorAttention();
  const std::string others =
      "    others:\n      fa2:\n        forward: {value: 40, source: \"bench\"}\n"
      "        backward: {value: 30, source: \"bench\"}\n";
  StatusOr<HardwareSpec> h = LoadHardwareSpec(
      WriteFile(ScratchDir(), "k.yaml",
                Replace(kValidHardware, "    scale_out: {unknown: true}\n", block + others)));
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->attention_kernel, "vendor");
  EXPECT_EQ(h->AttentionKernelNames(), "vendor, fa2");
  const std::optional<HardwareSpec::AttentionKernel> fa2 = h->AttentionRates("fa2");
  ASSERT_TRUE(fa2.has_value());
  EXPECT_DOUBLE_EQ(fa2->forward.value, 40);
  EXPECT_DOUBLE_EQ(fa2->backward.value, 30);
  const std::optional<HardwareSpec::AttentionKernel> vendor = h->AttentionRates("vendor");
  ASSERT_TRUE(vendor.has_value());
  EXPECT_DOUBLE_EQ(vendor->forward.value, 60);
  EXPECT_DOUBLE_EQ(h->AttentionRates("")->backward.value, 50);
  EXPECT_FALSE(h->AttentionRates("fa9").has_value());

  // Bad lists name the field.
  const struct {
    std::string text;
    const char* field;
  } bad[] = {
      {Replace(block, "    kernel: vendor\n", "") + others,
       "efficiency.fused_attention_tflops.kernel"},
      {block + "    others:\n      vendor:\n        forward: {value: 40, source: \"b\"}\n"
               "        backward: {value: 30, source: \"b\"}\n",
       "efficiency.fused_attention_tflops.others.vendor"},
      {block + "    others:\n      fa2:\n        forward: {value: 400, source: \"b\"}\n"
               "        backward: {value: 30, source: \"b\"}\n",
       "efficiency.fused_attention_tflops.others.fa2.forward.value"},
      {block + "    others: [fa2]\n", "efficiency.fused_attention_tflops.others"},
      {block + others +
           "      fa2:\n        forward: {value: 45, source: \"b\"}\n"
           "        backward: {value: 35, source: \"b\"}\n",
       "efficiency.fused_attention_tflops.others.fa2"},
      {block + "    others:\n      \"\":\n        forward: {value: 40, source: \"b\"}\n"
               "        backward: {value: 30, source: \"b\"}\n",
       "efficiency.fused_attention_tflops.others"},
      {block + "    others:\n      fa2: 40\n", "efficiency.fused_attention_tflops.others.fa2"},
  };
  for (const auto& c : bad) {
    SCOPED_TRACE(c.field);
    const std::string path =
        WriteFile(ScratchDir(), "bad-k.yaml",
                  Replace(kValidHardware, "    scale_out: {unknown: true}\n", c.text));
    StatusOr<HardwareSpec> b = LoadHardwareSpec(path);
    ASSERT_FALSE(b.ok());
    EXPECT_TRUE(Contains(b.status().message(), path + ": " + c.field + ":"))
        << b.status().message();
  }
}

// A kernel's rates by sequence length load for the default kernel and the others; between the
// measured lengths they run linearly in log(length), beyond them the nearest point holds.
TEST(HardwareSpecTest, AttentionRatesBySequenceLengthLoadAndInterpolate) {
  const std::string block = VendorAttention();
  const std::string curve =
      "    by_seq_len:\n      source: \"bench by length\"\n"
      "      rows: [[1024, 20, 30], [4096, 60, 50]]\n";
  const std::string others =
      "    others:\n      fa2:\n        forward: {value: 40, source: \"bench\"}\n"
      "        backward: {value: 30, source: \"bench\"}\n"
      "        by_seq_len: {source: \"b\", rows: [[512, 10, 12], [8192, 40, 30]]}\n";
  StatusOr<HardwareSpec> h = LoadHardwareSpec(WriteFile(
      ScratchDir(), "c.yaml",
      Replace(kValidHardware, "    scale_out: {unknown: true}\n", block + curve + others)));
  ASSERT_TRUE(h.ok()) << h.status().message();
  const AttentionCurves curves =
      h->AttentionRates("")->curves;  // a copy: AttentionRates returns by value
  ASSERT_EQ(curves.by_head_dim.size(), 1u);
  const AttentionCurve& c = curves.by_head_dim[0];
  ASSERT_EQ(c.points.size(), 2u);
  EXPECT_EQ(c.source, "bench by length");
  EXPECT_TRUE(c.note.empty());
  EXPECT_DOUBLE_EQ(c.At(2048).forward, 40);  // halfway in log(length)
  EXPECT_DOUBLE_EQ(c.At(2048).backward, 40);
  EXPECT_DOUBLE_EQ(c.At(100).forward, 20);   // the shortest measured length holds below it
  EXPECT_DOUBLE_EQ(c.At(1e6).backward, 50);  // the longest above it
  EXPECT_DOUBLE_EQ(c.Fastest().forward, 60);
  EXPECT_DOUBLE_EQ(h->AttentionRates("fa2")->curves.At(2048, 128).forward, 25);
  EXPECT_DOUBLE_EQ(c.head_dim, 0) << "not stated";
  EXPECT_TRUE(LoadHardwareSpec(
                  WriteFile(ScratchDir(), "d.yaml",
                            Replace(kValidHardware, "    scale_out: {unknown: true}\n", block)))
                  ->attention_curves.empty());

  const struct {
    std::string curve;
    const char* field;
  } bad[] = {
      {"    by_seq_len: {source: \"b\", rows: [[1024, 20, 30]]}\n", "by_seq_len.rows"},
      {"    by_seq_len: {source: \"b\", rows: [[4096, 20, 30], [1024, 60, 50]]}\n",
       "by_seq_len.rows[1]"},
      {"    by_seq_len: {source: \"b\", rows: [[1024, 20, 30], [1024, 60, 50]]}\n",
       "by_seq_len.rows[1]"},
      {"    by_seq_len: {source: \"b\", rows: [[1024, 20, 30], [4096, 600, 50]]}\n",
       "by_seq_len.rows[1]"},
      {"    by_seq_len: {source: \"b\", rows: [[1024, 20, 30], [4096, 60, 0]]}\n",
       "by_seq_len.rows[1]"},
      {"    by_seq_len: {source: \"b\", rows: [[0.5, 20, 30], [4096, 60, 50]]}\n",
       "by_seq_len.rows[0]"},
      // A vanishing rate names its row and what it got (it said "got nothing" once).
      {"    by_seq_len: {source: \"b\", rows: [[512, 1e-300, 1e-300], [4096, 60, 50]]}\n",
       "by_seq_len.rows[0]: expected TFLOP/s of at least 1e-3 and at most the 16-bit dense peak, got 1e-300"},
      {"    by_seq_len: {source: \"b\", note: [1], rows: [[1024, 20, 30], [4096, 60, 50]]}\n",
       "by_seq_len.note"},
      {"    by_seq_len: {source: \"b\", rows: [[1024, 20], [4096, 60, 50]]}\n",
       "by_seq_len.rows[0]"},
      {"    by_seq_len: {source: \"b\", rows: [[1024, 20, x], [4096, 60, 50]]}\n",
       "by_seq_len.rows[0]"},
      {"    by_seq_len: {source: \"b\", rows: 4096}\n", "by_seq_len.rows"},
      {"    by_seq_len: {rows: [[1024, 20, 30], [4096, 60, 50]]}\n", "by_seq_len.source"},
      {"    by_seq_len: {source: \"b\", rows: [[1024, 20, 30], [4096, 60, 50]], fit: 1}\n",
       "by_seq_len.fit"},
      {"    by_seq_len: [[1024, 20, 30]]\n", "by_seq_len"},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.curve);
    const std::string path =
        WriteFile(ScratchDir(), "bad-c.yaml",
                  Replace(kValidHardware, "    scale_out: {unknown: true}\n", block + b.curve));
    StatusOr<HardwareSpec> r = LoadHardwareSpec(path);
    ASSERT_FALSE(r.ok());
    const std::string field = std::string("efficiency.fused_attention_tflops.") + b.field;
    EXPECT_TRUE(Contains(r.status().message(), path + ": " + field)) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << "one line";
  }
}

// Curves for several head dimensions come as a list; between two measured head dimensions the
// rates run linearly in log(head dim), beyond them the nearest curve holds.
TEST(HardwareSpecTest, AttentionCurvesByHeadDimension) {
  const std::string curves =
      "    by_seq_len:\n"
      "      - {head_dim: 64, source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n"
      "      - {head_dim: 256, source: \"b\", rows: [[1024, 30, 40], [4096, 50, 60]]}\n";
  StatusOr<HardwareSpec> h = LoadHardwareSpec(WriteFile(
      ScratchDir(), "hd.yaml",
      Replace(kValidHardware, "    scale_out: {unknown: true}\n", VendorAttention() + curves)));
  ASSERT_TRUE(h.ok()) << h.status().message();
  const AttentionCurves& c = h->attention_curves;
  ASSERT_EQ(c.by_head_dim.size(), 2u);
  EXPECT_DOUBLE_EQ(c.At(2048, 128).forward, 30);  // halfway in both log(length) and log(head dim)
  EXPECT_DOUBLE_EQ(c.At(2048, 128).backward, 40);
  EXPECT_DOUBLE_EQ(c.At(1024, 32).forward, 10);    // the smallest head dimension holds below it
  EXPECT_DOUBLE_EQ(c.At(4096, 512).backward, 60);  // the largest above it
  EXPECT_DOUBLE_EQ(c.Fastest().forward, 50);

  const struct {
    std::string curves;
    const char* field;
  } bad[] = {
      {"    by_seq_len:\n      - {source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n",
       "by_seq_len[0].head_dim"},
      {"    by_seq_len:\n      - {head_dim: 128, source: \"b\", rows: [[1024, 10, 20], [4096, 30, "
       "40]]}\n"
       "      - {head_dim: 64, source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n",
       "by_seq_len[1].head_dim"},
      {"    by_seq_len:\n      - {head_dim: 0.5, source: \"b\", rows: [[1024, 10, 20], [4096, 30, "
       "40]]}\n",
       "by_seq_len[0].head_dim"},
      {"    by_seq_len:\n      - {head_dim: 64, source: \"b\", rows: [[1024, 10, 20], [512, 30, "
       "40]]}\n",
       "by_seq_len[0].rows[1]"},
      {"    by_seq_len:\n      - 64\n", "by_seq_len[0]"},
      {"    by_seq_len: []\n", "by_seq_len"},
      {"    by_seq_len:\n      - {head_dim: 64, source: \"b\", rows: [[1024, 10, 20], [4096, 30, "
       "40]]}\n"
       "      - {head_dim: 64, source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n",
       "by_seq_len[1].head_dim"},
      {"    by_seq_len:\n      - {head_dim: 5000, source: \"b\", rows: [[1024, 10, 20], [4096, 30, "
       "40]]}\n",
       "by_seq_len[0].head_dim"},
      {"    by_seq_len:\n      - {head_dim: 96.5, source: \"b\", rows: [[1024, 10, 20], [4096, 30, "
       "40]]}\n",
       "by_seq_len[0].head_dim"},
      {"    by_seq_len: {head_dim: 0, source: \"b\", rows: [[1024, 10, 20], [4096, 30, 40]]}\n",
       "by_seq_len.head_dim"},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.curves);
    const std::string path = WriteFile(
        ScratchDir(), "bad-hd.yaml",
        Replace(kValidHardware, "    scale_out: {unknown: true}\n", VendorAttention() + b.curves));
    StatusOr<HardwareSpec> r = LoadHardwareSpec(path);
    ASSERT_FALSE(r.ok());
    const std::string field = std::string("efficiency.fused_attention_tflops.") + b.field;
    EXPECT_TRUE(Contains(r.status().message(), path + ": " + field + ":")) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << "one line";
  }
  // Three curves: a head dimension equal to the middle one's reads that curve alone.
  AttentionCurves three = c;
  AttentionCurve mid = c.by_head_dim[0];
  mid.head_dim = 128;
  for (AttentionCurve::Point& p : mid.points) p.forward = 99, p.backward = 98;
  three.by_head_dim.insert(three.by_head_dim.begin() + 1, mid);
  EXPECT_DOUBLE_EQ(three.At(2048, 128).forward, 99);
  EXPECT_DOUBLE_EQ(three.At(2048, 128).backward, 98);
}

TEST(HardwareSpecTest, MalformedYamlIsInvalidArgumentNamingFileAndLine) {
  std::string path =
      WriteFile(ScratchDir(), "broken.yaml", Replace(kValidHardware, "memory:\n", "memory: [\n"));
  StatusOr<HardwareSpec> h = LoadHardwareSpec(path);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(h.status().message(), path)) << h.status().message();
  EXPECT_TRUE(Contains(h.status().message(), "malformed YAML at line")) << h.status().message();
}

TEST(HardwareSpecTest, NonMappingRootIsInvalidArgument) {
  std::string path = WriteFile(ScratchDir(), "list.yaml", "- 1\n- 2\n");
  StatusOr<HardwareSpec> h = LoadHardwareSpec(path);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(h.status().message(), path));
  EXPECT_TRUE(Contains(h.status().message(), "mapping")) << h.status().message();
}

TEST(HardwareSpecTest, DtypeNamesRoundTrip) {
  for (int i = 0; i < kNumDtypes; ++i) {
    Dtype d;
    ASSERT_TRUE(ParseDtype(kDtypeNames[i], &d));
    EXPECT_EQ(DtypeIndex(d), i);
    EXPECT_EQ(DtypeName(d), kDtypeNames[i]);
  }
  Dtype d = Dtype::kBf16;
  EXPECT_FALSE(ParseDtype("bfloat16", &d));
  EXPECT_FALSE(ParseDtype("", &d));
  EXPECT_EQ(d, Dtype::kBf16) << "untouched on failure";
}

}  // namespace
}  // namespace preflight
