#include "engine/common/check.h"

#include <gtest/gtest.h>

namespace gridcase {
namespace {

TEST(CheckDeathTest, AFailedCheckAbortsNamingWhereWhatAndWhy) {
  const int version = 7;
  EXPECT_DEATH(GC_CHECK(version == 8, "case c-1: version ", version),
               "check_test.cc:[0-9]+: check failed: version == 8: case c-1: version 7");
}

TEST(CheckDeathTest, UnreachableAbortsWithItsMessage) {
  EXPECT_DEATH(GC_UNREACHABLE("node kind ", 42), "check failed: unreachable: node kind 42");
}

TEST(CheckTest, AHoldingCheckDoesNotEvaluateItsMessage) {
  int evaluated = 0;
  auto message = [&] {
    ++evaluated;
    return "never";
  };
  GC_CHECK(1 + 1 == 2, message());
  EXPECT_EQ(evaluated, 0);
}

}  // namespace
}  // namespace gridcase
