// File: catalog/hardware_spec.h
//
// A hardware catalog entry as written in data/hardware/<id>.yaml: every figure carries its
// source, and a figure nobody published stays `unknown` (never guessed). See
// data/hardware/README.md for the file format.
//
//   ASSIGN_OR_RETURN(HardwareSpec h100, LoadHardwareSpec("data/hardware/h100-sxm-80gb.yaml"));
//   const Figure& bf16 = h100.peak_tflops[DtypeIndex(Dtype::kBf16)];
//   if (bf16.known()) ... bf16.value ...
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

#include "preflight/base/status.h"
#include "preflight/catalog/yaml_reader.h"

namespace preflight {

class GemmTable;  // catalog/gemm_table.h

// Numeric formats a device may compute in. Order fixes the array index.
enum class Dtype { kFp64, kFp32, kTf32, kBf16, kFp16, kFp8, kFp4, kInt8 };
inline constexpr int kNumDtypes = 8;
inline constexpr std::array<std::string_view, kNumDtypes> kDtypeNames = {
    "fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8"};

constexpr int DtypeIndex(Dtype d) { return static_cast<int>(d); }
std::string_view DtypeName(Dtype d);
// InvalidArgument-free lookup: false if `name` is not one of kDtypeNames.
bool ParseDtype(std::string_view name, Dtype* out);

// One sourced number. Exactly one of: a value with a source, unknown, or unsupported.
struct Figure {
  enum class State { kValue, kUnknown, kUnsupported };
  State state = State::kUnknown;
  double value = 0;    // meaningful only when state == kValue
  std::string source;  // required for kValue and kUnsupported
  std::string note;
  // A labelled proxy: the catalog id of the device the value was measured on, when that is not
  // this one (a sibling part's measurement standing in until this device's own is published).
  // Empty for a figure of the device itself.
  std::string proxy_of;
  // The source marks the value itself uncertain ("(?)"): a plan that rests on it says so.
  bool uncertain = false;

  bool known() const { return state == State::kValue; }
  bool proxy() const { return known() && !proxy_of.empty(); }
  bool unsupported() const { return state == State::kUnsupported; }
  static Figure Known(double v, std::string src) {
    return Figure{State::kValue, v, std::move(src), "", ""};
  }
};

// A price range per device-hour, dated.
struct PriceRange {
  bool known = false;
  double low_usd = 0;
  double high_usd = 0;
  std::string date;
  // The middle of the range, per device-hour (what the search's cost objective bills).
  double Mid() const { return 0.5 * (low_usd + high_usd); }
  std::string source;
  std::string note;
};

// A fused-attention kernel's measured rates by sequence length (the benchmark's query and key
// length, at a fixed number of tokens), TFLOP/s in the FlashAttention convention; the source says
// which passes were causal. Short sequences run far below the long-sequence figure: each tile's
// fixed work (loads, the softmax rescaling, the epilogue) weighs more against a shorter loop over
// keys, and so do the causal diagonal's partly masked tiles.
struct AttentionCurve {
  struct Point {
    double seq_len = 0, forward = 0, backward = 0;
  };
  double head_dim = 0;        // the head dimension measured; 0 when the source does not say
  std::vector<Point> points;  // sequence lengths strictly increasing; empty when not measured
  std::string source;
  std::string note;
  std::string proxy_of;  // as Figure::proxy_of

  bool empty() const { return points.empty(); }
  // The rates at `seq_len`: linear in log(seq_len) between points, the nearest point beyond them
  // (below the shortest measured length that is an upper bound on speed). REQUIRES: !empty().
  Point At(double seq_len) const;
  // The fastest forward and backward over all points (seq_len 0). REQUIRES: !empty().
  Point Fastest() const;
};

// One kernel's curves, one per measured head dimension (increasing), or a single curve whose head
// dimension is not stated. Small heads run slower (less work per tile load).
// INVARIANT (the loader keeps it): with more than one curve, every head_dim is above 0 and they
// strictly increase.
struct AttentionCurves {
  std::vector<AttentionCurve> by_head_dim;

