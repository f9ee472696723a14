#include "preflight/catalog/accuracy_table.h"

#include <gtest/gtest.h>

#include <string>

#include "preflight/base/test_support.h"
#include "preflight/catalog/catalog.h"

namespace preflight {
namespace {

using test_support::ScratchDir;
using test_support::WriteFile;

constexpr char kTable[] = R"(source: "preflight validate data/validation/*.yaml --json"
devices:
  a100-sxm-80gb:
    files: [korthikanti-2022.yaml, vtrain-single.yaml]
    time: {runs: 12, mape: 0.08, bias: -0.02, p90_abs_error: 0.15, worst: "row-7", worst_error: -0.31}
    memory: {runs: 0}
    ran_but_predicted_oom: 1
  tpu-v5p:
    time: {runs: 2, mape: 0.1, bias: 0.1, p90_abs_error: 0.12, worst: "row-2", worst_error: 0.12}
    memory: {runs: 1, mape: 0.05, bias: 0.05, p90_abs_error: 0.05, worst: "row-m", worst_error: 0.05}
)";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(AccuracyTableTest, ReadsEachDevicesErrors) {
  auto t = LoadAccuracyTable(WriteFile(ScratchDir("preflight_acc_"), "t.yaml", kTable));
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_EQ(t->devices.size(), 2u);
  const DeviceAccuracy* a100 = t->Find("a100-sxm-80gb");
  ASSERT_NE(a100, nullptr);
  EXPECT_EQ(a100->files.size(), 2u);
  EXPECT_EQ(a100->time.runs, 12);
  EXPECT_DOUBLE_EQ(a100->time.mape, 0.08);
  EXPECT_DOUBLE_EQ(a100->time.bias, -0.02);
  EXPECT_DOUBLE_EQ(a100->time.p90_abs_error, 0.15);
  EXPECT_EQ(a100->time.worst, "row-7");
  EXPECT_DOUBLE_EQ(a100->time.worst_error, -0.31);
  EXPECT_EQ(a100->memory.runs, 0);
  EXPECT_EQ(a100->ran_but_predicted_oom, 1);
  EXPECT_EQ(t->Find("tpu-v5p")->memory.worst, "row-m");
  EXPECT_EQ(t->Find("mi300x"), nullptr) << "a device with no measured run has no entry";
}

TEST(AccuracyTableTest, BadTablesNameTheField) {
  const struct {
    const char* from;
    const char* to;
    const char* field;
  } cases[] = {
      {"mape: 0.08", "mape: -0.08", "devices.a100-sxm-80gb.time.mape"},
      {"bias: -0.02", "bias: .nan", "devices.a100-sxm-80gb.time.bias"},
      {"runs: 12", "runs: 1.5", "devices.a100-sxm-80gb.time.runs"},
      {"runs: 12", "runs: -3", "devices.a100-sxm-80gb.time.runs"},
      {"worst: \"row-7\", ", "", "devices.a100-sxm-80gb.time.worst"},
      {"ran_but_predicted_oom: 1", "ran_but_predicted_oom: 2e10", "devices.a100-sxm-80gb.ran_but_predicted_oom"},
      {"memory: {runs: 0}", "memroy: {runs: 0}", "devices.a100-sxm-80gb.memroy"},
      {"files: [korthikanti-2022.yaml, vtrain-single.yaml]", "files: 3", "devices.a100-sxm-80gb.files"},
      {"source: \"preflight validate data/validation/*.yaml --json\"\n", "", "source"},
      // Figures no set of errors gives: the quote would read "mean error 1.0%, bias -90.0%".
      {"mape: 0.08, bias: -0.02", "mape: 0.01, bias: -0.9", "devices.a100-sxm-80gb.time.bias"},
      {"mape: 0.08", "mape: 0.5", "devices.a100-sxm-80gb.time.mape"},
      {"p90_abs_error: 0.15", "p90_abs_error: 0.4", "devices.a100-sxm-80gb.time.p90_abs_error"},
  };
  const std::string dir = ScratchDir("preflight_acc_bad_");
  for (const auto& c : cases) {
    const std::string path = WriteFile(dir, "t.yaml", Replace(kTable, c.from, c.to));
    auto t = LoadAccuracyTable(path);
    ASSERT_FALSE(t.ok()) << c.to;
    const std::string m = t.status().message();
    EXPECT_EQ(m.find(path + ": " + c.field + ": "), 0u) << m;
    EXPECT_NE(m.find("expected"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  EXPECT_FALSE(LoadAccuracyTable(dir + "/missing.yaml").ok());
}

// The bundled table loads, and the catalog quotes a device's entry only for the device file it
// holds itself: a copy of that file elsewhere is the user's, not the one validated.
TEST(AccuracyTableTest, TheCatalogQuotesItsOwnDevicesOnly) {
  Catalog cat = Catalog::Default();
  auto table = LoadAccuracyTable(cat.data_dir() + "/accuracy/by-device.yaml");
  ASSERT_TRUE(table.ok()) << table.status().message();
  for (const auto& [id, d] : table->devices) {
    EXPECT_TRUE(cat.Hardware(id).ok()) << "the table names a device the catalog lacks: " << id;
    EXPECT_GT(d.time.runs + d.memory.runs, 0) << id;
  }
  auto a100 = cat.Hardware("a100-sxm-80gb");
  ASSERT_TRUE(a100.ok());
  auto quoted = cat.Accuracy(*a100);
  ASSERT_TRUE(quoted.ok()) << quoted.status().message();
  ASSERT_TRUE(quoted->has_value());
  EXPECT_GT((*quoted)->time.runs, 1000);

  const std::string copy = WriteFile(ScratchDir("preflight_acc_copy_"), "a100-sxm-80gb.yaml", "");
  HardwareSpec users = *a100;
  users.file = copy;
  auto none = cat.Accuracy(users);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  auto mi300x = cat.Hardware("mi300x");
  ASSERT_TRUE(mi300x.ok());
  auto unvalidated = cat.Accuracy(*mi300x);
  ASSERT_TRUE(unvalidated.ok());
  EXPECT_FALSE(unvalidated->has_value()) << "no measured MI300X run is bundled";
}

}  // namespace
}  // namespace preflight
