// File: report/hardware_report.h
//
// A catalog device as `catalog show` prints it: every figure with its source, or "unknown".
//
//   StatusOr<HardwareSpec> h = Catalog::Default().Hardware("h100-sxm-80gb");
//   std::cout << HardwareText(*h);
//   std::cout << JsonText(HardwareJson(*h));  // JsonText: report/plan_report.h
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "preflight/catalog/gemm_table.h"
#include "preflight/catalog/hardware_spec.h"

namespace preflight {

// The device's figures as JSON: each one {value, source[, proxy_of]}, {unsupported, source} or
// {unknown: true}, under the keys README ("catalog show") lists.
nlohmann::json HardwareJson(const HardwareSpec& h);
// The same figures as text for a terminal, with a "sources:" section.
std::string HardwareText(const HardwareSpec& h);
// The grids of a GEMM table measured apart from the rest of its file, by dtype: {source[, proxy_of]}
// (the key grid_origins of the table's JSON; an empty object when every grid is the file's).
nlohmann::json GemmGridOriginsJson(const GemmTable& t);
// Where `dtype`'s grid of `t` was measured, for a line of text: "<source>[, measured on <id>]".
std::string GemmGridOriginText(const GemmTable& t, Dtype dtype);

}  // namespace preflight
