// One partition's RocksDB database: opening it, and every read the engine
// makes of it. The layout is in keys.h; the case queries and the scan at
// open are in store_cases.cc.
//
// Thread-safety: all const methods may be called from any thread at any
// time; they see only committed (synced) writes. While the partition's
// sequencer runs, it is the only writer of records and case states; the
// other writes touch meta keys the sequencer never writes (deleting
// resolved dead letters, the feed's saved positions, signed heads), or come
// before it starts (the format upgrade and refold), or go to a rebuild's
// scratch store (WriteUnsynced()).
#ifndef GRIDCASE_ENGINE_STORAGE_STORE_H_
#define GRIDCASE_ENGINE_STORAGE_STORE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/types.h"
#include "engine/storage/case_index.h"
#include "engine/storage/durable_mark.h"
#include "engine/storage/id_filter.h"
#include "engine/storage/keys.h"
#include "engine/storage/recent_records.h"
#include "gridcase/v1/case.pb.h"
#include "gridcase/v1/chain.pb.h"
#include "gridcase/v1/event.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/sst_file_writer.h"
#include "rocksdb/wal_filter.h"
#include "rocksdb/write_batch.h"

namespace gridcase {

// Maps a RocksDB status to an absl one (OK stays OK). `what` names the
// operation for the message.
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what);

// A record with the hash the chain gives it.
struct ChainedRecord {
  v1::Record record;
  std::string hash;
};

// The outcome of walking a partition's hash chain.
struct ChainCheck {
  uint64_t records = 0;                // verified, from position 1
  std::string head;                    // hash of the last verified record
  uint64_t first_bad_position = 0;     // 0: the whole chain holds
  std::string problem;                 // what is wrong there
  uint64_t signed_heads_verified = 0;  // with a public key: signed heads that hold
  // For a log converted from an older one: where its chain starts.
  std::optional<v1::ChainOrigin> origin;
  // With a public key: the old log's signed heads (in the origin) whose
  // signatures verify.
  uint64_t old_signed_heads_verified = 0;
  bool stopped = false;  // a paced walk told to stop before the end
};

enum class OpenMode {
  kReadWrite,  // creating the database if missing
  kReadOnly,   // an existing database, never written (audits, rebuilds)
};

struct StoreOptions {
  // nullptr: RocksDB's default (real files, real fsync). Tests pass one
  // that injects storage faults.
  rocksdb::Env* env = nullptr;
  OpenMode mode = OpenMode::kReadWrite;
  // The size of the reserved huge pages to allocate memtables from
  // (huge_pages.h); 0: normal pages.
  size_t memtable_huge_page_size = 0;
};

// What AcceptLoss() did.
struct AcceptedLoss {
  DurableMark recovered;            // what the partition holds from now on
  std::optional<DurableMark> mark;  // what was durable (none: the mark was unreadable)
  std::string kept_in;              // the write-ahead logs and mark as they were
};

class PartitionStore {
 public:
  // Opens the database in `dir` and checks that it belongs to partition
  // `id` and has a format this build understands.
  //
  // Durability: RocksDB replays the write-ahead log up to its first
  // unreadable record (kPointInTimeRecovery) and keeps what comes before;
  // the partition's durable mark (durable_mark.h) says what was acknowledged.
  // When the replay falls short of the mark, acknowledged writes were lost:
  // DATA_LOSS naming the partition, the damaged log file and byte, the
  // position recovered and the one known durable, and what the operator can
  // do. Nothing in `dir` is changed then: a read-write open first reads the
  // log read-only and decides (CheckRecovery), since the read-write open
  // would flush what it recovered and delete the damaged log. A torn last
  // record (a crash during a write, never acknowledged) is dropped and the
  // open succeeds. A read-write open then marks what it recovered as
  // durable, and every Write() advances the mark. A partition without a
  // mark (new, from a build that kept none, rebuilt, or a checkpoint taken
  // by one) opens as it is and gets one.
  static absl::StatusOr<std::unique_ptr<PartitionStore>> Open(const std::string& dir,
                                                              PartitionId id,
                                                              const StoreOptions& options = {});
  ~PartitionStore();

