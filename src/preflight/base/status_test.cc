// Tests of base/status.h: Status, StatusOr, RETURN_IF_ERROR and ASSIGN_OR_RETURN.
#include "preflight/base/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace preflight {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_TRUE(Status::Ok().ok());
}

struct FactoryCase {
  Status status;
  StatusCode code;
};

TEST(StatusTest, FactoriesSetCodeAndMessage) {
  const FactoryCase cases[] = {
      {InvalidArgument("bad"), StatusCode::kInvalidArgument},
      {NotFound("bad"), StatusCode::kNotFound},
      {Internal("bad"), StatusCode::kInternal},
  };
  for (const FactoryCase& c : cases) {
    EXPECT_FALSE(c.status.ok());
    EXPECT_EQ(c.status.code(), c.code);
    EXPECT_EQ(c.status.message(), "bad");
  }
}

TEST(StatusTest, WithPrefixPrependsAndKeepsCode) {
  Status s = NotFound("no such id").WithPrefix("run.yaml: model");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "run.yaml: model: no such id");
}

TEST(StatusTest, WithPrefixOnOkStaysOkAndEmpty) {
  Status s = Status::Ok().WithPrefix("anything");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.message(), "");
}

TEST(StatusOrTest, HoldsValue) {
  StatusOr<int> v = 42;
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v.status().ok());
  EXPECT_EQ(v.value(), 42);
  EXPECT_EQ(*v, 42);
}

TEST(StatusOrTest, HoldsError) {
  StatusOr<int> v = InvalidArgument("x: expected a number");
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(v.status().message(), "x: expected a number");
}

TEST(StatusOrTest, ArrowAndMutation) {
  StatusOr<std::string> s = std::string("abc");
  EXPECT_EQ(s->size(), 3u);
  s->push_back('d');
  *s += "e";
  EXPECT_EQ(s.value(), "abcde");
}

TEST(StatusOrTest, MovesOutMoveOnlyValue) {
  StatusOr<std::unique_ptr<int>> p = std::make_unique<int>(7);
  ASSERT_TRUE(p.ok());
  std::unique_ptr<int> owned = std::move(p).value();
  ASSERT_NE(owned, nullptr);
  EXPECT_EQ(*owned, 7);
}

TEST(StatusOrDeathTest, ValueOfErrorAborts) {
  StatusOr<int> v = NotFound("missing thing");
  EXPECT_DEATH((void)v.value(), "missing thing");
}

TEST(StatusOrDeathTest, BuildingFromOkStatusAborts) {
  EXPECT_DEATH(
      {
        StatusOr<int> v(Status::Ok());
        (void)v;
      },
      "OK Status");
}

// --- RETURN_IF_ERROR / ASSIGN_OR_RETURN ------------------------------------------------------

Status FailIf(bool fail, int* calls) {
  ++*calls;
  return fail ? InvalidArgument("step failed") : Status::Ok();
}

Status TwoSteps(bool fail_first, bool fail_second, int* calls, bool* reached_end) {
  RETURN_IF_ERROR(FailIf(fail_first, calls));
  RETURN_IF_ERROR(FailIf(fail_second, calls));
  *reached_end = true;
  return Status::Ok();
}

TEST(MacroTest, ReturnIfErrorTable) {
  struct Case {
    bool fail_first, fail_second;
    bool ok;
    int calls;
  };
  const Case cases[] = {
      {false, false, true, 2},
      {true, false, false, 1},  // stops at the first failure
      {false, true, false, 2},
  };
  for (const Case& c : cases) {
    int calls = 0;
    bool reached = false;
    Status s = TwoSteps(c.fail_first, c.fail_second, &calls, &reached);
    EXPECT_EQ(s.ok(), c.ok);
    EXPECT_EQ(calls, c.calls);
    EXPECT_EQ(reached, c.ok);
    if (!c.ok) {
      EXPECT_EQ(s.message(), "step failed");
    }
  }
}

StatusOr<int> ParsePositive(int v) {
  if (v <= 0) return InvalidArgument("expected a positive number, got " + std::to_string(v));
  return v;
}

StatusOr<int> SumOfTwo(int a, int b) {
  ASSIGN_OR_RETURN(int x, ParsePositive(a));
  ASSIGN_OR_RETURN(int y, ParsePositive(b));  // two on adjacent lines: distinct temporaries
  return x + y;
}

Status AssignIntoExisting(int a, int* out) {
  ASSIGN_OR_RETURN(*out, ParsePositive(a));
  return Status::Ok();
}

TEST(MacroTest, AssignOrReturnTable) {
  struct Case {
    int a, b;
    bool ok;
    int sum;
    const char* message;
  };
  const Case cases[] = {
      {2, 3, true, 5, ""},
      {-1, 3, false, 0, "expected a positive number, got -1"},
      {2, 0, false, 0, "expected a positive number, got 0"},
  };
  for (const Case& c : cases) {
    StatusOr<int> r = SumOfTwo(c.a, c.b);
    ASSERT_EQ(r.ok(), c.ok) << c.a << "," << c.b;
    if (c.ok) {
      EXPECT_EQ(*r, c.sum);
    } else {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(r.status().message(), c.message);
    }
  }
}

TEST(MacroTest, AssignOrReturnIntoExistingLvalue) {
  int out = -7;
  EXPECT_TRUE(AssignIntoExisting(5, &out).ok());
  EXPECT_EQ(out, 5);
  out = -7;
  EXPECT_FALSE(AssignIntoExisting(0, &out).ok());
  EXPECT_EQ(out, -7);  // untouched on error
}

StatusOr<std::unique_ptr<int>> MakeBox(int v) {
  if (v < 0) return NotFound("no box");
  return std::make_unique<int>(v);
}

StatusOr<int> Unbox(int v) {
  ASSIGN_OR_RETURN(std::unique_ptr<int> box, MakeBox(v));
  return *box;
}

TEST(MacroTest, AssignOrReturnMovesMoveOnlyTypesAndKeepsCode) {
  EXPECT_EQ(*Unbox(9), 9);
  StatusOr<int> r = Unbox(-1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST(CheckDeathTest, FailingCheckAbortsWithMessage) {
  EXPECT_DEATH(
      {
        CHECK(1 + 1 == 3) << "arithmetic is "
                          << "broken";
      },
      "CHECK failed: 1 \\+ 1 == 3 arithmetic is broken");
}

TEST(CheckTest, PassingCheckDoesNothing) {
  int evaluated = 0;
  CHECK(++evaluated == 1) << "never printed";
  EXPECT_EQ(evaluated, 1);  // the condition is evaluated exactly once
}

}  // namespace
}  // namespace preflight
