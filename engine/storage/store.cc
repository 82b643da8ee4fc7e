#include "engine/storage/store.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/storage/chain.h"
#include "rocksdb/sst_file_reader.h"
#include "rocksdb/utilities/checkpoint.h"

namespace gridcase {
namespace {

using keys::Cf;

rocksdb::Slice AsSlice(absl::string_view s) { return {s.data(), s.size()}; }
absl::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

template <typename Msg>
absl::Status ParseStored(const rocksdb::Slice& bytes, Msg* msg, absl::string_view what) {
  if (!msg->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat("stored ", what, " does not parse"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat("storage: ", what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsIOError() || s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) {
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

void PartitionStore::KeepIdFilters() {
  // Room for what is stored and as much again before the first growth.
  auto sized = [this](Cf family) {
    uint64_t keys = 0;
    db_->GetIntProperty(cf(family), "rocksdb.estimate-num-keys", &keys);
    return std::make_unique<IdFilter>(2 * keys + (uint64_t{1} << 16));
  };
  event_ids_ = sized(Cf::kDedup);
  case_ids_ = sized(Cf::kCases);
}

size_t PartitionStore::memtable_huge_page_size() const {
  return db_->GetOptions(cf(Cf::kEvents)).memtable_huge_page_size;
}

absl::Status PartitionStore::ParseCaseState(const rocksdb::Slice& bytes, v1::CaseState* state) {
  return ParseStored(bytes, state, "case state");
}

absl::StatusOr<std::optional<v1::CaseState>> PartitionStore::ReadCase(
    absl::string_view case_id) const {
  rocksdb::PinnableSlice value;
  auto s = db_->Get({}, cf(Cf::kCases), AsSlice(case_id), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocks(s, "reading case");
  v1::CaseState state;
  if (auto st = ParseStored(value, &state, "case state"); !st.ok()) return st;
  return state;
}

absl::StatusOr<std::optional<Position>> PartitionStore::FindEventId(
    absl::string_view event_id) const {
  rocksdb::PinnableSlice value;
  auto s = db_->Get({}, cf(Cf::kDedup), AsSlice(event_id), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocks(s, "reading dedup");
  if (value.size() != 8) return absl::DataLossError("stored dedup entry is not 8 bytes");
  return Position(keys::DecodeFixed64Be(absl::string_view(value.data(), value.size())));
}

absl::StatusOr<v1::Record> PartitionStore::ReadRecord(Position p) const {
  rocksdb::PinnableSlice value;
  auto s = db_->Get({}, cf(Cf::kEvents), keys::EventKey(p), &value);
  if (s.IsNotFound()) {
    return absl::DataLossError(absl::StrCat("record at position ", p.value(), " of partition ",
                                            id_.value(), " is missing"));
  }
  if (!s.ok()) return FromRocks(s, "reading record");
  StoredRecord stored;
  if (auto st = DecodeStoredRecord(absl::string_view(value.data(), value.size()), &stored);
      !st.ok())
    return st;
  v1::Record record;
  if (auto st = ParseStored(rocksdb::Slice(stored.record_bytes.data(), stored.record_bytes.size()),
                            &record, "record");
      !st.ok()) {
    return st;
  }
  return record;
}

namespace {

absl::Status ToLogEntry(const rocksdb::Slice& value, v1::LogEntry* out) {
  StoredRecord stored;
  if (auto st = DecodeStoredRecord(absl::string_view(value.data(), value.size()), &stored);
      !st.ok()) {
    return st;
  }
  if (auto st = ParseStored(rocksdb::Slice(stored.record_bytes.data(), stored.record_bytes.size()),
                            out->mutable_record(), "record");
      !st.ok()) {
    return st;
  }
  out->set_prev_hash(stored.prev_hash.data(), stored.prev_hash.size());
  out->set_hash(stored.hash.data(), stored.hash.size());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::LogEntry> PartitionStore::ReadLogEntry(Position p) const {
  rocksdb::PinnableSlice value;
  auto s = db_->Get({}, cf(Cf::kEvents), keys::EventKey(p), &value);
  if (s.IsNotFound()) {
    return absl::DataLossError(absl::StrCat("record at position ", p.value(), " of partition ",
                                            id_.value(), " is missing"));
  }
  if (!s.ok()) return FromRocks(s, "reading record");
  v1::LogEntry entry;
  if (auto st = ToLogEntry(value, &entry); !st.ok()) return st;
  return entry;
}

absl::Status PartitionStore::ReadLog(Position from, size_t limit,
                                     std::vector<v1::LogEntry>* out) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(Cf::kEvents)));
  size_t n = 0;
  for (it->Seek(keys::EventKey(from)); it->Valid() && n < limit; it->Next(), ++n) {
    v1::LogEntry entry;
    if (auto st = ToLogEntry(it->value(), &entry); !st.ok()) return st;
    out->push_back(std::move(entry));
  }
  return FromRocks(it->status(), "reading log");
}

absl::StatusOr<std::optional<ChainedRecord>> PartitionStore::ReadLastRecord() const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(Cf::kEvents)));
  it->SeekToLast();
  if (!it->Valid()) {
    if (auto st = FromRocks(it->status(), "scanning log"); !st.ok()) return st;
    return std::nullopt;
  }
  StoredRecord stored;
  if (auto st =
          DecodeStoredRecord(absl::string_view(it->value().data(), it->value().size()), &stored);
      !st.ok()) {
    return st;
  }
  ChainedRecord out;
  if (auto st = ParseStored(rocksdb::Slice(stored.record_bytes.data(), stored.record_bytes.size()),
                            &out.record, "record");
      !st.ok()) {
    return st;
  }
  out.hash = std::string(stored.hash);
  return out;
}

absl::StatusOr<ChainCheck> PartitionStore::VerifyChain(
    const std::function<void(uint64_t position, const std::string& hash)>& each) const {
  return WalkChain(each, nullptr);
}

absl::StatusOr<ChainCheck> PartitionStore::ScrubChain(const Pace& pace) const {
  return WalkChain(nullptr, &pace);
}

absl::StatusOr<PartitionStore::TableScrub> PartitionStore::ScrubTableFiles(const Pace& pace) const {
  TableScrub out;
  std::vector<rocksdb::LiveFileMetaData> files;
  db_->GetLiveFilesMetaData(&files);
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  read.fill_cache = false;
  for (const rocksdb::LiveFileMetaData& file : files) {
    const std::string path = file.db_path + file.name;
    rocksdb::ColumnFamilyHandle* family = nullptr;
    for (auto* h : handles_) {
      if (h->GetName() == file.column_family_name) family = h;
    }
    rocksdb::SstFileReader reader(
        db_->GetOptions(family != nullptr ? family : db_->DefaultColumnFamily()));
    rocksdb::Status s = reader.Open(path);
    if (s.ok()) s = reader.VerifyChecksum(read);
    if (!s.ok()) {
      // Deleted by a compaction since it was listed: not damage.
      if (s.IsNotFound() || s.IsPathNotFound() || !std::filesystem::exists(path)) continue;
      out.problem = absl::StrCat("table file ", path, " (", file.column_family_name,
                                 " family): ", s.ToString());
      return out;
    }
    ++out.files;
    out.bytes += file.size;
    if (pace && !pace(out.bytes)) {
      out.stopped = true;
      return out;
    }
  }
  return out;
}

absl::StatusOr<ChainCheck> PartitionStore::WalkChain(
    const std::function<void(uint64_t position, const std::string& hash)>& each,
    const Pace* pace) const {
  ChainCheck check;
  auto origin = ReadMeta(keys::kMetaChainOrigin);
  if (!origin.ok()) return origin.status();
  if (origin->has_value() && !check.origin.emplace().ParseFromString(**origin)) {
    return absl::DataLossError(absl::StrCat(dir_, ": its chain origin does not parse"));
  }
  std::string head = genesis_;
  rocksdb::ReadOptions read;
  read.fill_cache = pace == nullptr;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, cf(Cf::kEvents)));
  uint64_t expected = 1;
  uint64_t bytes = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next(), ++expected) {
    const auto position =
        keys::DecodeEventKey(absl::string_view(it->key().data(), it->key().size()));
    auto fail = [&](uint64_t at, std::string why) {
      check.first_bad_position = at;
      check.problem = std::move(why);
      return check;
    };
    if (!position) return fail(expected, "a key of the events family is not a position");
    if (position->value() != expected) {
      return fail(expected, absl::StrCat("record ", expected, " is missing (the next stored is ",
                                         position->value(), ")"));
    }
    StoredRecord stored;
    if (!DecodeStoredRecord(absl::string_view(it->value().data(), it->value().size()), &stored)
             .ok()) {
      return fail(expected, "the stored value is shorter than its hashes");
    }
    if (std::string problem = CheckLink(stored, head); !problem.empty()) {
      return fail(expected, std::move(problem));
    }
    head = std::string(stored.hash);
    check.records = expected;
    check.head = head;
    if (each) each(expected, head);
    bytes += it->key().size() + it->value().size();
    if (pace != nullptr && !(*pace)(bytes)) {
      check.stopped = true;
      return check;
    }
  }
  if (auto st = FromRocks(it->status(), "scanning log"); !st.ok()) return st;
  return check;
}

absl::Status PartitionStore::ReadTimeline(absl::string_view case_id, CaseVersion after,
                                          size_t limit, std::vector<v1::Record>* out,
                                          bool* more) const {
  return VisitTimeline(
      case_id, after, limit,
      [out](CaseVersion, absl::string_view bytes) {
        return ParseStored(AsSlice(bytes), &out->emplace_back(), "record");
      },
      more);
}

absl::Status PartitionStore::VisitTimeline(absl::string_view case_id, CaseVersion after,
                                           size_t limit, const TimelineVisitor& fn,
                                           bool* more) const {
  *more = false;
  const std::string prefix = keys::CaseEventsPrefix(case_id);
  std::vector<std::string> event_keys;
  std::vector<CaseVersion> versions;
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(Cf::kCaseEvents)));
  for (it->Seek(keys::CaseEventKey(case_id, after.next()));
       it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (event_keys.size() == limit) {
      *more = true;
      break;
    }
    const auto version = keys::DecodeCaseEventKey(case_id, View(it->key()));
    if (!version || it->value().size() != 8) return absl::DataLossError("bad case_events entry");
    versions.push_back(*version);
    event_keys.push_back(it->value().ToString());  // fixed64be(position) == EventKey
  }
  if (auto st = FromRocks(it->status(), "scanning timeline"); !st.ok()) return st;
  if (event_keys.empty()) return absl::OkStatus();

  // The newest records come from memory; the rest from RocksDB, in one
  // MultiGet (a case's records are in position order: the keys come
  // sorted).
  const size_t n = event_keys.size();
  std::vector<std::string> cached(n);
  std::vector<bool> held(n, false);
  size_t from_cache = 0;
  if (recent_) {
    std::vector<uint64_t> positions(n);
    for (size_t i = 0; i < n; ++i) positions[i] = keys::DecodeFixed64Be(event_keys[i]);
    from_cache = recent_->Lookup(positions, &cached, &held);
  }
  std::vector<rocksdb::Slice> slices;
  slices.reserve(n - from_cache);
  for (size_t i = 0; i < n; ++i) {
    if (!held[i]) slices.emplace_back(event_keys[i]);
  }
  std::vector<rocksdb::PinnableSlice> values(slices.size());
  std::vector<rocksdb::Status> statuses(slices.size());
  if (!slices.empty()) {
    db_->MultiGet(ro, cf(Cf::kEvents), slices.size(), slices.data(), values.data(), statuses.data(),
                  /*sorted_input=*/true);
  }
  for (size_t i = 0, read = 0; i < n; ++i) {
    absl::string_view value;
    if (held[i]) {
      value = cached[i];
    } else {
      const size_t r = read++;
      if (statuses[r].IsNotFound()) {
        return absl::DataLossError(absl::StrCat("record at position ",
                                                keys::DecodeFixed64Be(event_keys[i]), " of case ",
                                                case_id, " is missing"));
      }
      if (auto st = FromRocks(statuses[r], "reading record"); !st.ok()) return st;
      value = View(values[r]);
    }
    StoredRecord stored;
    if (auto st = DecodeStoredRecord(value, &stored); !st.ok()) return st;
    if (auto st = fn(versions[i], stored.record_bytes); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status PartitionStore::ForEachRecordOfCases(
    absl::string_view case_id_prefix,
    const std::function<absl::Status(const v1::Record&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(Cf::kCaseEvents)));
  const rocksdb::Slice prefix = AsSlice(case_id_prefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->value().size() != 8) return absl::DataLossError("bad case_events entry");
    auto record = ReadRecord(
        Position(keys::DecodeFixed64Be(absl::string_view(it->value().data(), it->value().size()))));
    if (!record.ok()) return record.status();
    if (auto st = fn(*record); !st.ok()) return st;
  }
  return FromRocks(it->status(), "scanning case events");
}