  // What Open() checks before opening `dir` for writing, without opening it
  // for writing (nothing is changed): what its write-ahead log recovers, or
  // the DATA_LOSS Open() refuses with.
  static absl::StatusOr<DurableMark> CheckRecovery(const std::string& dir, PartitionId id,
                                                   const StoreOptions& options = {});

  // An operator's explicit acceptance of a loss Open() refused: copies the
  // write-ahead logs and the mark into `keep_dir` (created), then opens the
  // partition once for writing without the check, so that RocksDB settles
  // on what the log recovers (the damaged log is then dropped) and that
  // becomes the mark. FAILED_PRECONDITION when nothing was lost;
  // UNAVAILABLE, changing nothing, while the partition is open elsewhere.
  static absl::StatusOr<AcceptedLoss> AcceptLoss(const std::string& dir, PartitionId id,
                                                 const std::string& keep_dir,
                                                 const StoreOptions& options = {});

  // What the log held when the partition was opened (RocksDB's last
  // sequence number and the last position).
  const DurableMark& recovered() const { return recovered_; }

  PartitionStore(const PartitionStore&) = delete;
  PartitionStore& operator=(const PartitionStore&) = delete;

  // Keeps the newest `bytes_max` bytes of durable records in memory for
  // reads (recent_records.h); 0 (the default) keeps none. Call before
  // serving reads.
  void KeepRecentRecords(size_t bytes_max) {
    recent_ = bytes_max == 0 ? nullptr : std::make_unique<RecentRecords>(bytes_max);
  }
  // Tells the store that the records at first, first + 1, ... with these
  // stored values are durable (the sequencer, after each synced write).
  void RememberDurable(Position first, std::vector<std::string> stored_values) {
    if (recent_) recent_->Append(first, std::move(stored_values));
  }

  // The in-memory records, if kept (for tests and stats).
  const RecentRecords* recent_records() const { return recent_.get(); }

  // Keeps filters (id_filter.h) of the event ids and the case ids this
  // partition records, sized from what it holds now. Call before the
  // sequencer starts; then ScanStored() adds what was recorded before,
  // while the sequencer adds what it records (Remember*). They spare the
  // point reads of ids that were never recorded: most submissions carry a
  // new event id, and on a city's day most open a new case.
  void KeepIdFilters();
  // Keeps the case index (case_index.h) in memory: listings, holders and
  // overdue tasks are answered from it once ScanStored() has filled it,
  // and wait for a scan that is filling it. Without one (or after a
  // failed scan) they walk every stored case. The sequencer calls
  // IndexCases() for the cases each group changed.
  void KeepCaseIndex() { case_index_ = std::make_unique<CaseIndex>(); }
  // Before a scan at open is started: the index's queries wait for it
  // rather than walk every case (case_index.h).
  void StartFillingCaseIndex() {
    if (case_index_) case_index_->StartFilling();
  }
  // Adds every idempotency key and every case already stored to the
  // filters and the case index kept. The filters answer "not recorded",
  // and the index answers at all, only once this has finished. Stops early
  // (leaving them unused) when `stop` becomes true or the scan fails.
  absl::Status ScanStored(const std::atomic<bool>& stop);
  // The sequencer, after each synced write, before answering: the cases
  // the write changed, as it left them.
  void IndexCases(absl::Span<const v1::CaseState* const> states) {
    if (case_index_) case_index_->Set(states);
  }
  // The case index, if kept (for tests and stats).
  const CaseIndex* case_index() const { return case_index_.get(); }
  // The sequencer, after each synced write, before answering: an event id
  // it recorded; a case it created.
  void RememberEventId(absl::string_view event_id) {
    if (event_ids_) event_ids_->Add(event_id);
  }
  void RememberCase(absl::string_view case_id) {
    if (case_ids_) case_ids_->Add(case_id);
  }
  // False only when `event_id` is certainly not recorded here (the filters
  // are kept and complete, and have never seen it). True means: read dedup.
  bool MayHaveEventId(absl::string_view event_id) const {
    return !id_filters_complete_.load(std::memory_order_acquire) ||
           event_ids_->MayContain(event_id);
  }
  // The same for a case: true means read `cases`.
  bool MayHaveCase(absl::string_view case_id) const {
    return !id_filters_complete_.load(std::memory_order_acquire) || case_ids_->MayContain(case_id);
  }

