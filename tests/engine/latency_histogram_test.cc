#include "engine/common/latency_histogram.h"

#include <vector>

#include "gtest/gtest.h"

namespace gridcase {
namespace {

TEST(LatencyHistogramTest, BoundsStartAtOneMicrosecondAndGrowByAtMostAFifthAbove100) {
  EXPECT_EQ(LatencyHistogram::UpperBoundMicros(0), 1u);
  for (size_t i = 1; i < LatencyHistogram::kBuckets; ++i) {
    const uint64_t lo = LatencyHistogram::UpperBoundMicros(i - 1);
    const uint64_t hi = LatencyHistogram::UpperBoundMicros(i);
    ASSERT_GT(hi, lo) << "bucket " << i;
    if (lo >= 100) {
      EXPECT_LE(hi, lo * 12 / 10 + 1) << "bucket " << i;
    }
  }
  // Long enough for anything a write or a queue could take.
  EXPECT_GT(LatencyHistogram::UpperBoundMicros(LatencyHistogram::kBuckets - 1), 600u * 1000 * 1000);
}

TEST(LatencyHistogramTest, QuantilesAreTheBoundOfTheBucketReachingTheShare) {
  LatencyHistogram h;
  EXPECT_EQ(h.Quantile(0.5), 0u);  // empty
  for (int i = 0; i < 98; ++i) h.Add(10);
  h.Add(5000);
  h.Add(7000);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.sum_micros(), 98u * 10 + 5000 + 7000);  // exact, not from the buckets
  EXPECT_EQ(h.Quantile(0.5), 10u);                    // 10 is a bound itself
  EXPECT_EQ(h.Quantile(0.98), 10u);
  // The 99th duration is 5,000 µs: its bucket's bound, at most a fifth above.
  EXPECT_GE(h.Quantile(0.99), 5000u);
  EXPECT_LE(h.Quantile(0.99), 6000u);
  EXPECT_GE(h.Quantile(1.0), 7000u);
  EXPECT_LE(h.Quantile(1.0), 8400u);
}

TEST(LatencyHistogramTest, QuantilesOverGivenBoundsAndCounts) {
  // As a client reads them from a server's stats, or sums them.
  const std::vector<uint64_t> bounds{10, 100, 1000};
  EXPECT_EQ(LatencyHistogram::Quantile(bounds, std::vector<uint64_t>{0, 0, 0}, 0.5), 0u);
  const std::vector<uint64_t> counts{50, 45, 5};
  EXPECT_EQ(LatencyHistogram::Quantile(bounds, counts, 0.5), 10u);
  EXPECT_EQ(LatencyHistogram::Quantile(bounds, counts, 0.9), 100u);
  EXPECT_EQ(LatencyHistogram::Quantile(bounds, counts, 0.99), 1000u);
}

TEST(LatencyHistogramTest, ADurationLandsInTheBucketWhoseBoundsEncloseIt) {
  for (size_t i = 1; i < LatencyHistogram::kBuckets; ++i) {
    LatencyHistogram h;
    h.Add(LatencyHistogram::UpperBoundMicros(i - 1) + 1);  // just above the previous bound
    h.Add(LatencyHistogram::UpperBoundMicros(i));          // at this bound
    EXPECT_EQ(h.buckets()[i], 2u) << "bucket " << i;
  }
  LatencyHistogram zero;
  zero.Add(0);
  EXPECT_EQ(zero.buckets()[0], 1u);
}

TEST(LatencyHistogramTest, EverythingLongerThanTheLastBoundGoesToTheLastBucket) {
  LatencyHistogram h;
  h.Add(UINT64_MAX);
  h.Add(LatencyHistogram::UpperBoundMicros(LatencyHistogram::kBuckets - 1) + 1);
  EXPECT_EQ(h.buckets()[LatencyHistogram::kBuckets - 1], 2u);
  EXPECT_EQ(h.count(), 2u);
}

}  // namespace
}  // namespace gridcase
