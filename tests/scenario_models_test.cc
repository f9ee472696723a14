// Data-driven scenario tests (STYLE.md habit 12): one small scenario per catalog model under
// tests/scenarios/, evaluated end to end (load -> plan check -> parameters -> memory), against the
// figures in tests/scenarios/expected.yaml, which were derived by hand from the published formulas
// (see the comments there), with a tolerance on memory.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "preflight/catalog/catalog.h"
#include "preflight/scenario/evaluate.h"
#include "preflight/scenario/scenario.h"

namespace preflight {
namespace {

namespace fs = std::filesystem;

std::string ScenarioDir() { return std::string(PREFLIGHT_SOURCE_DIR) + "/tests/scenarios"; }

struct Expected {
  std::string file;
  int64_t params_total = 0;
  double memory_gib = 0;
  bool fits = false;
  double tolerance = 0.05;
};

// Names the parameter in test listings (ctest shows it) by its file.
void PrintTo(const Expected& e, std::ostream* os) { *os << e.file; }

// Reads expected.yaml; an empty list if it cannot be read (ExpectedFileIsComplete then fails).
std::vector<Expected> ReadExpected() {
  std::vector<Expected> out;
  try {
    YAML::Node root = YAML::LoadFile(ScenarioDir() + "/expected.yaml");
    const double tolerance = root["memory_tolerance"].as<double>();
    for (const auto& kv : root["scenarios"]) {
      Expected e;
      e.file = kv.first.as<std::string>();
      e.params_total = kv.second["params_total"].as<int64_t>();
      e.memory_gib = kv.second["memory_gib"].as<double>();
      e.fits = kv.second["fits"].as<bool>();
      e.tolerance = tolerance;
      out.push_back(e);
    }
  } catch (const YAML::Exception&) {
    out.clear();
  }
  return out;
}

TEST(ScenarioModelsTest, ExpectedFileIsComplete) {
  std::vector<Expected> expected = ReadExpected();
  ASSERT_FALSE(expected.empty()) << ScenarioDir() << "/expected.yaml did not load";
  std::set<std::string> listed;
  for (const Expected& e : expected) listed.insert(e.file);
  // Every scenario file has expectations, and every expectation a file.
  std::set<std::string> files;
  for (const auto& entry : fs::directory_iterator(ScenarioDir())) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".yaml" && name != "expected.yaml") files.insert(name);
  }
  EXPECT_EQ(files, listed);
  // Every catalog model has a scenario.
  std::set<std::string> models;
  for (const std::string& f : files) {
    StatusOr<Scenario> s = LoadScenarioFile(ScenarioDir() + "/" + f, Catalog::Default(), {});
    ASSERT_TRUE(s.ok()) << s.status().message();
    models.insert(s->arch.name);
  }
  for (const std::string& id : Catalog::Default().ModelIds()) {
    EXPECT_TRUE(models.count(id) > 0) << "no scenario in tests/scenarios uses " << id;
  }
}

class ScenarioModels : public testing::TestWithParam<Expected> {};

TEST_P(ScenarioModels, MatchesExpectedFigures) {
  const Expected& e = GetParam();
  StatusOr<Scenario> s = LoadScenarioFile(ScenarioDir() + "/" + e.file, Catalog::Default(), {});
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_FALSE(s->auto_parallel);
  PlanResult r = Evaluate(*s, {});
  ASSERT_TRUE(r.check.ok()) << e.file << ": " << r.check.message;
  ASSERT_TRUE(r.has_memory);
  EXPECT_EQ(r.params.total, e.params_total);
  const double gib = r.memory.worst.Total().gib();
  EXPECT_NEAR(gib, e.memory_gib, e.memory_gib * e.tolerance)
      << e.file << ": predicted " << gib << " GiB on stage " << r.memory.worst_stage << " (weights "
      << r.memory.worst.weights.gib() << ", gradients " << r.memory.worst.gradients.gib()
      << ", optimizer " << r.memory.worst.optimizer.gib() << ", activations "
      << r.memory.worst.activations.gib() << ", other " << r.memory.worst.other.gib() << ")";
  EXPECT_EQ(r.memory.fits, e.fits)
      << e.file << ": " << gib << " GiB of " << r.memory.capacity.gib();
  EXPECT_EQ(r.ExitCode(), e.fits ? 0 : 1);
}

std::string TestName(const testing::TestParamInfo<Expected>& info) {
  std::string name = fs::path(info.param.file).stem().string();
  std::replace_if(
      name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); },
      '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Catalog, ScenarioModels, testing::ValuesIn(ReadExpected()), TestName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ScenarioModels);

}  // namespace
}  // namespace preflight