  PartitionId id() const { return id_; }
  // The storage format the partition is at (keys.h). Below
  // keys::kFormatVersion only until the engine has upgraded what needs the
  // case logic (refold.h) and recorded the new one with RecordFormat().
  uint32_t stored_format() const { return stored_format_; }
  absl::Status RecordFormat(uint32_t format);
  // The huge page size the memtables are allocated from (0: normal
  // pages), as the open database holds it.
  size_t memtable_huge_page_size() const;
  const std::string& dir() const { return dir_; }
  rocksdb::ColumnFamilyHandle* cf(keys::Cf cf) const { return handles_[static_cast<int>(cf)]; }

  absl::StatusOr<std::optional<v1::CaseState>> ReadCase(absl::string_view case_id) const;
  absl::StatusOr<std::optional<Position>> FindEventId(absl::string_view event_id) const;
  absl::StatusOr<v1::Record> ReadRecord(Position p) const;
  // A record with its chain hashes.
  absl::StatusOr<v1::LogEntry> ReadLogEntry(Position p) const;
  // Records from position `from` on, at most `limit`, in log order.
  absl::Status ReadLog(Position from, size_t limit, std::vector<v1::LogEntry>* out) const;
  // The record with the highest position, if the log is not empty.
  absl::StatusOr<std::optional<ChainedRecord>> ReadLastRecord() const;

  // What position 1's prev_hash is (chain.h): zero, or for a log converted
  // from an older one the hash of its ChainOrigin (meta "chain_origin",
  // read at open).
  const std::string& genesis() const { return genesis_; }
  // Walks the whole log from position 1, recomputing every hash from
  // genesis() (see chain.h), and names the first record that does not hold. `each` (may
  // be empty) is told the position and hash of every record that holds.
  absl::StatusOr<ChainCheck> VerifyChain(
      const std::function<void(uint64_t position, const std::string& hash)>& each) const;

  // For the background scrub (audit/scrubber.h), which must not crowd out
  // the partition's own reads: `pace` is told the bytes read so far after
  // each step and may wait; it returns false to stop early (nothing is
  // then reported). Neither fills the block cache.
  using Pace = std::function<bool(uint64_t bytes)>;
  // VerifyChain() without `each`, paced per record.
  absl::StatusOr<ChainCheck> ScrubChain(const Pace& pace) const;
  // Reads every live table file of the partition whole, checking every
  // block's checksum, paced per file. A table file that a compaction
  // deleted meanwhile is skipped.
  struct TableScrub {
    uint64_t files = 0;
    uint64_t bytes = 0;
    std::string problem;  // the first file that fails and why; empty: none
    bool stopped = false;
  };
  absl::StatusOr<TableScrub> ScrubTableFiles(const Pace& pace) const;

  // Signed chain heads (signer.h), kept in meta under
  // "signed_head/" fixed64be(position).
  absl::Status PutSignedHead(const std::string& encoded, uint64_t position);
  absl::Status ReadSignedHeads(std::vector<std::string>* encoded) const;
  // The signed head with the highest position (encoded); nullopt when none.
  absl::StatusOr<std::optional<std::string>> ReadLastSignedHead() const;

  // Records of `case_id` with versions after `after`, at most `limit`, in
  // version order. `*more` tells whether further records exist.
  absl::Status ReadTimeline(absl::string_view case_id, CaseVersion after, size_t limit,
                            std::vector<v1::Record>* out, bool* more) const;
  // The same records, unparsed: `fn` gets each one's version and its
  // serialized Record as the log holds it (valid during the call only).
  using TimelineVisitor = std::function<absl::Status(CaseVersion, absl::string_view)>;
  absl::Status VisitTimeline(absl::string_view case_id, CaseVersion after, size_t limit,
                             const TimelineVisitor& fn, bool* more) const;

