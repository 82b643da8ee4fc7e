// The engine: a fixed set of partitions, each a RocksDB database with one
// sequencer thread, behind one facade that routes by case.
//
//   data_dir/GRIDCASE          format version and partition count
//   data_dir/partition-NNN/    one RocksDB database per partition
//
// A case lives in partition fnv1a64(case_id) % partitions, for ever: the
// partition count is fixed when the data directory is created.
//
// Thread-safety: every public method may be called from any thread.
#ifndef GRIDCASE_ENGINE_ENGINE_H_
#define GRIDCASE_ENGINE_ENGINE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "engine/domain/case_logic.h"
#include "engine/domain/directory.h"
#include "engine/common/clock.h"
#include "engine/partition/sequencer.h"
#include "engine/storage/signer.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/store.h"
#include "engine/domain/validate.h"
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
  // Told what opening does that takes long: upgrading a partition written
  // by an earlier build (refold.h), when it starts and ends. May be empty.
  std::function<void(const std::string& message)> on_upgrade;
};

inline constexpr uint32_t kPageSizeDefault = 100;
inline constexpr uint32_t kPageSizeMax = 1000;

// Stable across builds and machines (unlike std::hash or absl::Hash).
uint64_t Fnv1a64(absl::string_view s);

// Builds the case logic over the engine's workflow registry and directory
// (tests wrap the real logic to hold the sequencer still).
using CaseLogicFactory = std::function<std::unique_ptr<CaseLogic>(
    workflow::Registry* registry, Directory* directory)>;

class Engine {
 public:
  // `clock` must outlive the engine. `make_logic` defaults to the
  // workflow-driven logic. Deployed workflows are loaded from the log
  // before the engine takes submissions.
  static absl::StatusOr<std::unique_ptr<Engine>> Open(
      const EngineOptions& options, const Clock* clock,
      CaseLogicFactory make_logic = nullptr);
  ~Engine();

  // Validates and queues a submission; `done` is called exactly once (see
  // SubmitCallback). Refusals: INVALID_ARGUMENT (shape), ALREADY_EXISTS
  // (event_id reused with other content), FAILED_PRECONDITION (expected
  // version), NOT_FOUND (event needs an existing case), RESOURCE_EXHAUSTED
  // (queue full), UNAVAILABLE (stopping, storage failure).
  void Submit(v1::SubmitRequest request, SubmitCallback done);

  // Submits a message read from an external stream (a Kafka topic
  // partition), to be decided exactly once: `request` is the event, or why
  // the message could not be read as one. The message is validated and
  // checked like any submission; its offset is written with what it led
  // to, in one WriteBatch: its records, or, when it is refused for its
  // content or the case's state, a dead letter (DeadLetters()). `done`
  // gets the answer once durable. A failure of the server itself
  // (UNAVAILABLE...) decides nothing: the message must be tried again.
  // Never refused for a full queue; the reader bounds its messages in
  // flight. Messages of one source must be submitted in offset order.
  void SubmitFromStream(absl::StatusOr<v1::SubmitRequest> request, StreamOrigin origin,
                        SubmitCallback done);
  // The partition that decides a stream message: its case's, or partition
  // 0 when it names no valid case.
  PartitionId RouteOf(const absl::StatusOr<v1::SubmitRequest>& request) const;
  // The last offset of each source (whose name starts with
  // `source_prefix`) decided in partition `p`.
  absl::Status StreamOffsets(PartitionId p, const std::string& source_prefix,
                             std::map<std::string, int64_t>* out) const;
  // Dead letters of partition `p` waiting to be handed on, in (source,
  // offset) order, with their meta keys; and their removal once handed on.
  absl::Status DeadLetters(PartitionId p, size_t limit,
                           std::vector<std::pair<std::string, v1::DeadLetter>>* out) const;
  absl::Status RemoveDeadLetters(PartitionId p, const std::vector<std::string>& keys);
  // How many dead letters partition `p` holds: written and not yet removed,
  // counted in the store when asked.
  absl::StatusOr<uint64_t> CountDeadLetters(PartitionId p) const;
  // Small durable values of components outside the engine (the change
  // feed's position), kept in a partition's meta under "ext/NAME".
  absl::StatusOr<std::optional<std::string>> ReadExt(PartitionId p, const std::string& name) const;
  absl::Status WriteExt(PartitionId p, const std::string& name, const std::string& value);