absl::Status PartitionStore::ForEachRecord(const RecordVisitor& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(Cf::kEvents)));
  uint64_t expected = 1;
  for (it->SeekToFirst(); it->Valid(); it->Next(), ++expected) {
    const auto position = keys::DecodeEventKey(View(it->key()));
    if (!position || position->value() != expected) {
      return absl::DataLossError(absl::StrCat(
          "partition ", id_.value(), ": record ", expected,
          " is missing from the log; run `gridcase audit verify` for the whole story"));
    }
    StoredRecord stored;
    v1::Record record;
    if (!DecodeStoredRecord(View(it->value()), &stored).ok() ||
        !record.ParseFromArray(stored.record_bytes.data(),
                               static_cast<int>(stored.record_bytes.size()))) {
      return absl::DataLossError(
          absl::StrCat("partition ", id_.value(), ": record ", expected, " does not parse"));
    }
    if (auto st = fn(it->key(), it->value(), record); !st.ok()) return st;
  }
  return FromRocks(it->status(), "reading log");
}

absl::Status PartitionStore::ReadDueTimers(int64_t now_us, size_t limit,
                                           std::vector<keys::TimerKey>* out) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(Cf::kTimers)));
  for (it->SeekToFirst(); it->Valid() && out->size() < limit; it->Next()) {
    auto timer = keys::DecodeTimerKey(absl::string_view(it->key().data(), it->key().size()));
    if (!timer) return absl::DataLossError("bad timers key");
    if (timer->due_us > now_us) break;
    out->push_back(std::move(*timer));
  }
  return FromRocks(it->status(), "scanning timers");
}

