#include "engine/audit/rebuild.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/storage/chain.h"
#include "engine/storage/data_dir.h"
#include "engine/domain/directory.h"
#include "engine/workflow/logic.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"

namespace gridcase {
namespace {

namespace fs = std::filesystem;
using keys::Cf;

// Case states are written to the scratch store every this many records, so
// that memory stays bounded however long the log.
constexpr uint64_t kFlushEvery = 50000;

absl::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

std::string Printable(absl::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string PositionText(absl::string_view value) {
  if (value.size() != 8) return absl::StrCat("(not a position: ", Printable(value), ")");
  return absl::StrCat("position ", keys::DecodeFixed64Be(value));
}

// The key of a derived row in words, and the case it belongs to.
void DescribeKey(Cf cf, absl::string_view key, RebuildDifference* d) {
  d->key = Printable(key);
  switch (cf) {
    case Cf::kCases:
      d->case_id = std::string(key);
      break;
    case Cf::kCaseEvents: {
      const size_t zero = key.find('\0');
      if (zero == absl::string_view::npos || key.size() != zero + 9) break;
      d->case_id = std::string(key.substr(0, zero));
      d->key = absl::StrCat(d->case_id, " version ", keys::DecodeFixed64Be(key.substr(zero + 1)));
      break;
    }
    case Cf::kTimers:
      if (auto t = keys::DecodeTimerKey(key)) {
        d->case_id = t->case_id;
        d->key = absl::StrCat(
            "deadline ", t->deadline, " of ", t->case_id, " due ",
            google::protobuf::util::TimeUtil::ToString(
                google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(t->due_us)));
      }
      break;
    case Cf::kDedup:
      d->key = absl::StrCat("event_id ", Printable(key));
      break;
    default:
      break;
  }
}

std::string DescribeValue(Cf cf, absl::string_view value) {
  switch (cf) {
    case Cf::kCases: {
      v1::CaseState s;
      if (!s.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return absl::StrCat("(does not parse: ", value.size(), " bytes)");
      }
      return s.ShortDebugString();
    }
    case Cf::kCaseEvents:
    case Cf::kDedup:
      return PositionText(value);
    default:
      return value.empty() ? "(present)" : Printable(value);
  }
}

// Equal rows: the same bytes, or for case states the same message (a map
// field may serialize in another order).
bool SameValue(Cf cf, absl::string_view a, absl::string_view b) {
  if (a == b) return true;
  if (cf != Cf::kCases) return false;
  v1::CaseState x, y;
  return x.ParseFromArray(a.data(), static_cast<int>(a.size())) &&
         y.ParseFromArray(b.data(), static_cast<int>(b.size())) &&
         google::protobuf::util::MessageDifferencer::Equals(x, y);
}

std::optional<RebuildDifference> CompareFamily(const PartitionStore& live,
                                               const PartitionStore& rebuilt, Cf cf) {
  auto a = live.NewIterator(cf);
  auto b = rebuilt.NewIterator(cf);
  a->SeekToFirst();
  b->SeekToFirst();
  auto differ = [&](absl::string_view key, const rocksdb::Iterator* l,
                    const rocksdb::Iterator* r) {
    RebuildDifference d;
    d.partition = live.id().value();
    d.family = keys::CfName(cf);
    DescribeKey(cf, key, &d);
    if (l) d.live = DescribeValue(cf, View(l->value()));
    if (r) d.rebuilt = DescribeValue(cf, View(r->value()));
    if (cf == Cf::kDedup && d.case_id.empty()) {
      const rocksdb::Iterator* either = l ? l : r;
      if (either->value().size() == 8) {
        auto rec = live.ReadRecord(Position(keys::DecodeFixed64Be(View(either->value()))));
        if (rec.ok()) d.case_id = rec->event().case_id();
      }
    }
    return d;
  };
  while (a->Valid() || b->Valid()) {
    if (a->Valid() && b->Valid() && a->key() == b->key()) {
      if (!SameValue(cf, View(a->value()), View(b->value()))) {
        return differ(View(a->key()), a.get(), b.get());
      }
      a->Next();
      b->Next();
    } else if (!b->Valid() || (a->Valid() && a->key().compare(b->key()) < 0)) {
      return differ(View(a->key()), a.get(), nullptr);
    } else {
      return differ(View(b->key()), nullptr, b.get());
    }
  }
  if (!a->status().ok() || !b->status().ok()) {
    RebuildDifference d;
    d.partition = live.id().value();
    d.family = keys::CfName(cf);
    d.key = "(unreadable)";
    d.live = a->status().ToString();
    d.rebuilt = b->status().ToString();
    return d;
  }
  return std::nullopt;
}

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

struct PartitionResult {
  uint64_t records = 0;
  uint64_t cases = 0;
};

// Replays `src`'s log into the empty `dst`.
absl::StatusOr<PartitionResult> Replay(const PartitionStore& src, PartitionStore* dst,
                                       const CaseLogic& logic,
                                       std::atomic<uint64_t>* replayed) {
  PartitionResult result;
  rocksdb::WriteBatch batch;
  // Meta (format, partition, signed heads) is not derived: copied as is.
  {
    auto meta = src.NewIterator(Cf::kMeta);
    for (meta->SeekToFirst(); meta->Valid(); meta->Next()) {
      batch.Put(dst->cf(Cf::kMeta), meta->key(), meta->value());
    }
    if (auto st = FromRocks(meta->status(), "reading meta"); !st.ok()) return st;
  }
  absl::flat_hash_map<std::string, v1::CaseState> touched;
  auto flush = [&]() -> absl::Status {
    for (const auto& [id, state] : touched) {
      batch.Put(dst->cf(Cf::kCases), id, state.SerializeAsString());
    }
    touched.clear();
    auto st = dst->WriteUnsynced(&batch);
    batch.Clear();
    return st;
  };
  SortedRows case_events(dst, Cf::kCaseEvents, "case-events");
  SortedRows dedup(dst, Cf::kDedup, "dedup");
  // The log is copied in position order, which is its key order: straight
  // into table files, without the memtable.
  std::vector<std::string> event_files;
  std::unique_ptr<rocksdb::SstFileWriter> events_file;
  auto finish_events_file = [&]() -> absl::Status {
    if (!events_file) return absl::OkStatus();
    rocksdb::ExternalSstFileInfo info;
    auto st = FromRocks(events_file->Finish(&info), "writing a log table file");
    events_file.reset();
    return st;
  };
  auto replay = [&](const rocksdb::Slice& key, const rocksdb::Slice& value,
                    const v1::Record& record) -> absl::Status {
    const std::string& case_id = record.event().case_id();
    if (!events_file) {
      events_file = dst->NewTableFileWriter(Cf::kEvents);
      event_files.push_back(absl::StrCat(dst->dir(), "/log-", event_files.size(), ".sst"));
      if (auto st = FromRocks(events_file->Open(event_files.back()), "opening a log table file");
          !st.ok()) {
        return st;
      }
    }
    if (auto st = FromRocks(events_file->Put(key, value), "writing a log table file"); !st.ok()) {
      return st;
    }
    if (auto st = case_events.Put(keys::CaseEventKey(case_id, CaseVersion(record.case_version())),
                                  key.ToString());
        !st.ok()) {
      return st;
    }
    if (record.caused_by() == 0) {
      if (auto st = dedup.Put(record.event().event_id(), key.ToString()); !st.ok()) return st;
    }

    auto slot = touched.find(case_id);
    if (slot == touched.end()) {
      auto before = dst->ReadCase(case_id);
      if (!before.ok()) return before.status();
      slot = touched.emplace(case_id, before->value_or(v1::CaseState())).first;
    }
    logic.Apply(record, &slot->second);
    ++result.records;
    if (result.records % kFlushEvery == 0) {
      if (auto st = flush(); !st.ok()) return st;
      if (result.records % (20 * kFlushEvery) == 0) {
        if (auto st = finish_events_file(); !st.ok()) return st;
      }
      replayed->fetch_add(kFlushEvery, std::memory_order_relaxed);
    }
    return absl::OkStatus();
  };
  if (auto st = src.ForEachRecord(replay); !st.ok()) return st;
  if (auto st = flush(); !st.ok()) return st;
  if (auto st = finish_events_file(); !st.ok()) return st;
  if (auto st = dst->IngestTableFiles(Cf::kEvents, event_files); !st.ok()) return st;
  if (auto st = case_events.Ingest(); !st.ok()) return st;
  if (auto st = dedup.Ingest(); !st.ok()) return st;
  replayed->fetch_add(result.records % kFlushEvery, std::memory_order_relaxed);

  // Timer rows follow from each case's final state; they too go to table
  // files, a stretch at a time. (The case index is kept in memory by a
  // server, derived from `cases` when it opens.)
  SortedRows timers(dst, Cf::kTimers, "timers");
  auto cases = dst->NewIterator(Cf::kCases);
  for (cases->SeekToFirst(); cases->Valid(); cases->Next()) {
    v1::CaseState state;
    if (!state.ParseFromArray(cases->value().data(), static_cast<int>(cases->value().size()))) {
      return absl::InternalError("a rebuilt case state does not parse");
    }
    for (auto& k : TimerKeysOf(state)) {
      if (auto st = timers.Put(std::move(k), std::string()); !st.ok()) return st;
    }
    ++result.cases;
  }
  if (auto st = FromRocks(cases->status(), "reading rebuilt cases"); !st.ok()) return st;
  if (auto st = timers.Ingest(); !st.ok()) return st;
  if (auto st = dst->Flush(); !st.ok()) return st;
  return result;
}

}  // namespace

absl::Status LoadDeployments(const std::vector<const PartitionStore*>& stores,
                             workflow::Registry* registry) {
  std::vector<v1::WorkflowDefinition> deployed;
  for (const PartitionStore* store : stores) {
    auto st = store->ForEachRecordOfCases(workflow::WorkflowCaseId(""), [&](const v1::Record& r) {
      if (r.event().has_workflow_deployed()) {
        deployed.push_back(r.event().workflow_deployed().definition());
      }
      return absl::OkStatus();
    });
    if (!st.ok()) return st;
  }
  std::sort(deployed.begin(), deployed.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.name(), a.version()) < std::make_pair(b.name(), b.version());
  });
  for (const auto& proto : deployed) {
    auto def = workflow::Definition::FromProto(proto);
    if (!def.ok()) {
      return absl::DataLossError(absl::StrCat("stored workflow ", proto.name(), " v",
                                              proto.version(), " does not validate: ",
                                              def.status().message()));
    }
    if (auto st = registry->Add(*def); !st.ok()) {
      return absl::DataLossError(absl::StrCat("stored workflows: ", st.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RebuildReport> RebuildAndCompare(const RebuildOptions& options) {
  using Clock = std::chrono::steady_clock;
  auto count = ReadPartitionCount(options.data_dir);
  if (!count.ok()) return count.status();
  std::error_code ec;
  if (options.scratch_dir.empty()) return absl::InvalidArgumentError("scratch directory: not set");
  if (fs::exists(options.scratch_dir, ec) && !fs::is_empty(options.scratch_dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.scratch_dir, " is not empty: rebuild into an empty directory"));
  }
  std::vector<std::unique_ptr<PartitionStore>> live, rebuilt;
  std::vector<const PartitionStore*> sources;
  RebuildProgress progress;
  for (uint32_t i = 0; i < *count; ++i) {
    auto store = PartitionStore::Open(PartitionDir(options.data_dir, i), PartitionId(i),
                                      {.mode = OpenMode::kReadOnly});
    if (!store.ok()) return store.status();
    if ((*store)->stored_format() < keys::kFormatVersion) {
      // Its case states were folded by an earlier build's appliers: every
      // one would differ from today's fold without anything being wrong.
      return absl::FailedPreconditionError(absl::StrCat(
          PartitionDir(options.data_dir, i), " is at storage format ", (*store)->stored_format(),
          ", written by an earlier build; start gridcased of this build on the data directory "
          "once (it upgrades it to format ", keys::kFormatVersion,
          "), then rebuild a checkpoint of it"));
    }
    auto last = (*store)->ReadLastRecord();
    if (!last.ok()) return last.status();
    if (last->has_value()) progress.total += (*last)->record.position();
    sources.push_back(store->get());
    live.push_back(std::move(*store));
  }
  if (auto st = ResolvePartitions(options.scratch_dir, *count); !st.ok()) return st.status();
  for (uint32_t i = 0; i < *count; ++i) {
    auto store = PartitionStore::Open(PartitionDir(options.scratch_dir, i), PartitionId(i));
    if (!store.ok()) return store.status();
    rebuilt.push_back(std::move(*store));
  }

  workflow::Registry registry;
  if (auto st = LoadDeployments(sources, &registry); !st.ok()) return st;
  Directory directory;  // replay never consults it: only deciding does
  const workflow::WorkflowLogic logic(&registry, &directory);

  RebuildReport report;
  report.partitions = *count;
  auto report_progress = [&](const char* phase, uint64_t replayed) {
    if (!options.progress) return;
    progress.phase = phase;
    progress.replayed = replayed;
    options.progress(progress);
  };

  // Partitions are independent: replay them side by side.
  const auto replay_start = Clock::now();
  std::atomic<uint64_t> replayed{0};
  std::atomic<uint32_t> next{0};
  std::vector<absl::StatusOr<PartitionResult>> results(*count, PartitionResult{});
  const unsigned workers = std::max(1u, std::min(*count, std::thread::hardware_concurrency()));
  std::vector<std::future<void>> running;
  for (unsigned w = 0; w < workers; ++w) {
    running.push_back(std::async(std::launch::async, [&] {
      for (uint32_t i; (i = next.fetch_add(1)) < *count;) {
        results[i] = Replay(*live[i], rebuilt[i].get(), logic, &replayed);
      }
    }));
  }
  for (auto& f : running) {
    while (f.wait_for(std::chrono::milliseconds(250)) != std::future_status::ready) {
      report_progress("replaying", replayed.load(std::memory_order_relaxed));
    }
  }
  report.replay_seconds = std::chrono::duration<double>(Clock::now() - replay_start).count();
  for (auto& r : results) {
    if (!r.ok()) return r.status();
    report.records += r->records;
    report.cases += r->cases;
  }
  report_progress("comparing", report.records);

  const auto compare_start = Clock::now();
  for (uint32_t i = 0; i < *count && !report.difference; ++i) {
    for (Cf cf : {Cf::kCaseEvents, Cf::kDedup, Cf::kCases, Cf::kTimers}) {
      report.difference = CompareFamily(*live[i], *rebuilt[i], cf);
      if (report.difference) break;
    }
  }
  report.compare_seconds = std::chrono::duration<double>(Clock::now() - compare_start).count();
  return report;
}

}  // namespace gridcase