  // Validates a workflow definition (textproto `source`, named `file_name`
  // in messages, at most kFileNameBytesMax) and deploys it as an event.
  // `done` is called exactly once: INVALID_ARGUMENT listing the problems
  // with their lines (workflow/definition.h), FAILED_PRECONDITION
  // when its version is not the next of its name, or the deployment once
  // durable (duplicate when this very version was deployed before).
  static constexpr size_t kFileNameBytesMax = 256;
  using DeployCallback =
      absl::AnyInvocable<void(absl::StatusOr<v1::DeployWorkflowResponse>) &&>;
  void DeployWorkflow(const std::string& source, const std::string& file_name,
                      const v1::Actor& actor, DeployCallback done);
  v1::ListWorkflowsResponse ListWorkflows() const;
  // version 0: the latest. NOT_FOUND when absent.
  absl::StatusOr<v1::WorkflowDefinition> GetWorkflow(const std::string& name,
                                                     uint32_t version) const;

  // Recomputes the hash chain of every partition (chain.h), in order, and
  // reports for each the records that hold and the first one that does not.
  // Reads only committed records; safe while the engine runs.
  // With `public_key_pem`, also checks every signed head: its signature,
  // and that the chain recomputed from the stored records reaches the same
  // hash at its position (a rewrite that recomputed every hash is caught
  // here). The first failure is reported like a broken link.
  absl::StatusOr<std::vector<ChainCheck>> VerifyLog(const std::string& public_key_pem = "") const;

  // Signs each partition's current chain head (if it moved since the last
  // signature) and keeps the signed heads. Returns how many were signed.
  absl::StatusOr<size_t> SignHeads(const HeadSigner& signer);

  // A case as of a position, a known-at time or a happened-by time (see
  // GetCaseAsOfRequest), folded through the case logic's appliers.
  absl::StatusOr<v1::GetCaseAsOfResponse> GetCaseAsOf(const v1::GetCaseAsOfRequest& request) const;

  // A consistent copy of every partition, taken while serving, in
  // DATA_DIR/checkpoints/NAME: a data directory of its own, for rebuilds
  // and audits. Table files are hard-linked, so it is cheap. `name` is 1 to
  // 64 of [A-Za-z0-9._-] (empty: the UTC time, 20200222T200500Z);
  // ALREADY_EXISTS when taken before. Cases of one partition may run
  // workflow versions deployed in another: a deployment made while the
  // partitions are copied makes the copy start over, so every case's
  // workflow is in the checkpoint.
  struct CheckpointInfo {
    std::string dir;
    std::vector<uint64_t> positions;  // the last position held, by partition
  };
  absl::StatusOr<CheckpointInfo> Checkpoint(const std::string& name) const;

  // Commits, for followers of the log: a number that grows with every
  // durable record of any partition, and a wait until it moves past `seen`
  // (or `timeout` passes, or the engine stops).
  uint64_t commit_generation() const { return commit_generation_.load(); }
  void AwaitCommit(uint64_t seen, std::chrono::milliseconds timeout) const;

  // Called (from a sequencer thread; keep it short) with the due time of
  // every deadline set, once durable. The scheduler uses it to wake early.
  void SetDeadlineListener(std::function<void(int64_t due_us)> listener);

  // Deadlines: fires every pending deadline due at the engine clock's now
  // (at most `limit`), in due order, each through its case's sequencer as
  // a deadline_expired record, and waits until they are durable. A deadline
  // fires at most once: the record removes it, in the same write, and its
  // id is an idempotency key. Returns how many fired.
  // A partition whose queue is full leaves its deadlines for the next round.
  absl::StatusOr<size_t> FireDueDeadlines(size_t limit = 512);
  // The due time of the earliest pending deadline, if any.
  absl::StatusOr<std::optional<int64_t>> NextDeadlineDueUs() const;

  // The directory. ImportDirectory checks every entry (in order, each
  // against the directory plus the entries before it) and writes nothing
  // unless all are sound; then it appends them, in order, to the
  // "~directory" case and waits until they are durable. `import_id` names
  // one batch (e.g. a hash of the file): sent again, at any time and by
  // anyone, its entries are duplicates and no directory record is written
  // (entries added at its end are written, at the first sending's moment
  // and under its author). Returns how many entries were new.
  struct ImportResult {
    size_t written = 0;  // new directory records
    size_t moved = 0;    // cases whose holder was replaced (see ReassignHolder)
  };
  // After the entries are durable, every person they make unavailable now
  // hands on what they hold (ReassignHolder), also when the import was
  // sent before: whatever such a person took on since is handed on too.
  absl::StatusOr<ImportResult> ImportDirectory(const std::vector<v1::DirectoryEntry>& entries,
                                               const std::string& import_id,
                                               const v1::Actor& actor);

