// The partitions of one data directory: each one's store and sequencer,
// and the routing of a case to its partition. Every feature of the engine
// (streams, staffing, timers, audit) is built over a PartitionSet.
//
//   data_dir/partition-NNN/    one RocksDB database per partition
//
// A case lives in partition fnv1a64(case_id) % count, for ever: the
// partition count is fixed when the data directory is created.
//
// Thread-safety: after Open() and StartSequencers(), every method may be
// called from any thread (a store's const methods and a sequencer are
// thread-safe).
#ifndef GRIDCASE_ENGINE_PARTITION_PARTITION_SET_H_
#define GRIDCASE_ENGINE_PARTITION_PARTITION_SET_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/clock.h"
#include "engine/domain/case_logic.h"
#include "engine/partition/sequencer.h"
#include "engine/storage/store.h"

namespace gridcase {

// Stable across builds and machines (unlike std::hash or absl::Hash).
uint64_t Fnv1a64(absl::string_view s);

struct PartitionSetOptions {
  StoreOptions store;
  // Bytes of each partition's newest durable records kept in memory for
  // timeline reads (recent_records.h); 0 keeps none.
  size_t recent_records_bytes = 16 << 20;
};

class PartitionSet {
 public:
  // Opens partitions 0..count-1 of `data_dir` side by side (after a crash
  // each replays its write-ahead log). Every partition that refuses says
  // why, in one status: a damaged disk seldom damages one partition alone.
  static absl::StatusOr<std::unique_ptr<PartitionSet>> Open(const std::string& data_dir,
                                                            uint32_t count,
                                                            const PartitionSetOptions& options);
  ~PartitionSet();  // Stop()s

  // Starts one sequencer per partition. `clock`, `logic` and `listener`
  // (told of every durable record; may be null) must outlive the set.
  absl::Status StartSequencers(const Clock* clock, const CaseLogic* logic, CommitListener* listener,
                               const SequencerOptions& options);
  // Fills every partition's id filters and case index with what was stored
  // before the set opened, in the background: serving need not wait for
  // it. A scan that fails leaves that partition's filters and index unused,
  // so checks keep reading RocksDB and listings walk it.
  void StartScanAtOpen();
  // Blocks until that scan is done (or stopped). For tests.
  void WaitForScanAtOpen();
  // Stops the scan, then every sequencer (each answers what it queued).
  // Idempotent.
  void Stop();

  uint32_t count() const { return static_cast<uint32_t>(parts_.size()); }
  PartitionId PartitionOf(absl::string_view case_id) const {
    return PartitionId(static_cast<uint32_t>(Fnv1a64(case_id) % parts_.size()));
  }
  PartitionStore& store(PartitionId p) { return *parts_[p.value()].store; }
  const PartitionStore& store(PartitionId p) const { return *parts_[p.value()].store; }
  // Only after StartSequencers(). A sequencer is thread-safe.
  Sequencer& sequencer(PartitionId p) const { return *parts_[p.value()].sequencer; }
  std::vector<const PartitionStore*> stores() const;

  // ALREADY_EXISTS when `event_id` was used in another partition than
  // `home` (necessarily for another case, since a case has one partition).
  // Reads RocksDB where a partition's id filter cannot rule the id out.
  absl::Status CheckEventIdElsewhere(const v1::Event& event, PartitionId home) const;
  // Whether CheckEventIdElsewhere would read RocksDB: some other partition's
  // id filter cannot rule `event_id` out. Memory only.
  bool MayHaveEventIdElsewhere(absl::string_view event_id, PartitionId home) const;

 private:
  struct Part {
    std::unique_ptr<PartitionStore> store;
    std::unique_ptr<Sequencer> sequencer;
  };
  PartitionSet() = default;

  std::vector<Part> parts_;
  std::thread open_scan_;
  std::atomic<bool> open_scan_stop_{false};
  absl::Mutex open_scan_mu_;
  bool open_scan_done_ ABSL_GUARDED_BY(open_scan_mu_) = true;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_PARTITION_PARTITION_SET_H_
