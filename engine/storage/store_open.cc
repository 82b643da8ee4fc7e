// Opening a partition: its RocksDB options, the check of what the
// write-ahead log recovers against the durable mark (durable_mark.h), the
// format in its meta, and an operator's acceptance of a loss. The rest of
// PartitionStore is in store.cc and store_cases.cc.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/durable_file.h"
#include "engine/storage/chain.h"
#include "engine/storage/store.h"
#include "engine/storage/wal_scan.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/listener.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/wal_filter.h"

namespace gridcase {
namespace {

using keys::Cf;
namespace fs = std::filesystem;

rocksdb::Slice AsSlice(absl::string_view s) { return {s.data(), s.size()}; }

// The case id of a case_events key (up to its 0x00): memtable inserts of
// one case's records hint from the last one.
class CaseIdPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "gridcase.CaseIdPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    const void* zero = std::memchr(key.data(), 0, key.size());
    return {key.data(),
            zero ? static_cast<size_t>(static_cast<const char*>(zero) - key.data()) : key.size()};
  }
  bool InDomain(const rocksdb::Slice&) const override { return true; }
};

rocksdb::ColumnFamilyOptions FamilyOptions(Cf cf, const std::shared_ptr<rocksdb::Cache>& cache,
                                           size_t huge_page_size) {
  rocksdb::ColumnFamilyOptions o;
  // Memtable arenas on huge pages, when the machine reserved some
  // (huge_pages.h): the skiplist walks then miss the TLB far less.
  o.memtable_huge_page_size = huge_page_size;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = cache;
  // Point lookups (dedup, cases) mostly ask for keys that may be absent:
  // Bloom filters in the table files and in the memtable.
  if (cf == Cf::kDedup || cf == Cf::kCases) {
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    o.memtable_prefix_bloom_size_ratio = 0.05;
    o.memtable_whole_key_filtering = true;
  }
  // Keys that grow (positions; a case's versions): each memtable insert
  // starts from the previous one of its prefix instead of the top.
  if (cf == Cf::kEvents) {
    o.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(1));
  } else if (cf == Cf::kCaseEvents) {
    o.memtable_insert_with_hint_prefix_extractor = std::make_shared<CaseIdPrefix>();
  }
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  o.compression = rocksdb::kLZ4Compression;
  return o;
}

// The last log position a write batch puts in `events`.
class LastEventPosition final : public rocksdb::WriteBatch::Handler {
 public:
  explicit LastEventPosition(uint32_t events_id) : events_id_(events_id) {}
  rocksdb::Status PutCF(uint32_t cf, const rocksdb::Slice& key, const rocksdb::Slice&) override {
    if (cf != events_id_) return rocksdb::Status::OK();
    auto position = keys::DecodeEventKey(absl::string_view(key.data(), key.size()));
    if (!position)
      return rocksdb::Status::Corruption("a key of the events family is not a position");
    last_ = std::max(last_, position->value());
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteCF(uint32_t, const rocksdb::Slice&) override { return {}; }
  rocksdb::Status SingleDeleteCF(uint32_t, const rocksdb::Slice&) override { return {}; }
  rocksdb::Status DeleteRangeCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return {};
  }
  rocksdb::Status MergeCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return {};
  }
  uint64_t last() const { return last_; }

 private:
  const uint32_t events_id_;
  uint64_t last_ = 0;
};

