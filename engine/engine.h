// The engine: a fixed set of partitions, each a RocksDB database with one
// sequencer thread (partition/partition_set.h), behind one facade that
// routes by case.
//
//   data_dir/GRIDCASE          format version and partition count
//   data_dir/partition-NNN/    one RocksDB database per partition
//   data_dir/access/           the access log (access/access_log.h)
//   data_dir/keys/subjects/    per-person keys, when sealing (privacy/key_store.h)
//
// The facade submits events and reads cases; the engine's other features
// are classes over the partitions, each in its own library, reached
// through accessors: streams() (Kafka's ledger), staffing() (the
// directory and hand-overs), audit(), timers() (deadlines) and
// workflows() (deployments).
//
// Thread-safety: every public method may be called from any thread, and
// every method of the features.
#ifndef GRIDCASE_ENGINE_ENGINE_H_
#define GRIDCASE_ENGINE_ENGINE_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "engine/audit/auditor.h"
#include "engine/audit/scrubber.h"
#include "engine/common/clock.h"
#include "engine/common/clock_guard.h"
#include "engine/common/submission_counts.h"
#include "engine/deployments.h"
#include "engine/domain/case_logic.h"
#include "engine/domain/directory.h"
#include "engine/domain/validate.h"
#include "engine/erasure.h"
#include "engine/partition/partition_set.h"
#include "engine/partition/sequencer.h"
#include "engine/partition/submit_router.h"
#include "engine/privacy/key_store.h"
#include "engine/privacy/sealer.h"
#include "engine/staffing/staffing.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/disk_space.h"
#include "engine/streams/stream_ledger.h"
#include "engine/timers/deadline_timers.h"
#include "engine/workflow/registry.h"
#include "gridcase/v1/service.pb.h"

namespace gridcase {

struct EngineOptions {
  std::string data_dir;
  // 0: the count stored in an existing data directory, or
  // kDefaultPartitions for a new one. Otherwise must equal the stored count.
  uint32_t partitions = 0;
  SequencerOptions sequencer;
  ValidationLimits limits;
  // Bytes of each partition's newest durable records kept in memory for
  // timeline reads (recent_records.h); 0 keeps none.
  size_t recent_records_bytes = 16 << 20;
  // Storage environment of every partition; nullptr is RocksDB's default
  // (real files, real fsync). Tests pass one that injects faults.
  rocksdb::Env* env = nullptr;
  // The size of the reserved huge pages each partition's memtables are
  // allocated from (huge_pages.h); 0: normal pages.
  size_t memtable_huge_page_size = 0;
  // Threads that check, off the caller's thread, an event id that another
  // partition's id filter cannot rule out (submit_router.h).
  size_t id_check_threads = 2;
  // Told what opening does that takes long: upgrading a partition written
  // by an earlier build (refold.h), when it starts and ends. May be empty.
  std::function<void(const std::string& message)> on_upgrade;
  // 32 bytes that wrap the per-person keys of DATA_DIR/keys/subjects
  // (privacy/key_store.h): records' personal fields are then sealed under
  // their person's key, and people can be erased (erasure.h). Empty: they
  // are stored as submitted and nothing can be erased.
  std::string master_key;
  // Bytes the data directory's file system must keep free: below that,
  // every submission is refused RESOURCE_EXHAUSTED "disk full" and writes
  // resume once space is freed (storage/disk_space.h). 0: no guard.
  uint64_t disk_reserve_bytes = 0;
  // A forward jump of the wall clock beyond this stops every partition's
  // writes and deadlines until time is fixed or the jump is accepted
  // (AcceptClock(); common/clock_guard.h). 0: no guard.
  int64_t clock_jump_limit_us = 0;
  // The background scrub of table-file checksums and the hash chain
  // (audit/scrubber.h); off unless every_us is set.
  ScrubOptions scrub;
};

inline constexpr uint32_t kPageSizeDefault = 100;
inline constexpr uint32_t kPageSizeMax = 1000;

// What a read of an erased case's contents answers: NOT_FOUND "case X was
// erased at position P".
absl::Status ErasedCase(const v1::CaseState& state);

// Builds the case logic over the engine's workflow registry and directory,
// which it only reads (tests wrap the real logic to hold the sequencer
// still).
using CaseLogicFactory = std::function<std::unique_ptr<CaseLogic>(
    const workflow::Registry& registry, const Directory& directory)>;

// The case index of a partition, as the server reports it.
struct CaseIndexStats {
  bool ready = false;  // complete: it answers listings
  size_t cases = 0;
  size_t bytes = 0;
  bool filling = false;
  std::string problem;
};
// What a partition's sequencer wrote since the engine opened, and its case
// index when it keeps one.
struct PartitionStats : SequencerStats {
  std::optional<CaseIndexStats> case_index;
  // Submissions to this partition whose event id needed a RocksDB read in
  // another partition, which ran on a router thread, not the caller's.
  uint64_t deferred = 0;
  // OK while the partition takes writes, else the refusal its submissions
  // get now (Sequencer::refusing_writes()).
  absl::Status refusing_writes;
  ScrubStats scrub;
};

class Engine {
 public:
  // `clock` must outlive the engine. `make_logic` defaults to the
  // workflow-driven logic. Deployed workflows are loaded from the log
  // before the engine takes submissions.
  static absl::StatusOr<std::unique_ptr<Engine>> Open(const EngineOptions& options,
                                                      const Clock* clock,
                                                      CaseLogicFactory make_logic = nullptr);
  ~Engine();

