// Reading the log as stored, filtered, for AuditService.ReadLog.
//
// A reader keeps a cursor per partition it reads and hands out the matching
// records from there in log order. It reads only what is durable, and can
// be called again after new commits to continue (Engine::AwaitCommit).
// Auditor::NewLogReader makes one over the engine's partitions.
//
// Thread-compatible: one thread uses a reader at a time.
#ifndef GRIDCASE_ENGINE_AUDIT_LOG_READER_H_
#define GRIDCASE_ENGINE_AUDIT_LOG_READER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "engine/domain/directory.h"
#include "engine/partition/partition_set.h"
#include "gridcase/v1/service.pb.h"

namespace gridcase {

class LogReader {
 public:
  // INVALID_ARGUMENT for a partition out of range, a case id that is not
  // one (or is not in the partition asked for), an event type that is not
  // a payload of Event, or an area the directory has no grids under.
  // `partitions` must outlive the reader; `directory` is read here only.
  static absl::StatusOr<std::unique_ptr<LogReader>> Create(const PartitionSet* partitions,
                                                           const Directory* directory,
                                                           const v1::ReadLogRequest& request);

  // Appends the next matching records, at most `limit`, to `out`. Looks at
  // no more than `scan_max` records per call, so a rare filter cannot keep
  // the caller from checking on its client. `*caught_up` tells whether every
  // partition was read to its last durable record.
  absl::Status Next(size_t limit, size_t scan_max, std::vector<v1::LogEntry>* out, bool* caught_up);

 private:
  struct Cursor {
    PartitionId partition;
    Position next;             // the next position to look at
    CaseVersion case_version;  // with a case filter: the last version looked at
  };
  explicit LogReader(const PartitionSet* partitions) : partitions_(partitions) {}
  bool Matches(const v1::Record& record) const;
  absl::Status NextOfCase(Cursor* cursor, size_t limit, std::vector<v1::LogEntry>* out,
                          bool* caught_up);

  const PartitionSet* const partitions_;
  std::vector<Cursor> cursors_;
  std::string case_id_;
  absl::flat_hash_set<int> payloads_;  // field numbers; empty: all
  std::vector<std::string> grids_;     // sorted; with an area filter
  bool by_area_ = false;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_AUDIT_LOG_READER_H_
