// Loading scenario files and validation lists, with the command line's overrides (--set and the
// flags) applied first and named in the errors they cause (scenario.h).
#include <algorithm>
#include <array>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "preflight/catalog/yaml_reader.h"
#include "preflight/model/hf_config.h"
#include "preflight/scenario/scenario.h"

namespace preflight {

namespace {

// Fields a scenario gives one of: an override of either replaces the other, so that a command-line
// --global-batch works on a file that states global_batch_tokens (and the like). A value that means
// "absent" (host_profile: none) replaces nothing.
struct AlternativeFields {
  std::string_view section, first, second, absent;
};
constexpr std::array<AlternativeFields, 2> kAlternativeFields = {{
    {"training", "global_batch", "global_batch_tokens", ""},
    {"training", "host_profile", "host_overhead_per_kernel_us", "none"},
}};

void ClearAlternative(YAML::Node& root, const Override& o) {
  if (!root.IsMap()) return;
  for (const AlternativeFields& f : kAlternativeFields) {
    const std::string first = std::string(f.section) + "." + std::string(f.first);
    const std::string second = std::string(f.section) + "." + std::string(f.second);
    if (o.key != first && o.key != second) continue;
    if (!f.absent.empty() && o.value == f.absent) continue;
    YAML::Node node = root[std::string(f.section)];
    if (node.IsMap()) node.remove(std::string(o.key == first ? f.second : f.first));
  }
}

// Whether `value` is how YAML writes null (nothing, ~, null): `parallel` given so is searched, as
// `parallel:` in a file is.
bool IsNullText(const std::string& value) {
  return value.empty() || value == "~" || value == "null" || value == "Null" || value == "NULL";
}

// The node an override's value stands for: a YAML flow sequence or mapping (`[mlp, moe]`,
// `{devices: 512}`) as that collection, null for a value YAML reads as null (~, null; for
// `parallel`, nothing too), as a file's `key: null` is: bad input for a scenario key, a search for
// `parallel`, and "absent" for a Hugging Face config's key. Anything else is the scalar text it is.
StatusOr<YAML::Node> OverrideValue(const Override& o) {
  if (IsNullText(o.value) && (o.key == "parallel" || !o.value.empty())) return YAML::Node(YAML::NodeType::Null);
  const bool flow = !o.value.empty() && (o.value.front() == '[' || o.value.front() == '{');
  if (!flow) return YAML::Node(o.value);
  const std::string what = o.value.front() == '[' ? "a YAML flow sequence ([a, b])" : "a YAML flow mapping ({key: value})";
  // Read inside a list of its own: text after the collection (`[a] b`, `{x: 1} junk`), which a
  // YAML document would silently drop, is then a syntax error or a second item.
  YAML::Node wrapped;
  try {
    wrapped = YAML::Load("[" + o.value + "\n]");
  } catch (const YAML::Exception& e) {
    return InvalidArgument(o.key + ": expected " + what + ", got '" + o.value + "' (" + e.msg + ")");
  }
  if (!wrapped.IsSequence() || wrapped.size() != 1 || !(wrapped[0].IsSequence() || wrapped[0].IsMap())) {
    return InvalidArgument(o.key + ": expected " + what + " and nothing after it, got '" + o.value + "'");
  }
  return wrapped[0];
}

// Sets the dotted key below `root` to `value`, making the maps on its path.
void SetDotted(YAML::Node& root, const std::string& key, const YAML::Node& value) {
  if (!root.IsMap()) root = YAML::Node(YAML::NodeType::Map);
  size_t dot = key.find('.');
  if (dot == std::string::npos) {
    root[key] = value;
    return;
  }
  std::string head = key.substr(0, dot);
  YAML::Node child = root[head];
  if (!child.IsMap()) {
    child = YAML::Node(YAML::NodeType::Map);
    root[head] = child;
  }
  SetDotted(child, key.substr(dot + 1), value);
}

// An error in a field (or below a field) that an override set says so: the value came from the
// command line, not from the file the message names. An error elsewhere names the command line's
// values only when they caused it (`valid_without_overrides`: the file alone reads cleanly).
Status NameOverride(const Status& s, const std::string& path, const std::string& prefix,
                    const std::vector<Override>& overrides, bool valid_without_overrides) {
  if (s.ok() || overrides.empty()) return s;
  const std::string& m = s.message();
  const std::string head = path + ": " + (prefix.empty() ? "" : prefix + ".");
  // The field the message names: after the file (and the run's place), up to the next ": ".
  std::string field;
  if (m.starts_with(head)) {
    const size_t end = m.find(": ", head.size());
    if (end != std::string::npos) field = m.substr(head.size(), end - head.size());
  }
  const auto within = [](const std::string& inner, const std::string& outer) {
    return inner == outer || inner.starts_with(outer + ".") || inner.starts_with(outer + "[");
  };
  // A key given twice where the file alone reads cleanly came with an override's value (a mapping
  // that repeats a key); where the file alone fails, the file repeats it.
  const bool repeated_in_file = !valid_without_overrides && m.find(": given twice (") != std::string::npos;
  // A model's message names the key inside it after the next ": " (model: qk_nope_head_dim: ...):
  // the override of that very key is the one to name, before any other of the model's.
  if (!field.empty() && !repeated_in_file) {
    const size_t start = head.size() + field.size() + 2;
    const size_t end = m.find(": ", start);
    const std::string deeper = end == std::string::npos ? "" : field + "." + m.substr(start, end - start);
    for (auto o = overrides.rbegin(); o != overrides.rend() && !deeper.empty(); ++o) {
      if (within(deeper, o->key)) {
        return Status(s.code(), m + " (the value given on the command line: " + o->key + "=" + o->value + ")");
      }
    }
  }
  for (auto o = overrides.rbegin(); o != overrides.rend() && !repeated_in_file; ++o) {  // the last one given wins
    // The overridden field, a field inside it, or the mapping that holds it (an unknown key).
    if (!field.empty() && (within(field, o->key) || within(o->key, field))) {
      return Status(s.code(), m + " (the value given on the command line: " + o->key + "=" + o->value + ")");
    }
  }
  // Another field, found wrong only with the command line's values in place (a --seq-len that the
  // file's global_batch_tokens is no multiple of): say which values those were.
  if (!valid_without_overrides) return s;
  std::string given;
  for (const Override& o : overrides) given += (given.empty() ? "" : ", ") + o.key + "=" + o.value;
  if (given.size() > 200) given = given.substr(0, 200) + "...";
  return Status(s.code(), m + " (with the command line's " + given + ")");
}

// A dotted key with no empty part.
Status CheckOverrideKey(const Override& o) {
  if (o.key.empty()) return InvalidArgument("override: expected key=value, got '=" + o.value + "'");
  if (o.key.front() == '.' || o.key.back() == '.' || o.key.find("..") != std::string::npos) {
    return InvalidArgument("override: expected a dotted key without an empty part, got '" + o.key + "'");
  }
  return Status::Ok();
}

// Sets `value` at the override's key, replacing the field it is an alternative to.
void SetOverrideValue(YAML::Node& root, const Override& o, const YAML::Node& value) {
  ClearAlternative(root, o);
  SetDotted(root, o.key, value);
}

// A status about a field of run `prefix` of `path`, named where the scenario's own errors are.
Status Located(const Status& s, const std::string& path, const std::string& prefix) {
  if (s.ok()) return s;
  return Status(s.code(), path + ": " + (prefix.empty() ? "" : prefix + ".") + s.message());
}

// An override that cannot be applied, named where the scenario's own errors are: the file, the
// run's place in it, the key, and that the value came from the command line.
Status NameBadOverride(const Status& s, const std::string& path, const std::string& prefix) {
  if (s.ok()) return s;
  return Status(s.code(), Located(s, path, prefix).message() + " (the value given on the command line)");
}

// Whether the override sets a key inside the section `section` ("model.vocab_size").
bool Inside(const Override& o, const std::string& section) { return o.key.starts_with(section + "."); }

// Fields that take a path: the command line's relative paths are the working directory's (README,
// "Data"), where a scenario's own are looked up beside it first.
constexpr std::array<std::string_view, 6> kPathFields = {
    "model", "hardware", "cluster.collective_table", "cluster.gemm_table", "training.host_profile", "reliability.profile"};

// `value` made the working directory's when it is a relative path; as given otherwise.
std::string FromWorkingDirectory(const std::string& value) {
  if (!LooksLikePath(value)) return value;
  std::error_code ec;  // no working directory: left as given, to fail where it is read
  const std::filesystem::path path(value);
  if (!path.is_relative()) return value;
  const std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  return ec ? value : absolute.string();
}

// Sets one command-line override in `run` (ApplyOverride), its relative paths the working
// directory's: the value where its key is a path field, or the path fields of a flow mapping it
// sets (`cluster={devices: 8, gemm_table: t.yaml}`). A hardware file is replaced whole (its figures
// carry their sources), not key by key.
Status SetRunOverride(YAML::Node& run, Override o) {
  if (Inside(o, "hardware")) {
    return InvalidArgument(o.key + ": expected hardware=ID_OR_PATH: a hardware file is replaced whole, not key by key "
                           "(the cluster fields override capacity and bandwidths; copy data/hardware/ID.yaml for the rest)");
  }
  RETURN_IF_ERROR(CheckOverrideKey(o));
  if (std::find(kPathFields.begin(), kPathFields.end(), o.key) != kPathFields.end()) o.value = FromWorkingDirectory(o.value);
  ASSIGN_OR_RETURN(YAML::Node value, OverrideValue(o));
  if (value.IsMap()) {
    for (std::string_view field : kPathFields) {
      if (!field.starts_with(o.key + ".")) continue;
      const std::string child(field.substr(o.key.size() + 1));
      if (child.find('.') == std::string::npos && value[child] && value[child].IsScalar()) {
        value[child] = FromWorkingDirectory(value[child].Scalar());
      }
    }
  }
  SetOverrideValue(run, o, value);
  return Status::Ok();
}

// Applies the command line's overrides to run `prefix` of `path` in order. Before a `model.KEY`
// override, a model the run names by catalog id or path is read into the run (ModelAsMapping), so
// that the override changes that key alone (the model is then inline); reading it fails as the
// file's model field, or as the command line's where an earlier override named the model.
Status ApplyRunOverrides(YAML::Node& run, const std::vector<Override>& overrides, const std::string& path,
                         const std::string& prefix, const Catalog& catalog) {
  bool model_given = false;
  for (const Override& o : overrides) {
    if (Inside(o, "model") && run.IsMap() && run["model"] && !run["model"].IsMap()) {
      StatusOr<YAML::Node> model = ModelAsMapping(run, path, catalog);
      if (!model.ok()) {
        return model_given ? NameBadOverride(model.status(), path, prefix) : Located(model.status(), path, prefix);
      }
      run["model"] = *model;
    }
    RETURN_IF_ERROR(NameBadOverride(SetRunOverride(run, o), path, prefix));
    model_given = model_given || o.key == "model";
  }
  return Status::Ok();
}

// After the run reads: a `model.KEY` override whose key the model's config reader never looks up
// (a misspelt key, or one its model_type does not have) would change nothing.
Status CheckModelOverrideKeys(const YAML::Node& run, const std::vector<Override>& overrides, const std::string& file,
                              const std::string& prefix) {
  for (const Override& o : overrides) {
    if (!Inside(o, "model") || !run["model"].IsMap()) continue;
    const std::string key = o.key.substr(6, o.key.find('.', 6) - 6);
    ASSIGN_OR_RETURN(nlohmann::json config, YamlToJson(run["model"], Located(InvalidArgument("model"), file, prefix).message()));
    const std::set<std::string> read = HfConfigKeysRead(config);
    if (read.empty() || read.contains(key)) continue;
    std::string keys;
    for (const std::string& k : read) keys += (keys.empty() ? "" : ", ") + k;
    return NameBadOverride(InvalidArgument(o.key + ": expected a key its model_type " +
                                           config.value("model_type", std::string("?")) + " reads (" + keys + "), got '" +
                                           key + "'"),
                           file, prefix);
  }
  return Status::Ok();
}

// Training settings that hold only beside others (Drops, scenario/internal/fields.h): the command line's values
// may rule out the file's.
constexpr std::array<std::string_view, 5> kDependentTrainingKeys = {
    "low_precision_activations", "fp8_dispatch", "attention_kernel", "ep_comm_units", "fp8_recipe"};
// The command line's keys that rule them out.
constexpr std::array<std::string_view, 6> kRulingKeys = {"hardware",        "training.precision",
                                                         "training.flash_attention", "training.ep_dispatcher",
                                                         "parallel.pp",     "parallel.recompute"};

// The dependent keys the file's own values give: those the overrides set (the key, or the whole of
// `training`) stay the command line's to answer for.
std::vector<std::string> DroppableKeys(const std::vector<Override>& overrides) {
  std::vector<std::string> keys;
  for (std::string_view key : kDependentTrainingKeys) {
    const std::string dotted = "training." + std::string(key);
    const bool set = std::any_of(overrides.begin(), overrides.end(), [&](const Override& o) {
      return o.key == "training" || o.key == dotted || o.key.starts_with(dotted + ".");
    });
    if (!set) keys.emplace_back(key);
  }
  // A cluster's tables measured on the file's device, where the command line names another; the
  // activation offload, where it brings a pipeline or recompute.
  for (std::string_view key : {"cluster.collective_table", "cluster.gemm_table", "parallel.cpu_offload_layers"}) {
    const std::string_view section = key.substr(0, key.find('.'));
    const bool set = std::any_of(overrides.begin(), overrides.end(), [&](const Override& o) {
      return o.key == section || o.key == key;
    });
    if (!set) keys.emplace_back(key);
  }
  return keys;
}

// "the command line's hardware=ascend-910c": the overrides that rule settings out (all of them
// where none of those is given).
std::string RuledOutBy(const std::vector<Override>& overrides) {
  std::string given;
  for (bool all : {false, true}) {
    for (const Override& o : overrides) {
      if (all || std::find(kRulingKeys.begin(), kRulingKeys.end(), o.key) != kRulingKeys.end()) {
        given += (given.empty() ? "" : ", ") + o.key + "=" + o.value;
      }
    }
    if (!given.empty()) break;
  }
  if (given.size() > 200) given = given.substr(0, 200) + "...";
  return "the command line's " + given;
}

// Activation offloading beside a pipeline or recompute in a layout the scenario states: an invalid
// plan as the file gives it, a setting to drop where the command line brought the pair.
bool OffloadRuledOut(const Scenario& s) { return !s.auto_parallel && s.plan.OffloadsBesidePipelineOrRecompute(); }

// Reads run `prefix` of `path`: `run`, the file's `original` with the overrides applied. Where that
// fails, or pairs the file's activation offload with a pipeline or recompute, and the file alone
// reads cleanly, the command line's values caused it: the file's settings they rule out are
// dropped with a note (ParseOptions), and an error left names the command line.
StatusOr<Scenario> ParseRun(const YAML::Node& run, const YAML::Node& original, const std::string& path,
                            const std::string& prefix, const std::vector<Override>& overrides, const Catalog& catalog) {
  StatusOr<Scenario> s = ParseScenario(run, path, prefix, catalog);
  if (overrides.empty() || (s.ok() && !OffloadRuledOut(*s))) return s;
  StatusOr<Scenario> file = ParseScenario(original, path, prefix, catalog);
  if (!file.ok()) return s.ok() ? s : NameOverride(s.status(), path, prefix, overrides, false);
  ParseOptions lenient{.droppable = DroppableKeys(overrides), .because = RuledOutBy(overrides)};
  // The file's own pair stays its invalid plan.
  if (OffloadRuledOut(*file)) std::erase(lenient.droppable, std::string("parallel.cpu_offload_layers"));
  StatusOr<Scenario> again = ParseScenario(run, path, prefix, catalog, lenient);
  if (again.ok()) return again;
  return s.ok() ? s : NameOverride(again.status(), path, prefix, overrides, true);
}

}  // namespace

Status ApplyOverride(YAML::Node& root, const Override& o) {
  RETURN_IF_ERROR(CheckOverrideKey(o));
  ASSIGN_OR_RETURN(YAML::Node value, OverrideValue(o));
  SetOverrideValue(root, o, value);
  return Status::Ok();
}

StatusOr<Scenario> LoadScenarioFile(const std::string& path, const Catalog& catalog,
                                    const std::vector<Override>& overrides) {
  ASSIGN_OR_RETURN(const YAML::Node original, LoadYamlFile(path));
  if (!original.IsMap()) return InvalidArgument(path + ": expected a scenario mapping, got " + DescribeNode(original));
  YAML::Node root = YAML::Clone(original);
  RETURN_IF_ERROR(ApplyRunOverrides(root, overrides, path, "", catalog));
  ASSIGN_OR_RETURN(Scenario s, ParseRun(root, original, path, "", overrides, catalog));
  RETURN_IF_ERROR(CheckModelOverrideKeys(root, overrides, path, ""));
  return s;
}

namespace {

// Runs without a layout (`parallel` absent or `auto`, after the overrides) are searched, each in a
// tenth of a second to a few seconds: counted before any run is read, so that too many fail at
// once. Where an override made them searches, the message says so.
Status CheckSearchedRuns(const YAML::Node& list, const std::string& path, const std::string& prefix,
                         const std::vector<Override>& overrides) {
  // Overrides decide for every run, the last one that touches `parallel`: the whole of it (auto or
  // a layout), or a key inside it (which makes a layout of an `auto`).
  int forced = -1;
  const Override* searching = nullptr;  // the override that makes every run a search
  for (const Override& o : overrides) {
    if (o.key == "parallel") {
      forced = o.value == "auto" || IsNullText(o.value) ? 1 : 0;
      searching = forced == 1 ? &o : nullptr;
    }
    if (o.key.starts_with("parallel.")) forced = 0, searching = nullptr;
  }
  size_t searched = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node run = list[i];
    if (!run.IsMap()) continue;  // the run's own error comes when it is read
    const YAML::Node parallel = run["parallel"];
    const bool absent = !parallel || parallel.IsNull() || (parallel.IsScalar() && parallel.Scalar() == "auto");
    const bool automatic = forced >= 0 ? forced == 1 : absent;
    if (automatic && ++searched > kMaxAutoValidationRuns) {
      return InvalidArgument(path + ": " + prefix + "[" + std::to_string(i) + "].parallel: expected at most " +
                             std::to_string(kMaxAutoValidationRuns) +
                             " runs without a layout in one file (each is a search), got more" +
                             (searching ? " (the value given on the command line: " + searching->key + "=" +
                                              searching->value + ")"
                                        : std::string()));
    }
  }
  return Status::Ok();
}

// "a, b or c": the metrics a validation run may give.
std::string MetricList() {
  const std::vector<std::string>& names = MeasuredMetricNames();
  std::string list;
  for (size_t i = 0; i < names.size(); ++i) {
    list += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  }
  return list;
}

}  // namespace

