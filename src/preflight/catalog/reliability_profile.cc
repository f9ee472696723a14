#include "preflight/catalog/reliability_profile.h"

#include <cmath>

#include "preflight/catalog/yaml_reader.h"

namespace preflight {
namespace {

constexpr double kMaxRatePerNodeDay = 10;
constexpr double kMaxTime = 1e6;          // minutes or seconds
constexpr double kMaxBytesPerParam = 1e3;

bool IsRate(const std::string& key) { return key == "failures_per_node_day" || key == "planned_per_node_day"; }
bool IsOptional(const std::string& key) {
  return key == "checkpoint_blocking_s" || key == "checkpoint_interval_min";
}

StatusOr<ReliabilityFigure> ReadFigure(const MapReader& r, const std::string& key) {
  ASSIGN_OR_RETURN(MapReader f, r.Map(key));
  RETURN_IF_ERROR(f.CheckKnownKeys({"value", "source", "note"}));
  ReliabilityFigure out;
  ASSIGN_OR_RETURN(out.value, f.Number("value"));
  ASSIGN_OR_RETURN(out.source, f.String("source"));
  if (out.source.empty()) return f.Error("source", "where the figure comes from");
  const std::string expected = ReliabilityValueExpected(key, out.value);
  if (!expected.empty()) return f.Error("value", expected);
  return out;
}

}  // namespace

const std::vector<std::string>& ReliabilityFigureKeys() {
  static const std::vector<std::string> keys = {
      "failures_per_node_day", "planned_per_node_day", "detection_min", "restart_min",
      "checkpoint_write_gbytes_per_s_per_node", "checkpoint_bytes_per_param", "checkpoint_blocking_s",
      "checkpoint_interval_min"};
  return keys;
}

std::string ReliabilityValueExpected(const std::string& key, double value) {
  if (!std::isfinite(value)) return "a finite number";
  if (IsRate(key)) {
    if (value < 0 || value > kMaxRatePerNodeDay) return "a rate per node and day from 0 to 10";
    return "";
  }
  const double max = key == "checkpoint_bytes_per_param" ? kMaxBytesPerParam : kMaxTime;
  if (key == "checkpoint_blocking_s" && value == 0) return "";  // in-memory checkpoints stall nothing
  if (!(value > 0) || value > max) return "a number above 0, at most " + std::to_string(static_cast<int64_t>(max));
  return "";
}

ReliabilityFigure* FigureAt(ReliabilityProfile* p, const std::string& key) {
  if (key == "failures_per_node_day") return &p->failures_per_node_day;
  if (key == "planned_per_node_day") return &p->planned_per_node_day;
  if (key == "detection_min") return &p->detection_min;
  if (key == "restart_min") return &p->restart_min;
  if (key == "checkpoint_write_gbytes_per_s_per_node") return &p->checkpoint_write_gbytes_per_s_per_node;
  if (key == "checkpoint_bytes_per_param") return &p->checkpoint_bytes_per_param;
  if (key == "checkpoint_blocking_s") return &p->checkpoint_blocking_s;
  if (key == "checkpoint_interval_min") return &p->checkpoint_interval_min;
  return nullptr;
}

const ReliabilityFigure* FigureAt(const ReliabilityProfile* p, const std::string& key) {
  return FigureAt(const_cast<ReliabilityProfile*>(p), key);
}

StatusOr<ReliabilityProfile> LoadReliabilityProfile(const std::string& path) {
  ASSIGN_OR_RETURN(YAML::Node root, LoadYamlFile(path));
  MapReader r(root, path, "");
  RETURN_IF_ERROR(r.ExpectMap());
  RETURN_IF_ERROR(r.CheckKnownKeys({"id", "cluster", "note", "failures_per_node_day", "planned_per_node_day",
                                    "detection_min", "restart_min", "checkpoint_write_gbytes_per_s_per_node",
                                    "checkpoint_bytes_per_param", "checkpoint_blocking_s",
                                    "checkpoint_interval_min"}));
  ReliabilityProfile p;
  p.file = path;
  ASSIGN_OR_RETURN(p.id, r.String("id"));
  ASSIGN_OR_RETURN(p.cluster, r.String("cluster"));
  for (const std::string& key : ReliabilityFigureKeys()) {
    if (IsOptional(key) && !r.Has(key)) continue;
    ASSIGN_OR_RETURN(*FigureAt(&p, key), ReadFigure(r, key));
  }
  return p;
}

}  // namespace preflight
