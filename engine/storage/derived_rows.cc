#include "engine/storage/derived_rows.h"

#include <algorithm>

#include "engine/common/time.h"
#include "engine/storage/store.h"

namespace gridcase {

using keys::Cf;

absl::Status BatchRows::Put(Cf cf, std::string key, absl::string_view value) {
  return FromRocks(batch_->Put(store_->cf(cf), key, rocksdb::Slice(value.data(), value.size())),
                   "adding a row to a write batch");
}

absl::Status BatchRows::Delete(Cf cf, std::string key) {
  return FromRocks(batch_->Delete(store_->cf(cf), key), "adding a deletion to a write batch");
}

std::vector<std::string> TimerKeysOf(const v1::CaseState& s) {
  std::vector<std::string> out;
  out.reserve(s.deadlines_size());
  for (const auto& d : s.deadlines()) {
    out.push_back(keys::EncodeTimerKey({Micros(d.due_at()), s.case_id(), d.name()}));
  }
  return out;
}

absl::Status PutRecordRows(const v1::Record& record, absl::string_view stored, RowSink* sink) {
  std::string event_key = keys::EventKey(Position(record.position()));
  if (auto st = sink->Put(
          Cf::kCaseEvents,
          keys::CaseEventKey(record.event().case_id(), CaseVersion(record.case_version())),
          event_key);
      !st.ok()) {
    return st;
  }
  // Only submitted events are idempotency keys; derived ids follow from them.
  if (record.caused_by() == 0) {
    if (auto st = sink->Put(Cf::kDedup, record.event().event_id(), event_key); !st.ok()) {
      return st;
    }
  }
  return sink->Put(Cf::kEvents, std::move(event_key), stored);
}

absl::Status PutCaseRow(const v1::CaseState& state, RowSink* sink) {
  return sink->Put(Cf::kCases, state.case_id(), state.SerializeAsString());
}

absl::Status PutTimerRows(const std::vector<std::string>& before, const v1::CaseState& state,
                          RowSink* sink) {
  const std::vector<std::string> after = TimerKeysOf(state);
  for (const auto& k : before) {
    if (std::find(after.begin(), after.end(), k) == after.end()) {
      if (auto st = sink->Delete(Cf::kTimers, k); !st.ok()) return st;
    }
  }
  for (const auto& k : after) {
    if (std::find(before.begin(), before.end(), k) == before.end()) {
      if (auto st = sink->Put(Cf::kTimers, k, ""); !st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace gridcase
