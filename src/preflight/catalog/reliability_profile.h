// File: catalog/reliability_profile.h
//
// What a cluster's failures and checkpoints cost, as published for one named cluster: how often a
// node interrupts the job (unplanned and planned), how long detection and a restart take, and how
// fast checkpoints are written. The campaign module turns these figures, the job's size and its
// ideal duration into days P50/P90 and goodput. Every figure names its source.
//
//   ASSIGN_OR_RETURN(ReliabilityProfile p, LoadReliabilityProfile("data/reliability/llama3-h100-16k.yaml"));
//   double per_device_day = p.failures_per_node_day.value / p.devices_per_node.value;
//
// File format (data/reliability/README.md):
//   id: llama3-h100-16k
//   cluster: "what the figures were measured on"
//   devices_per_node: {value: 8, source: "..."}   # the node the per-node figures count
//   failures_per_node_day: {value: 3.789e-3, source: "..."}   # unplanned job interruptions
//   planned_per_node_day: {value: 4.25e-4, source: "..."}     # planned ones (maintenance)
//   detection_min: {value: 5, source: "..."}       # from a failure to the job being stopped
//   restart_min: {value: 10, source: "..."}        # rescheduling, initialisation, checkpoint load
//   checkpoint_write_gbytes_per_s_per_node: {value: 0.977, source: "..."}
//   checkpoint_write_gbytes_per_s_total: {value: 2000, source: "..."}  # optional: the storage's
//                                                          #   whole write rate, which caps the nodes'
//   checkpoint_bytes_per_param: {value: 14, source: "..."}
//   checkpoint_blocking_s: {value: 40, source: "..."}      # optional: the stall per checkpoint,
//                                                          #   replacing size / write rate
//   checkpoint_interval_min: {value: 180, source: "..."}   # optional: a fixed interval, replacing
//                                                          #   Daly's optimum
#pragma once

#include <string>
#include <vector>

#include "preflight/base/status.h"

namespace preflight {

// One sourced number of a profile.
struct ReliabilityFigure {
  bool given = false;  // false: an optional figure the file does not give
  double value = 0;
  std::string source;
  std::string note;
  bool from_scenario = false;  // the scenario's own figure in place of the profile's
};

struct ReliabilityProfile {
  std::string id;
  std::string file;
  std::string cluster;  // what the figures were measured on
  // Whose devices those were ("NVIDIA"), as the hardware files' `vendor` spells it: a plan on
  // another vendor's devices says the rates are borrowed. Optional; empty when not given.
  std::string vendor;
  // The node the per-node figures count: the failure rates and write rate scale with the devices
  // a job uses, as devices / devices_per_node of these nodes (a node of another size fails as
  // often per device).
  ReliabilityFigure devices_per_node;
  ReliabilityFigure failures_per_node_day;  // unplanned interruptions of the job, per node and day
  ReliabilityFigure planned_per_node_day;   // planned ones (firmware, kernel upgrades): no work lost
  ReliabilityFigure detection_min;          // a failure until the job is stopped
  ReliabilityFigure restart_min;            // stopped until training resumes (reschedule, init, load)
  ReliabilityFigure checkpoint_write_gbytes_per_s_per_node;  // synchronous write rate, per node
  // Optional: what the storage takes from all nodes together; a job of more nodes than it serves at
  // the per-node rate writes at this rate.
  ReliabilityFigure checkpoint_write_gbytes_per_s_total;
  ReliabilityFigure checkpoint_bytes_per_param;              // checkpoint size per parameter
  ReliabilityFigure checkpoint_blocking_s;    // optional: the training stall per checkpoint
  ReliabilityFigure checkpoint_interval_min;  // optional: a fixed checkpoint interval
};

// Loads and validates a profile file: InvalidArgument naming the file and field for an unknown key,
// a figure without `value` and `source`, a required figure missing, or a value out of
// ReliabilityValueExpected's bounds; NotFound if it cannot be opened.
StatusOr<ReliabilityProfile> LoadReliabilityProfile(const std::string& path);

// What `value` at `key` should have been, or "" when it is within bounds (a scenario's overrides are
// checked the same way): rates from 0 to 10 per node and day; devices per node a whole number from 1 to 1e6; times
// above 0 and at most 1e6 minutes or seconds (checkpoint_blocking_s may be 0: in-memory checkpoints);
// a write rate from 0.001 to 1e6 GB/s; bytes per parameter above 0, at most 1,000.
// REQUIRES: `key` is one of ReliabilityFigureKeys.
std::string ReliabilityValueExpected(const std::string& key, double value);

// The keys a profile (and a scenario's `reliability:` block) may give, in file order.
const std::vector<std::string>& ReliabilityFigureKeys();

// The keys of `p`'s figures that a scenario gave in place of the profile's, in file order.
std::vector<std::string> FiguresFromScenario(const ReliabilityProfile& p);

// The figure at `key` of `p`; nullptr for an unknown key.
ReliabilityFigure* FigureAt(ReliabilityProfile& p, const std::string& key);
const ReliabilityFigure* FigureAt(const ReliabilityProfile& p, const std::string& key);

}  // namespace preflight
