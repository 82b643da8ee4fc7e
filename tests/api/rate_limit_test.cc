// Per-caller token buckets, on a FakeClock: a caller over its limit is
// told when to retry, others are not affected, and time refills.
#include "services/security/rate_limit.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gridcase::security {
namespace {

using ::testing::HasSubstr;

TEST(RateLimiterTest, ABurstThenTheRateAndEachCallerOnItsOwn) {
  FakeClock clock(1'600'000'000'000'000);
  RateLimits limits;
  limits.reads_per_s = 10;
  limits.burst_s = 2;  // 20 at once
  RateLimiter limiter(&clock, limits);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(limiter.Take("gridcase:person:a", CallKind::kRead).ok());
  const absl::Status over = limiter.Take("gridcase:person:a", CallKind::kRead);
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(over.message()), HasSubstr("retry in 100 ms"));
  EXPECT_THAT(std::string(over.message()), HasSubstr("gridcase:person:a"));
  // Another caller, and another kind of call, have buckets of their own.
  EXPECT_TRUE(limiter.Take("gridcase:person:b", CallKind::kRead).ok());
  EXPECT_TRUE(limiter.Take("gridcase:person:a", CallKind::kSubmit).ok());
  // A tenth of a second buys one read, not two.
  clock.AdvanceMicros(100'000);
  EXPECT_TRUE(limiter.Take("gridcase:person:a", CallKind::kRead).ok());
  EXPECT_FALSE(limiter.Take("gridcase:person:a", CallKind::kRead).ok());
  // A long pause refills to the burst, no more.
  clock.AdvanceMicros(3'600'000'000);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(limiter.Take("gridcase:person:a", CallKind::kRead).ok());
  EXPECT_FALSE(limiter.Take("gridcase:person:a", CallKind::kRead).ok());
}

TEST(RateLimiterTest, ZeroMeansNoLimitAndMonitoringIsNotLimited) {
  FakeClock clock(1'600'000'000'000'000);
  RateLimits limits;
  limits.submits_per_s = 0;
  RateLimiter limiter(&clock, limits);
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(limiter.Take("x", CallKind::kSubmit).ok());
  EXPECT_EQ(KindOf("/gridcase.v1.AdminService/GetServerStats"), CallKind::kUnlimited);
  EXPECT_EQ(KindOf("/gridcase.v1.EventService/SubmitStream"), CallKind::kSubmit);
  EXPECT_EQ(KindOf("/gridcase.v1.AuditService/ReadLog"), CallKind::kLogStream);
  EXPECT_EQ(KindOf("/gridcase.v1.AuditService/Checkpoint"), CallKind::kCheckpoint);
  EXPECT_EQ(KindOf("/gridcase.v1.CaseService/GetCase"), CallKind::kRead);
}

TEST(RateLimiterTest, ManyAtOnceAreTakenWhole) {
  FakeClock clock(1'600'000'000'000'000);
  RateLimits limits;
  limits.submits_per_s = 100;
  limits.burst_s = 1;
  RateLimiter limiter(&clock, limits);
  EXPECT_TRUE(limiter.Take("s", CallKind::kSubmit, 64).ok());
  const absl::Status over = limiter.Take("s", CallKind::kSubmit, 64);  // 36 left
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(over.message()), HasSubstr("retry in 280 ms"));
  EXPECT_TRUE(limiter.Take("s", CallKind::kSubmit, 36).ok());  // the refusal took nothing
}

TEST(RateLimiterTest, ACallersOwnRateReplacesTheServers) {
  FakeClock clock(1'600'000'000'000'000);
  RateLimits limits;
  limits.submits_per_s = 10;
  limits.burst_s = 1;
  RateLimiter limiter(&clock, limits);
  // A city feed with 1,000 a second of its own: 1,000 at once, then refused.
  EXPECT_TRUE(limiter.Take("gridcase:app:feed", CallKind::kSubmit, 1000, 1000).ok());
  const absl::Status over = limiter.Take("gridcase:app:feed", CallKind::kSubmit, 1, 1000);
  EXPECT_THAT(std::string(over.message()), HasSubstr("limit of 1000 such calls"));
  // 0 of its own: unlimited, whatever the server's limit.
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE(limiter.Take("gridcase:app:bulk", CallKind::kSubmit, 1, 0).ok());
  }
  // Everyone else keeps the server's 10.
  EXPECT_TRUE(limiter.Take("gridcase:person:w", CallKind::kSubmit, 10).ok());
  EXPECT_FALSE(limiter.Take("gridcase:person:w", CallKind::kSubmit).ok());
}

}  // namespace
}  // namespace gridcase::security
