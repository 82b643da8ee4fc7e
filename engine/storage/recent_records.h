// The newest durable records of a partition, in memory by position: the
// stored values of the `events` family (record, previous hash, hash) for
// the newest records that fit in `bytes_max` bytes of memory. Timelines of active cases read
// mostly recent records; from here each costs an index into a deque
// instead of a memtable search (about a microsecond each, most of a
// 1,000-record timeline). Redpanda's batch cache plays the same part.
//
// Only what the sequencer has synced is ever appended, so nothing read
// from here can be lost in a crash. Thread-safe: one writer (the
// sequencer), many readers.
#ifndef GRIDCASE_ENGINE_STORAGE_RECENT_RECORDS_H_
#define GRIDCASE_ENGINE_STORAGE_RECENT_RECORDS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/types.h"

namespace gridcase {

class RecentRecords {
 public:
  explicit RecentRecords(size_t bytes_max) : bytes_max_(bytes_max) {}

  // Appends the stored values of positions first, first + 1, ... They
  // normally follow the last appended; if not, what was held is dropped
  // and the cache starts again at `first`.
  void Append(Position first, std::vector<std::string> values);

  // For each of `positions`, copies the stored value into (*values)[i] and
  // sets (*held)[i] when the cache holds it; leaves the others alone.
  // Returns how many it held.
  size_t Lookup(const std::vector<uint64_t>& positions, std::vector<std::string>* values,
                std::vector<bool>* held) const;

  // Positions held: [first, first + count).
  std::pair<uint64_t, size_t> range() const;

 private:
  const size_t bytes_max_;
  mutable absl::Mutex mu_;                               // readers share it
  std::deque<std::string> values_ ABSL_GUARDED_BY(mu_);  // values_[i] is position first_ + i
  uint64_t first_ ABSL_GUARDED_BY(mu_) = 0;
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_STORAGE_RECENT_RECORDS_H_
