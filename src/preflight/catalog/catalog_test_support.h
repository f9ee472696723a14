// File: catalog/catalog_test_support.h
//
// For catalog_test.cc, catalog_lookup_test.cc and hardware_spec_test.cc only (includes
// GoogleTest): the running test's scratch folder and a substring check.
//
//   using test_support::ScratchDir;
//   std::string path = test_support::WriteFile(ScratchDir(), "bad.yaml", "a: [1\n");
#pragma once

#include <string>

#include "preflight/base/test_support.h"

namespace preflight::test_support {

// The running test's scratch folder (emptied on every call).
inline std::string ScratchDir() { return ScratchDir("preflight_catalog_"); }

inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace preflight::test_support
