#include "preflight/catalog/catalog.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "preflight/catalog/gemm_table.h"
#include "preflight/catalog/yaml_reader.h"

#ifndef PREFLIGHT_DEFAULT_DATA_DIR
#define PREFLIGHT_DEFAULT_DATA_DIR "data"
#endif

namespace preflight {
namespace fs = std::filesystem;

Catalog Catalog::Default() {
  const char* env = std::getenv("PREFLIGHT_DATA");
  if (env != nullptr && *env != '\0') return Catalog(env);
  return Catalog(PREFLIGHT_DEFAULT_DATA_DIR);
}

namespace {

// Whether `p` exists; false (not an exception) for a name too long or a loop of links.
bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

std::vector<std::string> IdsIn(const fs::path& dir, const std::string& ext) {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ext) ids.push_back(entry.path().stem().string());
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Every `proxy_of` key under `node` (already checked to be an id by the parser), with its field
// path as messages write it ("efficiency.gemm_fraction.bf16.proxy_of"). A parsed hardware file has
// a few hundred nodes; `budget` bounds the walk should aliases multiply them.
void CollectProxyOf(const YAML::Node& node, const std::string& at,
                    std::vector<std::pair<std::string, std::string>>* out, int* budget) {
  if (--*budget < 0) return;
  if (node.IsMap()) {
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) continue;
      const std::string key = kv.first.Scalar();
      const std::string field = at.empty() ? key : at + "." + key;
      if (key == "proxy_of" && kv.second.IsScalar()) {
        out->emplace_back(field, kv.second.Scalar());
      } else {
        CollectProxyOf(kv.second, field, out, budget);
      }
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      CollectProxyOf(node[i], at + "[" + std::to_string(i) + "]", out, budget);
    }
  }
}

// Catalog::CheckProxyOf against the catalog's hardware ids `ids` (listed by the caller).
Status CheckProxyOfAmong(const std::vector<std::string>& ids, const std::string& file, const std::string& field,
                         const std::string& own_id, const std::string& proxy_of) {
  if (proxy_of != own_id && std::find(ids.begin(), ids.end(), proxy_of) != ids.end()) return Status::Ok();
  std::string others;
  for (const std::string& id : ids) {
    if (id != own_id) others += (others.empty() ? "" : ", ") + id;
  }
  return InvalidArgument(file + ": " + field + ": expected the catalog id of another device, the one the figure was " +
                         "measured on (" + others + "), got '" + proxy_of + "'" +
                         (proxy_of == own_id ? " (this device)" : ""));
}

// A file the catalog found by its id (<folder>/<id>.yaml) states that id: the name is how a scenario
// finds it, and `id:` is what plans, warnings and the GEMM tables name it by.
Status CheckIdIsFileName(const std::string& path, const std::string& name, const std::string& id) {
  if (id == name) return Status::Ok();
  return InvalidArgument(path + ": id: expected '" + name + "' (the file's name, by which the catalog finds it), got '" +
                         id + "'");
}

}  // namespace

bool LooksLikePath(const std::string& ref) {
  return ref.find('/') != std::string::npos || EndsWith(ref, ".yaml") || EndsWith(ref, ".yml") ||
         EndsWith(ref, ".json");
}

std::vector<std::string> Catalog::HardwareIds() const {
  return IdsIn(fs::path(data_dir_) / "hardware", ".yaml");
}

std::vector<std::string> Catalog::ModelIds() const {
  return IdsIn(fs::path(data_dir_) / "models", ".json");
}

std::vector<std::string> Catalog::CollectiveTableIds() const {
  return IdsIn(fs::path(data_dir_) / "collectives", ".yaml");
}

std::vector<std::string> Catalog::HostProfileIds() const {
  return IdsIn(fs::path(data_dir_) / "host", ".yaml");
}

StatusOr<std::string> Catalog::NamedFile(const std::string& folder, const std::string& name,
                                         const std::string& what) const {
  const fs::path p = fs::path(data_dir_) / folder / (name + ".yaml");
  if (!name.empty() && Exists(p)) return p.string();
  std::string known;
  for (const std::string& id : IdsIn(fs::path(data_dir_) / folder, ".yaml")) known += (known.empty() ? "" : ", ") + id;
  return NotFound("unknown " + what + " '" + name + "' (the catalog has: " + (known.empty() ? "none" : known) +
                  "; or give a path to your own)");
}