StatusOr<std::vector<Scenario>> LoadScenarioList(const std::string& path, const Catalog& catalog,
                                                 const std::vector<Override>& overrides) {
  ASSIGN_OR_RETURN(YAML::Node root, LoadYamlFile(path));
  YAML::Node list = root;
  std::string prefix;
  if (root.IsMap() && root["runs"]) {
    RETURN_IF_ERROR(MapReader(root, path, "").CheckKnownKeys({"runs"}));
    list = root["runs"];
    prefix = "runs";
  }
  if (!list.IsSequence()) {
    return InvalidArgument(path + ": expected a list of scenarios (or runs: [...]), got " + DescribeNode(list));
  }
  if (list.size() > kMaxValidationRuns) {
    return InvalidArgument(path + ": " + (prefix.empty() ? std::string("the list") : prefix) + ": expected at most " +
                           std::to_string(kMaxValidationRuns) + " runs, got " + std::to_string(list.size()));
  }
  RETURN_IF_ERROR(CheckSearchedRuns(list, path, prefix, overrides));
  std::vector<Scenario> out;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string field = prefix.empty() ? "[" + std::to_string(i) + "]" : prefix + "[" + std::to_string(i) + "]";
    const YAML::Node original = list[i];
    if (!overrides.empty() && !original.IsMap()) {
      return InvalidArgument(path + ": " + field + ": expected a scenario mapping, got " + DescribeNode(original));
    }
    // A copy of its own (assigning a node to a node would re-point the list's run at the copy, and
    // the file's run, read again below to tell the command line's errors apart, would change too).
    YAML::Node run = overrides.empty() ? original : YAML::Clone(original);
    RETURN_IF_ERROR(ApplyRunOverrides(run, overrides, path, field, catalog));
    ASSIGN_OR_RETURN(Scenario s, ParseRun(run, original, path, field, overrides, catalog));
    RETURN_IF_ERROR(CheckModelOverrideKeys(run, overrides, path, field));
    if (s.measured.metrics.empty()) {
      return MapReader(run, path, field)
          .Error("measured", "the run's measured figures, a number for at least one of " + MetricList() +
                                 " (every run of a validation file has them)");
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace preflight
