#include "engine/storage/keys.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace gridcase::keys {
namespace {

TEST(KeysTest, Fixed64BigEndianRoundTripsAndSortsNumerically) {
  const std::vector<uint64_t> values = {0, 1, 255, 256, 65535, 1ULL << 32, (1ULL << 63) + 5, ~0ULL};
  std::vector<std::string> encoded;
  for (uint64_t v : values) {
    encoded.push_back(EncodeFixed64Be(v));
    ASSERT_EQ(encoded.back().size(), 8u);
    EXPECT_EQ(DecodeFixed64Be(encoded.back()), v);
  }
  EXPECT_TRUE(std::is_sorted(encoded.begin(), encoded.end()));
}

TEST(KeysTest, Fixed32RejectsWrongLength) {
  EXPECT_EQ(DecodeFixed32Be(EncodeFixed32Be(0xdeadbeef)), 0xdeadbeefu);
  EXPECT_FALSE(DecodeFixed32Be("abc").has_value());
  EXPECT_FALSE(DecodeFixed32Be("abcde").has_value());
}

TEST(KeysTest, EventKeyRoundTrips) {
  EXPECT_EQ(DecodeEventKey(EventKey(Position(42)))->value(), 42u);
  EXPECT_FALSE(DecodeEventKey("short").has_value());
}

TEST(KeysTest, CaseEventKeysOfOneCaseShareThePrefixAndSortByVersion) {
  const std::string a1 = CaseEventKey("case-a", CaseVersion(1));
  const std::string a2 = CaseEventKey("case-a", CaseVersion(2));
  const std::string a300 = CaseEventKey("case-a", CaseVersion(300));
  EXPECT_LT(a1, a2);
  EXPECT_LT(a2, a300);
  EXPECT_EQ(a1.rfind(CaseEventsPrefix("case-a"), 0), 0u);
  EXPECT_EQ(DecodeCaseEventKey("case-a", a300)->value(), 300u);
}

TEST(KeysTest, ACaseWhoseIdExtendsAnotherDoesNotShareItsPrefix) {
  // "case-a" must not see the versions of "case-ab": the 0x00 terminator
  // separates them.
  const std::string other = CaseEventKey("case-ab", CaseVersion(1));
  EXPECT_NE(other.rfind(CaseEventsPrefix("case-a"), 0), 0u);
  EXPECT_FALSE(DecodeCaseEventKey("case-a", other).has_value());
}

TEST(KeysTest, ColumnFamilyNamesAreStable) {
  // Renaming a family orphans existing data: these names are the format.
  EXPECT_STREQ(CfName(Cf::kEvents), "events");
  EXPECT_STREQ(CfName(Cf::kCaseEvents), "case_events");
  EXPECT_STREQ(CfName(Cf::kDedup), "dedup");
  EXPECT_STREQ(CfName(Cf::kCases), "cases");
  EXPECT_STREQ(CfName(Cf::kIndex), "index");
  EXPECT_STREQ(CfName(Cf::kMeta), "meta");
  EXPECT_STREQ(CfName(Cf::kTimers), "timers");
  EXPECT_EQ(kCfCount, 8);
}

TEST(KeysTest, TimerKeysRoundTripAndSortByDueTime) {
  const TimerKey early{1000, "case-b", "daily-check"};
  const TimerKey late{2000, "case-a", "retest"};
  const std::string e = EncodeTimerKey(early), l = EncodeTimerKey(late);
  EXPECT_LT(e, l);
  auto back = DecodeTimerKey(e);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->due_us, 1000);
  EXPECT_EQ(back->case_id, "case-b");
  EXPECT_EQ(back->deadline, "daily-check");
  EXPECT_FALSE(DecodeTimerKey("short").has_value());
}

}  // namespace
}  // namespace gridcase::keys
