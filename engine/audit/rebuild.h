// Rebuilding derived state from the log, and proving it equals the live one.
//
// The log (the events family) is the only source of truth; every other
// family is derived from it: case_events and dedup from each record, cases
// by folding each case's records through the appliers, timers from each
// case's state. (The case index, case_index.h, is kept in memory and
// derived from `cases` whenever a server opens.) RebuildAndCompare replays
// a data directory's log into an empty one through the same appliers the
// server runs, then walks every derived family of both side by side and
// reports the first difference, or that they are identical.
//
// The source is opened read-only. It must not be written while the rebuild
// runs: use a stopped server's data directory or a checkpoint of a live one
// (Engine::Checkpoint). The result is itself a complete data directory that
// a server can open.
#ifndef GRIDCASE_ENGINE_AUDIT_REBUILD_H_
#define GRIDCASE_ENGINE_AUDIT_REBUILD_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/storage/store.h"
#include "engine/workflow/registry.h"

namespace gridcase {

// Registers every workflow version deployed in `stores`' logs, in version
// order. DATA_LOSS when a stored definition does not validate.
absl::Status LoadDeployments(const std::vector<const PartitionStore*>& stores,
                             workflow::Registry* registry);

struct RebuildProgress {
  uint64_t replayed = 0;   // records replayed so far, all partitions
  uint64_t total = 0;      // records in the log
  const char* phase = "";  // "replaying" or "comparing"
};

// One row that differs between the live and the rebuilt store.
struct RebuildDifference {
  uint32_t partition = 0;
  std::string family;                  // "cases", "timers", ...
  std::string key;                     // printable
  std::string case_id;                 // the case the row belongs to, when the key names one
  std::optional<std::string> live;     // printable value; nullopt: absent
  std::optional<std::string> rebuilt;  // printable value; nullopt: absent
};

struct RebuildReport {
  uint32_t partitions = 0;
  uint64_t records = 0;       // replayed
  uint64_t cases = 0;         // rebuilt
  double replay_seconds = 0;  // replaying the log into the scratch store
  double compare_seconds = 0;
  // The first difference (lowest partition, then family order, then key);
  // nullopt: identical.
  std::optional<RebuildDifference> difference;
};

struct RebuildOptions {
  std::string data_dir;     // the source: read-only
  std::string scratch_dir;  // created; must be missing or empty
  // Called from time to time (about every 50,000 records) and at the end.
  std::function<void(const RebuildProgress&)> progress;
};

// FAILED_PRECONDITION when scratch_dir is not empty or data_dir is not a
// data directory; DATA_LOSS when the log itself is broken (a gap, a record
// that does not parse): `audit verify` says more.
absl::StatusOr<RebuildReport> RebuildAndCompare(const RebuildOptions& options);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_AUDIT_REBUILD_H_
