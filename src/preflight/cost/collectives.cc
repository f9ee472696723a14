#include "preflight/cost/collectives.h"

#include "preflight/model/model.h"

#include <algorithm>
#include <array>
#include <bit>
#include <bitset>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <numeric>
#include <optional>
#include <unordered_map>
#include <vector>

namespace preflight {

Fabric FabricFromCluster(const Cluster& c, std::vector<std::string>* warnings) {
  Fabric f;
  const HardwareSpec& h = c.spec;
  f.devices_per_node = c.devices_per_node;
  f.scale_up_domain = c.scale_up_domain;
  const double link_up = h.scale_up_gbytes_per_s.known() ? h.scale_up_gbytes_per_s.value : 0;
  if (c.scale_up_busbw_gbytes_per_s > 0) {
    f.scale_up_busbw = BytesPerSecond::GBps(c.scale_up_busbw_gbytes_per_s);
  } else if (h.allreduce_busbw_scale_up_gbytes_per_s.known()) {
    f.scale_up_busbw = BytesPerSecond::GBps(h.allreduce_busbw_scale_up_gbytes_per_s.value);
  } else {
    f.scale_up_busbw = BytesPerSecond::GBps(link_up > 0 ? link_up : 50);
    warnings->push_back(h.id + ": no measured scale-up all-reduce bandwidth; using the " +
                        (link_up > 0 ? "link rate" : "assumed 50 GB/s") +
                        " (communication times are optimistic)");
  }
  const double nic_gbits = c.scale_out_gbits_per_s_per_device > 0 ? c.scale_out_gbits_per_s_per_device : 100;
  if (c.scale_out_gbits_per_s_per_device <= 0) {
    warnings->push_back(h.id + ": scale-out bandwidth unknown; assuming 100 Gb/s per device");
  }
  f.scale_out_link = BytesPerSecond::Gbitps(nic_gbits);
  // The measured per-NIC busbw is a fraction of its NIC's line rate; apply that fraction to
  // this cluster's NIC (which a scenario may override).
  double fraction = 1.0;
  if (h.allreduce_busbw_scale_out_gbytes_per_s.known() && h.scale_out_gbits_per_s.known() &&
      h.scale_out_gbits_per_s.value > 0) {
    fraction = std::min(1.0, h.allreduce_busbw_scale_out_gbytes_per_s.value /
                                 (h.scale_out_gbits_per_s.value / 8.0));
  } else if (c.scale_out_busbw_gbytes_per_s <= 0) {
    warnings->push_back(h.id + ": no measured scale-out bus bandwidth; using the NIC line rate");
  }
  f.scale_out_busbw = f.scale_out_link * fraction;
  if (c.scale_up_busbw_gbytes_per_s > 0) f.scale_up_busbw = BytesPerSecond::GBps(c.scale_up_busbw_gbytes_per_s);
  if (c.scale_out_busbw_gbytes_per_s > 0) f.scale_out_busbw = BytesPerSecond::GBps(c.scale_out_busbw_gbytes_per_s);
  f.scale_up_ring_busbw = f.scale_up_busbw;
  if (link_up > 0 && f.scale_up_ring_busbw.value() > link_up * 1e9) f.scale_up_ring_busbw = BytesPerSecond::GBps(link_up);
  if (link_up > 0) f.scale_up_link = BytesPerSecond::GBps(link_up);
  if (h.scale_up_torus && h.scale_up_torus_dimensions.known()) {
    f.torus_dimensions = static_cast<int>(h.scale_up_torus_dimensions.value);
    if (!h.torus_slices.empty()) f.torus_slices = std::make_shared<std::vector<TorusSliceShape>>(h.torus_slices);
  } else if (h.scale_up_torus) {
    warnings->push_back(h.id + ": a torus of unknown axes (scale_up.torus_dimensions): its groups are timed as behind a " +
                        "switch, every link to any peer and one hop (communication times are optimistic)");
  }
  if (h.scale_up_full_mesh && h.scale_up_peer_gbytes_per_s.known()) {
    f.scale_up_peer = BytesPerSecond::GBps(h.scale_up_peer_gbytes_per_s.value);
  }
  f.measured = c.collectives;
  return f;
}

namespace {

// A group's ranks per domain as if every domain of `domain` devices held the same share.
int64_t EvenShare(int64_t devices_per_node, int64_t domain, int64_t stride, int64_t group_size) {
  const int64_t node = std::min(devices_per_node, domain);
  int64_t per = std::max(node, domain) / std::max<int64_t>(stride, 1);
  return std::clamp<int64_t>(per, 1, group_size);
}

}  // namespace

int64_t RanksPerDomain(const Fabric& f, int64_t stride, int64_t group_size) {
  return EvenShare(f.devices_per_node, f.scale_up_domain, stride, group_size);
}

int64_t ModelParallelBlock(int64_t tp, int64_t cp, int64_t etp, int64_t ep) {
  return std::lcm(std::max<int64_t>(tp * cp, 1), std::max<int64_t>(etp * ep, 1));
}

int64_t PlacedDomain(const Fabric& f, int64_t block, int64_t job) {
  return PlacedDomain(f.scale_up_domain, f.devices_per_node, block, job);
}

int64_t PlacedDomain(int64_t domain, int64_t devices_per_node, int64_t block, int64_t job) {
  const int64_t d = domain;
  if (job <= d) return d;
  const int64_t node = std::clamp<int64_t>(devices_per_node, 1, std::max<int64_t>(d, 1));
  const int64_t tile = std::lcm(std::max<int64_t>(block, 1), node);
  if (tile >= d || d % tile == 0) return d;
  return d / tile * tile;
}

int64_t DevicesHeld(const Cluster& c, const Plan& p) {
  const int64_t d = c.scale_up_domain;
  const int64_t placed =
      PlacedDomain(d, c.devices_per_node, ModelParallelBlock(p.tp, p.cp, p.etp, p.ep), p.tp * p.cp * p.dp * p.pp);
  if (placed <= 0 || placed >= d) return c.devices;
  // Each domain the job fills to its tiles holds the rest of it.
  return c.devices + c.devices / placed * (d - placed);
}

namespace {

bool Divides(int64_t a, int64_t b) { return a > 0 && b % a == 0; }

// Domains above this size keep the even share (the search's bounds and the step model agree on it).
constexpr int64_t kMaxExactDomain = int64_t{1} << 16;

// The fewest members in any domain touched by the group whose first rank is `r` (relative to a
// domain boundary): members r + k·s, k < n, in domains of d ranks.
int64_t FewestInADomain(int64_t r, int64_t s, int64_t n, int64_t d) {
  const int64_t first = r / d, last = (r + (n - 1) * s) / d;
  if (first == last) return n;
  // Members with dom·d <= r + k·s < (dom + 1)·d (none where s > d skips a domain).
  auto members = [&](int64_t dom) {
    const int64_t lo = std::max<int64_t>(0, (dom * d - r + s - 1) / s);
    const int64_t hi = std::min<int64_t>(n - 1, ((dom + 1) * d - r + s - 1) / s - 1);
    return hi - lo + 1;
  };
  int64_t fewest = std::min(members(first), members(last));
  // The interior domains' counts repeat every s / gcd(s, d) domains.
  const int64_t period = s / std::gcd(s, d);
  for (int64_t dom = first + 1; dom < last && dom <= first + period && fewest > 1; ++dom) {
    const int64_t m = members(dom);
    if (m > 0) fewest = std::min(fewest, m);
  }
  return fewest;
}

// Residue sets of domains of up to kSmallDomain devices, one bit a residue.
constexpr int64_t kSmallDomain = 256;
using SmallSet = std::bitset<kSmallDomain>;

// {k·step mod d : k < count}.
SmallSet Multiples(int64_t step, int64_t count, int64_t d) {
  SmallSet out;
  for (int64_t k = 0, r = 0; k < count && !out[static_cast<size_t>(r)]; ++k, r = (r + step) % d) out.set(static_cast<size_t>(r));
  return out;
}

// {(a + b) mod d : a in x, b in y}: y rotated by each a of x.
SmallSet SumMod(const SmallSet& x, const SmallSet& y, int64_t d) {
  SmallSet mask;
  for (int64_t i = 0; i < d; ++i) mask.set(static_cast<size_t>(i));
  SmallSet out;
  for (int64_t a = 0; a < d; ++a) {
    if (!x[static_cast<size_t>(a)]) continue;
    out |= a == 0 ? y : (((y << static_cast<size_t>(a)) | (y >> static_cast<size_t>(d - a))) & mask);
  }
  return out;
}

// The distinct residues mod d of {a + b : a in x, b in y}; `seen` is scratch of d flags, all clear.
std::vector<int64_t> SumMod(const std::vector<int64_t>& x, const std::vector<int64_t>& y, int64_t d,
                            std::vector<char>* seen) {
  std::vector<int64_t> out;
  for (int64_t a : x) {
    for (int64_t b : y) {
      const int64_t r = (a + b) % d;
      if (!(*seen)[static_cast<size_t>(r)]) (*seen)[static_cast<size_t>(r)] = 1, out.push_back(r);
    }
  }
  for (int64_t r : out) (*seen)[static_cast<size_t>(r)] = 0;
  return out;
}

// The distinct residues mod d of {k·step : k < count}.
std::vector<int64_t> Multiples(int64_t step, int64_t count, int64_t d, std::vector<char>* seen) {
  std::vector<int64_t> out;
  for (int64_t k = 0, r = 0; k < count && !(*seen)[static_cast<size_t>(r)]; ++k, r = (r + step) % d) {
    (*seen)[static_cast<size_t>(r)] = 1;
    out.push_back(r);
  }
  for (int64_t r : out) (*seen)[static_cast<size_t>(r)] = 0;
  return out;
}

struct ExactDomainMemo {
  int64_t d = 0, s = 0, n = 0, stage_ranks = 0, stages = 0, fewest = 0;
  bool Holds(int64_t d2, int64_t s2, int64_t n2, int64_t sr2, int64_t st2) const {
    return d == d2 && s == s2 && n == n2 && stage_ranks == sr2 && stages == st2;
  }
};

// A small direct-mapped table per thread (no locks; each thread's answers are its own).
ExactDomainMemo& ExactDomainMemoOf(int64_t d, int64_t s, int64_t n, int64_t stage_ranks, int64_t stages) {
  constexpr size_t kSlots = 256;
  thread_local std::array<ExactDomainMemo, kSlots> table;
  uint64_t h = static_cast<uint64_t>(d) * 0x9E3779B97F4A7C15ull;
  for (int64_t v : {s, n, stage_ranks, stages}) h = (h ^ static_cast<uint64_t>(v)) * 0xBF58476D1CE4E5B9ull;
  return table[(h >> 32) % kSlots];
}

// The fewest members in a domain over every group of the layout (RanksPerDomain's exact case).
int64_t FewestInAnyDomain(int64_t d, int64_t s, int64_t n, int64_t block, int64_t stage_ranks, int64_t stages) {
  // Every group starts at p·stage + b·block + o (p < stages, b < stage / block, o < s); its
  // pattern across domains depends on that start mod d only (at most d patterns; the multiples
  // of a step mod d repeat within d terms).
  int64_t fewest = n;
  if (d <= kSmallDomain) {
    // Nodes and racks (8, 72 devices): residue sets as bits, without allocating (the search asks
    // for every plan).
    const SmallSet starts = SumMod(SumMod(Multiples(stage_ranks % d, stages, d), Multiples(block % d, stage_ranks / block, d), d),
                                   Multiples(1, s, d), d);
    for (int64_t r = 0; r < d && fewest > 1; ++r) {
      if (starts[static_cast<size_t>(r)]) fewest = std::min(fewest, FewestInADomain(r, s, n, d));
    }
    return fewest;
  }
  std::vector<char> seen(static_cast<size_t>(d), 0);
  const std::vector<int64_t> starts =
      SumMod(SumMod(Multiples(stage_ranks % d, stages, d, &seen), Multiples(block % d, stage_ranks / block, d, &seen), d, &seen),
             Multiples(1, s, d, &seen), d, &seen);
  for (int64_t r : starts) {
    fewest = std::min(fewest, FewestInADomain(r, s, n, d));
    if (fewest == 1) break;
  }
  return fewest;
}

}  // namespace

int64_t RanksPerDomain(const Fabric& f, int64_t stride, int64_t group_size, int64_t stage_ranks, int64_t stages) {
  return RanksPerDomain(f, stride, group_size, stage_ranks, stages, f.scale_up_domain);
}

int64_t RanksPerDomain(const Fabric& f, int64_t stride, int64_t group_size, int64_t stage_ranks, int64_t stages,
                       int64_t placed) {
  const int64_t even = EvenShare(f.devices_per_node, placed, stride, group_size);
  const int64_t d = placed, s = std::max<int64_t>(stride, 1), n = group_size;
  if (n <= 1 || d <= 1) return even;
  const int64_t block = n * s;  // the ranks one set of `stride` interleaved groups spans
  const bool stages_fit = stages <= 1 || Divides(d, stage_ranks) || Divides(stage_ranks, d);
  const bool groups_fit = Divides(d, block) || Divides(block, d);
  const bool members_fit = Divides(d, s) || Divides(s, d);
  if ((stages_fit && groups_fit && members_fit) || d > kMaxExactDomain || stage_ranks % block != 0) return even;
  // The search asks again for the same groups at every micro-batch, recompute and ZeRO choice of
  // a layout: the last answers are kept per thread (a pure function of the five numbers).
  ExactDomainMemo& memo = ExactDomainMemoOf(d, s, n, stage_ranks, stages);
  if (memo.Holds(d, s, n, stage_ranks, stages)) return memo.fewest;
  memo = {d, s, n, stage_ranks, stages, FewestInAnyDomain(d, s, n, block, stage_ranks, stages)};
  return memo.fewest;
}

namespace {

// The bandwidth `busbw` of the domain's links, as `per_domain` ranks of it can use it: all of it
// behind a switch; on a full mesh, only the links among them ((g - 1) per rank); on a torus, the
// links of its block (TorusBlockOf) of the 2 per axis each device has.
BytesPerSecond InDomain(const Fabric& f, BytesPerSecond busbw, int64_t per_domain) {
  if (f.torus_dimensions > 0) {
    const int links = std::max(TorusBlockOf(f, per_domain).links, 1);
    return busbw * (static_cast<double>(links) / (2.0 * f.torus_dimensions));
  }
  if (f.scale_up_peer.value() <= 0) return busbw;
  const BytesPerSecond mesh = f.scale_up_peer * static_cast<double>(std::max<int64_t>(per_domain - 1, 1));
  return mesh.value() < busbw.value() ? mesh : busbw;
}

// Steps of a ring over `ranks` with `steps_per_rank` passes, split into those inside a
// scale-up domain and those crossing it (NCCL tuning model).
struct Steps {
  double intra = 0, inter = 0;
};
Steps RingSteps(int64_t ranks, int64_t per_domain, int64_t steps_per_rank) {
  const int64_t domains = (ranks + per_domain - 1) / per_domain;
  Steps s;
  s.inter = static_cast<double>(steps_per_rank * (domains - 1));
  s.intra = static_cast<double>(steps_per_rank * (ranks - 1)) - s.inter;
  return s;
}

// The ring's protocols for one collective, with NCCL's bandwidth shares where they depend on it
// (src/graph/tuning.cc): LL128 at 0.92 of the bus bandwidth, but 0.7 with one rank per node
// (ppn < 2); LL at a quarter for an all-reduce or across nodes, at a third for an all-gather or a
// reduce-scatter inside one.
struct RingProtocols {
  ProtocolCost p[kProtocols];
};
RingProtocols RingProtocolsFor(const Fabric& f, int64_t ranks, int64_t per_domain, bool all_reduce) {
  RingProtocols r;
  for (int i = 0; i < kProtocols; ++i) r.p[i] = f.nccl.ring[i];
  if (per_domain < 2) r.p[1].transfer_factor *= 0.92 / 0.7;
  if (!all_reduce && per_domain >= ranks) r.p[0].transfer_factor *= 3.0 / 4.0;
  return r;
}

Seconds Latency(const ProtocolCost& p, const Steps& s) {
  return p.base + p.intra_step * s.intra + p.inter_step * s.inter;
}

// The fastest protocol for a collective whose bandwidth-bound part takes `transfer` at the
// measured bus bandwidth and whose ring or tree has `steps`.
Seconds Fastest(const ProtocolCost (&protocols)[kProtocols], const Steps& steps, Seconds transfer) {
  Seconds best = Latency(protocols[0], steps) + transfer * protocols[0].transfer_factor;
  for (int i = 1; i < kProtocols; ++i) {
    const Seconds t = Latency(protocols[i], steps) + transfer * protocols[i].transfer_factor;
    if (t.value() < best.value()) best = t;
  }
  return best;
}

// Bandwidth-bound part of an all-reduce: a ring inside a domain; across domains NCCL's flat ring
// runs one channel per NIC, each channel leaving a domain through its own rank's NIC, so each of
// the ring's 2(n-1)/n passes of S moves S/g through every NIC while the rank's scale-up links
// carry the (g-1)/g that stays in the domain, at the same time (the hops of a ring are pipelined):
// the slower of the two sets the time (cost-model-notes §4.1: a flat multi-channel ring moves
// 2(n-1)/n·S/G per NIC, a multi-node bus bandwidth of about G·B_nic).
Seconds AllReduceTransfer(const Fabric& f, Bytes bytes, int64_t ranks, int64_t per_domain,
                          BytesPerSecond intra_busbw) {
  const double g = static_cast<double>(per_domain);
  const double n = static_cast<double>(ranks);
  const double passes = 2 * (n - 1) / n;
  intra_busbw = InDomain(f, intra_busbw, per_domain);
  if (per_domain == ranks) return (bytes * passes) / intra_busbw;
  const Seconds intra = (bytes * (passes * (g - 1) / g)) / intra_busbw;
  const Seconds inter = (bytes * (passes / g)) / f.scale_out_busbw;
  return std::max(intra, inter);
}

Seconds RingPassTime(const Fabric& f, Bytes bytes, int64_t ranks, int64_t per_domain);

// The α-β model's time of `op` on `bare`, a fabric without its measured table.
Seconds ModelTime(const Fabric& bare, CollectiveOp op, Bytes bytes, int64_t ranks, int64_t per_domain) {
  switch (op) {
    case CollectiveOp::kAllReduce: return AllReduceTime(bare, bytes, ranks, per_domain);
    case CollectiveOp::kAllToAll: return AllToAllTime(bare, bytes, ranks, per_domain);
    default: return RingPassTime(bare, bytes, ranks, per_domain);
  }
}

// A collective larger than its curve's largest row L runs on from that row's time at the curve's
// marginal rate over its last doubling (L/2 to L), held between the row's own rate (a collective
// does not slow down as it grows) and the larger of that and the α-β model's marginal rate past L
// (the fabric's large-message bandwidth, which a curve measured short of it has not reached). A
// curve measured to saturation runs on at about its own rate; one measured only to 1 MiB no
// longer times 32 MiB at the 1 MiB rate. cost-model.md, "Measured collectives".
Seconds PastTheCurve(const Fabric& f, CollectiveOp op, const CollectiveTable::Edge& e, Bytes bytes, int64_t ranks,
                     int64_t per_domain) {
  const Bytes extra = bytes - e.bytes;
  const double row_rate = e.bytes.value() / e.time.value();
  // A last doubling that took no longer than its start was latency-bound: no bound from it (a
  // curve has two rows at least, so the doubling spans some bytes).
  const double span_rate = e.span_time.value() > 0 ? e.span_bytes.value() / e.span_time.value()
                                                   : std::numeric_limits<double>::infinity();
  Fabric bare = f;
  bare.measured = nullptr;
  const Seconds model_extra =
      ModelTime(bare, op, bytes, ranks, per_domain) - ModelTime(bare, op, e.bytes, ranks, per_domain);
  const double model_rate = model_extra.value() > 0 ? extra.value() / model_extra.value() : row_rate;
  const double rate = std::clamp(span_rate, row_rate, std::max(row_rate, model_rate));
  return e.time + Seconds(extra.value() / rate);
}

// The measured time of this collective on the cluster's table (f.measured set), where the table
// covers its group. As a lower bound (the search's pruning) past the largest row: the faster of
// that time and the bytes at the best rate the curve reached (the rate past the row only grows
// with size).
std::optional<Seconds> MeasuredOnTable(const Fabric& f, CollectiveOp op, Bytes bytes, int64_t ranks, int64_t per_domain) {
  const bool past_the_row = f.measured->PastLargestRow(op, ranks, per_domain, bytes);
  if (!past_the_row || (f.measured_past_at_row_rate && !f.measured_as_bound)) {
    if (f.measured_as_bound) return f.measured->TimeAtBestRate(op, ranks, per_domain, bytes);
    return f.measured->Time(op, ranks, per_domain, bytes);
  }
  const std::optional<CollectiveTable::Edge> edge = f.measured->LargestRow(op, ranks, per_domain);
  const Seconds past = PastTheCurve(f, op, *edge, bytes, ranks, per_domain);
  if (!f.measured_as_bound) return past;
  return std::min<Seconds>(past, edge->best_time * (bytes.value() / edge->bytes.value()));
}

// MeasuredOnTable where the cluster has a table. Without one (most clusters) this is a test the
// caller inlines: the search asks it millions of times.
inline std::optional<Seconds> Measured(const Fabric& f, CollectiveOp op, Bytes bytes, int64_t ranks,
                                       int64_t per_domain) {
  if (!f.measured) return std::nullopt;
  return MeasuredOnTable(f, op, bytes, ranks, per_domain);
}

// Half the measured all-reduce of the same buffer over the same group: NCCL's ring all-reduce is a
// reduce-scatter followed by an all-gather, each one pass of the ring, in bandwidth and in steps.
// Only all_reduce_perf is measured on many clusters; its curve is a better guide to the other two
// than the model is. Inside one domain a ring pass still moves (n-1)/n of the buffer through each
// rank's links, so where the catalog knows the link rate it is never faster than that: an
// all-reduce done in the switch (NVLS) can beat twice a ring pass, which a reduce-scatter cannot.
std::optional<Seconds> HalfMeasuredAllReduce(const Fabric& f, Bytes bytes, int64_t ranks, int64_t per_domain) {
  auto t = Measured(f, CollectiveOp::kAllReduce, bytes, ranks, per_domain);
  if (!t) return std::nullopt;
  Seconds half = *t * 0.5;
  if (per_domain == ranks && f.scale_up_link.value() > 0) {
    const double n = static_cast<double>(ranks);
    const BytesPerSecond link = f.torus_dimensions > 0 ? InDomain(f, f.scale_up_link, ranks) : f.scale_up_link;
    const Seconds link_bound = (bytes * ((n - 1) / n)) / link;
    if (link_bound.value() > half.value()) half = link_bound;
  }
  return half;
}

// One pass of the ring: reduce-scatter or all-gather as the α-β model times it.
Seconds RingPassTime(const Fabric& f, Bytes bytes, int64_t ranks, int64_t per_domain) {
  const Seconds transfer = AllReduceTransfer(f, bytes, ranks, per_domain, f.scale_up_ring_busbw) * 0.5;
  return Fastest(RingProtocolsFor(f, ranks, per_domain, false).p, RingSteps(ranks, per_domain, 1), transfer);
}

}  // namespace

Seconds AllReduceTime(const Fabric& f, Bytes bytes, int64_t ranks, int64_t per_domain) {
  if (ranks <= 1 || bytes.value() <= 0) return Seconds(0);
  per_domain = std::clamp<int64_t>(per_domain, 1, ranks);
  if (auto t = Measured(f, CollectiveOp::kAllReduce, bytes, ranks, per_domain)) return *t;
  const Seconds transfer = AllReduceTransfer(f, bytes, ranks, per_domain, f.scale_up_busbw);
  Seconds t = Fastest(RingProtocolsFor(f, ranks, per_domain, true).p, RingSteps(ranks, per_domain, 2), transfer);
  if (per_domain < ranks) {
    // NCCL's tree: a chain inside each domain, a binary tree across domains, up and down. Its
    // algorithm bandwidth is half the bus bandwidth (tuning.cc: ratio .5, where a ring's is
    // n / (2(n - 1))): it moves 2·S where the ring's passes move 2(n - 1)/n·S.
    const int64_t domains = (ranks + per_domain - 1) / per_domain;
    Steps tree;
    tree.intra = 2.0 * static_cast<double>(per_domain - 1);
    tree.inter = 2.0 * static_cast<double>(std::bit_width(static_cast<uint64_t>(domains - 1)));  // ceil(log2)
    const double n = static_cast<double>(ranks);
    const Seconds by_tree = Fastest(f.nccl.tree, tree, transfer * (n / (n - 1)));
    if (by_tree.value() < t.value()) t = by_tree;
  }
  return t;
}

namespace {

// One ring pass (reduce-scatter or all-gather): the measured curve of `op`, else of its sibling
// (the same ring), else half the measured all-reduce, else the model (NCCL has no tree for these).
Seconds RingPass(const Fabric& f, CollectiveOp op, CollectiveOp sibling, Bytes bytes, int64_t ranks,
                 int64_t per_domain) {
  if (ranks <= 1 || bytes.value() <= 0) return Seconds(0);
  per_domain = std::clamp<int64_t>(per_domain, 1, ranks);
  if (auto t = Measured(f, op, bytes, ranks, per_domain)) return *t;
  if (auto t = Measured(f, sibling, bytes, ranks, per_domain)) return *t;
  if (auto t = HalfMeasuredAllReduce(f, bytes, ranks, per_domain)) return *t;
  return RingPassTime(f, bytes, ranks, per_domain);
}

}  // namespace

Seconds ReduceScatterTime(const Fabric& f, Bytes bytes, int64_t ranks, int64_t per_domain) {
  return RingPass(f, CollectiveOp::kReduceScatter, CollectiveOp::kAllGather, bytes, ranks, per_domain);
}

Seconds AllGatherTime(const Fabric& f, Bytes bytes, int64_t ranks, int64_t per_domain) {
  return RingPass(f, CollectiveOp::kAllGather, CollectiveOp::kReduceScatter, bytes, ranks, per_domain);
}

namespace {

// A side of s devices along one axis of a torus: the links per direction each of its devices
// uses (the one link between a side of 2; a side of 3 or more closes a ring of the torus, both
// links, the best case), and the mean ring distance from one device to all s (itself included).
// A side that does not wrap is a line: one link per direction (a ring laid on a line crosses each
// link both ways), and its mean distance is (s² − 1) / 3s.
int SideLinks(int64_t s, bool wraps = true) { return s <= 1 ? 0 : (s == 2 || !wraps ? 1 : 2); }
double SideMeanHops(int64_t s, bool wraps = true) {
  if (s <= 1) return 0.0;
  const double d = static_cast<double>(s);
  return wraps ? static_cast<double>((s * s) / 4) / d : (d * d - 1) / (3 * d);
}

// A block of these sides: its links, and how many times a switch's time of the same links its
// all-to-all takes (the busiest axis's hops per link, over the block's mean share).
template <typename Sides>
TorusBlock BlockOfSidesIn(const Sides& sides, int64_t group, bool wraps) {
  if (group < 2) return {};
  TorusBlock b;
  double busiest = 0;
  for (const int64_t s : sides) {
    if (s <= 1) continue;
    b.links += SideLinks(s, wraps);
    busiest = std::max(busiest, SideMeanHops(s, wraps) / SideLinks(s, wraps));
  }
  const double g = static_cast<double>(group);
  b.hop_factor = std::max(1.0, busiest * b.links * g / (g - 1.0));
  return b;
}

TorusBlock BlockOfSides(std::initializer_list<int64_t> sides, int64_t group) {
  return BlockOfSidesIn(sides, group, true);
}

bool Better(const TorusBlock& a, const TorusBlock& b) {
  return a.links != b.links ? a.links > b.links : a.hop_factor < b.hop_factor;
}

TorusBlock FindTorusBlock(int dims, int64_t g) {
  TorusBlock best = BlockOfSides({g}, g);
  if (dims < 2) return best;
  for (int64_t a = 1; a * a <= g; ++a) {  // a x (g / a), and with a third axis a x b x c
    if (g % a != 0) continue;
    if (TorusBlock two = BlockOfSides({a, g / a}, g); Better(two, best)) best = two;
    if (dims < 3 || a * a * a > g) continue;
    const int64_t rest = g / a;
    for (int64_t b = a; b * b <= rest; ++b) {
      if (rest % b != 0) continue;
      if (TorusBlock three = BlockOfSides({a, b, rest / b}, g); Better(three, best)) best = three;
    }
  }
  return best;
}

}  // namespace

TorusBlock TorusBlockOf(const Fabric& f, int64_t group) {
  if (f.torus_dimensions <= 0 || group < 2) return {};
  if (group == f.torus_group_ranks) return f.torus_group;
  // The same few group sizes recur across a prediction's collectives and a search's plans.
  thread_local std::unordered_map<int64_t, TorusBlock> memo;
  const int64_t key = group * 4 + f.torus_dimensions;
  if (auto it = memo.find(key); it != memo.end()) return it->second;
  if (memo.size() > 4096) memo.clear();
  return memo[key] = FindTorusBlock(f.torus_dimensions, group);
}

double TorusHopFactor(const Fabric& f, int64_t group) { return TorusBlockOf(f, group).hop_factor; }

namespace {

// JAX's assignment of one mesh axis of `size` devices: the first set of the slice's axes still
// free (`free`, 0 once taken), of three axes, then two, then one, in index order, whose sides
// multiply to `size`; their indices, or none. A size of 1 takes none.
std::vector<int> TakeAxes(std::array<int64_t, 3>& free, int64_t size) {
  for (int n = 3; n >= 1; --n) {
    for (int mask = 1; mask < 8; ++mask) {  // subsets of n axes, in itertools.combinations order
      if (std::popcount(static_cast<unsigned>(mask)) != n) continue;
      std::vector<int> axes;
      int64_t product = 1;
      for (int a = 0; a < 3; ++a) {
        if (mask & (1 << a)) axes.push_back(a), product *= free[a];
      }
      if (product != size) continue;
      for (const int a : axes) free[a] = 0;
      return axes;
    }
  }
  return {};
}

// The torus's slice of `chips` chips, or none.
const TorusSliceShape* SliceOf(const Fabric& f, int64_t chips) {
  if (!f.torus_slices) return nullptr;
  for (const TorusSliceShape& s : *f.torus_slices) {
    if (s.Chips() == chips) return &s;
  }
  return nullptr;
}

}  // namespace

TorusMesh PlaceTorusMesh(const Fabric& f, int64_t slice, int64_t pp, int64_t dp, int64_t cp, int64_t tp,
                         bool dp_sharded) {
  if (f.torus_dimensions <= 0 || pp * dp * cp * tp != slice) return {};
  const TorusSliceShape* shape = SliceOf(f, slice);
  if (!shape) return {};
  // The mesh's axes from the most network-intensive down: TP, CP, then FSDP before the stages but
  // plain DP after them (MaxText's mesh_axes, least intensive first: data, stage, fsdp, ...,
  // sequence, tensor).
  std::array<int64_t, 3> free = shape->sides;
  TorusMesh m;
  const std::array<std::pair<int64_t, TorusBlock*>, 4> order =
      dp_sharded ? std::array<std::pair<int64_t, TorusBlock*>, 4>{{{tp, &m.tp}, {cp, &m.cp}, {dp, &m.dp}, {pp, &m.pp}}}
                 : std::array<std::pair<int64_t, TorusBlock*>, 4>{{{tp, &m.tp}, {cp, &m.cp}, {pp, &m.pp}, {dp, &m.dp}}};
  for (const auto& [size, block] : order) {
    if (size <= 1) continue;
    const std::vector<int> axes = TakeAxes(free, size);
    if (axes.empty()) return {};
    std::vector<int64_t> sides;
    for (const int a : axes) sides.push_back(shape->sides[a]);
    *block = BlockOfSidesIn(sides, size, shape->wraps);
  }
  m.placed = true;
  return m;
}

PlanOnTorus PlacePlanOnTorus(const Fabric& f, const Plan& p) {
  if (f.torus_dimensions <= 0 || !f.torus_slices) return PlanOnTorus{};
  return PlacePlanOnTorus(f, p, PlacedDomain(f, ModelParallelBlock(p.tp, p.cp, p.etp, p.ep), p.tp * p.cp * p.dp * p.pp));
}

PlanOnTorus PlacePlanOnTorus(const Fabric& f, const Plan& p, int64_t placed) {
  PlanOnTorus r;
  if (f.torus_dimensions <= 0 || !f.torus_slices) return r;
  const int64_t stage = p.tp * p.cp * p.dp, job = stage * p.pp;
  r.slice = std::min(job, placed);
  r.sliced = SliceOf(f, r.slice) != nullptr;
  r.tp = RanksPerDomain(f, 1, p.tp, stage, p.pp, placed);
  r.cp = RanksPerDomain(f, p.tp, p.cp, stage, p.pp, placed);
  r.dp = RanksPerDomain(f, p.tp * p.cp, p.dp, stage, p.pp, placed);
  const int64_t model = r.tp * r.cp * r.dp;
  if (r.sliced && r.slice % model == 0) {
    r.mesh = PlaceTorusMesh(f, r.slice, r.slice / model, r.dp, r.cp, r.tp, p.zero == 3);
  }
  return r;
}

bool MeshSplitsTorusAxes(const Fabric& f, const Plan& p) {
  const PlanOnTorus on = PlacePlanOnTorus(f, p);
  if (!on.sliced || on.mesh.placed) return false;
  Plan other = p;
  other.zero = p.zero == 3 ? 0 : 3;
  return !PlacePlanOnTorus(f, other).mesh.placed;
}

Fabric WithTorusGroup(const Fabric& f, int64_t ranks, const TorusBlock& block) {
  Fabric g = f;
  g.torus_group_ranks = ranks;
  g.torus_group = block;
  return g;
}

Seconds AllToAllTime(const Fabric& f, Bytes bytes_per_rank, int64_t ranks, int64_t per_domain) {
  if (ranks <= 1 || bytes_per_rank.value() <= 0) return Seconds(0);
  per_domain = std::clamp<int64_t>(per_domain, 1, ranks);
  if (auto t = Measured(f, CollectiveOp::kAllToAll, bytes_per_rank, ranks, per_domain)) return *t;
  const double n = static_cast<double>(ranks);
  const double local = static_cast<double>(per_domain - 1) / n;
  const double remote = static_cast<double>(ranks - per_domain) / n;
  // nccl-tests all-to-all busbw factor (n-1)/n; intra and inter traffic proceed in parallel.
  Seconds intra = (bytes_per_rank * (local * TorusHopFactor(f, per_domain))) / InDomain(f, f.scale_up_ring_busbw, per_domain);
  Seconds inter = (bytes_per_rank * remote) / f.scale_out_busbw;
  Steps one;
  (remote > 0 ? one.inter : one.intra) = 1;
  return Fastest(f.nccl.ring, one, std::max(intra, inter));
}

Seconds ForwardedAllToAllTime(const Fabric& f, Bytes bytes_per_rank, Bytes network_bytes, int64_t ranks,
                              int64_t per_domain) {
  if (ranks <= 1 || bytes_per_rank.value() <= 0) return Seconds(0);
  per_domain = std::clamp<int64_t>(per_domain, 1, ranks);
  const double g = static_cast<double>(per_domain);
  const Seconds intra = (bytes_per_rank * ((g - 1) / g * TorusHopFactor(f, per_domain))) /
                        InDomain(f, f.scale_up_ring_busbw, per_domain);
  const bool across = per_domain < ranks;
  const Seconds inter = across ? network_bytes / f.scale_out_busbw : Seconds(0);
  Steps one;
  (across ? one.inter : one.intra) = 1;
  return Fastest(f.nccl.ring, one, std::max(intra, inter));
}

Seconds ExpertExchangeTime(const Fabric& f, const MoeSpec& moe, double tokens, double hidden, double element_bytes,
                           int64_t ep, int64_t per_domain, bool node_dedup) {
  const Bytes routed(tokens * static_cast<double>(moe.top_k) * hidden * element_bytes);
  if (!node_dedup) return AllToAllTime(f, routed, ep, per_domain);
  per_domain = std::clamp<int64_t>(per_domain, 1, std::max<int64_t>(ep, 1));
  // By symmetry a token's own node is one of the nodes its experts are on with probability
  // (nodes hit) / (nodes).
  const int64_t domains = (ep + per_domain - 1) / per_domain;
  const double remote = ExpectedDomainsPerToken(moe, domains) * (1 - 1.0 / static_cast<double>(domains));
  return ForwardedAllToAllTime(f, routed, Bytes(tokens * remote * hidden * element_bytes), ep, per_domain);
}

Seconds PointToPointTime(const Fabric& f, Bytes bytes, bool cross_node) {
  if (bytes.value() <= 0) return Seconds(0);
  Steps one;
  (cross_node ? one.inter : one.intra) = 1;
  return Fastest(f.nccl.ring, one, bytes / (cross_node ? f.scale_out_busbw : InDomain(f, f.scale_up_ring_busbw, 2)));
}

}  // namespace preflight