// Sees every record a replay of the write-ahead log reads, in order.
//
// It stops the replay at a record whose sequence number does not continue
// the one before it. RocksDB skips the rest of a 32 KiB block whose next
// header is all zeros without a word, in every recovery mode
// (db/log_reader.cc, kZeroType), and would replay the blocks after it over
// the hole; stopped there, what is recovered stays a prefix of what was
// written, which the durable mark measures. Every write of a partition goes
// through the log with consecutive sequence numbers (bulk writes without it
// are the rebuild tool's, flushed before anything reopens them), and after
// a replay that stopped RocksDB starts the next log with an empty batch at
// the next number, so a jump means records are missing.
//
// In a probe (the check before a read-write open) it also keeps every
// record out of the memtables, noting only the last sequence number and the
// last log position: reading and checksumming the log is all the check
// needs, and inserting it would cost as much as the open it precedes.
class ReplayWatch final : public rocksdb::WalFilter {
 public:
  explicit ReplayWatch(bool probe) : probe_(probe) {}
  const char* Name() const override { return "gridcase.ReplayWatch"; }
  void ColumnFamilyLogNumberMap(const std::map<uint32_t, uint64_t>&,
                                const std::map<std::string, uint32_t>& ids) override {
    if (auto it = ids.find(keys::CfName(Cf::kEvents)); it != ids.end()) events_id_ = it->second;
  }
  WalProcessingOption LogRecordFound(unsigned long long /*log_number*/,
                                     const std::string& log_file_name,
                                     const rocksdb::WriteBatch& batch,
                                     rocksdb::WriteBatch* /*new_batch*/,
                                     bool* /*batch_changed*/) override {
    const std::string& rep = batch.Data();
    if (rep.size() < 12) return WalProcessingOption::kCorruptedRecord;
    uint64_t sequence = 0;
    for (int i = 7; i >= 0; --i) sequence = (sequence << 8) | static_cast<uint8_t>(rep[i]);
    if (next_ != 0 && sequence != next_) {
      if (gap_.empty()) {
        gap_ = absl::StrCat("a record of ", fs::path(log_file_name).filename().string(),
                            " starts at sequence ", sequence, " where ", next_,
                            " was expected: records are missing before it");
      }
      return WalProcessingOption::kCorruptedRecord;
    }
    next_ = sequence + batch.Count();
    if (!probe_) return WalProcessingOption::kContinueProcessing;
    LastEventPosition events(events_id_);
    if (!batch.Iterate(&events).ok()) return WalProcessingOption::kCorruptedRecord;
    seen_.sequence = std::max(seen_.sequence, next_ - 1);
    seen_.position = std::max(seen_.position, events.last());
    return WalProcessingOption::kIgnoreCurrentRecord;
  }
  // What stopped the replay, if this filter did.
  const std::string& gap() const { return gap_; }
  // In a probe: the last sequence number and position of the records read.
  const DurableMark& seen() const { return seen_; }

 private:
  const bool probe_;
  uint32_t events_id_ = static_cast<uint32_t>(Cf::kEvents);
  uint64_t next_ = 0;  // the sequence number the next record must start at
  std::string gap_;
  DurableMark seen_;
};

// Opens the RocksDB database in `dir`.
absl::Status OpenRocks(const std::string& dir, const StoreOptions& options, OpenMode mode,
                       size_t memtable_huge_page_size, rocksdb::WalFilter* filter,
                       std::shared_ptr<rocksdb::EventListener> listener,
                       std::unique_ptr<rocksdb::DB>* db,
                       std::vector<rocksdb::ColumnFamilyHandle*>* handles) {
  rocksdb::DBOptions db_opts;
  if (options.env != nullptr) db_opts.env = options.env;
  // A storage error stops the partition until a restart (store.h,
  // storage_failure()). RocksDB's own attempts to resume would write again
  // through file writers that failed, and RocksDB as Debian builds it
  // (assertions on) aborts the whole process on that
  // (WritableFileWriter::AssertFalseAndGetStatusForPrevError).
  db_opts.max_bgerror_resume_count = 0;
  db_opts.listeners.push_back(std::move(listener));
  // Every acknowledged write is in the synced write-ahead log already:
  // closing has nothing to flush for durability, and a flush at close after
  // a storage error would write through failed file writers too.
  db_opts.avoid_flush_during_shutdown = true;
  db_opts.create_if_missing = true;
  db_opts.create_missing_column_families = true;
  db_opts.max_background_jobs = 2;
  db_opts.keep_log_file_num = 4;
  // Table files are opened by the opening thread. RocksDB's default starts
  // 15 more threads per column family to open them in parallel, 120 per
  // open of a partition: 35 ms of thread creation per open on a 2-core VM
  // against 1.3 ms for an open with one thread, and a partition is opened
  // twice (below) and side by side with the others (engine.cc).
  db_opts.max_file_opening_threads = 1;
  // Reopening after a crash replays the write-ahead log: keep it short (a
  // quiet column family would otherwise hold old logs alive).
  db_opts.max_total_wal_size = 32 << 20;
  // RocksDB's default, chosen for what it guarantees (7.8: db/log_reader.cc,
  // DBImpl::RecoverLogFiles): a replay that meets an unreadable record, torn
  // at the end or damaged anywhere, keeps everything before it and nothing
  // after it, in later log files too unless they continue its sequence. What
  // is recovered is a prefix of what was written, and the durable mark says
  // whether it is short. kTolerateCorruptedTailRecords refuses a checksum
  // mismatch, but takes a record whose length runs past the end of a file
  // for a torn tail and replays the next file over the hole;
  // kAbsoluteConsistency refuses the torn last record any crash during a
  // write leaves, which was never acknowledged.
  db_opts.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_opts.wal_filter = filter;
  auto cache = rocksdb::NewLRUCache(64 << 20);
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (int i = 0; i < keys::kCfCount; ++i) {
    const auto cf = static_cast<Cf>(i);
    families.emplace_back(keys::CfName(cf), FamilyOptions(cf, cache, memtable_huge_page_size));
  }
  rocksdb::DB* raw = nullptr;
  auto s = mode == OpenMode::kReadOnly
               ? rocksdb::DB::OpenForReadOnly(db_opts, dir, families, handles, &raw)
               : rocksdb::DB::Open(db_opts, dir, families, handles, &raw);
  if (!s.ok()) return FromRocks(s, absl::StrCat("opening ", dir));
  db->reset(raw);
  return absl::OkStatus();
}