  // Every record of the log in position order, parsed, with its stored
  // key and value (valid during the call only). DATA_LOSS at a gap in the
  // positions or a record that does not parse; an error `fn` returns stops
  // the walk and is returned.
  using RecordVisitor = std::function<absl::Status(
      const rocksdb::Slice& key, const rocksdb::Slice& value, const v1::Record& record)>;
  absl::Status ForEachRecord(const RecordVisitor& fn) const;

  // Every record of every case whose id starts with `case_id_prefix`, by
  // case then version.
  absl::Status ForEachRecordOfCases(absl::string_view case_id_prefix,
                                    const std::function<absl::Status(const v1::Record&)>& fn) const;

  // Appends to `*out` the cases whose assignee, or the assignee of one of
  // whose open tasks, is `person`, each once.
  absl::Status CasesHeldBy(const std::string& person, std::vector<std::string>* out) const;

  // Sets `*out` to the cases with an open task or a pending deadline past
  // due at `now_us`, sorted by id.
  absl::Status OverdueCases(int64_t now_us, std::vector<std::string>* out) const;

  // Appends the cases matching `filter` with case_id > after_case_id, at
  // most `limit`, in case_id order, leaving out the engine's own cases.
  // `*more` tells whether further matches may exist; when it is set,
  // exactly `limit` were appended.
  absl::Status ListCases(const CaseFilter& filter, absl::string_view after_case_id, size_t limit,
                         std::vector<v1::CaseState>* out, bool* more) const;

  // Pending deadlines due at or before `now_us`, in due order, at most
  // `limit`.
  absl::Status ReadDueTimers(int64_t now_us, size_t limit, std::vector<keys::TimerKey>* out) const;
  // The earliest pending deadline, if any.
  absl::StatusOr<std::optional<keys::TimerKey>> ReadFirstTimer() const;

  // Meta rows (keys.h) by exact key, and by prefix in key order (at most
  // `limit`).
  absl::StatusOr<std::optional<std::string>> ReadMeta(absl::string_view key) const;
  absl::Status ScanMeta(absl::string_view prefix, size_t limit,
                        std::vector<std::pair<std::string, std::string>>* out) const;
  // How many meta rows start with `prefix`, as stored now.
  absl::StatusOr<uint64_t> CountMeta(absl::string_view prefix) const;

  // Applies `batch` atomically and durably (sync=true), then advances the
  // durable mark to it (and to `last_position`, the batch's last record
  // when it holds records). A mark that cannot be advanced is UNAVAILABLE
  // although the batch is durable: writing on would leave later damage
  // unseen.
  absl::Status Write(rocksdb::WriteBatch* batch, Position last_position = Position());

  // For building a store in bulk (the rebuild tool): applies `batch`
  // without the write-ahead log. Nothing is durable until Flush(), and the
  // durable mark stays where it was until then.
  absl::Status WriteUnsynced(rocksdb::WriteBatch* batch);
  // Writes every memtable to table files and waits until they are synced.
  absl::Status Flush();
  // Rewrites every family's table files down to the bottom level, dropping
  // what deletions and overwrites left behind (operators, tests).
  absl::Status Compact();
  // Bulk loading: a writer of a table file for `family` (keys in order),
  // and moving such files into the family (Finish() them first).
  std::unique_ptr<rocksdb::SstFileWriter> NewTableFileWriter(keys::Cf family) const;
  absl::Status IngestTableFiles(keys::Cf family, const std::vector<std::string>& paths);

  // The first storage error RocksDB reported for this partition in the
  // background (a flush, a compaction, a MANIFEST write) or in a write it
  // could not complete, in words naming the partition; OK while none. From
  // then on RocksDB's state in memory may differ from the disk: the
  // sequencer takes no more writes (reads go on), and only a restart, which
  // recovers from what was synced, clears it. RocksDB does not try to
  // resume by itself.
  absl::Status storage_failure() const;