StatusOr<CollectiveTable> Catalog::CollectiveTableById(const std::string& name) const {
  ASSIGN_OR_RETURN(std::string path, NamedFile("collectives", name, "collective table"));
  return LoadCollectiveTable(path);
}

StatusOr<HostProfile> Catalog::HostProfileById(const std::string& name) const {
  ASSIGN_OR_RETURN(std::string path, NamedFile("host", name, "host profile"));
  ASSIGN_OR_RETURN(HostProfile profile, LoadHostProfile(path));
  RETURN_IF_ERROR(CheckIdIsFileName(path, name, profile.id));
  return profile;
}

std::vector<std::string> Catalog::ReliabilityProfileIds() const {
  return IdsIn(fs::path(data_dir_) / "reliability", ".yaml");
}

StatusOr<ReliabilityProfile> Catalog::ReliabilityProfileById(const std::string& name) const {
  ASSIGN_OR_RETURN(std::string path, NamedFile("reliability", name, "reliability profile"));
  ASSIGN_OR_RETURN(ReliabilityProfile profile, LoadReliabilityProfile(path));
  RETURN_IF_ERROR(CheckIdIsFileName(path, name, profile.id));
  return profile;
}

StatusOr<std::optional<DeviceAccuracy>> Catalog::Accuracy(const HardwareSpec& spec) const {
  const fs::path own = fs::path(data_dir_) / "hardware" / (spec.id + ".yaml");
  if (spec.id.empty() || spec.file != own.string()) return std::optional<DeviceAccuracy>();
  const fs::path table = fs::path(data_dir_) / "accuracy" / "by-device.yaml";
  if (!Exists(table)) return std::optional<DeviceAccuracy>();
  ASSIGN_OR_RETURN(AccuracyTable t, LoadAccuracyTable(table.string()));
  const DeviceAccuracy* d = t.Find(spec.id);
  return d == nullptr ? std::optional<DeviceAccuracy>() : std::optional<DeviceAccuracy>(*d);
}

StatusOr<HardwareSpec> Catalog::Hardware(const std::string& id_or_path) const {
  std::string path = id_or_path;
  if (!LooksLikePath(id_or_path)) {
    path = (fs::path(data_dir_) / "hardware" / (id_or_path + ".yaml")).string();
    if (!Exists(path)) {
      return NotFound("unknown hardware id '" + id_or_path + "' (see `preflight catalog list`)");
    }
  }
  ASSIGN_OR_RETURN(YAML::Node root, LoadYamlFile(path));
  ASSIGN_OR_RETURN(HardwareSpec spec, ParseHardwareSpec(root, path));
  if (!LooksLikePath(id_or_path)) RETURN_IF_ERROR(CheckIdIsFileName(path, id_or_path, spec.id));
  std::vector<std::pair<std::string, std::string>> proxies;
  int budget = 100000;
  CollectProxyOf(root, "", &proxies, &budget);
  if (!proxies.empty()) {
    const std::vector<std::string> ids = HardwareIds();  // listed once, not once per proxy
    for (const auto& [field, id] : proxies) RETURN_IF_ERROR(CheckProxyOfAmong(ids, path, field, spec.id, id));
  }
  RETURN_IF_ERROR(AttachGemmTable(&spec));
  return spec;
}

Status Catalog::CheckProxyOf(const std::string& file, const std::string& field, const std::string& own_id,
                             const std::string& proxy_of) const {
  if (proxy_of.empty()) return Status::Ok();
  return CheckProxyOfAmong(HardwareIds(), file, field, own_id, proxy_of);
}

Status Catalog::AttachGemmTable(HardwareSpec* spec) const {
  const fs::path p = fs::path(data_dir_) / "gemm" / (spec->id + ".yaml");
  if (!Exists(p)) return Status::Ok();
  ASSIGN_OR_RETURN(spec->gemm_table, GemmTableFor(*spec, p.string()));
  return Status::Ok();
}

