// The partition's case queries (listings, holders, overdue tasks) and the
// scan at open that fills the in-memory id filters and case index they
// rely on. The rest of PartitionStore is in store.cc.
#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "engine/domain/validate.h"
#include "engine/storage/store.h"

namespace gridcase {
namespace {

using keys::Cf;

absl::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

}  // namespace

absl::Status PartitionStore::ScanStored(const std::atomic<bool>& stop) {
  absl::Status st = ScanStoredRows(stop);
  if (st.ok()) {
    if (event_ids_) id_filters_complete_.store(true, std::memory_order_release);
    if (case_index_) case_index_->MarkComplete();
  } else if (case_index_) {
    case_index_->MarkAbandoned(std::string(st.message()));
  }
  return st;
}

absl::Status PartitionStore::ScanStoredRows(const std::atomic<bool>& stop) {
  auto stopped = [&stop] {
    return stop.load(std::memory_order_relaxed) ? absl::CancelledError("scan at open stopped")
                                                : absl::OkStatus();
  };
  if (event_ids_) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(Cf::kDedup)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (auto st = stopped(); !st.ok()) return st;
      event_ids_->Add(View(it->key()));
    }
    if (auto st = FromRocks(it->status(), "scanning dedup"); !st.ok()) return st;
  }
  if (case_ids_ || case_index_) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(Cf::kCases)));
    v1::CaseState state;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (auto st = stopped(); !st.ok()) return st;
      if (case_ids_) case_ids_->Add(View(it->key()));
      if (!case_index_) continue;
      if (auto st = ParseCaseState(it->value(), &state); !st.ok()) return st;
      case_index_->AddScanned(state);
    }
    if (auto st = FromRocks(it->status(), "scanning cases"); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status PartitionStore::ForEachCase(
    absl::string_view after_case_id,
    const std::function<absl::Status(absl::string_view case_id, const rocksdb::Slice& state,
                                     bool* stop)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(Cf::kCases)));
  // Appending 0x00 (smaller than any id byte) to the last id seen seeks
  // just past it.
  std::string start(after_case_id);
  if (!start.empty()) start.push_back('\0');
  bool stop = false;
  for (it->Seek(start); it->Valid() && !stop; it->Next()) {
    if (auto st = fn(View(it->key()), it->value(), &stop); !st.ok()) return st;
  }
  return FromRocks(it->status(), "scanning cases");
}

absl::StatusOr<const CaseIndex*> PartitionStore::CaseIndexForQuery(
    std::unique_ptr<CaseIndex>* built) const {
  if (CaseIndexReady()) return case_index_.get();
  // None kept, or its scan gave up: one of every stored case, for this
  // query alone, so that the answers follow the same rules.
  *built = std::make_unique<CaseIndex>();
  auto st = ForEachCase("", [&](absl::string_view, const rocksdb::Slice& value, bool*) {
    v1::CaseState state;
    if (auto st = ParseCaseState(value, &state); !st.ok()) return st;
    (*built)->AddScanned(state);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  (*built)->MarkComplete();
  return built->get();
}

absl::Status PartitionStore::CasesHeldBy(const std::string& person,
                                         std::vector<std::string>* out) const {
  std::unique_ptr<CaseIndex> built;
  auto index = CaseIndexForQuery(&built);
  if (!index.ok()) return index.status();
  std::vector<std::string> held = (*index)->HeldBy(person);
  std::move(held.begin(), held.end(), std::back_inserter(*out));
  return absl::OkStatus();
}

absl::Status PartitionStore::OverdueCases(int64_t now_us, std::vector<std::string>* out) const {
  std::unique_ptr<CaseIndex> built;
  auto index = CaseIndexForQuery(&built);
  if (!index.ok()) return index.status();
  *out = (*index)->TaskDueBy(now_us);
  std::vector<keys::TimerKey> timers;
  if (auto st = ReadDueTimers(now_us, SIZE_MAX, &timers); !st.ok()) return st;
  for (auto& t : timers) out->push_back(std::move(t.case_id));
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
  return absl::OkStatus();
}

absl::Status PartitionStore::ListCases(const CaseFilter& filter, absl::string_view after_case_id,
                                       size_t limit, std::vector<v1::CaseState>* out,
                                       bool* more) const {
  *more = false;
  const size_t before = out->size();
  auto kept = [&] { return out->size() - before; };
  auto keep = [&](v1::CaseState&& state) {
    if (state.case_id()[0] == kReservedCasePrefix) return;  // the engine's own
    if (filter.Matches(state)) out->push_back(std::move(state));
  };
  const bool indexed = CaseIndexReady();
  std::string after(after_case_id);
  if (indexed) {
    // A case the index names is read and checked again: the index may
    // trail the stored state by the write being answered. A candidate that
    // no longer matches leaves the page short, so ask again after the last
    // one: the engine merges partitions' pages on the promise that one
    // with more to give gave `limit`.
    for (;;) {
      bool truncated = false;
      auto candidates = case_index_->Candidates(filter, after, limit - kept(), &truncated);
      if (!candidates) break;  // walk, below
      for (const std::string& case_id : *candidates) {
        auto read = ReadCase(case_id);
        if (!read.ok()) return read.status();
        if (!read->has_value()) {
          return absl::DataLossError(
              absl::StrCat("the case index names case ", case_id, " which is not stored"));
        }
        keep(std::move(**read));
      }
      if (!truncated) return absl::OkStatus();
      if (kept() == limit) {
        *more = true;
        return absl::OkStatus();
      }
      after = candidates->back();
    }
  }
  // Every case in case_id order; the index, when it can, spares parsing
  // the ones that do not match.
  const CaseIndex::Resolved resolved =
      indexed ? case_index_->Resolve(filter) : CaseIndex::Resolved{};
  if (resolved.none) return absl::OkStatus();
  const bool unfiltered = filter.stage.empty() && filter.grid_id.empty() &&
                          filter.assignee.empty() && filter.category == v1::CATEGORY_UNSPECIFIED;
  return ForEachCase(
      after, [&](absl::string_view case_id, const rocksdb::Slice& value, bool* stop) {
        if (indexed && !unfiltered) {
          if (std::optional<bool> m = case_index_->Matches(case_id, resolved); m && !*m) {
            return absl::OkStatus();
          }
        }
        if (kept() == limit) {
          *more = true;
          *stop = true;
          return absl::OkStatus();
        }
        v1::CaseState state;
        if (auto st = ParseCaseState(value, &state); !st.ok()) return st;
        keep(std::move(state));
        return absl::OkStatus();
      });
}

}  // namespace gridcase