  // Moves every open case and task `person` holds to their paired partner,
  // else the least-loaded available worker of the grid, else up the ladder
  // (secretary, street, district), one holder_replaced record per case. The
  // moves of each partition are written in one WriteBatch. Returns how many
  // cases moved.
  absl::StatusOr<size_t> ReassignHolder(const std::string& person, const std::string& reason);
  // Hands on what is held by people whose announced unavailability has
  // begun since the last call (imports handle those unavailable at once);
  // the first call after the engine opens sweeps everyone unavailable, so
  // moves cut short by a crash are completed. The deadline scheduler calls
  // it every round. Returns cases moved.
  absl::StatusOr<size_t> HandOnFromNewlyUnavailable();
  const Directory& directory() const { return directory_; }
  // What `person` holds now.
  absl::StatusOr<v1::Workload> Workload(const std::string& person) const;
  // Grids without an available worker and cases held by unavailable people,
  // under `area` (empty: everywhere).
  absl::StatusOr<v1::StaffingReport> StaffingReport(const std::string& area) const;

  absl::StatusOr<v1::CaseState> GetCase(absl::string_view case_id) const;
  absl::StatusOr<v1::GetTimelineResponse> GetTimeline(
      const v1::GetTimelineRequest& request) const;
  // The same page as GetTimelineResponse's serialized bytes, built from the
  // stored records without parsing them: what the server sends.
  absl::StatusOr<std::string> GetTimelineWire(const v1::GetTimelineRequest& request) const;
  absl::StatusOr<v1::ListCasesResponse> ListCases(
      const v1::ListCasesRequest& request) const;

  // Refuses new submissions, answers every queued one, stops the threads.
  // Idempotent; the destructor calls it.
  void Stop();

  // Blocks until every partition's id filters and case index hold every
  // event id and case stored before the engine opened (a background scan;
  // until then idempotency keys and cases are read from RocksDB, and
  // listings wait for it). For tests; returns once stopped.
  void WaitForScanAtOpen();

  uint32_t partition_count() const { return static_cast<uint32_t>(parts_.size()); }
  // Per partition, what its sequencer wrote since the engine opened.
  std::vector<SequencerStats> Stats() const;
  // A partition's store, for readers (every const method is thread-safe).
  const PartitionStore& store(PartitionId p) const { return *parts_[p.value()].store; }
  PartitionId PartitionOf(absl::string_view case_id) const;
  const std::string& data_dir() const { return options_.data_dir; }

 private:
  struct Part {
    std::unique_ptr<PartitionStore> store;
    std::unique_ptr<Sequencer> sequencer;
  };
  Engine(const EngineOptions& options, const Clock* clock);
  class ObservedLogic;
  void NotifyCommitted(const v1::Record& record);
  // One partition's overdue cases matching the filters, after `after`.
  absl::Status OverdueOf(const PartitionStore& store, const CaseFilter& filter,
                         const std::vector<std::string>& grids, bool by_area,
                         const std::string& after, size_t limit,
                         std::vector<v1::CaseState>* out, bool* more) const;
  // Loads what the engine's own cases hold: every workflow deployment, in
  // version order, and the directory, in log order.
  absl::Status LoadEngineCases();
  // Partitions of an earlier storage format: their case states folded again
  // (refold.h), then the format recorded. Before any sequencer starts.
  absl::Status UpgradeCaseStates();
  // ALREADY_EXISTS when `event_id` was used in another partition than
  // `home` (necessarily for another case, since a case has one partition).
  absl::Status CheckEventIdElsewhere(const v1::Event& event, PartitionId home) const;
  // When the import `import_id` is already recorded, its moment and author
  // (left unchanged otherwise), so that sending it again is a duplicate.
  absl::Status ImportAsRecorded(const std::string& import_id, int64_t* moment_us,
                                v1::Actor* actor) const;

  EngineOptions options_;
  const Clock* const clock_;
  workflow::Registry registry_;
  Directory directory_;
  std::mutex listener_mu_;
  std::function<void(int64_t)> deadline_listener_;  // guarded by listener_mu_
  std::mutex import_mu_;  // one directory import at a time
  std::mutex handoff_mu_;
  int64_t handoff_checked_us_ = 0;  // guarded by handoff_mu_
  std::unique_ptr<CaseLogic> logic_;
  std::vector<Part> parts_;
  std::atomic<uint64_t> commit_generation_{0};
  mutable std::atomic<int> commit_waiters_{0};
  mutable std::mutex commit_mu_;
  mutable std::condition_variable commit_cv_;
  bool stopping_ = false;  // guarded by commit_mu_
  // Fills the partitions' id filters (event ids, cases) at open.
  std::thread open_scan_;
  std::atomic<bool> open_scan_stop_{false};
  std::mutex open_scan_mu_;
  std::condition_variable open_scan_cv_;
  bool open_scan_done_ = true;  // guarded by open_scan_mu_
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_ENGINE_H_
