// File: hardware/cluster.h
//
// A cluster: N devices of one catalog kind, grouped into nodes and scale-up domains, joined
// by a scale-out network. Built from a HardwareSpec plus the scenario's `cluster:` overrides.
//
//   ClusterOverrides o; o.devices = 1024;
//   ASSIGN_OR_RETURN(Cluster c, BuildCluster(spec, o, "scenario.yaml"));
//   c.hbm_capacity;   // Bytes per device
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "preflight/base/status.h"
#include "preflight/base/units.h"
#include "preflight/catalog/collective_table.h"
#include "preflight/catalog/hardware_spec.h"

namespace preflight {

// The largest cluster a scenario may name: 2^24 devices, a hundred times the largest built.
inline constexpr int64_t kMaxClusterDevices = int64_t{1} << 24;

// What a scenario may override; unset fields come from the catalog.
struct ClusterOverrides {
  int64_t devices = 0;                      // required, > 0 and at most kMaxClusterDevices
  std::optional<int64_t> devices_per_node;  // default: min(scale-up domain, the catalog's node or 8)
  std::optional<int64_t> scale_up_domain;   // devices joined by the scale-up fabric; default: the
                                            // catalog's, or a smaller node's size where the
                                            // catalog's domain fits in its node
  std::optional<double> scale_out_gbits_per_s_per_device;
  std::optional<double> hbm_capacity_gib;  // e.g. the 96 GB variant of a part
  std::optional<double> pue;               // facility power over IT power
  // Measured all-reduce bus bandwidths of this cluster (nccl-tests), replacing the catalog's.
  std::optional<double> scale_up_busbw_gbytes_per_s;
  std::optional<double> scale_out_busbw_gbytes_per_s;
};

// Industry-average power usage effectiveness in 2023 (Uptime Institute Global Data Center
// Survey 2023: 1.58). Modern AI facilities are often lower; set cluster.pue to override.
inline constexpr double kDefaultPue = 1.58;

struct Cluster {
  HardwareSpec spec;
  int64_t devices = 0;
  int64_t devices_per_node = 0;
  int64_t scale_up_domain = 0;
  // The catalog's in-node domain cut to a smaller node given without a domain (BuildCluster).
  bool domain_cut_to_node = false;
  Bytes hbm_capacity;
  double scale_out_gbits_per_s_per_device = 0;  // 0 when unknown
  double pue = kDefaultPue;
  double scale_up_busbw_gbytes_per_s = 0;   // 0: the catalog's
  double scale_out_busbw_gbytes_per_s = 0;  // 0: the catalog's
  // Collective times measured on this cluster by message size (cluster.collective_table), used
  // for the groups they cover; null: the α-β model everywhere.
  std::shared_ptr<const CollectiveTable> collectives;
};

// InvalidArgument (naming `file` and the cluster field, after `field_prefix`: "[3]." for a run of
// a validation list) for non-positive sizes, or when the catalog lacks the HBM capacity and no
// override gives it.
StatusOr<Cluster> BuildCluster(const HardwareSpec& spec, const ClusterOverrides& overrides,
                               const std::string& file, const std::string& field_prefix = "");

}  // namespace preflight