  // A consistent copy of the database in `dir` (which must not exist),
  // hard-linking table files: cheap, and safe while writes go on.
  absl::Status CreateCheckpoint(const std::string& dir) const;

  // An iterator over one column family (comparisons, bulk reads).
  std::unique_ptr<rocksdb::Iterator> NewIterator(keys::Cf family) const;

 private:
  PartitionStore(std::string dir, PartitionId id);
  // Open() once the mark is read and checked; the mark is then what the
  // open recovered.
  static absl::StatusOr<std::unique_ptr<PartitionStore>> OpenAgainst(
      const std::string& dir, PartitionId id, const StoreOptions& options,
      const std::optional<DurableMark>& mark);
  // Opens RocksDB in `mode`, checking what it recovers against `mark`. A
  // probe (read-only) reads the log without loading it into memtables: it
  // is opened only to decide.
  absl::Status OpenChecked(const StoreOptions& options, OpenMode mode,
                           const std::optional<DurableMark>& mark, bool probe);
  // RocksDB's last sequence number and the log's last position, as open.
  absl::StatusOr<DurableMark> ReadRecovered() const;
  absl::StatusOr<ChainCheck> WalkChain(
      const std::function<void(uint64_t position, const std::string& hash)>& each,
      const Pace* pace) const;
  // After a durable write: the mark follows RocksDB's last sequence number
  // (every write is synced, so every published one is durable) and
  // `last_position`.
  absl::Status AdvanceMark(Position last_position);
  static absl::Status ParseCaseState(const rocksdb::Slice& bytes, v1::CaseState* state);
  absl::Status CheckOrWriteMeta(OpenMode mode);
  absl::Status ScanStoredRows(const std::atomic<bool>& stop);
  // Whether the case index can answer, after any scan filling it.
  bool CaseIndexReady() const { return case_index_ && case_index_->AwaitFilled(); }
  // The case index if it can answer, else one built into `*built` from
  // every stored case.
  absl::StatusOr<const CaseIndex*> CaseIndexForQuery(std::unique_ptr<CaseIndex>* built) const;
  // Calls `fn` with every stored case after `after_case_id` (all: ""), in
  // case_id order, until it sets `*stop` or fails.
  absl::Status ForEachCase(
      absl::string_view after_case_id,
      const std::function<absl::Status(absl::string_view case_id, const rocksdb::Slice& state,
                                       bool* stop)>& fn) const;

  class FailureListener;

  std::string dir_;
  PartitionId id_;
  std::shared_ptr<FailureListener> failures_;  // told by RocksDB, read by anyone
  uint32_t stored_format_ = 0;                 // see stored_format()
  std::string genesis_;                        // see genesis()
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // indexed by keys::Cf
  std::unique_ptr<RecentRecords> recent_;              // null: none kept
  std::unique_ptr<IdFilter> event_ids_, case_ids_;     // null: none kept
  std::unique_ptr<CaseIndex> case_index_;              // null: none kept
  DurableMark recovered_;
  std::unique_ptr<rocksdb::WalFilter> wal_filter_;  // consulted while opening
  // Held shared by every write and exclusively by Flush, Compact and
  // CreateCheckpoint, so that those never run beside a write that is failing.
  mutable absl::Mutex maintenance_mu_ ABSL_ACQUIRED_BEFORE(mark_mu_);
  absl::Mutex mark_mu_;  // serializes mark updates (the sequencer, meta writers)
  std::unique_ptr<DurableMarkFile> mark_file_ ABSL_PT_GUARDED_BY(mark_mu_);  // null: read-only
  bool unflushed_bulk_writes_ ABSL_GUARDED_BY(mark_mu_) = false;
  // Both filters hold every stored id.
  std::atomic<bool> id_filters_complete_{false};
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_STORAGE_STORE_H_