absl::StatusOr<std::optional<keys::TimerKey>> PartitionStore::ReadFirstTimer() const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(Cf::kTimers)));
  it->SeekToFirst();
  if (!it->Valid()) {
    if (auto st = FromRocks(it->status(), "scanning timers"); !st.ok()) return st;
    return std::nullopt;
  }
  auto timer = keys::DecodeTimerKey(absl::string_view(it->key().data(), it->key().size()));
  if (!timer) return absl::DataLossError("bad timers key");
  return timer;
}

absl::Status PartitionStore::PutSignedHead(const std::string& encoded, uint64_t position) {
  rocksdb::WriteBatch b;
  std::string key(keys::kMetaSignedHeadPrefix);
  keys::PutFixed64Be(&key, position);
  b.Put(cf(Cf::kMeta), key, encoded);
  return Write(&b);
}

absl::Status PartitionStore::ReadSignedHeads(std::vector<std::string>* encoded) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(Cf::kMeta)));
  const rocksdb::Slice prefix(keys::kMetaSignedHeadPrefix.data(),
                              keys::kMetaSignedHeadPrefix.size());
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    encoded->push_back(it->value().ToString());
  }
  return FromRocks(it->status(), "reading signed heads");
}

absl::StatusOr<std::optional<std::string>> PartitionStore::ReadLastSignedHead() const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(Cf::kMeta)));
  const std::string prefix(keys::kMetaSignedHeadPrefix);
  const std::string past = prefix + std::string(9, '\xff');  // beyond every fixed64be
  it->SeekForPrev(rocksdb::Slice(past));
  if (it->Valid() && it->key().starts_with(rocksdb::Slice(prefix))) return it->value().ToString();
  if (!it->status().ok()) return FromRocks(it->status(), "reading the last signed head");
  return std::nullopt;
}