void CloseRocks(std::unique_ptr<rocksdb::DB>* db,
                std::vector<rocksdb::ColumnFamilyHandle*>* handles) {
  if (*db == nullptr) return;
  for (auto* h : *handles) (*db)->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  handles->clear();
  // Every acknowledged write was synced already; Close only releases files.
  (*db)->Close().PermitUncheckedError();
  db->reset();
}

absl::StatusOr<DurableMark> Recovered(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events) {
  DurableMark out;
  out.sequence = db->GetLatestSequenceNumber();
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, events));
  it->SeekToLast();
  if (it->Valid()) {
    auto position = keys::DecodeEventKey(absl::string_view(it->key().data(), it->key().size()));
    if (!position) return absl::DataLossError("a key of the events family is not a position");
    out.position = position->value();
  }
  if (auto st = FromRocks(it->status(), "reading the last position"); !st.ok()) return st;
  return out;
}

std::string Describe(const DurableMark& m) {
  return absl::StrCat(m.position == 0 ? "no log record" : absl::StrCat("position ", m.position),
                      " (RocksDB sequence ", m.sequence, ")");
}

// Where the write-ahead logs of `dir` first stop being readable, in words.
std::string DescribeDamage(const std::string& dir) {
  auto files = WalFiles(dir);
  if (!files.ok()) return std::string(files.status().message());
  std::vector<std::string> names;
  for (const std::string& file : *files) {
    names.push_back(fs::path(file).filename().string());
    auto scan = ScanWalFile(file);
    if (!scan.ok()) return std::string(scan.status().message());
    if (!scan->damaged) continue;
    return absl::StrCat(
        "The damage starts in its write-ahead log ", names.back(), " at byte ", scan->damage_offset,
        ": ", scan->damage, " (", scan->records.size(), " readable records before it",
        scan->records.empty()
            ? ""
            : absl::StrCat(", the last ending at sequence ",
                           scan->records.back().sequence + scan->records.back().count - 1),
        ").");
  }
  if (names.empty()) return "It has no write-ahead log file.";
  return absl::StrCat("Its write-ahead logs (", absl::StrJoin(names, ", "),
                      ") read to their ends: a log file, or the end of one, is missing.");
}

}  // namespace

namespace {

absl::Status LossError(const std::string& dir, PartitionId id, const DurableMark& recovered,
                       const DurableMark& mark, const std::string& why) {
  const std::string data_dir = fs::path(dir).parent_path().string();
  const std::string lost =
      recovered.position < mark.position
          ? absl::StrCat("positions ", recovered.position + 1, " to ", mark.position,
                         " and every other write after sequence ", recovered.sequence)
          : absl::StrCat("every write after sequence ", recovered.sequence);
  return absl::DataLossError(absl::StrCat(
      "partition ", id.value(), " (", dir, ") has lost acknowledged writes: its write-ahead log ",
      "recovers ", recovered.position == 0 ? "" : "up to ", Describe(recovered), ", but ",
      Describe(mark), " was durable, as ", DurableMarkPath(dir), " records. ",
      why.empty() ? DescribeDamage(dir) : why,
      " Nothing in the partition has been changed. Keep a copy of ", dir,
      " as it is now; then restore the partition from a backup or a checkpoint taken before "
      "the damage, or accept the loss of ",
      lost,
      " for good: gridcase storage accept-loss "
      "--data-dir ",
      data_dir, " --partition ", id.value()));
}

absl::Status Sync(const fs::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  const bool synced = fd >= 0 && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  if (!synced) return absl::UnavailableError(absl::StrCat("syncing ", path.string()));
  return absl::OkStatus();
}
absl::Status SyncDir(const fs::path& dir) { return Sync(dir, O_RDONLY | O_DIRECTORY); }

// Copies `from` into the folder `to` and syncs the copy.
absl::Status CopyDurably(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  const fs::path copy = to / from.filename();
  fs::copy_file(from, copy, ec);
  if (ec)
    return absl::UnavailableError(absl::StrCat("copying ", from.string(), ": ", ec.message()));
  return Sync(copy, O_RDONLY);
}

}  // namespace

