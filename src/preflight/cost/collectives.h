// File: cost/collectives.h
//
// α-β times of collectives on a cluster's two fabric levels, from MEASURED bus bandwidths
// (nccl-tests style: t = α + factor · S / busbw) rather than link peaks.
//
//   Fabric f = FabricFromCluster(cluster);
//   Seconds t = AllReduceTime(f, Bytes(64e6), /*ranks=*/8, /*ranks_per_node=*/8);
//
// Sources: nccl-tests doc/PERFORMANCE.md bus-bandwidth factors; NCCL's own tuning model
// (src/graph/tuning.cc, default tuner constants) for latencies: per algorithm (ring, tree) and
// protocol (LL, LL128, Simple) a base latency plus a latency per NVLink or network step, and the
// protocols' bandwidth shares (LL moves 4 bytes of data per 8-byte line and NCCL models it at a
// quarter of the bus bandwidth for all-reduce; LL128 at 0.92). Like NCCL, each collective takes
// the fastest algorithm and protocol for its size. The hierarchical decomposition (intra-node RS,
// inter-node all-reduce on 1/g of the data, intra-node AG) is cost-model-notes §4.1. Bandwidths
// come from the hardware catalog's measured busbw.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "preflight/base/units.h"
#include "preflight/catalog/collective_table.h"
#include "preflight/hardware/cluster.h"
#include "preflight/model/architecture.h"
#include "preflight/parallel/plan.h"