absl::StatusOr<std::optional<std::string>> PartitionStore::ReadMeta(absl::string_view key) const {
  std::string value;
  auto s = db_->Get({}, cf(Cf::kMeta), AsSlice(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocks(s, "reading meta");
  return value;
}

absl::Status PartitionStore::ScanMeta(absl::string_view prefix, size_t limit,
                                      std::vector<std::pair<std::string, std::string>>* out) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(Cf::kMeta)));
  const rocksdb::Slice p = AsSlice(prefix);
  for (it->Seek(p); it->Valid() && it->key().starts_with(p) && limit > 0; it->Next(), --limit) {
    out->emplace_back(it->key().ToString(), it->value().ToString());
  }
  return FromRocks(it->status(), "reading meta");
}

absl::StatusOr<uint64_t> PartitionStore::CountMeta(absl::string_view prefix) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(Cf::kMeta)));
  const rocksdb::Slice p = AsSlice(prefix);
  uint64_t n = 0;
  for (it->Seek(p); it->Valid() && it->key().starts_with(p); it->Next()) ++n;
  if (auto st = FromRocks(it->status(), "counting meta rows"); !st.ok()) return st;
  return n;
}

absl::Status PartitionStore::Write(rocksdb::WriteBatch* batch, Position last_position) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  {
    absl::ReaderMutexLock shared(&maintenance_mu_);
    if (auto st = FromRocks(db_->Write(wo, batch), "writing batch"); !st.ok()) return st;
  }
  return AdvanceMark(last_position);
}

