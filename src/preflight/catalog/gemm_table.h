// File: catalog/gemm_table.h
//
// Measured GEMM throughput by shape for one device, as written in data/gemm/<hardware-id>.yaml:
// a full grid of M x N x K per dtype with the TFLOP/s a benchmark reached there. Small and skinny
// GEMMs run far below the large-GEMM efficiency; this is the curve that says how far.
//
//   ASSIGN_OR_RETURN(GemmTable t, LoadGemmTable("data/gemm/h100-sxm-80gb.yaml"));
//   double flops_per_s = t.Rate(Dtype::kBf16, /*m=*/4096, /*n=*/1024, /*k=*/8192);  // 0: no grid
//
// File format (data/gemm/README.md):
//   id: h100-sxm-80gb
//   source: "where the numbers were measured"
//   clock: burst          # optional: burst (short runs at boost clock, the default) | sustained
//   proxy_of: h100-sxm-80gb  # optional: measured on that device, standing in for this one
//   shapes:
//     bf16:               # any dtype name of hardware_spec.h
//       - [m, n, k, tflops]
//     fp8:                # or a grid with its own origin, which replaces the file's for it
//       source: "where this grid was measured"
//       proxy_of: h200-sxm-141gb   # optional
//       rows:
//         - [m, n, k, tflops]
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "preflight/base/status.h"
#include "preflight/catalog/hardware_spec.h"

namespace preflight {

class GemmTable {
 public:
  std::string id;      // the hardware id it belongs to
  std::string source;  // where the figures come from
  std::string file;
  // Measured at the power limit (clock: sustained) rather than in short boost-clock bursts; the
  // step model scales only burst tables by the device's sustained / burst ratio.
  bool sustained = false;
  // The catalog id of the device the table was measured on, when not this one (Figure::proxy_of).
  std::string proxy_of;

  // Interpolated throughput in FLOP/s of one (m x k) · (k x n) GEMM, or 0 when the table has no
  // grid for `dtype`. Inside the grid: linear in log2 of each dimension. Above the largest
  // measured size of a dimension: the edge value. Below the smallest: the edge value scaled
  // down in proportion (a GEMM is never faster than the smallest one measured).
  double Rate(Dtype dtype, double m, double n, double k) const;

  bool Has(Dtype dtype) const { return !grids_[DtypeIndex(dtype)].tflops.empty(); }
  // The dtype whose grid times GEMMs in `gemm`: bf16's for fp16 where the table has no fp16 grid
  // (the same tensor-core rate), else `gemm` itself, whether or not the table has its grid.
  Dtype GridFor(Dtype gemm) const { return gemm == Dtype::kFp16 && !Has(Dtype::kFp16) ? Dtype::kBf16 : gemm; }
  // True when no dimension exceeds the largest size measured for `dtype`.
  bool Covers(Dtype dtype, double m, double n, double k) const;
  // True when the reduction length `k` does not exceed the largest one measured for `dtype`.
  bool CoversReduction(Dtype dtype, double k) const;
  // The two longest reduction lengths measured for `dtype`, {next-to-longest, longest}: the
  // last step of the K axis, along which a longer reduction is extrapolated. {0, k} for an axis
  // of one size, {0, 0} without a grid.
  std::pair<double, double> LongestReductions(Dtype dtype) const;
  // The smallest and largest measured M, N and K for `dtype`, in that order ({0, 0} each
  // without a grid).
  std::array<std::pair<double, double>, 3> Extent(Dtype dtype) const;
  // Highest throughput anywhere in the grid (FLOP/s), 0 without a grid.
  double MaxRate(Dtype dtype) const { return grids_[DtypeIndex(dtype)].max * 1e12; }

  struct Axis {
    std::vector<double> log2;  // sorted distinct sizes, as log2
    double lo = 0, hi = 0;     // smallest and largest size
    size_t size() const { return log2.size(); }
  };
  struct Grid {
    Axis m, n, k;
    std::vector<double> tflops;   // [im][in][ik]
    double max = 0;
    double At(size_t im, size_t in, size_t ik) const { return tflops[(im * n.size() + in) * k.size() + ik]; }
  };
  // For the loader: installs a grid; InvalidArgument text (without the file) when it is not full.
  Status SetGrid(Dtype dtype, const std::vector<std::array<double, 4>>& rows);

  // Where `dtype`'s grid was measured: the grid's own source and proxy_of where it states them
  // (SetGridOrigin), else the file's. An empty proxy_of: measured on this device.
  const std::string& SourceOf(Dtype dtype) const;
  const std::string& ProxyOf(Dtype dtype) const;
  // Whether `dtype`'s grid states an origin of its own.
  bool HasOwnOrigin(Dtype dtype) const { return origins_[DtypeIndex(dtype)].own; }
  // The dtypes whose grids state an origin of their own, in dtype order.
  std::vector<Dtype> GridsWithOwnOrigin() const;
  // For the loader: `dtype`'s grid was measured as `source` says, on `proxy_of` (empty: this
  // device).
  void SetGridOrigin(Dtype dtype, std::string source, std::string proxy_of);

  // The sustained / burst ratio (SustainedRatio) of the device `dtype`'s grid was measured on, where
  // that is another device with a sustained figure (Catalog::GemmTableFor): a burst grid that
  // stands for this device runs at its own device's power limit, since the proxy holds the two
  // devices' rates alike (the H100 reads the H200's FP8 grid at the H200's ratio, 0.932: their
  // long-run FP8 rates agree within 1%, where the H100's own ratio, 0.985, would time it 6% faster).
  // 0 where not set: the reading device's ratio applies.
  double SourceSustain(Dtype dtype) const { return source_sustain_[DtypeIndex(dtype)]; }
  // For the catalog: sets SourceSustain(dtype) (a ratio in (0, 1]).
  void SetSourceSustain(Dtype dtype, double ratio);

  // Changes whenever the content does (unique per process): a key for caching rates.
  uint64_t serial() const { return serial_; }

 private:
  struct Origin {
    bool own = false;
    std::string source, proxy_of;
  };
  std::array<Grid, kNumDtypes> grids_;
  std::array<Origin, kNumDtypes> origins_;
  std::array<double, kNumDtypes> source_sustain_{};
  uint64_t serial_ = 0;
};

// Loads and validates a table file: InvalidArgument naming file and field on a malformed row,
// a non-positive figure or a grid with holes; NotFound if the file cannot be opened.
StatusOr<GemmTable> LoadGemmTable(const std::string& path);

// Loads a table for `spec`: also InvalidArgument when its id is not the device's or a figure
// exceeds the device's known peak for that dtype.
StatusOr<std::shared_ptr<const GemmTable>> LoadGemmTableFor(const HardwareSpec& spec, const std::string& path);

}  // namespace preflight
