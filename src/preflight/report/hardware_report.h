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

#include "preflight/catalog/hardware_spec.h"

namespace preflight {

// The device's figures as JSON: each one {value, source[, proxy_of]}, {unsupported, source} or
// {unknown: true}, under the keys README ("catalog show") lists.
nlohmann::json HardwareJson(const HardwareSpec& h);
// The same figures as text for a terminal, with a "sources:" section.
std::string HardwareText(const HardwareSpec& h);

}  // namespace preflight
