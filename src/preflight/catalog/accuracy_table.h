// File: catalog/accuracy_table.h
//
// How far preflight's own predictions fell from measured runs, device by device: what `validate`
// printed for the bundled validation files on the commit that wrote the table. `plan` quotes the
// line of the plan's device, so that every answer comes with the error it had on runs somebody
// measured on that device, or says that no such run exists.
//
//   ASSIGN_OR_RETURN(AccuracyTable t, LoadAccuracyTable("data/accuracy/by-device.yaml"));
//   const DeviceAccuracy* a100 = t.Find("a100-sxm-80gb");   // null: no measured run on it
//
// File format (data/accuracy/README.md; written by tools/data/accuracy_by_device.py from
// `preflight validate data/validation/*.yaml --json`, never by hand):
//   source: "preflight validate data/validation/*.yaml --json"
//   devices:
//     a100-sxm-80gb:
//       files: [korthikanti-2022.yaml, vtrain-single.yaml]   # the validation files of its rows
//       time: {runs: 1587, mape: 0.1068, bias: 0.0297, p90_abs_error: 0.2262,
//              worst: "vtrain-multi-016-...", worst_error: -0.5049}
//       memory: {runs: 0}                                    # peak-memory rows, the same keys
//       ran_but_predicted_oom: 0
// Errors are fractions, signed (predicted - measured) / measured on the step time: a negative
// bias is a step predicted shorter than it ran.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "preflight/base/status.h"

namespace preflight {

// The errors of one kind of row (step times, or peak memory) on one device.
struct ErrorSummary {
  int64_t runs = 0;            // rows of this kind; the figures below only where runs > 0
  double mape = 0;             // mean absolute error
  double bias = 0;             // mean signed error
  double p90_abs_error = 0;    // 90% of the rows erred by at most this much
  std::string worst;           // the row with the largest absolute error
  double worst_error = 0;      // its signed error
};

struct DeviceAccuracy {
  std::string hardware;             // the catalog id
  std::vector<std::string> files;   // the validation files its rows come from
  ErrorSummary time;                // step time (every time metric, as a step time)
  ErrorSummary memory;              // peak memory per device
  int64_t ran_but_predicted_oom = 0;  // runs that trained, predicted not to fit
};

struct AccuracyTable {
  std::string file;
  std::string source;  // how the table was made (the command)
  std::map<std::string, DeviceAccuracy> devices;

  // The device's entry, or null when the table has none (no measured run on it).
  const DeviceAccuracy* Find(const std::string& hardware_id) const;
};

// Loads and checks a table: InvalidArgument naming the file and field for an unknown key, a count
// that is not a whole number from 0 to 1e9, an error that is not a finite fraction (absolute value
// at most 1e3; mape and p90_abs_error not negative), or a `worst` missing where runs > 0;
// NotFound if it cannot be opened.
StatusOr<AccuracyTable> LoadAccuracyTable(const std::string& path);

}  // namespace preflight