  bool empty() const { return by_head_dim.empty(); }
  // The rates at `seq_len` for heads of `head_dim`: between two measured head dimensions linear in
  // log(head_dim), beyond them the nearest curve's (no extrapolation). REQUIRES: !empty().
  AttentionCurve::Point At(double seq_len, double head_dim) const;
  // The fastest forward and backward over every curve. REQUIRES: !empty().
  AttentionCurve::Point Fastest() const;
  // Every rate (forward and backward) times `factor` (e.g. the sustained / burst ratio).
  void Scale(double factor);
};

struct HardwareSpec {
  std::string id;
  std::string vendor;
  std::string name;
  std::string notes;
  std::string software_stack;
  std::string file;  // where it was loaded from
  Figure launch_year;
  std::array<Figure, kNumDtypes> peak_tflops;  // dense, per device
  Figure hbm_capacity_gib;
  Figure hbm_bandwidth_tbytes_per_s;
  std::string scale_up_name;
  Figure scale_up_gbytes_per_s;  // per device, per direction, all links
  Figure scale_up_domain_devices;
  // A scale-up domain wired device to device without a switch (AMD xGMI, Intel Gaudi's RoCE
  // ports): each pair of devices has its own links, `scale_up_peer_gbytes_per_s` per direction,
  // so a group of g devices inside the domain has at most (g - 1) of them to use.
  bool scale_up_full_mesh = false;
  Figure scale_up_peer_gbytes_per_s;
  // A scale-up domain wired as a torus (Google's ICI, AWS NeuronLink): each device has links to
  // its neighbours along `scale_up_torus_dimensions` axes only, the scale-up rate spread evenly
  // over them. A group that spans fewer axes has fewer links, and traffic between devices that
  // are not neighbours crosses the devices between (all-to-all). Known only with topology: torus.
  bool scale_up_torus = false;
  Figure scale_up_torus_dimensions;
  // The slice shapes the vendor offers on a torus (`scale_up.torus_slices`), one per chip count:
  // its sides along the torus's axes (1 for an axis a slice does not span) and whether its sides
  // close rings (wraparound links). Empty when not given: groups then take their best block.
  struct TorusSlice {
    std::array<int64_t, 3> sides{1, 1, 1};
    bool wraps = true;
    int64_t Chips() const { return sides[0] * sides[1] * sides[2]; }
  };
  std::vector<TorusSlice> torus_slices;
  std::string torus_slices_source;
  Figure scale_out_gbits_per_s;  // per device
  // Devices one node holds behind its host and NICs (a server, a TPU host VM, a compute tray):
  // the default of a cluster's devices_per_node. Optional; unknown when absent (then 8, or the
  // scale-up domain where it is smaller).
  Figure node_devices;
  Figure power_w;
  // Achieved host-to-device copy rate of one device's link to its host (PCIe, NVLink-C2C), GB/s,
  // measured (nvbandwidth-style, one device copying): what activation offloading to the host
  // moves at. Optional; unknown when absent, and then offload copies are not timed.
  Figure host_link_gbytes_per_s;
  // Streaming multiprocessors (NVIDIA) or compute units (AMD): the parallel engines a GEMM's
  // output tiles are spread over (wave quantization). Optional; unknown when absent.
  Figure compute_units;
  // Compute units one collective kernel holds while it runs (NCCL: one CTA per channel, and NCCL's
  // CTAs do not share an SM with compute kernels). Compute overlapped with communication runs on
  // the rest. Optional; unknown when absent, and then overlapped communication costs no compute.
  Figure collective_compute_units;
  PriceRange price;
  std::array<Figure, kNumDtypes> gemm_fraction;  // large-GEMM achieved / peak, measured
  // Large-GEMM throughput the device holds once saturated at its power limit, over the dense
  // peak (MSMF / peak). gemm_fraction and the shape and attention benchmarks are short bursts at
  // boost clock; a training step runs at the power limit for hours. Optional; unknown when
  // absent, and then the burst figures stand (an upper bound on speed).
  std::array<Figure, kNumDtypes> sustained_fraction;
  Figure hbm_fraction;                           // achieved / peak HBM bandwidth
  // GPU time one GEMM kernel takes beyond what the wave model gives it (launch latency, prologue
  // and epilogue: what makes a 1024-cubed GEMM far slower than its share of the large-GEMM rate),
  // microseconds, from small-GEMM benchmarks. Charged per GEMM kernel wherever no measured table
  // by shape covers the shape (a table's figures already hold it). Optional; unknown when absent,
  // and then nothing is charged (an upper bound on speed).
  Figure gemm_kernel_us;
  // How many times longer a 16-bit GEMM takes when one of its dimensions is odd: its operands'
  // rows then start off the 16-byte boundaries the fast tensor-core kernels load from, and the
  // GEMM library falls back to kernels with narrower loads (an output layer over an unpadded
  // vocabulary of 50,257 is the common case). From a published A/B measurement; optional, unknown
  // when absent, and then nothing is charged (an upper bound on speed).
  Figure gemm_odd_width_slowdown;
  // The same for an even 16-bit dimension that is no multiple of 8, by where its rows start: on
  // 4-byte boundaries (a width of 2 mod 4) or 8-byte ones (4 mod 8). Optional (the file's
  // gemm_unaligned_width_slowdown: {four_byte_rows, eight_byte_rows}); unknown when absent, and
  // then nothing is charged (an upper bound on speed).
  Figure gemm_4_byte_rows_slowdown;
  Figure gemm_8_byte_rows_slowdown;
  Figure allreduce_busbw_scale_up_gbytes_per_s;
  Figure allreduce_busbw_scale_out_gbytes_per_s;
  // Fused (flash-style) attention kernel, 16-bit, TFLOP/s in the FlashAttention convention
  // (causal work counted as half, backward 2.5x the forward). Optional; unknown when absent,
  // and then the step model runs attention at the large-GEMM rate (an upper bound on speed).
  Figure attention_fwd_tflops;
  Figure attention_bwd_tflops;
  // The kernel those two figures measure (e.g. "cudnn9"; empty when the file does not name it),
  // and other fused-attention kernels measured on the device, which a scenario can choose
  // (training.attention_kernel) when its framework runs one of them.
  std::string attention_kernel;
  AttentionCurves attention_curves;  // the default kernel's rates by sequence length, if measured
  struct AttentionKernel {
    std::string name;
    Figure forward, backward;
    AttentionCurves curves;
  };
  std::vector<AttentionKernel> other_attention_kernels;
  // The rates of `kernel` (the default's when it is empty or names the default); nothing when the
  // device has no such kernel.
  std::optional<AttentionKernel> AttentionRates(const std::string& kernel) const;
  // "cudnn9, fa3, fa2": the kernels a scenario may name.
  std::string AttentionKernelNames() const;
  // Measured GEMM throughput by shape (data/gemm/<id>.yaml), when the catalog has one.
  std::shared_ptr<const GemmTable> gemm_table;

