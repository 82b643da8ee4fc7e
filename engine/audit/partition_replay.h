// Replays one partition's log into an empty store, as a rebuild does: the
// log copied as it is, and every row derived from it made again by the
// same functions the live write path uses (derived_rows.h), the case
// states folded again by the case logic's appliers.
#ifndef GRIDCASE_ENGINE_AUDIT_PARTITION_REPLAY_H_
#define GRIDCASE_ENGINE_AUDIT_PARTITION_REPLAY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/domain/case_logic.h"
#include "engine/storage/store.h"

namespace gridcase {

using PartitionStores = std::vector<std::unique_ptr<PartitionStore>>;

// The `count` partitions of `data_dir`, read-only, each at this build's
// format (FAILED_PRECONDITION otherwise: its case states were folded by
// an earlier build's appliers); adds their records to `*total`.
absl::StatusOr<PartitionStores> OpenSourcePartitions(const std::string& data_dir, uint32_t count,
                                                     uint64_t* total);
// `count` empty partitions in `dir`, which must be empty or missing.
absl::StatusOr<PartitionStores> OpenEmptyPartitions(const std::string& dir, uint32_t count);

struct ReplayCounts {
  uint64_t records = 0;
  uint64_t cases = 0;
};

// What a conversion changes on the way (seal_conversion.h); a rebuild
// changes nothing.
struct ReplayRewrite {
  // Called with each record, in log order, and its stored value (chain.h):
  // may change both — the record as the derived rows see it, the value the
  // log keeps — or fail the replay.
  std::function<absl::Status(v1::Record* record, std::string* stored)> record;
  // Meta rows of the source left out (e.g. the signed heads of a chain
  // that is rewritten), and rows added.
  std::function<bool(absl::string_view key)> drop_meta;
  std::vector<std::pair<std::string, std::string>> add_meta;
};

// Replays `src`'s log into the empty `dst`, adding to `*replayed` as it
// goes (for progress), through `rewrite` when given. FAILED_PRECONDITION
// when a record was written by a newer build (its record version has no
// appliers here).
absl::StatusOr<ReplayCounts> ReplayPartition(const PartitionStore& src, PartitionStore* dst,
                                             const CaseLogic& logic,
                                             std::atomic<uint64_t>* replayed,
                                             const ReplayRewrite* rewrite = nullptr);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_AUDIT_PARTITION_REPLAY_H_