StatusOr<std::shared_ptr<const GemmTable>> Catalog::GemmTableFor(const HardwareSpec& spec, const std::string& path) const {
  ASSIGN_OR_RETURN(std::shared_ptr<const GemmTable> table, LoadGemmTableFor(spec, path));
  RETURN_IF_ERROR(CheckGemmTableProxies(path, spec.id, *table));
  return WithSourceRatios(std::move(table));
}

StatusOr<std::shared_ptr<const GemmTable>> Catalog::WithSourceRatios(std::shared_ptr<const GemmTable> table) const {
  std::shared_ptr<GemmTable> out;
  std::map<std::string, HardwareSpec> measured;  // each measuring device's file, read once
  for (int i = 0; i < kNumDtypes; ++i) {
    const Dtype d = static_cast<Dtype>(i);
    const std::string& source = table->ProxyOf(d);
    if (!table->Has(d) || source.empty()) continue;
    if (!measured.count(source)) {
      // The measuring device's figures alone: its own table is not attached (no chain of tables).
      const fs::path file = fs::path(data_dir_) / "hardware" / (source + ".yaml");
      ASSIGN_OR_RETURN(measured[source], LoadHardwareSpec(file.string()));
    }
    const HardwareSpec& on = measured.at(source);
    if (!SustainedRatioDtype(on, d)) continue;
    if (!out) out = std::make_shared<GemmTable>(*table);
    out->SetSourceSustain(d, SustainedRatio(on, d));
  }
  if (!out) return table;
  return std::shared_ptr<const GemmTable>(std::move(out));
}

Status Catalog::CheckGemmTableProxies(const std::string& file, const std::string& own_id,
                                      const GemmTable& table) const {
  RETURN_IF_ERROR(CheckProxyOf(file, "proxy_of", own_id, table.proxy_of));
  for (Dtype d : table.GridsWithOwnOrigin()) {  // a grid measured elsewhere than the rest of the file
    RETURN_IF_ERROR(CheckProxyOf(file, "shapes." + std::string(DtypeName(d)) + ".proxy_of", own_id, table.ProxyOf(d)));
  }
  return Status::Ok();
}

StatusOr<nlohmann::json> Catalog::ModelConfig(const std::string& id_or_path,
                                              std::string* source) const {
  std::string path = id_or_path;
  if (!LooksLikePath(id_or_path)) {
    path = (fs::path(data_dir_) / "models" / (id_or_path + ".json")).string();
    if (!Exists(path)) {
      // A link left pointing nowhere is listed by its directory but cannot be read: say which.
      std::error_code ec;
      if (fs::is_symlink(fs::symlink_status(path, ec))) return NotFound(path + ": cannot open file (a broken link)");
      return NotFound("unknown model id '" + id_or_path + "' (see `preflight catalog list`)");
    }
  }
  if (source != nullptr) *source = path;
  return LoadJsonFile(path);
}

StatusOr<nlohmann::json> LoadJsonFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadInputFile(path));
  // nlohmann keeps the last of a key given twice; a repeated key is refused instead, as in YAML.
  // Nesting is bounded as YAML's is (the parser follows any depth, but copying or printing such a
  // value recurses once per level): a value that opens deeper is not kept, and the file refused.
  constexpr int kMaxDepth = 500;
  struct OpenObject {
    std::set<std::string> keys;  // read so far
    std::string key;             // the one whose value is being read
  };
  std::vector<OpenObject> open;
  std::string repeated;
  bool too_deep = false;
  const auto check = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if ((event == E::object_start || event == E::array_start) && depth >= kMaxDepth) {
      too_deep = true;
      return false;  // parsed on, not kept
    }
    if (event == E::object_start) open.emplace_back();
    if (event == E::object_end && !open.empty()) open.pop_back();
    if (event == E::key && !open.empty()) {
      open.back().key = parsed.get<std::string>();
      if (!open.back().keys.insert(open.back().key).second && repeated.empty()) repeated = open.back().key;
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text, check);
  } catch (const nlohmann::json::exception& e) {
    // The library's text without its "[json.exception.parse_error.101] " tag.
    std::string what = e.what();
    const size_t tag_end = what.find("] ");
    if (what.starts_with("[json.exception.") && tag_end != std::string::npos) what.erase(0, tag_end + 2);
    // A number too large for a double carries no position: name the keys of the objects open there.
    std::string field;
    if (dynamic_cast<const nlohmann::json::out_of_range*>(&e) != nullptr) {
      for (const OpenObject& o : open) field += (field.empty() ? "" : ".") + o.key;
    }
    return InvalidArgument(path + ": " + (field.empty() ? "" : field + ": ") + "malformed JSON (" + what + ")");
  }
  if (too_deep) {
    return InvalidArgument(path + ": expected JSON nested less deeply, got nesting past " +
                           std::to_string(kMaxDepth) + " levels");
  }
  if (!repeated.empty()) return InvalidArgument(path + ": " + repeated + ": expected a key given once, got it twice");
  return j;
}

