#include "preflight/hardware/cluster.h"

#include <algorithm>
#include <sstream>

namespace preflight {
namespace {

std::string Number(double v) {
  std::ostringstream out;
  out.precision(12);
  out << v;
  return out.str();
}

// `at` names the file and the cluster mapping: "scenario.yaml: cluster." or "runs.yaml: [3].cluster.".
Status Positive(const std::string& at, const char* field, double v) {
  if (v > 0) return Status::Ok();
  return InvalidArgument(at + field + ": expected a positive number, got " + Number(v));
}

// Bounds of sanity, not of hardware: beyond them the figures overflow into inf or NaN.
Status InRange(const std::string& at, const char* field, double v, double lo, double hi) {
  if (v >= lo && v <= hi) return Status::Ok();
  return InvalidArgument(at + field + ": expected a number from " + Number(lo) + " to " +
                         Number(hi) + ", got " + Number(v));
}

constexpr double kMinRate = 1e-3, kMaxRate = 1e6;  // GB/s or Gb/s
// A node's devices where the catalog gives none: an HGX/DGX-class server's eight.
constexpr int64_t kDefaultNodeDevices = 8;

// The scale-up domain and the node: the scenario's, else the catalog's.
Status SetDomainAndNode(const HardwareSpec& spec, const ClusterOverrides& o, const std::string& at, Cluster* c) {
  const int64_t catalog_domain = spec.scale_up_domain_devices.known()
                                     ? static_cast<int64_t>(spec.scale_up_domain_devices.value)
                                     : 1;
  c->scale_up_domain = o.scale_up_domain.value_or(catalog_domain);
  RETURN_IF_ERROR(InRange(at, "scale_up_domain", static_cast<double>(c->scale_up_domain), 1,
                          static_cast<double>(kMaxClusterDevices)));
  const int64_t catalog_node =
      spec.node_devices.known() ? static_cast<int64_t>(spec.node_devices.value) : kDefaultNodeDevices;
  c->devices_per_node = o.devices_per_node.value_or(std::min<int64_t>(c->scale_up_domain, catalog_node));
  RETURN_IF_ERROR(InRange(at, "devices_per_node", static_cast<double>(c->devices_per_node), 1,
                          static_cast<double>(kMaxClusterDevices)));
  // A catalog domain that fits in the catalog's node (an HGX server's NVLink) is the node's fabric:
  // a smaller node given without a domain has a domain of its own size, not one spanning nodes.
  // Rack-scale domains (NVL72, TPU slices), larger than a node, span nodes and stay.
  if (!o.scale_up_domain && catalog_domain <= catalog_node && c->devices_per_node < c->scale_up_domain) {
    c->scale_up_domain = c->devices_per_node;
    c->domain_cut_to_node = true;
  }
  return Status::Ok();
}

// The HBM capacity: the scenario's, else the catalog's; an error where neither gives one.
Status SetHbmCapacity(const HardwareSpec& spec, const ClusterOverrides& o, const std::string& at, Cluster* c) {
  if (o.hbm_capacity_gib) {
    RETURN_IF_ERROR(Positive(at, "hbm_capacity_gib", *o.hbm_capacity_gib));
    RETURN_IF_ERROR(InRange(at, "hbm_capacity_gib", *o.hbm_capacity_gib, 1e-3, 1e6));
    c->hbm_capacity = Bytes::GiB(*o.hbm_capacity_gib);
  } else if (spec.hbm_capacity_gib.known()) {
    c->hbm_capacity = Bytes::GiB(spec.hbm_capacity_gib.value);
  } else {
    return InvalidArgument(at + "hbm_capacity_gib: expected a value, because " +
                           spec.id + " has no published HBM capacity in the catalog");
  }
  return Status::Ok();
}

// The network's line rate and the measured bus bandwidths the scenario gives.
Status SetNetworkRates(const HardwareSpec& spec, const ClusterOverrides& o, const std::string& at, Cluster* c) {
  if (o.scale_out_gbits_per_s_per_device) {
    RETURN_IF_ERROR(InRange(at, "scale_out_gbits_per_s_per_device", *o.scale_out_gbits_per_s_per_device,
                            kMinRate, kMaxRate));
    c->scale_out_gbits_per_s_per_device = *o.scale_out_gbits_per_s_per_device;
  } else if (spec.scale_out_gbits_per_s.known()) {
    c->scale_out_gbits_per_s_per_device = spec.scale_out_gbits_per_s.value;
  }
  if (o.scale_up_busbw_gbytes_per_s) {
    RETURN_IF_ERROR(InRange(at, "scale_up_busbw_gbytes_per_s", *o.scale_up_busbw_gbytes_per_s, kMinRate, kMaxRate));
    c->scale_up_busbw_gbytes_per_s = *o.scale_up_busbw_gbytes_per_s;
  }
  if (o.scale_out_busbw_gbytes_per_s) {
    RETURN_IF_ERROR(InRange(at, "scale_out_busbw_gbytes_per_s", *o.scale_out_busbw_gbytes_per_s, kMinRate, kMaxRate));
    // As in a hardware file: the bus bandwidth a device gets across nodes is its share of the
    // network at most.
    const double share = c->scale_out_gbits_per_s_per_device / 8;
    if (share > 0 && *o.scale_out_busbw_gbytes_per_s > share) {
      return InvalidArgument(at + "scale_out_busbw_gbytes_per_s: expected at most the device's network share, " +
                             "scale_out_gbits_per_s_per_device / 8 = " + Number(share) + " GB/s, got " +
                             Number(*o.scale_out_busbw_gbytes_per_s));
    }
    c->scale_out_busbw_gbytes_per_s = *o.scale_out_busbw_gbytes_per_s;
  }
  return Status::Ok();
}

}  // namespace

StatusOr<Cluster> BuildCluster(const HardwareSpec& spec, const ClusterOverrides& o,
                               const std::string& file, const std::string& field_prefix) {
  const std::string at = file + ": " + field_prefix + "cluster.";
  Cluster c;
  c.spec = spec;
  c.devices = o.devices;
  RETURN_IF_ERROR(Positive(at, "devices", static_cast<double>(o.devices)));
  if (o.devices > kMaxClusterDevices) {
    return InvalidArgument(at + "devices: expected at most " +
                           std::to_string(kMaxClusterDevices) + ", got " +
                           std::to_string(o.devices));
  }

  RETURN_IF_ERROR(SetDomainAndNode(spec, o, at, &c));
  RETURN_IF_ERROR(SetHbmCapacity(spec, o, at, &c));
  RETURN_IF_ERROR(SetNetworkRates(spec, o, at, &c));
  if (o.pue) {
    RETURN_IF_ERROR(InRange(at, "pue", *o.pue, 1, 10));
    c.pue = *o.pue;
  }
  return c;
}

}  // namespace preflight
