#include "preflight/catalog/accuracy_table.h"

#include <cmath>

#include "preflight/catalog/yaml_reader.h"

namespace preflight {
namespace {

constexpr int64_t kMaxRuns = 1000000000;
constexpr double kMaxError = 1e3;  // a prediction 1,000 times off is not a summary anyone wrote

StatusOr<int64_t> Count(const MapReader& r, std::string_view key) {
  ASSIGN_OR_RETURN(int64_t n, r.IntOr(key, 0));
  if (n < 0 || n > kMaxRuns) return r.Error(key, "a whole number of runs from 0 to 1e9");
  return n;
}

StatusOr<double> Fraction(const MapReader& r, std::string_view key, bool signed_error) {
  ASSIGN_OR_RETURN(double v, r.Number(key));
  const bool ok = std::isfinite(v) && std::fabs(v) <= kMaxError && (signed_error || v >= 0);
  if (!ok) {
    return r.Error(key, signed_error ? "a signed error as a fraction, from -1e3 to 1e3"
                                     : "an absolute error as a fraction, from 0 to 1e3");
  }
  return v;
}

StatusOr<ErrorSummary> ReadSummary(const MapReader& parent, std::string_view key) {
  ErrorSummary s;
  if (!parent.Has(key)) return s;
  ASSIGN_OR_RETURN(MapReader r, parent.Map(key));
  RETURN_IF_ERROR(r.CheckKnownKeys({"runs", "mape", "bias", "p90_abs_error", "worst", "worst_error"}));
  ASSIGN_OR_RETURN(s.runs, Count(r, "runs"));
  if (s.runs == 0) return s;
  ASSIGN_OR_RETURN(s.mape, Fraction(r, "mape", false));
  ASSIGN_OR_RETURN(s.bias, Fraction(r, "bias", true));
  ASSIGN_OR_RETURN(s.p90_abs_error, Fraction(r, "p90_abs_error", false));
  ASSIGN_OR_RETURN(s.worst, r.Line("worst"));
  ASSIGN_OR_RETURN(s.worst_error, Fraction(r, "worst_error", true));
  // What any set of errors obeys (to the file's rounding): the mean signed error is no larger in
  // size than the mean of the sizes, and neither that mean nor the 90th percentile exceeds the
  // largest size.
  constexpr double kRounding = 1e-3;
  const double largest = std::fabs(s.worst_error) + kRounding;
  if (std::fabs(s.bias) > s.mape + kRounding) {
    return r.Error("bias", "a mean signed error no larger in size than mape, the mean of the same errors' sizes");
  }
  if (s.mape > largest) return r.Error("mape", "a mean error no larger than the worst row's (worst_error)");
  if (s.p90_abs_error > largest) {
    return r.Error("p90_abs_error", "a 90th percentile no larger than the worst row's error (worst_error)");
  }
  return s;
}

StatusOr<std::vector<std::string>> ReadFiles(const MapReader& r) {
  std::vector<std::string> files;
  if (!r.Has("files")) return files;
  const YAML::Node& list = r.node()["files"];
  if (!list.IsSequence()) return r.Error("files", "a list of validation file names");
  for (const YAML::Node& item : list) {
    if (!item.IsScalar() || item.Scalar().empty() || HasControlCharacter(item.Scalar())) {
      return r.Error("files", "a list of validation file names");
    }
    files.push_back(item.Scalar());
  }
  return files;
}

StatusOr<DeviceAccuracy> ReadDevice(const MapReader& devices, const std::string& id) {
  ASSIGN_OR_RETURN(MapReader r, devices.Map(id));
  RETURN_IF_ERROR(r.CheckKnownKeys({"files", "time", "memory", "ran_but_predicted_oom"}));
  DeviceAccuracy d;
  d.hardware = id;
  ASSIGN_OR_RETURN(d.files, ReadFiles(r));
  ASSIGN_OR_RETURN(d.time, ReadSummary(r, "time"));
  ASSIGN_OR_RETURN(d.memory, ReadSummary(r, "memory"));
  ASSIGN_OR_RETURN(d.ran_but_predicted_oom, Count(r, "ran_but_predicted_oom"));
  return d;
}

}  // namespace

const DeviceAccuracy* AccuracyTable::Find(const std::string& hardware_id) const {
  auto it = devices.find(hardware_id);
  return it == devices.end() ? nullptr : &it->second;
}

StatusOr<AccuracyTable> LoadAccuracyTable(const std::string& path) {
  ASSIGN_OR_RETURN(YAML::Node root, LoadYamlFile(path));
  MapReader r(root, path, "");
  RETURN_IF_ERROR(r.ExpectMap());
  RETURN_IF_ERROR(r.CheckKnownKeys({"source", "devices"}));
  AccuracyTable t;
  t.file = path;
  ASSIGN_OR_RETURN(t.source, r.Line("source"));
  ASSIGN_OR_RETURN(MapReader devices, r.Map("devices"));
  for (const auto& kv : devices.node()) {
    if (!kv.first.IsScalar() || kv.first.Scalar().empty() || HasControlCharacter(kv.first.Scalar())) {
      return devices.Error("", "device ids as keys");
    }
    const std::string id = kv.first.Scalar();
    if (t.devices.count(id) > 0) return devices.Error(id, "each device once");
    ASSIGN_OR_RETURN(DeviceAccuracy d, ReadDevice(devices, id));
    t.devices.emplace(id, std::move(d));
  }
  return t;
}

}  // namespace preflight
