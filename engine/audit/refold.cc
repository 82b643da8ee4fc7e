#include "engine/audit/refold.h"

#include <string>

#include "absl/container/flat_hash_map.h"
#include "engine/domain/stamper.h"
#include "rocksdb/write_batch.h"

namespace gridcase {
namespace {

// Case states folded in memory between writes: bounded by the records of a
// window, not by the partition's cases.
constexpr uint64_t kWindowRecords = 50000;

}  // namespace

absl::StatusOr<uint64_t> RefoldCases(PartitionStore* store, const CaseLogic& logic) {
  absl::flat_hash_map<std::string, v1::CaseState> window;
  uint64_t records = 0, cases = 0;
  auto write_window = [&]() -> absl::Status {
    rocksdb::WriteBatch batch;
    for (const auto& [id, state] : window) {
      batch.Put(store->cf(keys::Cf::kCases), id, state.SerializeAsString());
    }
    window.clear();
    return store->WriteUnsynced(&batch);
  };
  auto fold = [&](const rocksdb::Slice&, const rocksdb::Slice&,
                  const v1::Record& record) -> absl::Status {
    const std::string& case_id = record.event().case_id();
    auto slot = window.find(case_id);
    if (slot == window.end()) {
      // A case's first record starts it afresh (what `cases` holds for it
      // is the earlier build's); a later one continues the state this
      // fold wrote at the end of an earlier window.
      v1::CaseState start;
      if (record.case_version() == 1) {
        ++cases;
      } else {
        auto before = store->ReadCase(case_id);
        if (!before.ok()) return before.status();
        if (before->has_value()) start = std::move(**before);
      }
      slot = window.emplace(case_id, std::move(start)).first;
    }
    if (auto st = CheckRecordVersion(record); !st.ok()) return st;
    logic.Apply(record, &slot->second);
    if (++records % kWindowRecords == 0) return write_window();
    return absl::OkStatus();
  };
  if (auto st = store->ForEachRecord(fold); !st.ok()) return st;
  if (auto st = write_window(); !st.ok()) return st;
  if (auto st = store->Flush(); !st.ok()) return st;
  return cases;
}

}  // namespace gridcase
