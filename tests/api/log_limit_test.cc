// LogLimiter on a fake clock, and protobuf's own log routed through it.
#include "services/api/log_limit.h"

#include <string>
#include <utility>
#include <vector>

#include "engine/common/clock.h"
#include "gmock/gmock.h"
#include "gridcase/v1/event.pb.h"
#include "gtest/gtest.h"

namespace gridcase::api {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMinuteUs = 60LL * 1000 * 1000;

class LogLimiterTest : public ::testing::Test {
 protected:
  LogLimiter::Sink Collect() {
    return [this](LogSeverity severity, const std::string& line) {
      lines_.emplace_back(severity, line);
    };
  }

  FakeClock clock_{1582401600LL * 1000000};
  std::vector<std::pair<LogSeverity, std::string>> lines_;
};

TEST_F(LogLimiterTest, PassesAtMostTheLimitPerIntervalAndSaysHowManyItSuppressed) {
  LogLimiter limiter(&clock_, "protobuf", 10, kMinuteUs, Collect());
  for (int i = 0; i < 10000; ++i) {
    limiter.Log(LogSeverity::kError, "line " + std::to_string(i));
  }
  ASSERT_EQ(lines_.size(), 10u);
  EXPECT_EQ(lines_[0].second, "protobuf: line 0");
  EXPECT_EQ(lines_[9].second, "protobuf: line 9");
  EXPECT_EQ(lines_[9].first, LogSeverity::kError);

  // Still the same interval: nothing more.
  clock_.AdvanceMicros(kMinuteUs - 1);
  limiter.Log(LogSeverity::kWarning, "late");
  EXPECT_EQ(lines_.size(), 10u);

  // The next interval: first how many were left out, then the line.
  clock_.AdvanceMicros(1);
  limiter.Log(LogSeverity::kWarning, "next");
  ASSERT_EQ(lines_.size(), 12u);
  EXPECT_EQ(lines_[10].first, LogSeverity::kError);  // the worst of those left out
  EXPECT_THAT(lines_[10].second,
              HasSubstr("protobuf: 9991 more protobuf messages like these suppressed"));
  EXPECT_EQ(lines_[11].second, "protobuf: next");

  // Nothing suppressed since: a flush says nothing.
  limiter.Flush();
  EXPECT_EQ(lines_.size(), 12u);
}

TEST_F(LogLimiterTest, AFlushReportsWhatWasSuppressedOnce) {
  {
    LogLimiter limiter(&clock_, "protobuf", 2, kMinuteUs, Collect());
    for (int i = 0; i < 5; ++i) limiter.Log(LogSeverity::kWarning, "x");
    limiter.Flush();
    ASSERT_EQ(lines_.size(), 3u);
    EXPECT_THAT(lines_[2].second, HasSubstr("3 more protobuf messages"));
    limiter.Log(LogSeverity::kWarning, "x");  // the interval's limit still holds
  }
  // The destructor flushes the one left out.
  ASSERT_EQ(lines_.size(), 4u);
  EXPECT_THAT(lines_[3].second, HasSubstr("1 more protobuf messages"));
}

TEST_F(LogLimiterTest, CutsLongLines) {
  LogLimiter limiter(&clock_, "p", 10, kMinuteUs, Collect());
  limiter.Log(LogSeverity::kInfo, std::string(10000, 'a'));
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].second.size(), 3 + LogLimiter::kLineBytesMax);
}

// A flood of events whose event_id is not UTF-8: protobuf refuses each and
// says so in its log, which now reaches the limiter and not stderr.
TEST_F(LogLimiterTest, ProtobufsComplaintsGoThroughTheLimiter) {
  const std::string bad_utf8("\x0a\x02\xff\xfe", 4);  // Event{event_id: "\xff\xfe"}
  {
    LogLimiter limiter(&clock_, "protobuf", 10, kMinuteUs, Collect());
    ProtobufLogRoute route(&limiter);
    for (int i = 0; i < 1000; ++i) {
      v1::Event event;
      EXPECT_FALSE(event.ParseFromString(bad_utf8));
    }
    ASSERT_EQ(lines_.size(), 10u);
    EXPECT_THAT(lines_[0].second, HasSubstr("gridcase.v1.Event.event_id"));
    EXPECT_THAT(lines_[0].second, HasSubstr("invalid UTF-8"));
    EXPECT_EQ(lines_[0].first, LogSeverity::kError);
  }
  ASSERT_EQ(lines_.size(), 11u);
  EXPECT_THAT(lines_[10].second, HasSubstr("990 more protobuf messages"));
  // Once the route is gone, protobuf's complaints no longer reach it.
  v1::Event event;
  EXPECT_FALSE(event.ParseFromString(bad_utf8));
  EXPECT_EQ(lines_.size(), 11u);
}

}  // namespace
}  // namespace gridcase::api
