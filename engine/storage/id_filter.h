// A filter over the ids a partition has recorded (its event ids; its
// cases): "certainly not recorded" or "maybe". Every submission must be
// checked against every partition's idempotency keys (an event id names one
// event, whichever case it was sent for), and its case read; a point read
// costs a memtable probe and a Bloom probe per table file, most of them
// cache misses, and on a city's day nearly all of them find nothing. One
// probe of a filter answers most of those; a "maybe" still reads RocksDB,
// so the filter never decides alone.
//
// Blocked Bloom filter (one 64-byte block per id, 7 bits in it, about 10
// bits per id: about 1% false "maybe"). It grows by segments of doubling
// capacity. Add and MayContain may run at the same time on any threads.
#ifndef GRIDCASE_ENGINE_STORAGE_ID_FILTER_H_
#define GRIDCASE_ENGINE_STORAGE_ID_FILTER_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace gridcase {

class IdFilter {
 public:
  // Room for `capacity` ids before the first growth.
  explicit IdFilter(uint64_t capacity);
  ~IdFilter();
  IdFilter(const IdFilter&) = delete;
  IdFilter& operator=(const IdFilter&) = delete;

  void Add(absl::string_view id);
  // False: `id` was never added. True: it may have been.
  bool MayContain(absl::string_view id) const;

  // Bytes of filter held.
  size_t bytes() const;

 private:
  struct Segment;
  static constexpr int kSegmentsMax = 48;

  Segment* Last();

  std::array<std::atomic<Segment*>, kSegmentsMax> segments_{};
  std::atomic<int> count_{0};
  absl::Mutex grow_mu_;  // one segment is added at a time
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_STORAGE_ID_FILTER_H_
