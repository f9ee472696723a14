#include "preflight/catalog/reliability_profile.h"

#include <array>
#include <cmath>
#include <cstdint>

#include "preflight/catalog/yaml_reader.h"

namespace preflight {
namespace {

enum class Kind { kRate, kCount, kTime, kBytesPerParam, kRateGBps };

struct FigureKey {
  const char* key;
  ReliabilityFigure ReliabilityProfile::*member;
  Kind kind;
  bool optional;
};

constexpr std::array<FigureKey, 10> kFigures = {{
    {"devices_per_node", &ReliabilityProfile::devices_per_node, Kind::kCount, false},
    {"failures_per_node_day", &ReliabilityProfile::failures_per_node_day, Kind::kRate, false},
    {"planned_per_node_day", &ReliabilityProfile::planned_per_node_day, Kind::kRate, false},
    {"detection_min", &ReliabilityProfile::detection_min, Kind::kTime, false},
    {"restart_min", &ReliabilityProfile::restart_min, Kind::kTime, false},
    {"checkpoint_write_gbytes_per_s_per_node", &ReliabilityProfile::checkpoint_write_gbytes_per_s_per_node,
     Kind::kRateGBps, false},
    {"checkpoint_write_gbytes_per_s_total", &ReliabilityProfile::checkpoint_write_gbytes_per_s_total, Kind::kRateGBps,
     true},
    {"checkpoint_bytes_per_param", &ReliabilityProfile::checkpoint_bytes_per_param, Kind::kBytesPerParam, false},
    {"checkpoint_blocking_s", &ReliabilityProfile::checkpoint_blocking_s, Kind::kTime, true},
    {"checkpoint_interval_min", &ReliabilityProfile::checkpoint_interval_min, Kind::kTime, true},
}};

const FigureKey* Find(const std::string& key) {
  for (const FigureKey& f : kFigures) {
    if (key == f.key) return &f;
  }
  return nullptr;
}

StatusOr<ReliabilityFigure> ReadFigure(const MapReader& r, const std::string& key) {
  ASSIGN_OR_RETURN(MapReader f, r.Map(key));
  RETURN_IF_ERROR(f.CheckKnownKeys({"value", "source", "note"}));
  ReliabilityFigure out;
  out.given = true;
  ASSIGN_OR_RETURN(out.value, f.Number("value"));
  ASSIGN_OR_RETURN(out.source, f.String("source"));
  if (out.source.empty()) return f.Error("source", "where the figure comes from");
  ASSIGN_OR_RETURN(out.note, f.StringOr("note", ""));
  const std::string expected = ReliabilityValueExpected(key, out.value);
  if (!expected.empty()) return f.Error("value", expected);
  return out;
}

}  // namespace

const std::vector<std::string>& ReliabilityFigureKeys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const FigureKey& f : kFigures) k.emplace_back(f.key);
    return k;
  }();
  return keys;
}

std::string ReliabilityValueExpected(const std::string& key, double value) {
  const FigureKey* f = Find(key);
  if (f == nullptr) return "one of the reliability figures";
  if (!std::isfinite(value)) return "a finite number";
  switch (f->kind) {
    case Kind::kRate:
      return value >= 0 && value <= 10 ? "" : "a rate per node and day from 0 to 10";
    case Kind::kCount:
      return value >= 1 && value <= 1e6 && value == std::floor(value) ? "" : "a whole number of devices from 1 to 1e6";
    case Kind::kTime:
      if (key == "checkpoint_blocking_s") {  // 0: in-memory checkpoints stall nothing
        return value >= 0 && value <= 1e6 ? "" : "a time from 0 to 1e6";
      }
      return value > 0 && value <= 1e6 ? "" : "a time above 0, at most 1e6";
    case Kind::kRateGBps:  // a node writing slower than 1 MB/s is not a storage system
      return value >= 1e-3 && value <= 1e6 ? "" : "a rate from 0.001 to 1e6 GB/s";
    case Kind::kBytesPerParam:
      return value > 0 && value <= 1e3 ? "" : "a number of bytes above 0, at most 1000";
  }
  return "";
}

std::vector<std::string> FiguresFromScenario(const ReliabilityProfile& p) {
  std::vector<std::string> keys;
  for (const FigureKey& f : kFigures) {
    if ((p.*(f.member)).from_scenario) keys.emplace_back(f.key);
  }
  return keys;
}

ReliabilityFigure* FigureAt(ReliabilityProfile& p, const std::string& key) {
  const FigureKey* f = Find(key);
  return f == nullptr ? nullptr : &(p.*(f->member));
}

const ReliabilityFigure* FigureAt(const ReliabilityProfile& p, const std::string& key) {
  const FigureKey* f = Find(key);
  return f == nullptr ? nullptr : &(p.*(f->member));
}

StatusOr<ReliabilityProfile> LoadReliabilityProfile(const std::string& path) {
  ASSIGN_OR_RETURN(YAML::Node root, LoadYamlFile(path));
  MapReader r(root, path, "");
  RETURN_IF_ERROR(r.ExpectMap());
  std::vector<std::string_view> known = {"id", "cluster", "vendor", "note"};
  for (const FigureKey& f : kFigures) known.emplace_back(f.key);
  RETURN_IF_ERROR(r.CheckKnownKeys(known));
  ReliabilityProfile p;
  p.file = path;
  ASSIGN_OR_RETURN(p.id, r.Line("id"));
  if (p.id.find_first_not_of(" \t") == std::string::npos) return r.Error("id", "a non-empty id");
  ASSIGN_OR_RETURN(p.cluster, r.Line("cluster"));
  ASSIGN_OR_RETURN(p.vendor, r.LineOr("vendor", ""));
  for (const FigureKey& f : kFigures) {
    if (f.optional && !r.Has(f.key)) continue;
    ASSIGN_OR_RETURN(p.*(f.member), ReadFigure(r, f.key));
  }
  return p;
}

}  // namespace preflight
