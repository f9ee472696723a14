#include "preflight/cost/collectives.h"

#include <algorithm>

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
  return f;
}

int64_t RanksPerDomain(const Fabric& f, int64_t stride, int64_t group_size) {
  const int64_t node = std::min(f.devices_per_node, f.scale_up_domain);
  const int64_t domain = std::max(node, f.scale_up_domain);
  int64_t per = domain / std::max<int64_t>(stride, 1);
  return std::clamp<int64_t>(per, 1, group_size);
}

namespace {

// Ring latency: base + steps on each fabric level (NCCL tuning model).
Seconds RingLatency(const Fabric& f, int64_t ranks, int64_t per_domain, int64_t steps_per_rank) {
  const int64_t domains = (ranks + per_domain - 1) / per_domain;
  const double inter_steps = static_cast<double>(steps_per_rank * (domains - 1));
  const double intra_steps = static_cast<double>(steps_per_rank * (ranks - 1)) - inter_steps;
  return f.base_latency + f.intra_step_latency * intra_steps + f.inter_step_latency * inter_steps;
}

}  // namespace

Seconds AllReduceTime(const Fabric& f, Bytes bytes, int64_t ranks, int64_t per_domain) {
  if (ranks <= 1 || bytes.value() <= 0) return Seconds(0);
  per_domain = std::clamp<int64_t>(per_domain, 1, ranks);
  const double g = static_cast<double>(per_domain);
  const double n = static_cast<double>(ranks);
  Seconds t = RingLatency(f, ranks, per_domain, 2);
  if (per_domain == ranks) return t + (bytes * (2 * (n - 1) / n)) / f.scale_up_busbw;
  const double nodes = n / g;
  Seconds intra = (bytes * (2 * (g - 1) / g)) / f.scale_up_busbw;
  Seconds inter = (bytes * (2 * (nodes - 1) / nodes / g)) / f.scale_out_busbw;
  return t + intra + inter;
}

Seconds ReduceScatterTime(const Fabric& f, Bytes bytes, int64_t ranks, int64_t per_domain) {
  if (ranks <= 1 || bytes.value() <= 0) return Seconds(0);
  Seconds full = AllReduceTime(f, bytes, ranks, per_domain);
  per_domain = std::clamp<int64_t>(per_domain, 1, ranks);
  Seconds latency_half = RingLatency(f, ranks, per_domain, 1);
  Seconds latency_full = RingLatency(f, ranks, per_domain, 2);
  return (full - latency_full) * 0.5 + latency_half;
}

Seconds AllToAllTime(const Fabric& f, Bytes bytes_per_rank, int64_t ranks, int64_t per_domain) {
  if (ranks <= 1 || bytes_per_rank.value() <= 0) return Seconds(0);
  per_domain = std::clamp<int64_t>(per_domain, 1, ranks);
  const double n = static_cast<double>(ranks);
  const double local = static_cast<double>(per_domain - 1) / n;
  const double remote = static_cast<double>(ranks - per_domain) / n;
  // nccl-tests all-to-all busbw factor (n-1)/n; intra and inter traffic proceed in parallel.
  Seconds intra = (bytes_per_rank * local) / f.scale_up_busbw;
  Seconds inter = (bytes_per_rank * remote) / f.scale_out_busbw;
  Seconds latency = f.base_latency + (remote > 0 ? f.inter_step_latency : f.intra_step_latency);
  return latency + std::max(intra, inter);
}

Seconds PointToPointTime(const Fabric& f, Bytes bytes, bool cross_node) {
  if (bytes.value() <= 0) return Seconds(0);
  if (cross_node) return f.base_latency + f.inter_step_latency + bytes / f.scale_out_busbw;
  return f.base_latency + f.intra_step_latency + bytes / f.scale_up_busbw;
}

}  // namespace preflight