namespace {

absl::StatusOr<std::optional<DurableMark>> ReadMarkOf(const std::string& dir, PartitionId id,
                                                      const StoreOptions& options) {
  auto mark = ReadDurableMark(FileSystemOf(options.env), dir);
  if (absl::IsDataLoss(mark.status())) {
    return absl::DataLossError(absl::StrCat(
        "partition ", id.value(), ": ", mark.status().message(), ". Keep a copy of ", dir,
        "; if the partition is otherwise sound, a new mark of what it holds is written by: "
        "gridcase storage accept-loss --data-dir ",
        fs::path(dir).parent_path().string(), " --partition ", id.value()));
  }
  if (!mark.ok()) {
    return absl::Status(mark.status().code(),
                        absl::StrCat("partition ", id.value(), ": ", mark.status().message()));
  }
  return mark;
}

}  // namespace

// Keeps the first error RocksDB reports through its listener.
class PartitionStore::FailureListener final : public rocksdb::EventListener {
 public:
  explicit FailureListener(PartitionId id) : id_(id) {}

  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) override {
    if (error == nullptr || error->ok()) return;
    absl::MutexLock lock(&mu_);
    if (!failure_.ok()) return;
    failure_ = absl::UnavailableError(absl::StrCat("partition ", id_.value(), ": ", Words(reason),
                                                   " failed: ", error->ToString()));
  }

  // The failure stays until a restart (see storage_failure()): RocksDB's own
  // recovery from a full disk would flush and switch logs behind the
  // partition's back, through log writers that have failed.
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason /*reason*/, rocksdb::Status /*error*/,
                            bool* auto_recovery) override {
    if (auto_recovery != nullptr) *auto_recovery = false;
  }

  absl::Status failure() const {
    absl::MutexLock lock(&mu_);
    return failure_;
  }

 private:
  static const char* Words(rocksdb::BackgroundErrorReason reason) {
    switch (reason) {
      case rocksdb::BackgroundErrorReason::kFlush:
      case rocksdb::BackgroundErrorReason::kFlushNoWAL:
        return "a flush of memtables to a table file";
      case rocksdb::BackgroundErrorReason::kCompaction:
        return "a compaction";
      case rocksdb::BackgroundErrorReason::kWriteCallback:
        return "a write to the write-ahead log";
      case rocksdb::BackgroundErrorReason::kMemTable:
        return "a memtable insert";
      case rocksdb::BackgroundErrorReason::kManifestWrite:
      case rocksdb::BackgroundErrorReason::kManifestWriteNoWAL:
        return "a MANIFEST write";
    }
    return "a background job";
  }

  const PartitionId id_;
  mutable absl::Mutex mu_;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

PartitionStore::PartitionStore(std::string dir, PartitionId id)
    : dir_(std::move(dir)), id_(id), failures_(std::make_shared<FailureListener>(id)) {}

absl::Status PartitionStore::storage_failure() const { return failures_->failure(); }

absl::StatusOr<std::unique_ptr<PartitionStore>> PartitionStore::Open(const std::string& dir,
                                                                     PartitionId id,
                                                                     const StoreOptions& options) {
  // Read before the database: what the mark covers was synced before the
  // mark said so, so a read-only open beside a running writer never falls
  // short of it.
  auto mark = ReadMarkOf(dir, id, options);
  if (!mark.ok()) return mark.status();
  if (*mark && options.mode == OpenMode::kReadWrite) {
    // Decide before opening for writing, which would flush what the replay
    // recovered into table files and delete the damaged log, the evidence.
    if (auto checked = CheckRecovery(dir, id, options); !checked.ok()) return checked.status();
  }
  return OpenAgainst(dir, id, options, *mark);
}