namespace preflight {

// Latency model of one NCCL algorithm and protocol: base + steps inside the scale-up domain
// (NVLink) + steps across it (network); transfers take `transfer_factor` times as long as at the
// measured bus bandwidth.
struct ProtocolCost {
  Seconds base, intra_step, inter_step;
  double transfer_factor = 1;
};

// NCCL default tuner constants (µs): ring LL 6.6 + 0.6/2.7 per step, LL128 14 + 1.9/4.0, Simple
// 8.4 + 3.4/14; tree LL 6.8 + 0.6/5.0, LL128 14 + 1.25/8.5, Simple 8.4 + 4.0/14 (NVLink/network).
// Bandwidth shares (tuning.cc's model refinements): ring LL 1/4, LL128 0.92; the tree (used here
// for all-reduces across domains) 0.92 of the bus bandwidth, and of that LL 1/3.8 and LL128
// 120/128 across nodes. Where tuning.cc makes a share depend on the collective, collectives.cc
// adjusts these per call: ring LL128 at 0.7 with one rank per node, ring LL at 1/3 for an
// all-gather or reduce-scatter inside one node; the tree's algorithm bandwidth is half its bus
// bandwidth.
inline constexpr int kProtocols = 3;  // LL, LL128, Simple
struct NcclConstants {
  ProtocolCost ring[kProtocols] = {{Seconds(6.6e-6), Seconds(0.6e-6), Seconds(2.7e-6), 4.0},
                                   {Seconds(14e-6), Seconds(1.9e-6), Seconds(4.0e-6), 1 / 0.92},
                                   {Seconds(8.4e-6), Seconds(3.4e-6), Seconds(14e-6), 1.0}};
  ProtocolCost tree[kProtocols] = {{Seconds(6.8e-6), Seconds(0.6e-6), Seconds(5.0e-6), 3.8 / 0.92},
                                   {Seconds(14e-6), Seconds(1.25e-6), Seconds(8.5e-6), 128.0 / (120.0 * 0.92)},
                                   {Seconds(8.4e-6), Seconds(4.0e-6), Seconds(14e-6), 1 / 0.92}};
};

// The links a group of a torus domain uses per direction (of the 2 per axis each device has), and
// how many times longer its all-to-all takes than on a switch of those links.
struct TorusBlock {
  int links = 0;
  double hop_factor = 1.0;
};

// A slice of a torus domain the vendor offers (the catalog's scale_up.torus_slices).
using TorusSliceShape = HardwareSpec::TorusSlice;

struct Fabric {
  int64_t devices_per_node = 8;
  int64_t scale_up_domain = 8;
  BytesPerSecond scale_up_busbw;       // all-reduce bus bandwidth inside a scale-up domain
  // Reduce-scatter and all-gather bus bandwidth inside a domain: the all-reduce figure, but never
  // above the link rate (NVLS in-switch reduction lifts H100 all-reduces above it; a ring of
  // sends cannot exceed what each link carries).
  BytesPerSecond scale_up_ring_busbw;
  BytesPerSecond scale_out_busbw;      // per device (one NIC per device), across nodes
  BytesPerSecond scale_out_link;       // per device NIC line rate (point-to-point)
  // The scale-up link rate per device and direction from the catalog; zero when unknown.
  BytesPerSecond scale_up_link;
  // A full-mesh domain's rate to one peer (zero: switched, any peer at the full rate): a group of
  // g ranks of a domain moves at most (g - 1) times it, and a send to one peer at it.
  BytesPerSecond scale_up_peer;
  // A torus domain's axes (0: not a torus). A group is laid out as the block of the torus that
  // gives it the most links (TorusBlockOf; the best case: a job's mesh may string a group along
  // fewer axes); it moves at its links' share of the scale-up rate, and its all-to-all traffic
  // crosses the block's mean ring distance in hops (TorusHopFactor).
  int torus_dimensions = 0;
  // The torus's slice shapes by chip count (catalog scale_up.torus_slices); empty when unknown.
  std::shared_ptr<const std::vector<TorusSliceShape>> torus_slices;
  // One group, `torus_group_ranks` ranks of a slice, placed by the plan's mesh (PlaceTorusMesh):
  // TorusBlockOf gives it `torus_group` instead of its best block. 0: none.
  int64_t torus_group_ranks = 0;
  TorusBlock torus_group;
  NcclConstants nccl;
  // Measured times by message size for the groups they cover (cluster.collective_table); they
  // replace the α-β model there.
  std::shared_ptr<const CollectiveTable> measured;
  // For lower bounds (the search's pruning): a measured collective of S bytes stands for several
  // smaller ones of the same total and takes S at the best rate its curve reaches up to S
  // (CollectiveTable::TimeAtBestRate), not the time read off the curve.
  bool measured_as_bound = false;
  // For the plan's warning on collectives past a curve (scenario/evaluate.cc): past a curve's
  // largest row, that row's own rate (the slowest a curve runs on at) instead of its last doubling's
  // up to the fabric's.
  bool measured_past_at_row_rate = false;
};

// Builds the fabric from catalog figures; unknown figures fall back to link rates (an upper
// bound on speed) and add a line to `warnings`.
Fabric FabricFromCluster(const Cluster& cluster, std::vector<std::string>* warnings);

// Ranks of one group that share a scale-up domain, given `stride` (the product of the
// parallel degrees laid out inside this one) and the group's size, as if every domain held the
// same share: at least the exact figure below.
int64_t RanksPerDomain(const Fabric& f, int64_t stride, int64_t group_size);

// The same, exactly, for groups laid out in `stages` pipeline stages of `stage_ranks` consecutive
// ranks each (Megatron's order: groups of `group_size` ranks `stride` apart tile each stage): the
// fewest of a group's ranks in any domain it touches, over every group (the domain with the fewest
// carries the group's cross-domain traffic on the fewest NICs), or `group_size` when every group
// lies in one domain. Unevenly filled domains appear where the stage or the group does not divide
// the domain or the domain the stage (24 GPUs at PP 2 on 8-GPU nodes; any layout on NVL72 racks).
// Exact for domains of up to 65,536 devices (larger ones keep the even share).
int64_t RanksPerDomain(const Fabric& f, int64_t stride, int64_t group_size, int64_t stage_ranks, int64_t stages);
// The same where the job takes `placed` devices of each domain (PlacedDomain), not all of them.
int64_t RanksPerDomain(const Fabric& f, int64_t stride, int64_t group_size, int64_t stage_ranks, int64_t stages,
                       int64_t placed);

// The plan's model-parallel block: the ranks one tensor x context group spans (TP·CP, Megatron's
// rank order puts TP innermost and CP next) and those one expert group spans (ETP·EP), the least
// common multiple of the two.
int64_t ModelParallelBlock(int64_t tp, int64_t cp, int64_t etp, int64_t ep);

// The devices a job takes of each scale-up domain, its ranks filling them in order: the whole
// domain where whole nodes of the plan's model-parallel blocks (`block`) tile it, or where one
// such tile is larger than the domain; else the most such tiles that fit, as Slurm's
// topology/block plugin places a job in segments of whole nodes inside one domain (NVIDIA's
// guidance for GB200 NVL72, "Achieving Peak System and Workload Efficiency on NVIDIA GB200 NVL72
// with Slurm Block Scheduling", 2025: segments of 16 of a rack's 18 trays, 64 of its 72 GPUs, for
// large jobs). TP 16 on NVL72 then takes 64 GPUs a rack, and no TP group straddles two racks.
// A job of `job` devices that one domain holds takes it whole, whatever its blocks.
int64_t PlacedDomain(const Fabric& f, int64_t block, int64_t job);
// The same from the domain's and the node's sizes.
int64_t PlacedDomain(int64_t domain, int64_t devices_per_node, int64_t block, int64_t job);

// The devices a job of plan `p` on cluster `c` holds (the campaign's devices_held, which a rental
// bills): its own c.devices and, where it takes fewer of each scale-up domain than the domain has
// (PlacedDomain of the plan's ModelParallelBlock), the rest of every domain it fills to those
// tiles; a last, partly used domain leaves its other devices to other jobs. 1,152 GB200s at TP 16
// on NVL72 racks take 64 of each 72: 18 racks, 1,296 held; 80 of them fill one rack to its 64 and
// take 16 of a second: 88. It depends on the plan's TP, CP, ETP and EP (and its size) only.
// REQUIRES: p's degrees multiply to c.devices (a plan the plan rules accept).
int64_t DevicesHeld(const Cluster& c, const Plan& p);

// All-reduce of `bytes` (the full buffer) over `ranks`, `per_domain` of which share a scale-up
// domain: hierarchical when the group spans domains; ring or (across domains) tree, in the
// fastest protocol. REQUIRES: ranks >= 1.
Seconds AllReduceTime(const Fabric& f, Bytes bytes, int64_t ranks, int64_t per_domain);
// Reduce-scatter of a `bytes` buffer (the whole, unscattered size): half an all-reduce. A measured
// reduce-scatter curve times it, else a measured all-gather curve (the same ring), else half a
// measured all-reduce curve (a ring all-reduce is a reduce-scatter and an all-gather), else the model.
Seconds ReduceScatterTime(const Fabric& f, Bytes bytes, int64_t ranks, int64_t per_domain);
// All-gather into a `bytes` buffer (the whole, gathered size): the same model as a reduce-scatter;
// a measured all-gather curve first, else a reduce-scatter curve, else half an all-reduce curve.
Seconds AllGatherTime(const Fabric& f, Bytes bytes, int64_t ranks, int64_t per_domain);
// A group of a torus domain, laid out as the block of the torus that gives it the most links
// (sides a x b x c = g, up to the torus's axes; of equals, the fewest hops): `links`, the links per
// direction each of its devices uses (1 on an axis where its side is 2, 2 where the side is 3 or
// more and closes a ring of the torus, the best case), of the 2 per axis a device has; and
// `hop_factor`, how many times longer its all-to-all takes than on a switch of those links (each
// rank's traffic to the others crosses the mean ring distance of each side, floor(s²/4)/s hops,
// and the busiest axis per link sets the time; at least 1). 64 devices of a 3D torus (4 x 4 x 4):
// 6 links, 3.05; 16 of a 2D torus (4 x 4): 4 links, 2.13; 8 of a 3D torus (2 x 2 x 2): 3 links,
// 1.71; 2: 1 link, 1. No links and 1 where the domain is no torus or the group one device.
TorusBlock TorusBlockOf(const Fabric& f, int64_t group);

// The blocks a job's mesh gives its groups on one slice of a torus domain, as JAX lays a mesh out
// on a TPU slice (jax mesh_utils.create_device_mesh, _create_device_mesh_for_nd_torus): the mesh's
// axes, ordered by network intensity, take whole axes of the slice's shape from the most intensive
// down, each the most axes whose sides multiply to its size; a group's links are those of its axes
// (a side of 2: one; of 3 or more: both where the slice wraps, else one). `slice` is the devices a
// job takes of a domain; `pp`, `dp`, `cp`, `tp` the ranks of each kind of group in it (`dp` ahead
// of `pp` in intensity under ZeRO-3, as MaxText's fsdp axis is, behind it otherwise, as its data
// axis is). Unplaced (`placed` false) where the torus has no shape of `slice` chips or an axis of the
// mesh matches no set of the shape's sides (JAX refuses such a mesh unless told to split axes).
struct TorusMesh {
  bool placed = false;
  TorusBlock pp, dp, cp, tp;
};
TorusMesh PlaceTorusMesh(const Fabric& f, int64_t slice, int64_t pp, int64_t dp, int64_t cp, int64_t tp, bool dp_sharded);
// A copy of `f` whose group of `ranks` ranks a slice takes `block` (PlaceTorusMesh's).
Fabric WithTorusGroup(const Fabric& f, int64_t ranks, const TorusBlock& block);
// A plan on a torus domain: `sliced` where the catalog has the shape of the slice it takes (the
// devices it takes of a domain, `slice`), the ranks its TP, CP and DP groups have there, and their
// placement (`mesh.placed` false where its mesh matches no whole axes of that shape). Empty off a
// torus with slice shapes.
struct PlanOnTorus {
  bool sliced = false;
  int64_t slice = 0, tp = 1, cp = 1, dp = 1;
  TorusMesh mesh;
};
PlanOnTorus PlacePlanOnTorus(const Fabric& f, const Plan& p);
// The same, given the devices the job takes of each domain (PlacedDomain's), where the caller holds it.
PlanOnTorus PlacePlanOnTorus(const Fabric& f, const Plan& p, int64_t placed);
// Whether JAX would refuse the plan's mesh on its slice without split axes, whichever of DP and PP
// it takes as the more intensive (the search drops such layouts: `splits_torus_axes`).
bool MeshSplitsTorusAxes(const Fabric& f, const Plan& p);
double TorusHopFactor(const Fabric& f, int64_t group);

// All-to-all where each rank sends `bytes_per_rank` spread evenly over `ranks` peers.
Seconds AllToAllTime(const Fabric& f, Bytes bytes_per_rank, int64_t ranks, int64_t per_domain);
// Expert dispatch (or combine) with forwarding, as DeepEP runs it: of each rank's routed copies
// (`bytes_per_rank`, spread evenly over `ranks` peers), `network_bytes` cross the scale-out network
// (one per destination domain, not per copy), and NVLink carries every copy that lands on another
// GPU of its domain, forwarded ones included; the two proceed in parallel. One network step of
// latency. Measured all-to-all curves (NCCL) do not apply.
Seconds ForwardedAllToAllTime(const Fabric& f, Bytes bytes_per_rank, Bytes network_bytes, int64_t ranks,
                              int64_t per_domain);
// One expert dispatch (or combine) of `tokens` tokens per rank, each bound for its top-k experts
// over an EP group of `ep` ranks, `per_domain` of them to a node, `element_bytes` per hidden element:
// Megatron's all-to-all of every routed copy, or with `node_dedup` DeepEP's (a token crosses the
// network once per remote node its experts are on, ExpectedDomainsPerToken of model.h).
Seconds ExpertExchangeTime(const Fabric& f, const MoeSpec& moe, double tokens, double hidden, double element_bytes,
                           int64_t ep, int64_t per_domain, bool node_dedup);
// One point-to-point transfer, across nodes when `cross_node`, in the fastest protocol.
Seconds PointToPointTime(const Fabric& f, Bytes bytes, bool cross_node);

}  // namespace preflight
