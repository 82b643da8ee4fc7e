// The single writer of one partition.
//
// Submissions queue up in a bounded queue; one thread drains it in groups.
// For each submission of a group it checks idempotency, the expected
// version and the case logic, assigns position, case version and recorded
// time (RecordStamper), and folds the record into the case state. The whole group then goes
// to RocksDB as one WriteBatch with sync=true (group commit), and only after
// that write returns is any submitter answered. A failed write answers every
// submitter of the group with the error; nothing of the group is visible.
#ifndef GRIDCASE_ENGINE_PARTITION_SEQUENCER_H_
#define GRIDCASE_ENGINE_PARTITION_SEQUENCER_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/clock.h"
#include "engine/common/clock_guard.h"
#include "engine/common/latency_histogram.h"
#include "engine/common/types.h"
#include "engine/domain/case_logic.h"
#include "engine/domain/commit_listener.h"
#include "engine/privacy/sealer.h"
#include "engine/storage/disk_space.h"
#include "engine/storage/store.h"
#include "gridcase/v1/service.pb.h"

namespace gridcase {

// Called exactly once with the outcome of a submission: the result once it
// is durable, or the refusal / error. It runs on the sequencer thread (or on
// the caller's thread when refused before queueing), so it must be quick and
// must not block.
using SubmitCallback = absl::AnyInvocable<void(absl::StatusOr<v1::SubmitResponse>) &&>;

struct SequencerOptions {
  size_t queue_capacity = 16384;    // submissions waiting; beyond: RESOURCE_EXHAUSTED
  size_t group_records_max = 2048;  // submissions per WriteBatch at most
  // Seals records' personal fields before they are hashed and stored
  // (privacy/sealer.h); nullptr stores them as submitted. Outlives the
  // sequencer.
  const privacy::RecordSealer* sealer = nullptr;
  // Consulted before every group, and shared by the partitions; either may
  // be null (no guard). While the disk is too full every submission is
  // refused RESOURCE_EXHAUSTED; while the wall clock stands jumped forward,
  // UNAVAILABLE, and the clock guard's reading stamps recorded time.
  DiskSpaceGuard* disk = nullptr;
  ClockGuard* clock_guard = nullptr;
};

// The payload type URL of the absl::Status payload that carries a case's
// current version on a version conflict (decimal string).
inline constexpr char kCurrentVersionPayload[] = "type.googleapis.com/gridcase.v1.CurrentVersion";

// The refusal for an event_id already recorded, as `prior`, with other
// content.
absl::Status EventIdConflict(const v1::Record& prior);

// Where a submission came from when it was read from an external stream (a
// Kafka topic partition). The sequencer writes the offset, as decided, in
// the same WriteBatch as whatever the message led to: its records, or a
// dead letter when it was refused. A restart therefore knows exactly which
// messages were decided, and none is decided twice.
struct StreamOrigin {
  std::string source;    // "topic/partition"; printable, no 0x00
  int64_t offset = 0;    // >= 0, increasing within a source
  std::string original;  // the message's bytes, kept in a dead letter
};

// Whether a refusal is a decision about the message itself (its content,
// or the case's state), as opposed to a failure of the server (storage,
// shutdown) after which the same message must be tried again.
bool IsDecidedRefusal(const absl::Status& status);

// What a sequencer has written since it started, and how long it took.
// The durations are measured on the steady clock of the machine, for the
// server's own figures; they never enter a record.
struct SequencerStats {
  uint64_t groups = 0;        // WriteBatches written (each one fsync)
  uint64_t records = 0;       // records appended (submitted and derived)
  uint64_t submissions = 0;   // submissions answered (refusals included)
  uint64_t batch_bytes = 0;   // bytes of the WriteBatches written
  LatencyHistogram queued;    // per submission: queued until its group started
  LatencyHistogram write;     // per group with anything to write: the synced write
  LatencyHistogram answered;  // per submission: queued until answered
  // Per group: how many submissions it decided, counted in buckets of at
  // most GroupSizeBound(i) (the last one also holds larger groups).
  static constexpr size_t kGroupSizeBuckets = 13;  // 1, 2, 4, ... 4096
  static constexpr uint64_t GroupSizeBound(size_t i) { return uint64_t{1} << i; }
  std::array<uint64_t, kGroupSizeBuckets> group_sizes{};
  uint64_t queue_depth = 0;  // submissions waiting now, when stats were taken
};

// The highest key slot the records of `store` are sealed under
// (keys::kMetaKeySlotMax); 0 when none is.
absl::StatusOr<uint64_t> KeySlotMax(const PartitionStore& store);

class Sequencer {
 public:
  // `store`, `clock`, `logic` and `listener` (if any) must outlive the
  // sequencer. Starts the thread, recovering the last position and
  // recorded time from the store.
  static absl::StatusOr<std::unique_ptr<Sequencer>> Start(PartitionStore* store, const Clock* clock,
                                                          const CaseLogic* logic,
                                                          CommitListener* listener,
                                                          const SequencerOptions& options);
  // Stops as Stop() does.
  ~Sequencer();

