// Tests of the per-thread GEMM rate memo (cost/internal/gemm_memo.h): a hit returns exactly the
// rate stored for that context and shape, never another's, whatever shares its slot or replaces
// its context; and steps timed with a warm memo, their contexts interleaved, equal the same steps
// timed each on a thread of its own (a cold memo).
#include "preflight/cost/internal/gemm_memo.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "preflight/cost/step_test_support.h"

namespace preflight::cost_internal {
namespace {

using Context = GemmMemo::Context;
using Shape = GemmMemo::Shape;

const Context kFp8{7, Dtype::kFp8, 900e12, 132, 0.93};

// A rate no two test shapes share, so that a wrong hit shows.
double RateOf(const Shape& s) { return s.m * 1e6 + s.k * 1e3 + s.n + s.batch * 0.5; }

TEST(GemmMemoTest, FindsWhatWasStoredUnderTheSameContextAndShape) {
  auto memo = std::make_unique<GemmMemo>();
  const Shape shape{4096, 7168, 1536, 1};
  EXPECT_EQ(memo->Find(kFp8, shape), nullptr) << "an empty memo holds nothing";
  memo->Store(kFp8, shape, 123.5);
  const double* hit = memo->Find(kFp8, shape);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(*hit, 123.5);
}

TEST(GemmMemoTest, AnyOtherContextFieldMisses) {
  auto memo = std::make_unique<GemmMemo>();
  const Shape shape{4096, 7168, 1536, 1};
  memo->Store(kFp8, shape, 1.0);
  std::vector<Context> others(5, kFp8);
  others[0].table = 8;
  others[1].dtype = Dtype::kBf16;
  others[2].mamf = 800e12;
  others[3].units = 114;
  others[4].sustain = 0.985;
  for (const Context& other : others) EXPECT_EQ(memo->Find(other, shape), nullptr);
  // Nor does another batch, or the same sizes in other places.
  EXPECT_EQ(memo->Find(kFp8, {4096, 7168, 1536, 2}), nullptr);
  EXPECT_EQ(memo->Find(kFp8, {1536, 7168, 4096, 1}), nullptr);
}

TEST(GemmMemoTest, AReplacedContextsEntriesMatchNothingAgain) {
  auto memo = std::make_unique<GemmMemo>();
  const Shape shape{1024, 512, 2048, 4};
  memo->Store(kFp8, shape, 2.0);
  // As many newer contexts as the memo holds push the first one out.
  for (size_t i = 0; i < GemmMemo::kContexts; ++i) {
    Context newer = kFp8;
    newer.table = 100 + i;
    memo->Store(newer, {1, 1, 1, static_cast<double>(i)}, 3.0);
  }
  EXPECT_EQ(memo->Find(kFp8, shape), nullptr) << "the entry's context was replaced";
  memo->Store(kFp8, shape, 4.0);
  ASSERT_NE(memo->Find(kFp8, shape), nullptr);
  EXPECT_EQ(*memo->Find(kFp8, shape), 4.0);
}

TEST(GemmMemoTest, MoreShapesThanSlotsNeverReturnAnothersRate) {
  auto memo = std::make_unique<GemmMemo>();
  std::vector<Shape> shapes;
  for (double m = 1; shapes.size() < 2 * GemmMemo::kEntries; m += 1) shapes.push_back({m * 8, 7168, 1536, 1});
  for (const Shape& s : shapes) memo->Store(kFp8, s, RateOf(s));
  size_t hits = 0;
  for (const Shape& s : shapes) {
    if (const double* r = memo->Find(kFp8, s)) {
      ++hits;
      EXPECT_EQ(*r, RateOf(s)) << "m " << s.m;
    }
  }
  EXPECT_GT(hits, 0u);
  EXPECT_LT(hits, shapes.size()) << "twice the slots' shapes cannot all be held";
}

// The step's seconds of one of three contexts: DeepSeek-V3 on H800s in FP8 (0) and in BF16 (1),
// the same shapes on two grids of one table, and Llama 3.1 8B on H100s (2), another table.
double StepOfContext(size_t i) {
  using test_support::Job8b;
  Job8b s = i == 2 ? test_support::Llama8bOnH100() : test_support::DeepSeekV3OnH800(256, 4096, 512);
  if (i == 0) s.job.precision = Dtype::kFp8;
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  return EstimateStep(ctx, s.plan).step.value();
}

TEST(GemmMemoTest, WarmInterleavedStepsEqualColdOnes) {
  std::vector<double> cold(3);
  for (size_t i = 0; i < cold.size(); ++i) {  // each on a new thread: a memo of its own, empty
    std::thread([&cold, i] { cold[i] = StepOfContext(i); }).join();
  }
  EXPECT_NE(cold[0], cold[1]) << "FP8 and BF16 GEMMs time alike: the test cannot tell them apart";
  for (int round = 0; round < 3; ++round) {  // this thread's memo holds all three contexts
    for (size_t i = 0; i < cold.size(); ++i) EXPECT_EQ(StepOfContext(i), cold[i]) << "round " << round << ", step " << i;
  }
}

}  // namespace
}  // namespace preflight::cost_internal
