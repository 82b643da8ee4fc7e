// Durations counted in fixed buckets, for the server's own latency figures
// (how long submissions wait, how long a synced write takes). Buckets are
// 1 µs wide up to 6 µs, then grow by 2^(1/4) (about 19%), so a quantile is
// reported as a bucket's upper bound: never below the true value, and
// above 100 µs at most about a fifth above it. Fixed bounds make histograms of different
// partitions and of different moments subtract and add bucket by bucket.
//
// Not thread-safe; the owner guards it.
#ifndef GRIDCASE_ENGINE_COMMON_LATENCY_HISTOGRAM_H_
#define GRIDCASE_ENGINE_COMMON_LATENCY_HISTOGRAM_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace gridcase {

class LatencyHistogram {
 public:
  // The last bucket's bound is about 8.5e8 µs (14 minutes); it also holds
  // every longer duration.
  static constexpr size_t kBuckets = 112;

  // Bucket i holds durations d with UpperBoundMicros(i - 1) < d <=
  // UpperBoundMicros(i) (bucket 0: d <= 1 µs).
  static uint64_t UpperBoundMicros(size_t i);

  void Add(uint64_t micros);
  uint64_t count() const { return count_; }
  // The sum of every duration added (for a mean, or a Prometheus _sum).
  uint64_t sum_micros() const { return sum_micros_; }
  const std::array<uint64_t, kBuckets>& buckets() const { return buckets_; }

  // The upper bound of the bucket in which the durations reach the share
  // `q` (0 < q <= 1) of the count; 0 when empty.
  static uint64_t Quantile(const std::array<uint64_t, kBuckets>& buckets, double q);
  uint64_t Quantile(double q) const { return Quantile(buckets_, q); }
  // The same over any bucket bounds and counts, e.g. a LatencyHistogram
  // message's (a client's view of a server's histogram, or a sum of them).
  static uint64_t Quantile(absl::Span<const uint64_t> upper_bounds,
                           absl::Span<const uint64_t> counts, double q);

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t sum_micros_ = 0;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_COMMON_LATENCY_HISTOGRAM_H_