absl::StatusOr<std::unique_ptr<PartitionStore>> PartitionStore::OpenAgainst(
    const std::string& dir, PartitionId id, const StoreOptions& options,
    const std::optional<DurableMark>& mark) {
  std::unique_ptr<PartitionStore> store(new PartitionStore(dir, id));
  if (auto st = store->OpenChecked(options, options.mode, mark, /*probe=*/false); !st.ok()) {
    return st;
  }
  if (options.mode == OpenMode::kReadWrite) {
    // Opening flushed what the replay recovered into table files: it is all
    // durable now, so it is the mark.
    auto file = DurableMarkFile::Create(FileSystemOf(options.env), dir, store->recovered_);
    if (!file.ok()) return file.status();
    store->mark_file_ = std::move(*file);
  }
  if (auto st = store->CheckOrWriteMeta(options.mode); !st.ok()) return st;
  auto origin = store->ReadMeta(keys::kMetaChainOrigin);
  if (!origin.ok()) return origin.status();
  store->genesis_ = origin->has_value() ? OriginGenesis(**origin) : GenesisHash();
  return store;
}

absl::StatusOr<DurableMark> PartitionStore::CheckRecovery(const std::string& dir, PartitionId id,
                                                          const StoreOptions& options) {
  auto mark = ReadMarkOf(dir, id, options);
  if (!mark.ok()) return mark.status();
  PartitionStore probe(dir, id);
  if (auto st = probe.OpenChecked(options, OpenMode::kReadOnly, *mark, /*probe=*/true); !st.ok()) {
    return st;
  }
  return probe.recovered_;
}

absl::Status PartitionStore::OpenChecked(const StoreOptions& options, OpenMode mode,
                                         const std::optional<DurableMark>& mark, bool probe) {
  if (mark && !fs::exists(fs::path(dir_) / "CURRENT")) {
    return LossError(dir_, id_, DurableMark(), *mark,
                     "Its RocksDB database is missing (no CURRENT file).");
  }
  auto watch = std::make_unique<ReplayWatch>(probe);
  const ReplayWatch* seen = watch.get();
  wal_filter_ = std::move(watch);
  // Memtables on huge pages only for a partition that will take writes.
  const size_t huge_page_size = mode == OpenMode::kReadWrite ? options.memtable_huge_page_size : 0;
  if (auto st = OpenRocks(dir_, options, mode, huge_page_size, wal_filter_.get(), failures_, &db_,
                          &handles_);
      !st.ok()) {
    return st;
  }
  auto recovered = ReadRecovered();
  if (!recovered.ok()) return recovered.status();
  recovered_ = *recovered;
  if (probe) {
    recovered_.sequence = std::max(recovered_.sequence, seen->seen().sequence);
    recovered_.position = std::max(recovered_.position, seen->seen().position);
  }
  if (mark && !recovered_.Covers(*mark)) {
    return LossError(
        dir_, id_, recovered_, *mark,
        seen->gap().empty() ? "" : absl::StrCat("Its replay stopped: ", seen->gap(), "."));
  }
  return absl::OkStatus();
}

absl::StatusOr<DurableMark> PartitionStore::ReadRecovered() const {
  return Recovered(db_.get(), cf(Cf::kEvents));
}

PartitionStore::~PartitionStore() { CloseRocks(&db_, &handles_); }

