#include "preflight/catalog/reliability_profile.h"

#include <gtest/gtest.h>

#include <string>

#include "preflight/base/test_support.h"
#include "preflight/catalog/catalog.h"

namespace preflight {
namespace {

using test_support::ScratchDir;
using test_support::WriteFile;

constexpr char kProfile[] = R"(id: test-cluster
cluster: "a test"
devices_per_node: {value: 8, source: "a paper"}
failures_per_node_day: {value: 4e-3, source: "a paper"}
planned_per_node_day: {value: 0, source: "not stated"}
detection_min: {value: 5, source: "a paper"}
restart_min: {value: 10, source: "a paper", note: "a note"}
checkpoint_write_gbytes_per_s_per_node: {value: 1.2, source: "a paper"}
checkpoint_bytes_per_param: {value: 14, source: "a paper"}
)";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(ReliabilityProfileTest, ReadsFiguresWithTheirSources) {
  auto p = LoadReliabilityProfile(WriteFile(ScratchDir("preflight_rel_"), "p.yaml", kProfile));
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->id, "test-cluster");
  EXPECT_EQ(p->failures_per_node_day.value, 4e-3);
  EXPECT_EQ(p->restart_min.source, "a paper");
  EXPECT_EQ(p->restart_min.note, "a note");
  EXPECT_EQ(p->devices_per_node.value, 8);
  EXPECT_FALSE(p->checkpoint_blocking_s.given);
  EXPECT_FALSE(p->checkpoint_interval_min.given);
}

TEST(ReliabilityProfileTest, BadFilesNameTheField) {
  const std::string dir = ScratchDir("preflight_rel_");
  struct Bad {
    const char* from;
    const char* to;
    const char* field;  // the message must contain "bad.yaml: <field>"
  };
  const Bad cases[] = {
      {"restart_min: {value: 10, source: \"a paper\", note: \"a note\"}", "restart_min: 10", "restart_min"},
      {"source: \"not stated\"}", "source: \"\"}", "planned_per_node_day.source"},
      {"{value: 4e-3,", "{value: -1,", "failures_per_node_day.value"},
      {"{value: 14,", "{value: 0,", "checkpoint_bytes_per_param.value"},
      {"id: test-cluster", "id: test-cluster\nmtbf_h: 3", "mtbf_h"},
      {"detection_min: {value: 5, source: \"a paper\"}\n", "", "detection_min"},
      {"devices_per_node: {value: 8,", "devices_per_node: {value: 0.5,", "devices_per_node.value"},
      {"devices_per_node: {value: 8,", "devices_per_node: {value: 1.5,", "devices_per_node.value"},
      {"{value: 1.2,", "{value: 1e-305,", "checkpoint_write_gbytes_per_s_per_node.value"},
      {"id: test-cluster", "id: test-cluster\nvendor: \"\"", "vendor"},
      {"id: test-cluster", "id: test-cluster\nvendor: \"NV\\nIDIA\"", "vendor"},
  };
  for (const Bad& c : cases) {
    auto p = LoadReliabilityProfile(WriteFile(dir, "bad.yaml", Replace(kProfile, c.from, c.to)));
    ASSERT_FALSE(p.ok()) << c.field;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find(std::string("bad.yaml: ") + c.field), std::string::npos)
        << p.status().message();
  }
}

// What each bound says matches what it accepts: 0 is a blocking time, and the slowest write rate.
TEST(ReliabilityProfileTest, BoundsSayWhatTheyAccept) {
  EXPECT_EQ(ReliabilityValueExpected("checkpoint_blocking_s", 0), "");
  EXPECT_EQ(ReliabilityValueExpected("checkpoint_blocking_s", -1), "a time from 0 to 1e6");
  EXPECT_EQ(ReliabilityValueExpected("restart_min", 0), "a time above 0, at most 1e6");
  EXPECT_EQ(ReliabilityValueExpected("checkpoint_write_gbytes_per_s_per_node", 1e-3), "");
  EXPECT_EQ(ReliabilityValueExpected("devices_per_node", 4), "");
  EXPECT_EQ(ReliabilityValueExpected("devices_per_node", 4.5), "a whole number of devices from 1 to 1e6");
}

TEST(ReliabilityProfileTest, EveryCatalogProfileLoadsAndTheDefaultIsThere) {
  const Catalog cat = Catalog::Default();
  ASSERT_FALSE(cat.ReliabilityProfileIds().empty());
  bool has_default = false;
  for (const std::string& id : cat.ReliabilityProfileIds()) {
    auto p = cat.ReliabilityProfileById(id);
    ASSERT_TRUE(p.ok()) << id << ": " << p.status().message();
    EXPECT_EQ(p->id, id);
    has_default |= id == kDefaultReliabilityProfile;
  }
  EXPECT_TRUE(has_default);
  EXPECT_EQ(cat.ReliabilityProfileById("lemon-cluster").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace preflight
