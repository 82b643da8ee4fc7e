#include "engine/audit/partition_replay.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/domain/stamper.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/derived_rows.h"

namespace gridcase {
namespace {

using keys::Cf;

// Case states are written to the scratch store every this many records, so
// that memory stays bounded however long the log.
constexpr uint64_t kFlushEvery = 50000;

// Rows of one column family that the replay derives in an order other than
// their keys' (a case's versions, idempotency keys): gathered for a stretch
// of the log, then sorted and written as one table file, without the
// memtable. Table files of later stretches may overlap earlier ones; they
// are ingested in order, so a later row wins as it would in a memtable.
constexpr size_t kStretchBytes = 64 << 20;

class SortedRows {
 public:
  SortedRows(PartitionStore* dst, Cf family, std::string name)
      : dst_(dst), family_(family), name_(std::move(name)) {}

  // Gathers a row; writes the stretch as a table file once it holds
  // kStretchBytes, so that memory stays bounded however long the log.
  absl::Status Put(std::string key, std::string value) {
    bytes_ += key.capacity() + value.capacity() + sizeof(rows_[0]);
    rows_.emplace_back(std::move(key), std::move(value));
    return bytes_ >= kStretchBytes ? Finish() : absl::OkStatus();
  }

  // Writes what was gathered as the next table file.
  absl::Status Finish() {
    if (rows_.empty()) return absl::OkStatus();
    // Stable: of two rows with one key, the later is kept.
    std::stable_sort(rows_.begin(), rows_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    auto writer = dst_->NewTableFileWriter(family_);
    files_.push_back(absl::StrCat(dst_->dir(), "/", name_, "-", files_.size(), ".sst"));
    auto st = FromRocks(writer->Open(files_.back()), "opening a table file");
    for (size_t i = 0; st.ok() && i < rows_.size(); ++i) {
      if (i + 1 < rows_.size() && rows_[i + 1].first == rows_[i].first) continue;
      st = FromRocks(writer->Put(rows_[i].first, rows_[i].second), "writing a table file");
    }
    if (st.ok()) st = FromRocks(writer->Finish(), "writing a table file");
    rows_.clear();
    rows_.shrink_to_fit();
    bytes_ = 0;
    return st;
  }

  absl::Status Ingest() {
    if (auto st = Finish(); !st.ok()) return st;
    for (const auto& file : files_) {  // one by one: each may overlap the ones before
      if (auto st = dst_->IngestTableFiles(family_, {file}); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

 private:
  PartitionStore* const dst_;
  const Cf family_;
  const std::string name_;
  std::vector<std::pair<std::string, std::string>> rows_;
  size_t bytes_ = 0;  // what rows_ holds in memory, about
  std::vector<std::string> files_;
};

// The replay of one partition. Rows derived from each record arrive
// through the RowSink interface, from the same function the sequencer
// calls; this class decides only where each family's rows go: the log into
// table files in key order (it is read in position order, which is its key
// order), rows in other orders through SortedRows, case states through a
// plain unsynced batch every kFlushEvery records.
class PartitionReplay final : public RowSink {
 public:
  PartitionReplay(const PartitionStore& src, PartitionStore* dst, const CaseLogic& logic,
                  std::atomic<uint64_t>* replayed, const ReplayRewrite* rewrite)
      : src_(src),
        dst_(dst),
        logic_(logic),
        replayed_(replayed),
        rewrite_(rewrite),
        case_events_(dst, Cf::kCaseEvents, "case-events"),
        dedup_(dst, Cf::kDedup, "dedup"),
        timers_(dst, Cf::kTimers, "timers") {}

  absl::StatusOr<ReplayCounts> Run() {
    if (auto st = CopyMeta(); !st.ok()) return st;
    auto st = src_.ForEachRecord(
        [this](const rocksdb::Slice&, const rocksdb::Slice& value, const v1::Record& record) {
          if (rewrite_ == nullptr) {
            return Replay(absl::string_view(value.data(), value.size()), record);
          }
          v1::Record rewritten = record;
          std::string stored = value.ToString();
          if (auto st = rewrite_->record(&rewritten, &stored); !st.ok()) return st;
          return Replay(stored, rewritten);
        });
    if (st.ok()) st = FlushCases();
    if (st.ok()) st = FinishLogFile();
    if (st.ok()) st = dst_->IngestTableFiles(Cf::kEvents, log_files_);
    if (st.ok()) st = case_events_.Ingest();
    if (st.ok()) st = dedup_.Ingest();
    if (!st.ok()) return st;
    replayed_->fetch_add(counts_.records % kFlushEvery, std::memory_order_relaxed);
    if (auto timers = WriteTimers(); !timers.ok()) return timers;
    if (auto flushed = dst_->Flush(); !flushed.ok()) return flushed;
    return counts_;
  }

  absl::Status Put(Cf cf, std::string key, absl::string_view value) override {
    switch (cf) {
      case Cf::kEvents:
        return PutLog(key, value);
      case Cf::kCaseEvents:
        return case_events_.Put(std::move(key), std::string(value));
      case Cf::kDedup:
        return dedup_.Put(std::move(key), std::string(value));
      case Cf::kTimers:
        return timers_.Put(std::move(key), std::string(value));
      case Cf::kCases:
        return FromRocks(batch_.Put(dst_->cf(cf), key, rocksdb::Slice(value.data(), value.size())),
                         "adding a case state to a write batch");
      default:
        return absl::InternalError(
            absl::StrCat("a replay derives no rows of family ", keys::CfName(cf)));
    }
  }
  absl::Status Delete(Cf cf, std::string) override {
    // Replayed from nothing, rows are only ever added.
    return absl::InternalError(
        absl::StrCat("a replay deletes no rows (family ", keys::CfName(cf), ")"));
  }

 private:
  // Meta (format, partition, signed heads) is not derived: copied as is,
  // but for what a rewrite leaves out or adds.
  absl::Status CopyMeta() {
    auto meta = src_.NewIterator(Cf::kMeta);
    for (meta->SeekToFirst(); meta->Valid(); meta->Next()) {
      if (rewrite_ != nullptr && rewrite_->drop_meta &&
          rewrite_->drop_meta(absl::string_view(meta->key().data(), meta->key().size()))) {
        continue;
      }
      batch_.Put(dst_->cf(Cf::kMeta), meta->key(), meta->value());
    }
    if (rewrite_ != nullptr) {
      for (const auto& [key, value] : rewrite_->add_meta) {
        batch_.Put(dst_->cf(Cf::kMeta), key, value);
      }
    }
    return FromRocks(meta->status(), "reading meta");
  }

  absl::Status Replay(absl::string_view stored, const v1::Record& record) {
    if (auto st = CheckRecordVersion(record); !st.ok()) return st;
    if (auto st = PutRecordRows(record, stored, this); !st.ok()) return st;
    const std::string& case_id = record.event().case_id();
    auto slot = touched_.find(case_id);
    if (slot == touched_.end()) {
      auto before = dst_->ReadCase(case_id);
      if (!before.ok()) return before.status();
      slot = touched_.emplace(case_id, before->value_or(v1::CaseState())).first;
    }
    logic_.Apply(record, &slot->second);
    ++counts_.records;
    if (counts_.records % kFlushEvery != 0) return absl::OkStatus();
    if (auto st = FlushCases(); !st.ok()) return st;
    if (counts_.records % (20 * kFlushEvery) == 0) {
      if (auto st = FinishLogFile(); !st.ok()) return st;
    }
    replayed_->fetch_add(kFlushEvery, std::memory_order_relaxed);
    return absl::OkStatus();
  }

  absl::Status PutLog(const std::string& key, absl::string_view value) {
    if (!log_file_) {
      log_file_ = dst_->NewTableFileWriter(Cf::kEvents);
      log_files_.push_back(absl::StrCat(dst_->dir(), "/log-", log_files_.size(), ".sst"));
      if (auto st = FromRocks(log_file_->Open(log_files_.back()), "opening a log table file");
          !st.ok()) {
        return st;
      }
    }
    return FromRocks(log_file_->Put(key, rocksdb::Slice(value.data(), value.size())),
                     "writing a log table file");
  }

  absl::Status FinishLogFile() {
    if (!log_file_) return absl::OkStatus();
    rocksdb::ExternalSstFileInfo info;
    auto st = FromRocks(log_file_->Finish(&info), "writing a log table file");
    log_file_.reset();
    return st;
  }

  absl::Status FlushCases() {
    for (const auto& [id, state] : touched_) {
      if (auto st = PutCaseRow(state, this); !st.ok()) return st;
    }
    touched_.clear();
    auto st = dst_->WriteUnsynced(&batch_);
    batch_.Clear();
    return st;
  }

  // Timer rows follow from each case's final state; they too go to table
  // files, a stretch at a time. (The case index is kept in memory by a
  // server, derived from `cases` when it opens.)
  absl::Status WriteTimers() {
    auto cases = dst_->NewIterator(Cf::kCases);
    for (cases->SeekToFirst(); cases->Valid(); cases->Next()) {
      v1::CaseState state;
      if (!state.ParseFromArray(cases->value().data(), static_cast<int>(cases->value().size()))) {
        return absl::InternalError("a rebuilt case state does not parse");
      }
      if (auto st = PutTimerRows({}, state, this); !st.ok()) return st;
      ++counts_.cases;
    }
    if (auto st = FromRocks(cases->status(), "reading rebuilt cases"); !st.ok()) return st;
    return timers_.Ingest();
  }

  const PartitionStore& src_;
  PartitionStore* const dst_;
  const CaseLogic& logic_;
  std::atomic<uint64_t>* const replayed_;
  const ReplayRewrite* const rewrite_;  // null: none
  ReplayCounts counts_;
  rocksdb::WriteBatch batch_;
  absl::flat_hash_map<std::string, v1::CaseState> touched_;
  std::unique_ptr<rocksdb::SstFileWriter> log_file_;
  std::vector<std::string> log_files_;
  SortedRows case_events_;
  SortedRows dedup_;
  SortedRows timers_;
};

}  // namespace

absl::StatusOr<PartitionStores> OpenSourcePartitions(const std::string& data_dir, uint32_t count,
                                                     uint64_t* total) {
  PartitionStores live;
  for (uint32_t i = 0; i < count; ++i) {
    auto store = PartitionStore::Open(PartitionDir(data_dir, i), PartitionId(i),
                                      {.mode = OpenMode::kReadOnly});
    if (!store.ok()) return store.status();
    if ((*store)->stored_format() < keys::kFormatVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          PartitionDir(data_dir, i), " is at storage format ", (*store)->stored_format(),
          ", written by an earlier build; start gridcased of this build on the data directory "
          "once (it upgrades it to format ",
          keys::kFormatVersion, "), stop it, then try again"));
    }
    auto last = (*store)->ReadLastRecord();
    if (!last.ok()) return last.status();
    if (last->has_value()) *total += (*last)->record.position();
    live.push_back(std::move(*store));
  }
  return live;
}

absl::StatusOr<PartitionStores> OpenEmptyPartitions(const std::string& dir, uint32_t count) {
  if (auto st = ResolvePartitions(dir, count); !st.ok()) return st.status();
  PartitionStores out;
  for (uint32_t i = 0; i < count; ++i) {
    auto store = PartitionStore::Open(PartitionDir(dir, i), PartitionId(i));
    if (!store.ok()) return store.status();
    out.push_back(std::move(*store));
  }
  return out;
}

absl::StatusOr<ReplayCounts> ReplayPartition(const PartitionStore& src, PartitionStore* dst,
                                             const CaseLogic& logic,
                                             std::atomic<uint64_t>* replayed,
                                             const ReplayRewrite* rewrite) {
  return PartitionReplay(src, dst, logic, replayed, rewrite).Run();
}

}  // namespace gridcase