  // Queues a submission that has passed validation. Thread-safe. When the
  // queue is full `done` gets RESOURCE_EXHAUSTED at once; after Stop() it
  // gets UNAVAILABLE.
  void Submit(v1::SubmitRequest request, SubmitCallback done);

  // Queues submissions that must be written together: they are processed
  // in one group, so they land in one WriteBatch or not at all (each may
  // still be refused on its own). For the engine's own bulk moves; not
  // bounded by the queue capacity.
  void SubmitBundle(std::vector<std::pair<v1::SubmitRequest, SubmitCallback>> items);

  // Queues a message of an external stream: `request`, or the refusal it
  // already met (validation) to be recorded as a dead letter. Never refused
  // for a full queue: the stream's reader bounds what it has in flight.
  // Messages of one source must be queued in offset order.
  void SubmitFromStream(v1::SubmitRequest request, absl::Status refusal, StreamOrigin origin,
                        SubmitCallback done);

  // Refuses new submissions, answers everything already queued (processing
  // it normally), and joins the thread. Idempotent.
  void Stop();

  SequencerStats stats() const;

  // OK while the partition takes writes; otherwise the refusal its
  // submissions get now: UNAVAILABLE after a storage failure (until a
  // restart) or while the wall clock stands jumped, RESOURCE_EXHAUSTED
  // while the disk is too full. Thread-safe; touches no file.
  absl::Status refusing_writes() const;

  // The highest position written so far. Thread-safe.
  Position last_position() const;
  // The last durable position and the chain's hash there. Thread-safe.
  std::pair<Position, std::string> committed_head() const;

 private:
  struct Item {
    Item(v1::SubmitRequest r, SubmitCallback d, bool bundled = false)
        : request(std::move(r)), done(std::move(d)), bundled_with_next(bundled) {}
    v1::SubmitRequest request;
    SubmitCallback done;
    std::chrono::steady_clock::time_point queued_at = std::chrono::steady_clock::now();
    bool bundled_with_next = false;  // the next item belongs to the same bundle
    std::optional<StreamOrigin> origin;
    absl::Status refusal;  // decided before queueing (stream messages only)
  };
  class Group;

  Sequencer(PartitionStore* store, const Clock* clock, const CaseLogic* logic,
            CommitListener* listener, const SequencerOptions& options);
  void Run();
  void ProcessGroup(std::deque<Item>* items);
  // Before a group: the wall time to stamp it with, or why it may not be
  // written (a storage failure, here or in RocksDB's background, a full
  // disk, a jumped clock).
  absl::StatusOr<int64_t> Gate();
  // Stops the partition for good (until a restart) after `cause`.
  void StopOnFailure(const absl::Status& cause);
  // After a group's synced write: the committed head moves, and the id
  // filters, the case index and the listener learn what became durable,
  // all before any answer.
  void Publish(const Group& group, Position committed);
  // After a failed write: the partition stops accepting writes, and each
  // answer the write would have made true becomes the failure.
  void Fail(const absl::Status& written, Position committed, const std::deque<Item>& items,
            std::vector<absl::StatusOr<v1::SubmitResponse>>* results);

  PartitionStore* const store_;
  const Clock* const clock_;
  const CaseLogic* const logic_;
  CommitListener* const listener_;  // may be null
  const SequencerOptions options_;

  // Whether the thread has anything to do: work queued, or stopping.
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); }

  mutable absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Written by the thread only (which may read it without the lock).
  Position last_position_ ABSL_GUARDED_BY(mu_);
  int64_t last_recorded_us_ = 0;               // sequencer thread only
  uint64_t key_slot_max_ = 0;                  // sequencer thread only (keys::kMetaKeySlotMax)
  absl::Status failure_ ABSL_GUARDED_BY(mu_);  // written by the thread only, once
  std::string head_ ABSL_GUARDED_BY(mu_);      // written by the thread only
  SequencerStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_PARTITION_SEQUENCER_H_
