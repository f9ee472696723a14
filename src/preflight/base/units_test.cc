// Tests of base/units.h: quantities carry their unit in the type.
#include "preflight/base/units.h"

#include <gtest/gtest.h>

#include <type_traits>

namespace preflight {
namespace {

// Compile-time checks that the wrong combinations do not compile.
template <typename A, typename B>
concept Addable = requires(A a, B b) {
  a + b;
};
template <typename A, typename B>
concept Divisible = requires(A a, B b) {
  a / b;
};

static_assert(Addable<Bytes, Bytes>);
static_assert(!Addable<Bytes, Seconds>, "bytes + seconds must not compile");
static_assert(!Addable<Flops, Bytes>);
static_assert(!Addable<Bytes, double>, "a bare double is not a quantity");
static_assert(std::is_same_v<decltype(Bytes(1) / BytesPerSecond(1)), Seconds>);
static_assert(std::is_same_v<decltype(Flops(1) / FlopsPerSecond(1)), Seconds>);
static_assert(std::is_same_v<decltype(Bytes(1) / Bytes(1)), double>);
static_assert(!Divisible<Bytes, FlopsPerSecond>, "bytes / flop-rate must not compile");
static_assert(!Divisible<Flops, BytesPerSecond>);
static_assert(!std::is_convertible_v<double, Bytes>, "construction from double is explicit");

TEST(UnitsTest, NamedConstructors) {
  struct Case {
    double got, want;
  };
  const Case cases[] = {
      {Bytes::GiB(1).value(), 1073741824.0},
      {Bytes::GiB(80).value(), 80.0 * 1073741824.0},
      {Bytes::GB(1).value(), 1e9},
      {Bytes::GiB(2.5).gib(), 2.5},
      {Bytes::GB(1).gib(), 1e9 / 1073741824.0},
      {FlopsPerSecond::TFlops(989).value(), 989e12},
      {FlopsPerSecond::TFlops(989).tflops(), 989},
      {BytesPerSecond::GBps(450).value(), 450e9},
      {BytesPerSecond::Gbitps(400).value(), 50e9},
  };
  for (const Case& c : cases) EXPECT_DOUBLE_EQ(c.got, c.want);
}

TEST(UnitsTest, SameUnitArithmetic) {
  Bytes a = Bytes::GB(3);
  Bytes b = Bytes::GB(1);
  EXPECT_DOUBLE_EQ((a + b).value(), 4e9);
  EXPECT_DOUBLE_EQ((a - b).value(), 2e9);
  EXPECT_DOUBLE_EQ((a * 2).value(), 6e9);
  EXPECT_DOUBLE_EQ((2 * a).value(), 6e9);
  EXPECT_DOUBLE_EQ((a / 3).value(), 1e9);
  EXPECT_DOUBLE_EQ(a / b, 3.0);
  a += b;
  EXPECT_DOUBLE_EQ(a.value(), 4e9);
}

TEST(UnitsTest, Comparison) {
  EXPECT_LT(Bytes::GB(1), Bytes::GiB(1));
  EXPECT_GT(Seconds(2), Seconds(1));
  EXPECT_EQ(Bytes::GiB(1), Bytes(1073741824.0));
  EXPECT_NE(Flops(1), Flops(2));
  EXPECT_LE(Seconds(1), Seconds(1));
}

TEST(UnitsTest, DefaultIsZero) {
  EXPECT_EQ(Bytes().value(), 0);
  EXPECT_EQ(Seconds().value(), 0);
}

TEST(UnitsTest, CrossUnitDivisionGivesSeconds) {
  // The header's own examples: 80 GiB over 450 GB/s, 6e15 FLOPs at 989 TFLOP/s.
  Seconds t = Bytes::GiB(80) / BytesPerSecond::GBps(450);
  EXPECT_NEAR(t.value(), 80.0 * 1073741824.0 / 450e9, 1e-12);
  EXPECT_NEAR(t.value(), 0.19, 0.005);
  Seconds c = Flops(6e15) / FlopsPerSecond::TFlops(989);
  EXPECT_NEAR(c.value(), 6.0667, 1e-4);
}

TEST(UnitsTest, SumOfQuantitiesKeepsUnit) {
  Bytes total;
  for (int i = 0; i < 4; ++i) total += Bytes::GiB(0.25);
  EXPECT_DOUBLE_EQ(total.gib(), 1.0);
  Seconds s = Seconds(1) + Seconds(0.5);
  EXPECT_DOUBLE_EQ(s.value(), 1.5);
}

TEST(UnitsTest, ConstexprUsable) {
  constexpr Bytes kGiB = Bytes::GiB(1);
  static_assert(kGiB.value() == 1073741824.0);
  constexpr Seconds kT = Flops(2e12) / FlopsPerSecond::TFlops(1);
  static_assert(kT.value() == 2.0);
  SUCCEED();
}

}  // namespace
}  // namespace preflight
