// File: scenario/internal/fields.h
//
// Internal to the scenario module: the readers of a scenario file's `training:` and `parallel:`
// sections (training_fields.cc, parallel_fields.cc), which ParseScenario (scenario.cc) calls in
// order, and the record of the settings the command line's values rule out (Drops).
//
//   Drops drops(options);
//   RETURN_IF_ERROR(ReadTraining(root, spec, &drops, &s.job, &s.plan.micro_batch));
//   RETURN_IF_ERROR(ReadParallel(root, s.cluster.devices, &drops, &s));
//   s.idle_settings.insert(s.idle_settings.end(), drops.notes().begin(), drops.notes().end());
//
// Each reader returns InvalidArgument naming the file, the field and what was expected, and leaves
// what it was given to fill in an unspecified state then.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "preflight/base/status.h"
#include "preflight/catalog/yaml_reader.h"
#include "preflight/scenario/scenario.h"

namespace preflight::scenario_internal {

// Settings that the rest of the run rules out (training settings, and a cluster's tables measured on
// another device): refused, or, where the command line's values rule them out
// (ParseOptions::droppable), dropped with a note for Scenario::idle_settings.
class Drops {
 public:
  explicit Drops(const ParseOptions& options) : options_(options) {}

  // The error that `key` of `t` expected `expected`; OK with a note instead where the key may be
  // dropped (`needs`: what it needs, which the command line rules out). The caller then takes the
  // key's default.
  Status DropOrRefuse(const MapReader& t, std::string_view key, std::string_view expected, std::string_view needs) {
    if (!MayDrop(key)) return t.Error(key, expected);
    Drop(t, key, needs);
    return Status::Ok();
  }
  // Notes `key` of `t` as dropped because it needs `needs`. The caller has checked MayDrop under
  // the key's name in ParseOptions::droppable ("cluster.collective_table" for `collective_table`).
  void Drop(const MapReader& t, std::string_view key, std::string_view needs) {
    const YAML::Node value = t.node()[std::string(key)];
    const std::string shown = value.IsScalar() ? value.Scalar() : DescribeNode(value);
    notes_.push_back(t.FieldName(key) + ": " + shown + " dropped: it needs " + std::string(needs) + ", which " +
                     (options_.because.empty() ? std::string("the command line's values") : options_.because) +
                     " rules out");
  }
  // Whether the command line's values may rule `key` out (ParseOptions::droppable).
  bool MayDrop(std::string_view key) const {
    return std::find(options_.droppable.begin(), options_.droppable.end(), key) != options_.droppable.end();
  }
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  const ParseOptions& options_;
  std::vector<std::string> notes_;
};

// training: every key of the section (the batch, precision, attention, numerics, fusions, MoE
// options and the per-kernel host estimate) into *j, and the micro-batch into *micro_batch.
// REQUIRES: spec is the run's hardware (a kernel or FP8 setting it cannot run is refused or dropped).
Status ReadTraining(const MapReader& root, const HardwareSpec& spec, Drops* drops, TrainingJob* j, int64_t* micro_batch);

// MoE capacity settings Megatron-Core refuses, once the model and training are read: padding with
// the flex (DeepEP) dispatcher, and a capacity factor above the experts over the top-k.
Status CheckMoeCapacity(const MapReader& root, const Scenario& s);

// parallel: the layout into s->plan (dp from `devices` when not given), or `auto` / absent for a
// search (s->auto_parallel). REQUIRES: s->arch read (sequence parallelism's default follows
// whether the model has experts).
Status ReadParallel(const MapReader& root, int64_t devices, Drops* drops, Scenario* s);

// The settings given that change nothing for this scenario (Scenario::idle_settings).
// REQUIRES: the model, training and parallel sections read.
StatusOr<std::vector<std::string>> IdleSettings(const MapReader& root, const Scenario& s);

// Training keys that hold only for some layouts: a given plan of ZeRO 2 or 3 beside
// grad_16bit_copy (DeepSpeed's BF16_Optimizer runs its own ZeRO-1) is refused. REQUIRES: the
// training and parallel sections read (ReadTraining, ReadParallel).
Status CheckTrainingAgainstPlan(const MapReader& root, const Scenario& s);

}  // namespace preflight::scenario_internal
