// Which rows a record and a case state produce, in one place.
//
// The live write path (the sequencer's group) and the rebuild from the log
// both call these functions, so "incremental equals from scratch" holds by
// construction: there is no second copy of the rule to drift.
//
//   a record    -> events[position] = stored value (chain.h)
//                  case_events[case, version] = event key
//                  dedup[event_id] = event key        (submitted records only)
//   a case      -> cases[case_id] = state
//                  timers[due, case, name]            (one per pending deadline)
//
// Rows go to a RowSink: a WriteBatch for the live path, sorted table files
// for a rebuild.
#ifndef GRIDCASE_ENGINE_STORAGE_DERIVED_ROWS_H_
#define GRIDCASE_ENGINE_STORAGE_DERIVED_ROWS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/storage/keys.h"
#include "gridcase/v1/case.pb.h"
#include "gridcase/v1/event.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

namespace gridcase {

// Where derived rows go.
class RowSink {
 public:
  virtual ~RowSink() = default;
  virtual absl::Status Put(keys::Cf cf, std::string key, absl::string_view value) = 0;
  virtual absl::Status Delete(keys::Cf cf, std::string key) = 0;
};

class PartitionStore;

// A sink that adds rows to a WriteBatch for `store`'s column families.
class BatchRows final : public RowSink {
 public:
  BatchRows(rocksdb::WriteBatch* batch, const PartitionStore* store)
      : batch_(batch), store_(store) {}
  absl::Status Put(keys::Cf cf, std::string key, absl::string_view value) override;
  absl::Status Delete(keys::Cf cf, std::string key) override;

 private:
  rocksdb::WriteBatch* const batch_;
  const PartitionStore* const store_;
};

// The timers rows of a case's pending deadlines.
std::vector<std::string> TimerKeysOf(const v1::CaseState& s);

// The rows of one record, whose stored value (chain.h) is `stored`.
absl::Status PutRecordRows(const v1::Record& record, absl::string_view stored, RowSink* sink);

// The case row of `state`.
absl::Status PutCaseRow(const v1::CaseState& state, RowSink* sink);

// The timer rows that change when a case goes from pending timers
// `before` (TimerKeysOf the state before; empty for a new case) to
// `state`: what it dropped is deleted, what it gained is put.
absl::Status PutTimerRows(const std::vector<std::string>& before, const v1::CaseState& state,
                          RowSink* sink);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_STORAGE_DERIVED_ROWS_H_
