// File: model/test_support.h
//
// For unit tests only (includes GoogleTest): a catalog model by id, with a test failure instead of
// a Status when it cannot be loaded.
//
//   using test_support::LoadArch;
//   Architecture a = LoadArch("llama-3.1-8b");
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "preflight/catalog/catalog.h"
#include "preflight/model/load.h"

namespace preflight::test_support {

inline Architecture LoadArch(const std::string& id) {
  StatusOr<Architecture> a = LoadArchitecture(Catalog::Default(), id);
  EXPECT_TRUE(a.ok()) << a.status().message();
  return a.ok() ? *a : Architecture{};
}

}  // namespace preflight::test_support