namespace {

nlohmann::json ScalarToJson(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted in the YAML source
  if (s == "null" || s == "~") return nullptr;
  if (s == "true" || s == "True") return true;
  if (s == "false" || s == "False") return false;
  try {
    size_t used = 0;
    long long i = std::stoll(s, &used);
    if (used == s.size()) return i;
    double d = std::stod(s, &used);
    if (used == s.size()) return d;
  } catch (const std::exception&) {
  }
  return s;
}

}  // namespace

namespace {

// Inline YAML nests no deeper than a JSON file may (LoadJsonFile): an alias that refers to a
// node it lies in (`&m {a: *m}`) nests without end, and its copy recursed a level at a time until
// the stack ran out, before the node budget did.
constexpr int kMaxInlineDepth = 500;

// The copy of `node`, or nothing once `budget` nodes have been spent, it nests deeper than
// kMaxInlineDepth (then `*too_deep`) or a key repeats (then `*repeated` names it).
std::optional<nlohmann::json> CopyYaml(const YAML::Node& node, int depth, int64_t* budget,
                                       std::string* repeated, bool* too_deep) {
  if (--*budget < 0) return std::nullopt;
  if (depth > kMaxInlineDepth) {
    *too_deep = true;
    return std::nullopt;
  }
  if (!node.IsDefined() || node.IsNull()) return nlohmann::json(nullptr);
  if (node.IsScalar()) return ScalarToJson(node);
  if (node.IsSequence()) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& item : node) {
      std::optional<nlohmann::json> v = CopyYaml(item, depth + 1, budget, repeated, too_deep);
      if (!v) return std::nullopt;
      arr.push_back(std::move(*v));
    }
    return arr;
  }
  nlohmann::json obj = nlohmann::json::object();
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) {
      *repeated = "?";  // not a name at all
      return std::nullopt;
    }
    const std::string key = kv.first.Scalar();
    if (obj.contains(key)) {
      *repeated = key;
      return std::nullopt;
    }
    std::optional<nlohmann::json> v = CopyYaml(kv.second, depth + 1, budget, repeated, too_deep);
    if (!v) return std::nullopt;
    obj[key] = std::move(*v);
  }
  return obj;
}

}  // namespace

StatusOr<nlohmann::json> YamlToJson(const YAML::Node& node, const std::string& field) {
  int64_t budget = kMaxInlineNodes;
  std::string repeated;
  bool too_deep = false;
  std::optional<nlohmann::json> j = CopyYaml(node, 0, &budget, &repeated, &too_deep);
  if (!j && too_deep) {
    return InvalidArgument(field + ": expected at most " + std::to_string(kMaxInlineDepth) +
                           " levels of nesting (an alias inside the node it names nests without end)");
  }
  if (!j && repeated == "?") return InvalidArgument(field + ": expected names as keys (a list or mapping given as a key)");
  if (!j && !repeated.empty()) return InvalidArgument(field + "." + repeated + ": given twice (expected each key once)");
  if (!j) return InvalidArgument(field + ": expected at most " + std::to_string(kMaxInlineNodes) +
                                 " YAML nodes (aliases expand)");
  return *j;
}

}  // namespace preflight
