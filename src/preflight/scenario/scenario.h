// File: scenario/scenario.h
//
// A scenario is the unit of input: a model, a cluster, a training job and (optionally) a
// parallel plan, read from YAML in the format fixed by ARCHITECTURE.md:
//
//   Catalog cat = Catalog::Default();
//   ASSIGN_OR_RETURN(Scenario s, LoadScenarioFile("examples/llama3-8b.yaml", cat, {}));
//   ASSIGN_OR_RETURN(std::vector<Scenario> runs, LoadScenarioList("data/validation/x.yaml", cat));
//
// Overrides ("parallel.tp" = "8", "model" = "llama-3.1-70b", ...) are applied to the YAML
// before it is read, so they are checked exactly like the file itself.
#pragma once

#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "preflight/base/status.h"
#include "preflight/catalog/catalog.h"
#include "preflight/hardware/cluster.h"
#include "preflight/model/architecture.h"
#include "preflight/parallel/plan.h"

namespace preflight {

// Published measurements a validation run carries; NaN-free: only present keys are listed.
struct Measured {
  std::vector<std::pair<std::string, double>> metrics;  // e.g. {"step_time_s", 13.75}
  std::string flop_convention;  // for mfu / tflops_per_device, how the source counted FLOPs
};

struct Scenario {
  std::string name;
  std::string file;
  std::string source;
  std::string note;
  Architecture arch;
  Cluster cluster;
  bool auto_parallel = false;  // `parallel` omitted or `auto`: the search picks the plan
  Plan plan;
  bool etp_given = false;  // the layout states parallel.etp (omitted, it is 1; Megatron-LM's default is tp)
  // The layout states no parallel.layer_split and its PP x VPP does not divide the layers: they are
  // spread as layer_split: balanced spreads them (as the search does), and `plan` says so.
  bool layers_spread_unasked = false;
  TrainingJob job;
  Measured measured;
  // Failures, restarts and checkpoints for the campaign's days P50/P90 and goodput: the profile the
  // scenario names (reliability.profile; kDefaultReliabilityProfile when absent) with its own
  // figures in place of the profile's (their source then names the scenario); null with
  // `reliability: none` (the campaign then gives no P50/P90 or goodput).
  std::shared_ptr<const ReliabilityProfile> reliability;
  // Settings the file gives that change nothing for this scenario (an FP8 recipe beside bf16,
  // MoE options on a dense model, recompute modules without selective recompute), each named;
  // `plan` repeats them as warnings, as a misspelt key would otherwise pass unseen. Settings the
  // command line's values drop (ParseOptions::droppable) are named here too.
  std::vector<std::string> idle_settings;
};

// How ParseScenario treats a training setting the rest of the run rules out.
struct ParseOptions {
  // Keys of `training` ("low_precision_activations"), and "cluster.collective_table",
  // "cluster.gemm_table" and "parallel.cpu_offload_layers", that the file gives and the command
  // line's values rule out (a --hardware without FP8 beside DeepSeek-V3's FP8 storage, a
  // flash_attention=false beside an attention_kernel, a --hardware other than the one the file's
  // tables were measured on, a --pp 2 beside the file's activation offloading): each one
  // ruled out is dropped (its default taken) and named in Scenario::idle_settings with `because`,
  // instead of refused. Empty (the
  // default): every contradiction is an error naming the field. LoadScenarioFile and
  // LoadScenarioList fill it only where the file alone reads cleanly, so a contradiction the file
  // states stays an error.
  std::vector<std::string> droppable;
  std::string because;  // what rules them out: "the command line's hardware=ascend-910c"
};

// One `dotted.key=value` override.
struct Override {
  std::string key;
  std::string value;
};

// The metric names a `measured:` mapping may hold.
const std::vector<std::string>& MeasuredMetricNames();

// Reads one scenario mapping; `field_prefix` ("runs[3]") heads the field names in its errors.
StatusOr<Scenario> ParseScenario(const YAML::Node& root, const std::string& file,
                                 const std::string& field_prefix, const Catalog& catalog,
                                 const ParseOptions& options = {});

// Loads one scenario file and applies `overrides` first. A training setting of the file that the
// overrides rule out (ParseOptions::droppable) is dropped with a note in idle_settings.
StatusOr<Scenario> LoadScenarioFile(const std::string& path, const Catalog& catalog,
                                    const std::vector<Override>& overrides);

// Loads a validation file: a YAML list of scenarios, or a mapping with `runs:` (and nothing
// else) holding one; every run has `measured` figures. `overrides` are applied to every run first
// (what-if questions over a whole file). A file holds at most kMaxValidationRuns runs, of which at
// most kMaxAutoValidationRuns without a layout (each one a search): more is bad input, not an
// out-of-memory abort or an hour-long run (YAML aliases can repeat one run cheaply).
inline constexpr size_t kMaxValidationRuns = 20000;
inline constexpr size_t kMaxAutoValidationRuns = 500;
StatusOr<std::vector<Scenario>> LoadScenarioList(const std::string& path, const Catalog& catalog,
                                                 const std::vector<Override>& overrides = {});

// The config of the model a run names by catalog id or config.json path (beside `file` first), as
// the mapping an inline model would be: what a `model.KEY` override edits. The run's own model
// mapping as it is. Errors as the model field's own, without the file's name.
StatusOr<YAML::Node> ModelAsMapping(const YAML::Node& run, const std::string& file, const Catalog& catalog);

// Sets `key` (dotted path) in `root` to `value`: a YAML flow sequence or mapping where the value
// starts with `[` or `{` (`[mlp, moe]`, `{devices: 512}`), else the scalar text. InvalidArgument
// for an empty key or a malformed flow collection.
Status ApplyOverride(YAML::Node& root, const Override& o);

}  // namespace preflight