  // Validates and queues a submission; `done` is called exactly once (see
  // SubmitCallback). Refusals: INVALID_ARGUMENT (shape), ALREADY_EXISTS
  // (event_id reused with other content), FAILED_PRECONDITION (expected
  // version), NOT_FOUND (event needs an existing case), RESOURCE_EXHAUSTED
  // (queue full), UNAVAILABLE (stopping, storage failure).
  // Never blocks on storage: called on gRPC callback threads, it validates
  // and consults the partitions' id filters in memory; an event id that
  // must be looked up in another partition's RocksDB is looked up on a
  // thread of the engine's (submit_router.h), keeping order per case.
  void Submit(v1::SubmitRequest request, SubmitCallback done);

  absl::StatusOr<v1::CaseState> GetCase(absl::string_view case_id) const;
  absl::StatusOr<v1::GetTimelineResponse> GetTimeline(const v1::GetTimelineRequest& request) const;
  // The same page as GetTimelineResponse's serialized bytes, built from the
  // stored records without parsing them: what the server sends. With
  // `next_page_token`, the token is left out of the bytes and put there
  // ("" on the last page), for the server to seal (page_tokens.h).
  absl::StatusOr<std::string> GetTimelineWire(const v1::GetTimelineRequest& request,
                                              std::string* next_page_token = nullptr) const;
  absl::StatusOr<v1::ListCasesResponse> ListCases(const v1::ListCasesRequest& request) const;

  // Commits, for followers of the log: a number that grows with every
  // durable record of any partition, and a wait until it moves past `seen`
  // (or `timeout` passes, or the engine stops).
  uint64_t commit_generation() const { return commit_generation_.load(); }
  void AwaitCommit(uint64_t seen, std::chrono::milliseconds timeout) const;

  // Refuses new submissions, answers every queued one, stops the threads.
  // Idempotent; the destructor calls it.
  void Stop();

  // Per partition, what its sequencer wrote since the engine opened, and
  // its case index.
  std::vector<PartitionStats> Stats() const;
  uint32_t partition_count() const { return partitions_->count(); }
  // Per partition, OK while it takes writes, else why not; reads the
  // guards afresh. Cheap: for health checks.
  std::vector<absl::Status> WriteRefusals() const;
  // The guards, when the options turned them on (null otherwise).
  const DiskSpaceGuard* disk_space() const { return disk_.get(); }
  const ClockGuard* clock_guard() const { return clock_guard_.get(); }
  // Accepts the wall clock as it reads now after a forward jump beyond the
  // limit (common/clock_guard.h): the jump accepted, FAILED_PRECONDITION
  // when none stands or there is no guard.
  absl::StatusOr<int64_t> AcceptClock();
  PartitionId PartitionOf(absl::string_view case_id) const {
    return partitions_->PartitionOf(case_id);
  }
  const std::string& data_dir() const { return options_.data_dir; }

