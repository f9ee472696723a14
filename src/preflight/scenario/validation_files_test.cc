// Tests of the validation files (data/validation/) as scenario/scenario.h loads them: every file
// loads, run names are unique across files, every run with a plan evaluates, and the memory model
// is compared (reported, not asserted) with the measured peaks of data/validation/memory.yaml.
#include "preflight/scenario/scenario.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "preflight/catalog/catalog.h"
#include "preflight/scenario/evaluate.h"
#include "preflight/scenario/scenario_test_support.h"

namespace preflight {
namespace {

namespace fs = std::filesystem;

using test_support::SourceDir;

std::string ValidationDir() { return SourceDir() + "/data/validation"; }

// Every validation file (*.yaml under data/validation) with the runs it loads; a file that does
// not load fails the calling test and is left out.
struct ValidationFile {
  std::string path, name;
  std::vector<Scenario> runs;
};
std::vector<ValidationFile> LoadValidationFiles() {
  std::vector<ValidationFile> files;
  for (const auto& entry : fs::directory_iterator(ValidationDir())) {
    if (entry.path().extension() != ".yaml") continue;
    StatusOr<std::vector<Scenario>> runs =
        LoadScenarioList(entry.path().string(), Catalog::Default());
    EXPECT_TRUE(runs.ok()) << runs.status().message();
    if (!runs.ok()) continue;
    files.push_back({entry.path().string(), entry.path().filename().string(), *std::move(runs)});
  }
  return files;
}

TEST(ValidationFilesTest, EveryFileLoads) {
  const std::map<std::string, size_t> exact = {{"vtrain-multi.yaml", 109},
                                               {"vtrain-single.yaml", 1440}};
  int files = 0;
  for (const ValidationFile& file : LoadValidationFiles()) {
    ++files;
    const std::string& name = file.name;
    EXPECT_FALSE(file.runs.empty()) << name;
    auto it = exact.find(name);
    if (it != exact.end()) {
      EXPECT_EQ(file.runs.size(), it->second) << name;
    }
    for (const Scenario& s : file.runs) {
      EXPECT_FALSE(s.name.empty()) << name;
      EXPECT_FALSE(s.source.empty()) << name << ": " << s.name << " names its source";
      EXPECT_FALSE(s.measured.metrics.empty())
          << name << ": " << s.name << " carries a measurement";
      EXPECT_EQ(s.file, file.path);
      EXPECT_GT(s.cluster.devices, 0);
    }
  }
  EXPECT_GE(files, 6);
}

TEST(ValidationFilesTest, RunNamesAreUniqueAcrossFiles) {
  std::map<std::string, std::string> seen;
  for (const ValidationFile& file : LoadValidationFiles()) {
    for (const Scenario& s : file.runs) {
      auto [it, fresh] = seen.emplace(s.name, file.name);
      EXPECT_TRUE(fresh) << s.name << " in " << file.name << " and " << it->second;
    }
  }
}

TEST(ValidationFilesTest, EveryRunWithAPlanEvaluates) {
  int evaluated = 0, invalid = 0;
  for (const ValidationFile& file : LoadValidationFiles()) {
    for (const Scenario& s : file.runs) {
      if (s.auto_parallel) continue;
      PlanResult r = Evaluate(s, {});
      ++evaluated;
      EXPECT_GT(r.params.total, 0) << s.name;
      EXPECT_GT(r.ops.model_flops_per_token, 0) << s.name;
      EXPECT_EQ(r.has_memory, r.check.ok()) << s.name;
      if (!r.check.ok()) {
        ++invalid;
        std::printf("  invalid plan: %s: %s\n", s.name.c_str(), r.check.message.c_str());
        continue;
      }
      EXPECT_GT(r.memory.worst.Total().value(), 0) << s.name;
    }
  }
  std::printf("%d validation runs evaluated, %d with an invalid plan\n", evaluated, invalid);
  EXPECT_GT(evaluated, 1600);
}

// data/validation/memory.yaml: predicted vs measured peak memory, printed as a table. Only that
// every run evaluates and every prediction is positive is asserted.
TEST(ValidationFilesTest, MemoryTable) {
  StatusOr<std::vector<Scenario>> runs =
      LoadScenarioList(ValidationDir() + "/memory.yaml", Catalog::Default());
  ASSERT_TRUE(runs.ok()) << runs.status().message();
  ASSERT_FALSE(runs->empty());
  std::printf("\n%-62s %10s %10s %8s\n", "run (data/validation/memory.yaml)", "predicted",
              "measured", "error");
  double sum_abs = 0;
  int predicted = 0, invalid = 0;
  for (const Scenario& s : *runs) {
    ASSERT_FALSE(s.auto_parallel) << s.name << ": memory runs state their plan";
    double measured = 0;
    for (const auto& [metric, v] : s.measured.metrics) {
      if (metric == "peak_memory_gib") measured = v;
    }
    ASSERT_GT(measured, 0) << s.name << ": peak_memory_gib";
    PlanResult r = Evaluate(s, {});
    if (!r.check.ok()) {
      ++invalid;
      std::printf("%-62s %10s %10.2f %8s  (%s: %s)\n", s.name.c_str(), "INVALID", measured, "-",
                  std::string(PlanIssueName(r.check.issue)).c_str(), r.check.message.c_str());
      continue;
    }
    const double gib = r.memory.worst.Total().gib();
    EXPECT_GT(gib, 0) << s.name;
    const double error = (gib - measured) / measured;
    sum_abs += std::fabs(error);
    ++predicted;
    std::printf("%-62s %10.2f %10.2f %+7.1f%%\n", s.name.c_str(), gib, measured, 100 * error);
  }
  std::printf("mean absolute error %.1f%% over %d runs (%d runs with a plan the rules reject)\n\n",
              predicted > 0 ? 100 * sum_abs / predicted : 0.0, predicted, invalid);
  EXPECT_GT(predicted, 0);
}

}  // namespace
}  // namespace preflight