absl::StatusOr<AcceptedLoss> PartitionStore::AcceptLoss(const std::string& dir, PartitionId id,
                                                        const std::string& keep_dir,
                                                        const StoreOptions& options) {
  AcceptedLoss out;
  // An unreadable mark is accepted too: replacing it is what is asked.
  auto mark = ReadDurableMark(FileSystemOf(options.env), dir);
  if (!mark.ok() && !absl::IsDataLoss(mark.status())) return mark.status();
  if (mark.ok()) out.mark = *mark;
  {
    PartitionStore probe(dir, id);
    if (auto st = probe.OpenChecked(options, OpenMode::kReadOnly, std::nullopt, /*probe=*/true);
        !st.ok()) {
      return st;
    }
    out.recovered = probe.recovered_;
  }
  if (mark.ok() && (!*mark || out.recovered.Covers(**mark))) {
    return absl::FailedPreconditionError(
        absl::StrCat("partition ", id.value(), " (", dir, ") recovers ",
                     out.recovered.position == 0 ? "" : "up to ", Describe(out.recovered),
                     *mark ? ", which covers its durable mark" : ", and it keeps no durable mark",
                     ": there is no loss to accept"));
  }
  // The evidence first: the logs as they are, and the mark.
  std::error_code ec;
  fs::create_directories(keep_dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("creating ", keep_dir, ": ", ec.message()));
  auto logs = WalFiles(dir);
  if (!logs.ok()) return logs.status();
  if (fs::exists(DurableMarkPath(dir))) logs->push_back(DurableMarkPath(dir));
  for (const std::string& file : *logs) {
    if (auto st = CopyDurably(file, keep_dir); !st.ok()) return st;
  }
  if (auto st = SyncDir(keep_dir); !st.ok()) return st;
  // Opened without the mark, and marked with what it recovers: RocksDB
  // holds the database's lock before it changes anything, so a server
  // still running keeps it as it is.
  StoreOptions rw = options;
  rw.mode = OpenMode::kReadWrite;
  auto store = OpenAgainst(dir, id, rw, std::nullopt);
  if (!store.ok()) return store.status();
  out.recovered = (*store)->recovered();
  out.kept_in = keep_dir;
  return out;
}

absl::Status PartitionStore::CheckOrWriteMeta(OpenMode mode) {
  std::string value;
  auto s = db_->Get({}, cf(Cf::kMeta), AsSlice(keys::kMetaFormat), &value);
  if (s.IsNotFound() && mode == OpenMode::kReadOnly) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir_, " is not a gridcase partition (no format in its meta)"));
  }
  if (s.IsNotFound()) {
    rocksdb::WriteBatch b;
    b.Put(cf(Cf::kMeta), AsSlice(keys::kMetaFormat), keys::EncodeFixed32Be(keys::kFormatVersion));
    b.Put(cf(Cf::kMeta), AsSlice(keys::kMetaPartition), keys::EncodeFixed32Be(id_.value()));
    stored_format_ = keys::kFormatVersion;
    return Write(&b);
  }
  if (!s.ok()) return FromRocks(s, "reading meta");
  const auto format = keys::DecodeFixed32Be(value);
  if (!format || *format < keys::kOldestFormatRead || *format > keys::kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir_, ": storage format ", format ? std::to_string(*format) : "?",
                     " is not a format this build reads (", keys::kOldestFormatRead, " to ",
                     keys::kFormatVersion, ")"));
  }
  stored_format_ = *format;
  if (*format < keys::kFormatInMemoryIndex && mode == OpenMode::kReadWrite) {
    // Format 1 kept the case index in the `index` family; it is now kept in
    // memory (case_index.h). Its rows are dropped in the same write that
    // records format 2, so that a build that still reads them refuses this
    // directory rather than answer from rows no longer kept up to date.
    // Format 2 to 3 needs the case logic: the engine does it (refold.h).
    rocksdb::WriteBatch b;
    if (auto st = b.DeleteRange(cf(Cf::kIndex), rocksdb::Slice(""), rocksdb::Slice("\xff", 1));
        !st.ok()) {
      return FromRocks(st, "dropping the index family's rows");
    }
    b.Put(cf(Cf::kMeta), AsSlice(keys::kMetaFormat),
          keys::EncodeFixed32Be(keys::kFormatInMemoryIndex));
    if (auto st = Write(&b); !st.ok()) return st;
    stored_format_ = keys::kFormatInMemoryIndex;
  }
  s = db_->Get({}, cf(Cf::kMeta), AsSlice(keys::kMetaPartition), &value);
  if (!s.ok()) return FromRocks(s, "reading meta partition");
  const auto part = keys::DecodeFixed32Be(value);
  if (!part || *part != id_.value()) {
    return absl::FailedPreconditionError(absl::StrCat(dir_, " holds partition ",
                                                      part ? std::to_string(*part) : "?",
                                                      ", expected partition ", id_.value()));
  }
  return absl::OkStatus();
}

absl::Status PartitionStore::RecordFormat(uint32_t format) {
  rocksdb::WriteBatch b;
  b.Put(cf(Cf::kMeta), AsSlice(keys::kMetaFormat), keys::EncodeFixed32Be(format));
  if (auto st = Write(&b); !st.ok()) return st;
  stored_format_ = format;
  return absl::OkStatus();
}

}  // namespace gridcase