  // The features, over the partitions.
  StreamLedger& streams() { return *streams_; }
  const StreamLedger& streams() const { return *streams_; }
  Staffing& staffing() { return *staffing_; }
  const Staffing& staffing() const { return *staffing_; }
  // Every read of personal data, recorded before it is answered.
  AccessLog& access() { return *access_; }
  Auditor& audit() { return *audit_; }
  const Auditor& audit() const { return *audit_; }
  Scrubber& scrubber() { return *scrubber_; }
  DeadlineTimers& timers() { return *timers_; }
  const DeadlineTimers& timers() const { return *timers_; }
  Deployments& workflows() { return *workflows_; }
  const Deployments& workflows() const { return *workflows_; }
  // Erasure of a person's personal data (erasure.h).
  Erasures& erasures() { return *erasures_; }
  // Puts a stored record's sealed personal fields back in place (a record
  // without, or an engine that seals nothing: as it is). NOT_FOUND when
  // they were erased.
  absl::Status OpenRecord(v1::Record* record) const;
  bool seals_personal_data() const { return sealer_ != nullptr; }
  // How the submissions answered so far ended, by source and code.
  const SubmissionCounts& submission_counts() const { return counts_; }
  // The partitions themselves, for tests and tools that look at a store.
  PartitionSet& partitions() { return *partitions_; }
  const PartitionSet& partitions() const { return *partitions_; }

 private:
  Engine(const EngineOptions& options, const Clock* clock);
  class CommitObserver;
  void NotifyCommitted(const v1::Record& record);
  // The steps of Open(): the partitions and the features over them; what
  // the engine's own cases hold and the format brought up to date; then
  // the sequencers, the router and the scan at open.
  absl::Status OpenPartitions(CaseLogicFactory make_logic);
  absl::Status Recover();
  absl::Status StartServing();
  // One partition's overdue cases matching the filters, after `after`.
  absl::Status OverdueOf(const PartitionStore& store, const CaseFilter& filter,
                         const std::vector<std::string>& grids, bool by_area,
                         const std::string& after, size_t limit, std::vector<v1::CaseState>* out,
                         bool* more) const;
  // Partitions of an earlier storage format: their case states folded again
  // (refold.h), then the format recorded. Before any sequencer starts.
  absl::Status UpgradeCaseStates();

  EngineOptions options_;
  const Clock* const clock_;
  workflow::Registry registry_;
  Directory directory_;
  absl::Mutex listener_mu_;
  std::function<void(int64_t)> deadline_listener_ ABSL_GUARDED_BY(listener_mu_);
  std::unique_ptr<DiskSpaceGuard> disk_;     // null: none
  std::unique_ptr<ClockGuard> clock_guard_;  // null: none
  std::unique_ptr<CaseLogic> logic_;
  std::unique_ptr<CommitObserver> observer_;
  std::unique_ptr<PartitionSet> partitions_;
  SubmissionCounts counts_;
  std::unique_ptr<SubmitRouter> router_;
  std::unique_ptr<StreamLedger> streams_;
  std::unique_ptr<Staffing> staffing_;
  std::unique_ptr<AccessLog> access_;
  std::unique_ptr<Auditor> audit_;
  std::unique_ptr<Scrubber> scrubber_;
  std::unique_ptr<DeadlineTimers> timers_;
  std::unique_ptr<Deployments> workflows_;
  std::unique_ptr<privacy::KeyStore> keys_;
  std::unique_ptr<privacy::RecordSealer> sealer_;
  std::unique_ptr<Erasures> erasures_;
  std::atomic<uint64_t> commit_generation_{0};
  mutable std::atomic<int> commit_waiters_{0};
  mutable absl::Mutex commit_mu_;
  bool stopping_ ABSL_GUARDED_BY(commit_mu_) = false;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_ENGINE_H_
