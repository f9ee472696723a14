// Tests of search/compare.h: each alternative evaluated as `plan` would (its own layout, or the
// search's best), ranked by the objective; devices without the price or power the objective needs
// ranked after those with it; alternatives with no plan that fits last.
#include "preflight/search/compare.h"

#include <gtest/gtest.h>

#include <vector>

#include "preflight/scenario/evaluate.h"
#include "preflight/search/search_test_support.h"

namespace preflight {
namespace {

using test_support::Load;

constexpr char kExample[] = "examples/llama3.1-70b-h100.yaml";

Scenario On(const char* hardware, std::vector<Override> more = {}) {
  more.push_back({"hardware", hardware});
  return Load(kExample, more);
}

TEST(CompareTest, GivenLayoutsAreEvaluatedAsPlanDoesAndRankedByDays) {
  const std::vector<Scenario> alts = {On("mi300x"), On("h100-sxm-80gb"), On("h200-sxm-141gb")};
  const Comparison c = Compare(alts, {});
  ASSERT_EQ(c.entries.size(), 3u);
  EXPECT_EQ(c.unit, "days");
  for (size_t i = 0; i < alts.size(); ++i) {
    const CompareEntry& e = c.entries[i];
    ASSERT_TRUE(e.evaluated);
    EXPECT_FALSE(e.searched);
    const PlanResult alone = Evaluate(alts[i], {});
    EXPECT_DOUBLE_EQ(e.result.time.step.value(), alone.time.step.value());
    ASSERT_TRUE(e.objective.has_value());
    EXPECT_DOUBLE_EQ(*e.objective, alone.campaign.days_ideal);
  }
  ASSERT_EQ(c.order.size(), 3u);
  for (size_t n = 0; n + 1 < c.order.size(); ++n) {
    EXPECT_LE(*c.entries[c.order[n]].objective, *c.entries[c.order[n + 1]].objective);
  }
  EXPECT_DOUBLE_EQ(c.factor_of_best[c.order[0]], 1.0);
  EXPECT_GT(c.factor_of_best[c.order[2]], 1.0);
}

TEST(CompareTest, SearchedLayoutIsNeverSlowerThanTheGivenOne) {
  CompareOptions o;
  o.search_all = true;
  o.threads = 1;
  o.objective = Objective::kStepTime;
  const Scenario given = On("h100-sxm-80gb");
  const Comparison c = Compare({given, On("mi300x")}, o);
  ASSERT_TRUE(c.entries[0].evaluated);
  EXPECT_TRUE(c.entries[0].searched);
  EXPECT_GT(c.entries[0].search_valid, 0);
  EXPECT_LE(c.entries[0].result.time.step.value(), Evaluate(given, {}).time.step.value() * (1 + 1e-12));
}

// Cost: the Ascend 910C has no catalog price, so its objective is in device-hours and it ranks
// after the H100 however the figures compare; its factor is not given.
TEST(CompareTest, AnObjectiveWithoutItsCatalogFigureRanksAfter) {
  CompareOptions o;
  o.objective = Objective::kCost;
  const Comparison c = Compare({On("ascend-910c"), On("h100-sxm-80gb")}, o);
  EXPECT_EQ(c.unit, "usd");
  ASSERT_TRUE(c.entries[0].objective && c.entries[1].objective);
  EXPECT_EQ(c.entries[0].unit, "device_hours");
  EXPECT_EQ(c.entries[1].unit, "usd");
  EXPECT_EQ(c.order, (std::vector<size_t>{1, 0}));
  EXPECT_DOUBLE_EQ(c.factor_of_best[1], 1.0);
  EXPECT_EQ(c.factor_of_best[0], 0.0);
}

// A layout that does not fit, and a search that finds nothing, rank after every plan that fits,
// in the order given.
TEST(CompareTest, AlternativesWithoutAFittingPlanRankLast) {
  CompareOptions o;
  o.threads = 1;
  const Scenario too_few = On("h100-sxm-80gb", {{"cluster.devices", "4"}, {"parallel", "auto"}});
  const Scenario invalid = On("mi300x", {{"cluster.devices", "8"}});
  const Scenario fits = On("h100-sxm-80gb");
  const Comparison c = Compare({too_few, invalid, fits}, o);
  EXPECT_FALSE(c.entries[0].evaluated);
  EXPECT_TRUE(c.entries[0].searched);
  EXPECT_FALSE(c.entries[0].objective.has_value());
  EXPECT_TRUE(c.entries[1].evaluated);
  EXPECT_NE(c.entries[1].result.ExitCode(), 0);
  EXPECT_FALSE(c.entries[1].objective.has_value());
  EXPECT_EQ(c.order, (std::vector<size_t>{2, 0, 1}));
  EXPECT_DOUBLE_EQ(c.factor_of_best[2], 1.0);
}

TEST(CompareTest, NothingToCompareGivesAnEmptyComparison) {
  const Comparison c = Compare({}, {});
  EXPECT_TRUE(c.entries.empty());
  EXPECT_TRUE(c.order.empty());
}

}  // namespace
}  // namespace preflight
