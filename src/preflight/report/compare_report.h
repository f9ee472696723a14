// File: report/compare_report.h
//
// `preflight compare` as text (a ranked table, then each alternative's warnings) or JSON (each
// alternative with the keys of `plan --json`, ranked).
//
//   Comparison c = Compare(alternatives, {});
//   std::cout << CompareText(c);
//   std::cout << JsonText(CompareJson(c));
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "preflight/search/compare.h"

namespace preflight {

// {objective, unit, ranking[labels, best first], alternatives[...]}: the alternatives in ranked
// order, each PlanJson's keys plus label, rank, fits, searched, objective{value, unit} (null
// without a plan that fits) and factor_of_best (null where the objective is not in `unit`).
nlohmann::json CompareJson(const Comparison& c);
std::string CompareText(const Comparison& c);

// The entry's label, or its hardware id when the caller set none.
std::string EntryLabel(const CompareEntry& e);

}  // namespace preflight