absl::Status PartitionStore::AdvanceMark(Position last_position) {
  if (mark_file_ == nullptr) return absl::OkStatus();
  absl::MutexLock lock(&mark_mu_);
  // Bulk writes took sequence numbers that are not durable before Flush().
  if (unflushed_bulk_writes_) return absl::OkStatus();
  DurableMark next = mark_file_->mark();
  // The sequence number read here may be another thread's write that has
  // returned meanwhile: it was synced too (every write with the log is).
  next.sequence = std::max(next.sequence, db_->GetLatestSequenceNumber());
  next.position = std::max(next.position, last_position.value());
  if (next == mark_file_->mark()) return absl::OkStatus();
  if (auto st = mark_file_->Advance(next); !st.ok()) {
    return absl::UnavailableError(
        absl::StrCat("partition ", id_.value(),
                     ": the write is durable but the durable mark could not "
                     "follow it (",
                     st.message(),
                     "); writing on would let later damage to the log go "
                     "unseen"));
  }
  return absl::OkStatus();
}

absl::Status PartitionStore::WriteUnsynced(rocksdb::WriteBatch* batch) {
  {
    absl::MutexLock lock(&mark_mu_);
    unflushed_bulk_writes_ = true;
  }
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  absl::ReaderMutexLock shared(&maintenance_mu_);
  return FromRocks(db_->Write(wo, batch), "writing batch");
}

absl::Status PartitionStore::Compact() {
  // After a storage failure RocksDB must not write again (see
  // storage_failure()): a flush or compaction now would sync log files
  // whose writers failed, which Debian's RocksDB answers by aborting. The
  // exclusive lock waits out any write in flight, and a write that failed
  // has reported its failure (the listener runs inside it) before it
  // releases the lock, so the check below cannot miss it.
  absl::WriterMutexLock exclusive(&maintenance_mu_);
  if (absl::Status st = storage_failure(); !st.ok()) return st;
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    if (auto s = db_->CompactRange(options, h, nullptr, nullptr); !s.ok()) {
      return FromRocks(s, "compacting");
    }
  }
  return absl::OkStatus();
}

absl::Status PartitionStore::Flush() {
  absl::WriterMutexLock exclusive(&maintenance_mu_);             // as Compact()
  if (absl::Status st = storage_failure(); !st.ok()) return st;  // as Compact()
  rocksdb::FlushOptions fo;
  fo.wait = true;
  // Every write with the log was synced before it returned, so there is no
  // log to sync here.
  if (auto s = db_->Flush(fo, handles_); !s.ok()) return FromRocks(s, "flushing");
  {
    absl::MutexLock lock(&mark_mu_);
    unflushed_bulk_writes_ = false;
  }
  return AdvanceMark(Position());
}

absl::Status PartitionStore::CreateCheckpoint(const std::string& dir) const {
  // A checkpoint flushes the memtables first: as Compact().
  absl::WriterMutexLock exclusive(&maintenance_mu_);
  if (absl::Status st = storage_failure(); !st.ok()) return st;
  rocksdb::Checkpoint* raw = nullptr;
  auto s = rocksdb::Checkpoint::Create(db_.get(), &raw);
  if (!s.ok()) return FromRocks(s, "checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return FromRocks(checkpoint->CreateCheckpoint(dir), absl::StrCat("checkpoint into ", dir));
}

std::unique_ptr<rocksdb::SstFileWriter> PartitionStore::NewTableFileWriter(keys::Cf family) const {
  rocksdb::Options options(db_->GetDBOptions(), db_->GetOptions(cf(family)));
  return std::make_unique<rocksdb::SstFileWriter>(rocksdb::EnvOptions(), options, cf(family));
}

absl::Status PartitionStore::IngestTableFiles(keys::Cf family,
                                              const std::vector<std::string>& paths) {
  if (paths.empty()) return absl::OkStatus();
  rocksdb::IngestExternalFileOptions o;
  o.move_files = true;
  return FromRocks(db_->IngestExternalFile(cf(family), paths, o), "ingesting table files");
}

std::unique_ptr<rocksdb::Iterator> PartitionStore::NewIterator(keys::Cf family) const {
  return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator({}, cf(family)));
}

}  // namespace gridcase
