// File: base/test_support.h
//
// For unit tests only (includes GoogleTest): a scratch folder of the running test and a file
// writer. ctest runs the tests of one binary in parallel, so each test gets its own folder, and
// two builds' runs at once (two checkouts on one machine) each their own: the process id is in it.
//
//   std::string dir = test_support::ScratchDir("preflight_catalog_");
//   std::string path = test_support::WriteFile(dir, "bad.yaml", "a: [1\n");
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace preflight::test_support {

// An empty folder named after `prefix`, the running test and the process (emptied on every call).
inline std::string ScratchDir(const std::string& prefix) {
  namespace fs = std::filesystem;
  const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(testing::TempDir()) /
                       (prefix + info->test_suite_name() + "_" + info->name() + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// Writes `text` to dir/name and returns the path.
inline std::string WriteFile(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::path(dir) / name).string();
  std::ofstream(path) << text;
  return path;
}

}  // namespace preflight::test_support
