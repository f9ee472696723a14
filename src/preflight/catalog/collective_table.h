// File: catalog/collective_table.h
//
// Measured collective times by message size on one cluster (nccl-tests), for the step model.
// Where a group of a plan matches a measured curve (same collective, same number of ranks laid
// out the same way over scale-up domains), its time is read off the curve instead of the α-β
// model: mid-size messages reach well below the large-message bus bandwidth, which no single
// figure captures.
//
//   ASSIGN_OR_RETURN(CollectiveTable t, LoadCollectiveTable("my-node-collectives.yaml"));
//   std::optional<Seconds> t8 = t.Time(CollectiveOp::kAllReduce, /*ranks=*/8, /*per_domain=*/8, Bytes(32e6));
//
// File format (docs/cost-model.md, "Measured collectives"):
//   source: "nccl-tests 2.13.8, NCCL 2.18.3, our DGX A100, 2024-05-02"
//   collectives:
//     - op: all_reduce            # all_reduce | all_gather | reduce_scatter | all_to_all
//       ranks: 8
//       ranks_per_domain: 8       # optional; default: ranks (one scale-up domain)
//       rows:                     # [size in bytes, out-of-place time in µs], nccl-tests' columns
//         - [1048576, 27.8]
//     - op: all_gather
//       ranks: 8
//       nccl_tests: all_gather_perf.txt   # or the raw output of nccl-tests, beside this file
//     - op: reduce_scatter
//       ranks: 8
//       busbw_rows:               # or [size in bytes, bus bandwidth in GB/s], as vendors publish
//         - [33554432, 132.8]     # them; times follow from nccl-tests' bus factors
//
// A table may name the hardware it was measured on (every table under data/collectives/ does);
// a scenario on other hardware cannot use it:
//   hardware: a100-sxm-80gb
//
// Sizes follow nccl-tests: the whole buffer for all-reduce, the gathered (whole) buffer for
// all-gather and reduce-scatter, each rank's send buffer for all-to-all.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "preflight/base/status.h"
#include "preflight/base/units.h"

namespace preflight {

enum class CollectiveOp { kAllReduce = 0, kAllGather, kReduceScatter, kAllToAll };
inline constexpr const char* kCollectiveOpNames[] = {"all_reduce", "all_gather", "reduce_scatter", "all_to_all"};
// The largest group a curve may describe: a cluster's own bound (hardware/cluster.h, 2^24 devices).
inline constexpr int64_t kMaxCollectiveRanks = int64_t{1} << 24;

// False when `name` is not one of kCollectiveOpNames.
bool ParseCollectiveOp(const std::string& name, CollectiveOp* op);

class CollectiveTable {
 public:
  std::string hardware;  // catalog id of the device measured; empty: not stated
  std::string source;    // where the figures were measured
  std::string file;

  struct Curve {
    CollectiveOp op = CollectiveOp::kAllReduce;
    int64_t ranks = 0;
    int64_t ranks_per_domain = 0;
    std::vector<std::array<double, 2>> rows;  // [bytes, µs] as measured, ascending in size
    std::vector<double> log_bytes;    // ascending
    std::vector<double> log_seconds;  // same length
    std::vector<double> log_best_rate;  // running maximum of log(bytes / seconds) over the rows so far
  };

  // Time of a collective of `bytes` over `ranks`, `per_domain` of them in each scale-up domain,
  // when a curve was measured for exactly that group; nullopt otherwise (and for bytes that are
  // not a positive number). Between rows: linear in log(bytes)-log(time). Below the smallest size:
  // that row's time (a collective is never faster than the smallest one measured). Above the
  // largest: that row's bandwidth (the step model runs on past it faster, up to the fabric's
  // large-message rate, from LargestRow).
  std::optional<Seconds> Time(CollectiveOp op, int64_t ranks, int64_t per_domain, Bytes bytes) const;

  // What a collective past a curve's largest row is timed from (cost/collectives.cc): that row
  // (`bytes`, `time`), the curve's last doubling up to it (`span_bytes`, `span_time`: from half its
  // size, or from the smallest row where the curve spans less, to the row) and the lower bound
  // TimeAtBestRate gives at the row (`best_time`). nullopt where no curve covers the group.
  struct Edge {
    Bytes bytes;
    Seconds time;
    Bytes span_bytes;
    Seconds span_time;
    Seconds best_time;
  };
  std::optional<Edge> LargestRow(CollectiveOp op, int64_t ranks, int64_t per_domain) const;
  // True when a curve covers the group and `bytes` is a finite size above its largest row.
  bool PastLargestRow(CollectiveOp op, int64_t ranks, int64_t per_domain, Bytes bytes) const;

  // For the loader: adds a curve from [bytes, µs] rows. InvalidArgument text (without file or
  // field) when the group is malformed (ranks < 2 or above kMaxCollectiveRanks; ranks_per_domain
  // not a divisor of ranks), a row lies outside 1 byte..2^50 bytes or 1e-3..1e9 µs, a size
  // repeats, or the curve duplicates one already added.
  Status AddCurve(CollectiveOp op, int64_t ranks, int64_t ranks_per_domain, std::vector<std::array<double, 2>> rows);

  const std::vector<Curve>& curves() const { return curves_; }

  // A lower bound on the total time of any number of collectives of at most `bytes` each that add
  // up to `bytes`, over a group the table covers: `bytes` at the best rate (bytes / time) the curve
  // reaches at or below that size. Equal to Time where the rate never falls with size; a measured
  // curve can dip, and the search's pruning bound must hold anyway. nullopt where Time is.
  std::optional<Seconds> TimeAtBestRate(CollectiveOp op, int64_t ranks, int64_t per_domain, Bytes bytes) const;

 private:
  const Curve* Find(CollectiveOp op, int64_t ranks, int64_t per_domain) const;

  std::vector<Curve> curves_;
};

// nccl-tests' bus-bandwidth factor of a collective over `ranks`: time = factor x bytes / busbw
// (all-reduce 2(n-1)/n; all-gather, reduce-scatter and all-to-all (n-1)/n).
double BusBandwidthFactor(CollectiveOp op, int64_t ranks);

// Loads and validates a table file (and any nccl-tests output it names, beside it):
// InvalidArgument naming file and field on any problem; NotFound if a file cannot be opened.
StatusOr<CollectiveTable> LoadCollectiveTable(const std::string& path);

// "all_reduce over 8 (8 per domain)": the operation and group a curve was measured on.
std::string CurveGroup(const CollectiveTable::Curve& c);

// The [size in bytes, out-of-place time in µs] rows of nccl-tests text output (any collective,
// with or without the root column, with or without mpirun's "[1,0]<stdout>:" or srun's "0:"
// prefixes). InvalidArgument naming `name` when a row reports wrong results (a non-zero #wrong
// count) or when it holds fewer than two rows.
StatusOr<std::vector<std::array<double, 2>>> ParseNcclTestsOutput(const std::string& text, const std::string& name);

// What an nccl-tests output says of the collective it ran: its bus bandwidth over its algorithm
// bandwidth, in the out-of-place column of the row with the largest algorithm bandwidth, and how
// far the two printed figures' rounding (two decimals) can move that ratio. Only rows whose
// algorithm bandwidth reads at least 1 GB/s count; `factor` is 0 where none does (or the text is
// not nccl-tests output).
struct NcclTestsBusFactor {
  double factor = 0;
  double tolerance = 0;  // relative
};
NcclTestsBusFactor ReadNcclTestsBusFactor(const std::string& text);

}  // namespace preflight
