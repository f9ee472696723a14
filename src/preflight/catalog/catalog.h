// File: catalog/catalog.h
//
// Finds catalog files by id under the data directory and loads JSON/YAML documents with
// errors turned into Status.
//
//   Catalog cat = Catalog::Default();           // $PREFLIGHT_DATA or the built-in data dir
//   ASSIGN_OR_RETURN(HardwareSpec h, cat.Hardware("h100-sxm-80gb"));
//   ASSIGN_OR_RETURN(nlohmann::json cfg, cat.ModelConfig("llama-3.1-8b"));
//   std::vector<std::string> ids = cat.HardwareIds();
//
// A reference that contains '/' or ends in .yaml/.yml/.json is treated as a file path;
// anything else is a catalog id.
#pragma once

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "preflight/base/status.h"
#include "preflight/catalog/accuracy_table.h"
#include "preflight/catalog/collective_table.h"
#include "preflight/catalog/gemm_table.h"
#include "preflight/catalog/hardware_spec.h"
#include "preflight/catalog/host_profile.h"
#include "preflight/catalog/reliability_profile.h"

namespace preflight {

class Catalog {
 public:
  explicit Catalog(std::string data_dir) : data_dir_(std::move(data_dir)) {}

  // The data directory from $PREFLIGHT_DATA, else the one compiled in (the source tree's data/).
  static Catalog Default();

  const std::string& data_dir() const { return data_dir_; }

  // Sorted ids of data/hardware/*.yaml and data/models/*.json.
  std::vector<std::string> HardwareIds() const;
  std::vector<std::string> ModelIds() const;

  // A hardware spec by id or path, with its measured GEMM table (data/gemm/<id>.yaml) attached
  // when the catalog has one. NotFound names the id and lists nothing else; InvalidArgument as
  // LoadHardwareSpec, where a `proxy_of` fails CheckProxyOf, and where a file found by id states
  // another `id:` (the file's name is its id).
  StatusOr<HardwareSpec> Hardware(const std::string& id_or_path) const;
  // Sorted names of data/collectives/*.yaml: collective times measured on named systems, which a
  // scenario picks with cluster.collective_table (none applies by default: see the README there).
  std::vector<std::string> CollectiveTableIds() const;
  // The measured table `name` (data/collectives/<name>.yaml), loaded; NotFound lists the names.
  StatusOr<CollectiveTable> CollectiveTableById(const std::string& name) const;
  // Sorted names of data/host/*.yaml: host time of eager framework layers measured on named CPUs
  // and software stacks, which a scenario picks with training.host_profile.
  std::vector<std::string> HostProfileIds() const;
  // The profile `name` (data/host/<name>.yaml), loaded; NotFound lists the names, InvalidArgument
  // as LoadHostProfile or where its `id:` is not `name`.
  StatusOr<HostProfile> HostProfileById(const std::string& name) const;
  // Sorted names of data/reliability/*.yaml: failure, restart and checkpoint figures published for
  // named clusters, which a scenario picks with reliability.profile (kDefaultReliabilityProfile
  // when it gives none).
  std::vector<std::string> ReliabilityProfileIds() const;
  // The profile `name` (data/reliability/<name>.yaml), loaded; NotFound lists the names,
  // InvalidArgument as LoadReliabilityProfile or where its `id:` is not `name`.
  StatusOr<ReliabilityProfile> ReliabilityProfileById(const std::string& name) const;
  // A labelled proxy (`proxy_of`, hardware_spec.h Figure::proxy_of) at `field` of `file`, a figure or
  // table of device `own_id`, names another device of the catalog: InvalidArgument naming the file,
  // the field and the ids the catalog holds when it names this device or none. OK when empty.
  Status CheckProxyOf(const std::string& file, const std::string& field, const std::string& own_id,
                      const std::string& proxy_of) const;
  // The GEMM table at `path` for `spec`, as a step reads it: loaded (LoadGemmTableFor), its
  // `proxy_of` and each grid's (shapes.<dtype>.proxy_of) checked as CheckProxyOf, and each grid
  // measured on another catalog device given that device's sustained / burst ratio
  // (GemmTable::SourceSustain) where the device has a sustained figure for the grid's dtype. Errors
  // as LoadGemmTableFor and CheckProxyOf, and as LoadHardwareSpec where that device's file does not
  // load (its own GEMM table is not read).
  StatusOr<std::shared_ptr<const GemmTable>> GemmTableFor(const HardwareSpec& spec, const std::string& path) const;
  // How far preflight's step times and peak memory fell from the measured runs on `spec`'s device
  // (data/accuracy/by-device.yaml): null where the catalog has no such table, where the table has no
  // run on the device, or where `spec` was not loaded from the catalog's own file for its id (a
  // device file of the user's is not the one validated); InvalidArgument as LoadAccuracyTable.
  StatusOr<std::optional<DeviceAccuracy>> Accuracy(const HardwareSpec& spec) const;
  // A HuggingFace config.json by catalog id or path; `*source` receives the file read.
  StatusOr<nlohmann::json> ModelConfig(const std::string& id_or_path, std::string* source) const;

 private:
  Status AttachGemmTable(HardwareSpec* spec) const;
  // CheckProxyOf for a GEMM table of `own_id` read from `file`: its `proxy_of` and that of each grid
  // with an origin of its own.
  Status CheckGemmTableProxies(const std::string& file, const std::string& own_id, const GemmTable& table) const;
  // `table` with its proxy grids' source ratios set (GemmTableFor). REQUIRES: CheckGemmTableProxies passed.
  StatusOr<std::shared_ptr<const GemmTable>> WithSourceRatios(std::shared_ptr<const GemmTable> table) const;
  // The path of <data>/<folder>/<name>.yaml; NotFound ("unknown <what> '<name>'") listing the
  // names the folder holds.
  StatusOr<std::string> NamedFile(const std::string& folder, const std::string& name, const std::string& what) const;

  std::string data_dir_;
};

// The reliability profile a scenario without `reliability.profile` uses: Meta's 16,384-GPU H100
// cluster of 2024, whose failure figures are the largest published from a primary source.
inline constexpr const char* kDefaultReliabilityProfile = "llama3-h100-16k";

// True if `ref` should be read as a path rather than looked up as an id.
bool LooksLikePath(const std::string& ref);

// Parses a JSON file; NotFound if missing. InvalidArgument naming the file if malformed (with the
// line and column where the parser gives them; a number too large for a double with the keys it
// lies under), if a key repeats in one object, or if it nests deeper than 500 levels.
StatusOr<nlohmann::json> LoadJsonFile(const std::string& path);

// Converts a YAML subtree (as written inline in a scenario) to JSON: scalars become numbers,
// booleans or null where they parse as such, else strings. InvalidArgument (naming `field`) past
// kMaxInlineNodes nodes (YAML aliases expand in the copy, and a few nested ones make billions) or
// 500 levels of nesting (an alias inside the node it names nests without end).
inline constexpr int64_t kMaxInlineNodes = 100000;
StatusOr<nlohmann::json> YamlToJson(const YAML::Node& node, const std::string& field);

}  // namespace preflight