  const Figure& peak(Dtype d) const { return peak_tflops[DtypeIndex(d)]; }
  // The dtype a job of `precision` runs its GEMMs in on this device: TF32 for fp32, FP8 or FP4
  // only where the device has it (else the 16-bit one), fp16 or bf16 as given.
  Dtype GemmDtype(Dtype precision) const {
    if (precision == Dtype::kFp32) return Dtype::kTf32;
    if (precision == Dtype::kFp4 && peak(Dtype::kFp4).known()) return Dtype::kFp4;
    if (precision == Dtype::kFp8 && peak(Dtype::kFp8).known()) return Dtype::kFp8;
    return precision == Dtype::kFp16 ? Dtype::kFp16 : Dtype::kBf16;
  }
};

// Loads and validates a hardware YAML file. InvalidArgument names file and field on any
// malformed, missing or unsourced figure; NotFound if the file cannot be opened.
StatusOr<HardwareSpec> LoadHardwareSpec(const std::string& path);

// Same, from an already parsed mapping (file is used in messages only).
StatusOr<HardwareSpec> ParseHardwareSpec(const YAML::Node& root, const std::string& file);

// The figure that prices a 16-bit GEMM dimension of `width` elements for where its rows start:
// gemm_odd_width_slowdown for an odd width, gemm_4_byte_rows_slowdown for 2 mod 4,
// gemm_8_byte_rows_slowdown for 4 mod 8; null for a multiple of 8. `field`, when given, gets its
// key in a hardware file ("efficiency.gemm_odd_width_slowdown", ...).
const Figure* WidthSlowdownFigure(const HardwareSpec& h, int64_t width, std::string_view* field = nullptr);

// Parses one figure mapping: {value, source[, note][, proxy_of]} | {unknown: true[, note]} |
// {unsupported: true, source} (the last only when allow_unsupported).
StatusOr<Figure> ParseFigure(const MapReader& parent, std::string_view key, bool allow_unsupported);

// Reads the optional `proxy_of` key of a figure, curve or table into *out: a catalog id
// (lowercase letters, digits, '.', '_' and '-').
Status ParseProxyOf(const MapReader& r, std::string* out);

// The other 16-bit dtype (fp16 for bf16, bf16 for fp16) where the device's two 16-bit peaks are
// known and equal: one tensor-core rate (NVIDIA since Ampere, AMD CDNA 2 and 3), so a figure
// measured in either dtype is that rate's. None for other dtypes, or where the peaks differ (Gaudi 3:
// bf16 1677, fp16 459 TFLOP/s).
std::optional<Dtype> SixteenBitPartner(const HardwareSpec& h, Dtype d);
// The dtype whose entry of `figures` (h.gemm_fraction or h.sustained_fraction) serves `d`: `d`
// where its own is known, else its 16-bit partner where that one's is, else `d`.
Dtype GemmFigureDtype(const HardwareSpec& h, const std::array<Figure, kNumDtypes>& figures, Dtype d);
// The burst (gemm_fraction) and sustained (sustained_fraction) large-GEMM figures of `d`, as
// GemmFigureDtype picks them: the A100's bf16 GEMMs read its sustained fp16 figure (Azure's
// cuBLASLt after 10,000 warm-ups) beside its burst bf16 one (MAMF). Unknown where neither is.
const Figure& BurstGemmFraction(const HardwareSpec& h, Dtype d);
const Figure& SustainedGemmFraction(const HardwareSpec& h, Dtype d);
// Sustained / burst tensor throughput of `d` on `h`: sustained_fraction / gemm_fraction, capped at
// 1, each figure its own or its 16-bit partner's (BurstGemmFraction). Where `d` lacks either
// figure, another dtype's ratio on the same device (SustainedRatioDtype): the clock at the power
// limit is the device's, and where both dtypes are measured their ratios agree within a few points
// (B200 bf16 0.825, fp8 0.813; B300 0.859, 0.886). 1 where no dtype has both figures.
double SustainedRatio(const HardwareSpec& h, Dtype d);
// The dtype whose figures give SustainedRatio(h, d): `d` itself, else bf16, fp8, fp4, fp16 or tf32,
// the first with both; none where no dtype has both, or where `d` has a sustained figure and no
// burst one (that figure is the rate itself: nothing to scale).
std::optional<Dtype> SustainedRatioDtype(const HardwareSpec& h, Dtype d);

}  // namespace preflight
