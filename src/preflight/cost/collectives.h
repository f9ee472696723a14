// File: cost/collectives.h
//
// α-β times of collectives on a cluster's two fabric levels, from MEASURED bus bandwidths
// (nccl-tests style: t = α + factor · S / busbw) rather than link peaks.
//
//   Fabric f = FabricFromCluster(cluster);
//   Seconds t = AllReduceTime(f, Bytes(64e6), /*ranks=*/8, /*ranks_per_node=*/8);
//
// Sources: nccl-tests doc/PERFORMANCE.md bus-bandwidth factors; NCCL tuning.cc ring latency
// constants (8.4 µs base, 3.4 µs per NVLink step, 14 µs per network step); the hierarchical
// decomposition (intra-node RS, inter-node all-reduce on 1/g of the data, intra-node AG) from
// cost-model-notes §4.1. Bandwidths come from the hardware catalog's measured busbw.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "preflight/base/units.h"
#include "preflight/hardware/cluster.h"

namespace preflight {

struct Fabric {
  int64_t devices_per_node = 8;
  int64_t scale_up_domain = 8;
  BytesPerSecond scale_up_busbw;       // all-reduce bus bandwidth inside a scale-up domain
  BytesPerSecond scale_out_busbw;      // per device (one NIC per device), across nodes
  BytesPerSecond scale_out_link;       // per device NIC line rate (point-to-point)
  Seconds base_latency = Seconds(8.4e-6);
  Seconds intra_step_latency = Seconds(3.4e-6);
  Seconds inter_step_latency = Seconds(14e-6);
};

// Builds the fabric from catalog figures; unknown figures fall back to link rates (an upper
// bound on speed) and add a line to `warnings`.
Fabric FabricFromCluster(const Cluster& cluster, std::vector<std::string>* warnings);

// Ranks of one group that share a scale-up domain, given `stride` (the product of the
// parallel degrees laid out inside this one) and the group's size.
int64_t RanksPerDomain(const Fabric& f, int64_t stride, int64_t group_size);

// Ring all-reduce of `bytes` (the full buffer) over `ranks`, `per_domain` of which share a
// scale-up domain: hierarchical when the group spans domains. REQUIRES: ranks >= 1.
Seconds AllReduceTime(const Fabric& f, Bytes bytes, int64_t ranks, int64_t per_domain);
// Reduce-scatter or all-gather of a `bytes` buffer (the whole, gathered size): half an all-reduce.
Seconds ReduceScatterTime(const Fabric& f, Bytes bytes, int64_t ranks, int64_t per_domain);
// All-to-all where each rank sends `bytes_per_rank` spread evenly over `ranks` peers.
Seconds AllToAllTime(const Fabric& f, Bytes bytes_per_rank, int64_t ranks, int64_t per_domain);
// One point-to-point transfer, across nodes when `cross_node`.
Seconds PointToPointTime(const Fabric& f, Bytes bytes, bool cross_node);

}  // namespace preflight
