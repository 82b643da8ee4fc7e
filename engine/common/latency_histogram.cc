#include "engine/common/latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace gridcase {
namespace {

struct Bounds {
  std::array<uint64_t, LatencyHistogram::kBuckets> upper{};
  Bounds() {
    double b = 1;
    for (size_t i = 0; i < upper.size(); ++i) {
      upper[i] = static_cast<uint64_t>(b);
      // At least 1 µs wider each step, then a quarter-power of two.
      b = std::max(b + 1, std::ceil(b * 1.189207115002721));  // 2^(1/4)
    }
  }
};

const Bounds& AllBounds() {
  static const Bounds* bounds = new Bounds();
  return *bounds;
}

}  // namespace

uint64_t LatencyHistogram::UpperBoundMicros(size_t i) {
  return AllBounds().upper[std::min(i, kBuckets - 1)];
}

void LatencyHistogram::Add(uint64_t micros) {
  const auto& upper = AllBounds().upper;
  size_t i =
      static_cast<size_t>(std::lower_bound(upper.begin(), upper.end(), micros) - upper.begin());
  buckets_[std::min(i, kBuckets - 1)] += 1;
  count_ += 1;
  sum_micros_ += micros;
}

uint64_t LatencyHistogram::Quantile(const std::array<uint64_t, kBuckets>& buckets, double q) {
  return Quantile(AllBounds().upper, buckets, q);
}

uint64_t LatencyHistogram::Quantile(absl::Span<const uint64_t> upper_bounds,
                                    absl::Span<const uint64_t> counts, double q) {
  const size_t n = std::min(upper_bounds.size(), counts.size());
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) total += counts[i];
  if (total == 0) return 0;
  const double wanted = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
  uint64_t seen = 0;
  for (size_t i = 0; i < n; ++i) {
    seen += counts[i];
    if (seen > 0 && static_cast<double>(seen) >= wanted) return upper_bounds[i];
  }
  return upper_bounds[n - 1];
}

}  // namespace gridcase
