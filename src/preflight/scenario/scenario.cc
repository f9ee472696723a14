#include "preflight/scenario/scenario.h"

#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "preflight/catalog/collective_table.h"
#include "preflight/catalog/gemm_table.h"
#include "preflight/catalog/yaml_reader.h"
#include "preflight/model/hf_config.h"
#include "preflight/scenario/internal/fields.h"

namespace preflight {
namespace fs = std::filesystem;
using scenario_internal::CheckMoeCapacity;
using scenario_internal::CheckTrainingAgainstPlan;
using scenario_internal::Drops;
using scenario_internal::IdleSettings;
using scenario_internal::ReadParallel;
using scenario_internal::ReadTraining;

const std::vector<std::string>& MeasuredMetricNames() {
  static const std::vector<std::string> kNames = {
      "step_time_s", "tokens_per_s_per_device", "tflops_per_device",
      "mfu",         "peak_memory_gib",         "device_hours_per_trillion_tokens"};
  return kNames;
}

namespace {

// A relative model/hardware path is looked up beside the scenario file first.
std::string ResolvePath(const std::string& ref, const std::string& file) {
  if (!LooksLikePath(ref) || fs::path(ref).is_absolute()) return ref;
  fs::path beside = fs::path(file).parent_path() / ref;
  std::error_code ec;  // a name too long or a loop of links: not beside, and not an exception
  if (fs::exists(beside, ec)) return beside.string();
  return ref;
}

// The figures every step needs: a peak rate for the GEMMs, the dtype they run in (FP8 falls back to
// the 16-bit one where the device has none) or bf16 (unknown, the step would be NaN), and the HBM
// bandwidth every elementwise pass and optimizer step reads at (not guessed).
Status CheckHardwareCanTime(const MapReader& r, const HardwareSpec& h, const TrainingJob& job) {
  const Dtype gemm = h.GemmDtype(job.precision);
  const std::string where = h.file.empty() ? h.id : h.file;
  // The cost model falls back to the bf16 peak (with a warning); with neither, the step is NaN.
  if (!h.peak(gemm).known() && !h.peak(Dtype::kBf16).known()) {
    return r.Error("hardware", where + " with peak_tflops." + std::string(DtypeName(gemm)) + " or bf16 known (" +
                                   std::string(DtypeName(job.precision)) + " training runs its GEMMs there)");
  }
  if (!h.hbm_bandwidth_tbytes_per_s.known()) {
    return r.Error("hardware", where + " with memory.bandwidth_tbytes_per_s known (every step's elementwise passes "
                                       "and optimizer read HBM at it)");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<YAML::Node> ModelAsMapping(const YAML::Node& run, const std::string& file, const Catalog& catalog) {
  const YAML::Node model = run.IsMap() ? run["model"] : YAML::Node();
  if (model.IsMap()) return YAML::Clone(model);
  if (!model.IsScalar()) return InvalidArgument("model: expected a catalog id, a config.json path or a mapping");
  auto config = catalog.ModelConfig(ResolvePath(model.Scalar(), file), nullptr);
  if (!config.ok()) return config.status().WithPrefix("model");
  // JSON is YAML's flow form: the config reads back as the mapping an inline model is.
  try {
    return YAML::Load(config->dump());
  } catch (const YAML::Exception& e) {
    return InvalidArgument("model: expected a config that reads as a mapping (" + e.msg + ")");
  }
}

namespace {

// The name of a model read from `ref`: a catalog id as given, a file by its stem, and a Hugging Face
// config.json (any file named config) by the folder it lies in (`path`, where it was read, made absolute: `config.json` and
// `./config.json` beside the scenario name the scenario's folder).
std::string ModelName(const std::string& ref, const std::string& path) {
  if (!LooksLikePath(ref)) return ref;
  const fs::path file(ref);
  if (file.stem() != "config") return file.stem().string();
  std::error_code ec;  // no working directory: the path as read
  fs::path absolute = fs::absolute(fs::path(path.empty() ? ref : path), ec);
  if (ec) absolute = fs::path(path.empty() ? ref : path);
  const std::string folder = absolute.lexically_normal().parent_path().filename().string();
  return folder.empty() || folder == "." || folder == ".." ? "config" : folder;
}

// The keys of a model's config that look like misspellings of keys its reader looks up
// (HfConfigNearMisses): each changes nothing, which a warning says.
void NoteNearMisses(const nlohmann::json& config, const std::string& where, std::vector<std::string>* notes) {
  for (const ConfigNearMiss& m : HfConfigNearMisses(config)) {
    notes->push_back(where + ": '" + m.key + "' is not a key model_type " + config.value("model_type", std::string("?")) +
                     " reads, so it changes nothing (did you mean '" + m.read + "'?)");
  }
}

StatusOr<Architecture> ReadModel(const MapReader& r, const Catalog& catalog, std::vector<std::string>* notes) {
  if (!r.Has("model")) return r.Error("model", "a catalog id, a config.json path or a mapping");
  const YAML::Node& node = r.node()["model"];
  if (node.IsMap()) {
    ASSIGN_OR_RETURN(nlohmann::json config, YamlToJson(node, r.file() + ": " + r.FieldName("model")));
    ASSIGN_OR_RETURN(Architecture a, ArchitectureFromHfConfig(config, "inline", r.file() + ": " + r.FieldName("model")));
    NoteNearMisses(config, r.FieldName("model"), notes);
    return a;
  }
  ASSIGN_OR_RETURN(std::string ref, r.String("model"));
  std::string path;
  auto config = catalog.ModelConfig(ResolvePath(ref, r.file()), &path);
  if (!config.ok()) return config.status().WithPrefix(r.file() + ": " + r.FieldName("model"));
  ASSIGN_OR_RETURN(Architecture a, ArchitectureFromHfConfig(*config, ModelName(ref, path), path));
  NoteNearMisses(*config, r.FieldName("model") + " (" + path + ")", notes);
  return a;
}

StatusOr<ClusterOverrides> ReadCluster(const MapReader& r) {
  ClusterOverrides o;
  ASSIGN_OR_RETURN(MapReader c, r.Map("cluster"));
  RETURN_IF_ERROR(c.CheckKnownKeys({"devices", "devices_per_node", "scale_up_domain",
                                    "scale_out_gbits_per_s_per_device", "hbm_capacity_gib", "pue",
                                    "scale_up_busbw_gbytes_per_s", "scale_out_busbw_gbytes_per_s",
                                    "gemm_table", "collective_table"}));
  ASSIGN_OR_RETURN(o.devices, c.Int("devices"));
  if (c.Has("devices_per_node")) { ASSIGN_OR_RETURN(o.devices_per_node, c.Int("devices_per_node")); }
  if (c.Has("scale_up_domain")) { ASSIGN_OR_RETURN(o.scale_up_domain, c.Int("scale_up_domain")); }
  if (c.Has("scale_out_gbits_per_s_per_device")) {
    ASSIGN_OR_RETURN(o.scale_out_gbits_per_s_per_device, c.Number("scale_out_gbits_per_s_per_device"));
  }
  if (c.Has("hbm_capacity_gib")) { ASSIGN_OR_RETURN(o.hbm_capacity_gib, c.Number("hbm_capacity_gib")); }
  if (c.Has("pue")) { ASSIGN_OR_RETURN(o.pue, c.Number("pue")); }
  if (c.Has("scale_up_busbw_gbytes_per_s")) {
    ASSIGN_OR_RETURN(o.scale_up_busbw_gbytes_per_s, c.Number("scale_up_busbw_gbytes_per_s"));
  }
  if (c.Has("scale_out_busbw_gbytes_per_s")) {
    ASSIGN_OR_RETURN(o.scale_out_busbw_gbytes_per_s, c.Number("scale_out_busbw_gbytes_per_s"));
  }
  return o;
}

// cluster.gemm_table: the user's own measured GEMM table for this hardware (a path, beside the
// scenario first), replacing the catalog's.
Status ReadGemmTable(const MapReader& r, const Catalog& catalog, Drops* drops, HardwareSpec* spec) {
  ASSIGN_OR_RETURN(MapReader c, r.Map("cluster"));
  if (!c.Has("gemm_table")) return Status::Ok();
  ASSIGN_OR_RETURN(std::string ref, c.String("gemm_table"));
  const std::string path = ResolvePath(ref, r.file());
  // A word that names no file (a catalog id, as collective_table takes): the catalog's tables are
  // read for their own device unasked, so the key takes a path alone.
  if (!LooksLikePath(ref) && !std::filesystem::exists(path)) {
    return InvalidArgument(r.file() + ": " + c.FieldName("gemm_table") +
                           ": expected the path of a GEMM table file (a catalog device reads its own, data/gemm/, "
                           "unnamed), got '" + ref + "'");
  }
  if (drops->MayDrop("cluster.gemm_table")) {  // measured on the file's device, not the command line's
    auto measured = LoadGemmTable(path);
    if (measured.ok() && measured->id != spec->id) {
      drops->Drop(c, "gemm_table", "a GEMM table measured on " + spec->id + " (it was measured on " + measured->id + ")");
      return Status::Ok();
    }
  }
  auto table = catalog.GemmTableFor(*spec, path);
  if (!table.ok()) return table.status().WithPrefix(r.file() + ": " + c.FieldName("gemm_table"));
  spec->gemm_table = *table;
  return Status::Ok();
}

// cluster.collective_table: collective times measured on this cluster by message size
// (nccl-tests), used for the groups they cover: a path (beside the scenario first), or the name of
// a table the catalog holds (data/collectives/), or none (the catalog's bus bandwidths, as when the
// key is absent). A table measured on other hardware is an error.
Status ReadCollectiveTable(const MapReader& r, const Catalog& catalog, Drops* drops, Cluster* cluster) {
  ASSIGN_OR_RETURN(MapReader c, r.Map("cluster"));
  if (!c.Has("collective_table")) return Status::Ok();
  ASSIGN_OR_RETURN(std::string ref, c.String("collective_table"));
  if (ref == "none") return Status::Ok();  // a what-if without a file's table (--set ...=none)
  auto table = LooksLikePath(ref) ? LoadCollectiveTable(ResolvePath(ref, r.file())) : catalog.CollectiveTableById(ref);
  const std::string field = r.file() + ": " + c.FieldName("collective_table");
  if (!table.ok()) return table.status().WithPrefix(field);
  if (!table->hardware.empty() && table->hardware != cluster->spec.id) {
    if (drops->MayDrop("cluster.collective_table")) {
      drops->Drop(c, "collective_table", "a table measured on " + cluster->spec.id + " (it was measured on " + table->hardware + ")");
      return Status::Ok();
    }
    return InvalidArgument(field + ": expected a table measured on " + cluster->spec.id + ", got '" + ref +
                           "', measured on " + table->hardware);
  }
  cluster->collectives = std::make_shared<const CollectiveTable>(std::move(*table));
  return Status::Ok();
}

// training.host_profile: host time per layer of the user's software stack, measured on its CPU
// (tools/host/measure_eager_host.py): a path (beside the scenario first), the name of a profile the
// catalog holds (data/host/), or `none` (the per-kernel estimate, as when the key is absent: lets
// `--set` switch a file's profile off). A profile replaces the per-kernel estimate, so not both.
Status ReadHostProfile(const MapReader& r, const Catalog& catalog, TrainingJob* job) {
  ASSIGN_OR_RETURN(MapReader t, r.Map("training"));
  const YAML::Node& training = t.node();
  const YAML::Node node = training["host_profile"];
  if (!node.IsDefined()) return Status::Ok();
  if (node.IsNull() || !node.IsScalar() || node.Scalar().empty()) {
    return t.Error("host_profile", "a host profile name or path, or none");
  }
  ASSIGN_OR_RETURN(std::string ref, t.String("host_profile"));
  if (ref == "none") return Status::Ok();
  if (t.Has("host_overhead_per_kernel_us")) {
    return t.Error("host_profile", "either host_profile or host_overhead_per_kernel_us, not both (host_profile: none "
                                   "switches the profile off)");
  }
  auto profile = LooksLikePath(ref) ? LoadHostProfile(ResolvePath(ref, r.file())) : catalog.HostProfileById(ref);
  if (!profile.ok()) return profile.status().WithPrefix(r.file() + ": " + t.FieldName("host_profile"));
  job->host_profile = std::make_shared<const HostProfile>(std::move(*profile));
  return Status::Ok();
}

// reliability: `none`, or a mapping with an optional `profile` (a path, beside the scenario first,
// or a name the catalog holds: data/reliability/; kDefaultReliabilityProfile when absent) and any
// of the profile's figures as plain numbers, which replace the profile's.
Status ReadReliability(const MapReader& r, const Catalog& catalog, Scenario* s) {
  const YAML::Node node = r.node()["reliability"];
  if (node.IsDefined() && node.IsScalar() && node.Scalar() == "none") return Status::Ok();
  std::string ref = kDefaultReliabilityProfile;
  ReliabilityProfile profile;
  if (node.IsDefined()) {
    if (!node.IsMap()) return r.Error("reliability", "a mapping (profile and figures) or none");
    ASSIGN_OR_RETURN(MapReader rel, r.Map("reliability"));
    std::vector<std::string_view> known = {"profile"};
    for (const std::string& key : ReliabilityFigureKeys()) known.emplace_back(key);
    RETURN_IF_ERROR(rel.CheckKnownKeys(known));
    ASSIGN_OR_RETURN(ref, rel.StringOr("profile", ref));
    auto loaded = LooksLikePath(ref) ? LoadReliabilityProfile(ResolvePath(ref, r.file()))
                                     : catalog.ReliabilityProfileById(ref);
    if (!loaded.ok()) return loaded.status().WithPrefix(r.file() + ": " + rel.FieldName("profile"));
    profile = std::move(*loaded);
    for (const std::string& key : ReliabilityFigureKeys()) {
      if (!rel.Has(key)) continue;
      ASSIGN_OR_RETURN(double value, rel.Number(key));
      const std::string expected = ReliabilityValueExpected(key, value);
      if (!expected.empty()) return rel.Error(key, expected);
      ReliabilityFigure& f = *FigureAt(profile, key);
      f = {.given = true, .value = value, .source = "scenario " + r.file(), .note = "", .from_scenario = true};
    }
  } else {
    auto loaded = catalog.ReliabilityProfileById(ref);
    if (!loaded.ok()) return loaded.status().WithPrefix(r.file() + ": reliability.profile (default)");
    profile = std::move(*loaded);
  }
  s->reliability = std::make_shared<const ReliabilityProfile>(std::move(profile));
  return Status::Ok();
}

// The FLOP counts data/validation/README.md names. An MFU or TFLOP/s figure is compared with
// preflight's own count (3 x forward GEMMs, full attention, no recompute), so it must name one that
// counts the same; a figure counted otherwise is converted to a step time by the file's author.
Status ReadFlopConvention(const MapReader& r, Measured* m) {
  static const std::vector<std::string> kNamed = {"6n", "bloom-8n", "korthikanti-mfu", "maxtext",
                                                  "megatron-full-recompute", "nvidia-recipe", "palm"};
  static const std::vector<std::string> kPreflights = {"korthikanti-mfu", "maxtext", "nvidia-recipe"};
  ASSIGN_OR_RETURN(m->flop_convention, r.StringOr("flop_convention", ""));
  const bool counted = std::any_of(m->metrics.begin(), m->metrics.end(), [](const auto& metric) {
    return metric.first == "mfu" || metric.first == "tflops_per_device";
  });
  const auto among = [&](const std::vector<std::string>& names) {
    return std::find(names.begin(), names.end(), m->flop_convention) != names.end();
  };
  if (counted && !among(kPreflights)) {
    return r.Error("flop_convention",
                   "korthikanti-mfu, maxtext or nvidia-recipe with an mfu or tflops_per_device figure (counts "
                   "as preflight's: 3 x forward, full attention, no recompute); convert another count to a step "
                   "time (data/validation/README.md)");
  }
  if (!m->flop_convention.empty() && !among(kNamed)) {
    return r.Error("flop_convention",
                   "one of 6n, bloom-8n, korthikanti-mfu, maxtext, megatron-full-recompute, nvidia-recipe, palm");
  }
  return Status::Ok();
}

Status ReadMeasured(const MapReader& root, Measured* m) {
  if (!root.Has("measured")) return Status::Ok();
  ASSIGN_OR_RETURN(MapReader r, root.Map("measured"));
  RETURN_IF_ERROR(r.CheckKnownKeys({"step_time_s", "tokens_per_s_per_device", "tflops_per_device",
                                    "mfu", "peak_memory_gib", "device_hours_per_trillion_tokens",
                                    "flop_convention"}));
  for (const std::string& name : MeasuredMetricNames()) {
    if (!r.Has(name)) continue;
    ASSIGN_OR_RETURN(double v, r.Number(name));
    // Bounds of sanity (an error relative to a vanishing measurement is meaningless); MFU is a fraction.
    const double hi = name == "mfu" ? 1.0 : 1e15;
    if (!(v >= 1e-9 && v <= hi)) {
      return r.Error(name, name == "mfu" ? "a fraction above 0 and at most 1" : "a number from 1e-9 to 1e15");
    }
    m->metrics.emplace_back(name, v);
  }
  return ReadFlopConvention(r, m);
}

}  // namespace

StatusOr<Scenario> ParseScenario(const YAML::Node& root, const std::string& file,
                                 const std::string& field_prefix, const Catalog& catalog,
                                 const ParseOptions& options) {
  MapReader r(root, file, field_prefix);
  RETURN_IF_ERROR(r.CheckKnownKeys({"name", "model", "hardware", "cluster", "parallel", "training",
                                    "reliability", "measured", "source", "note"}));
  Scenario s;
  s.file = file;
  ASSIGN_OR_RETURN(s.name, r.StringOr("name", fs::path(file).stem().string()));
  // The name heads every report and table row: one line of printable text. A name the file gives
  // with control characters is refused; one taken from the file's name has them replaced.
  if (r.Has("name") && HasControlCharacter(s.name)) {
    return r.Error("name", "a name without control characters (newlines, tabs, U+0080-U+009F, U+2028, U+2029, bidirectional controls)");
  }
  if (r.Has("name")) RETURN_IF_ERROR(r.Line("name").status());  // not empty or blank
  s.name = ReplaceControlCharacters(s.name, '_');
  ASSIGN_OR_RETURN(s.source, r.StringOr("source", ""));
  ASSIGN_OR_RETURN(s.note, r.StringOr("note", ""));
  std::vector<std::string> model_notes;
  ASSIGN_OR_RETURN(s.arch, ReadModel(r, catalog, &model_notes));
  ASSIGN_OR_RETURN(std::string hw_ref, r.String("hardware"));
  auto spec = catalog.Hardware(ResolvePath(hw_ref, file));
  if (!spec.ok()) return spec.status().WithPrefix(file + ": " + r.FieldName("hardware"));
  ASSIGN_OR_RETURN(ClusterOverrides overrides, ReadCluster(r));
  ASSIGN_OR_RETURN(s.cluster, BuildCluster(*spec, overrides, file, field_prefix.empty() ? "" : field_prefix + "."));
  Drops drops(options);
  RETURN_IF_ERROR(ReadGemmTable(r, catalog, &drops, &s.cluster.spec));
  RETURN_IF_ERROR(ReadCollectiveTable(r, catalog, &drops, &s.cluster));
  ASSIGN_OR_RETURN(MapReader training, r.Map("training"));
  (void)training;
  RETURN_IF_ERROR(ReadTraining(r, s.cluster.spec, &drops, &s.job, &s.plan.micro_batch));
  RETURN_IF_ERROR(CheckHardwareCanTime(r, s.cluster.spec, s.job));
  RETURN_IF_ERROR(ReadHostProfile(r, catalog, &s.job));
  RETURN_IF_ERROR(ReadReliability(r, catalog, &s));
  RETURN_IF_ERROR(ReadParallel(r, s.cluster.devices, &drops, &s));
  RETURN_IF_ERROR(CheckTrainingAgainstPlan(r, s));
  RETURN_IF_ERROR(CheckMoeCapacity(r, s));
  ASSIGN_OR_RETURN(s.idle_settings, IdleSettings(r, s));
  s.idle_settings.insert(s.idle_settings.end(), drops.notes().begin(), drops.notes().end());
  s.idle_settings.insert(s.idle_settings.end(), model_notes.begin(), model_notes.end());
  RETURN_IF_ERROR(ReadMeasured(r, &s.measured));
  return s;
}

}  // namespace preflight
