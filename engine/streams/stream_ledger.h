// What the engine keeps for external streams (Kafka topics), over the
// partitions: messages submitted to be decided exactly once, the offset of
// the last message each partition decided per source, dead letters, small
// durable values of the stream components ("ext/NAME" in a partition's
// meta), and the partitions' logs as the change feed reads them.
//
// Thread-safety: every method may be called from any thread.
#ifndef GRIDCASE_ENGINE_STREAMS_STREAM_LEDGER_H_
#define GRIDCASE_ENGINE_STREAMS_STREAM_LEDGER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/common/clock.h"
#include "engine/common/submission_counts.h"
#include "engine/domain/validate.h"
#include "engine/partition/partition_set.h"
#include "engine/privacy/sealer.h"
#include "gridcase/v1/service.pb.h"

namespace gridcase {

class StreamLedger {
 public:
  // `partitions`, `clock` and `sealer` (nullptr when the engine seals
  // nothing) must outlive the ledger.
  // `counts` (if any) counts every answer, as SubmitSource::kStream.
  StreamLedger(PartitionSet* partitions, const Clock* clock, const ValidationLimits& limits,
               const privacy::RecordSealer* sealer = nullptr, SubmissionCounts* counts = nullptr)
      : partitions_(partitions), clock_(clock), limits_(limits), sealer_(sealer), counts_(counts) {}

  // Submits a message read from an external stream (a Kafka topic
  // partition), to be decided exactly once: `request` is the event, or why
  // the message could not be read as one. The message is validated and
  // checked like any submission; its offset is written with what it led
  // to, in one WriteBatch: its records, or, when it is refused for its
  // content or the case's state, a dead letter (DeadLetters()). `done`
  // gets the answer once durable. A failure of the server itself
  // (UNAVAILABLE...) decides nothing: the message must be tried again.
  // Never refused for a full queue; the reader bounds its messages in
  // flight. Messages of one source must be submitted in offset order.
  // Runs on the caller's thread up to the queue (the stream's reader, never
  // a gRPC callback): the check of the event id in the other partitions may
  // read RocksDB (PartitionSet::CheckEventIdElsewhere).
  void SubmitFromStream(absl::StatusOr<v1::SubmitRequest> request, StreamOrigin origin,
                        SubmitCallback done);
  // The partition that decides a stream message: its case's, or partition
  // 0 when it names no valid case.
  PartitionId RouteOf(const absl::StatusOr<v1::SubmitRequest>& request) const;
  // The last offset of each source (whose name starts with
  // `source_prefix`) decided in partition `p`.
  absl::Status StreamOffsets(PartitionId p, const std::string& source_prefix,
                             std::map<std::string, int64_t>* out) const;
  // Dead letters of partition `p` waiting to be handed on, in (source,
  // offset) order, with their meta keys, as stored: sealed when the engine
  // seals personal data (OpenDeadLetter).
  absl::Status DeadLetters(PartitionId p, size_t limit,
                           std::vector<std::pair<std::string, v1::DeadLetter>>* out) const;
  // Puts a sealed letter's bytes back into `original` (RecordSealer::
  // OpenLetter): NOT_FOUND once its key is destroyed, DATA_LOSS when they
  // do not open. A letter not sealed is left as it is.
  absl::Status OpenDeadLetter(PartitionId p, v1::DeadLetter* letter) const;
  // Removes letters handed on: their keys are destroyed first (together),
  // then their rows.
  absl::Status RemoveDeadLetters(PartitionId p, const std::vector<std::string>& keys);
  // How many dead letters partition `p` holds: written and not yet removed,
  // counted in the store when asked.
  absl::StatusOr<uint64_t> CountDeadLetters(PartitionId p) const;

  // A position of a component outside the engine (the change feed's, the
  // ingest's offsets), kept durably in partition `p`'s meta under
  // "ext/NAME". DATA_LOSS when what is stored is not one.
  absl::StatusOr<std::optional<uint64_t>> ReadExt(PartitionId p, const std::string& name) const;
  absl::Status WriteExt(PartitionId p, const std::string& name, uint64_t value);

  // Partition `p`'s durable log from position `from`, at most `limit`
  // entries, in position order; and its last position (0: empty).
  absl::Status ReadLog(PartitionId p, Position from, size_t limit,
                       std::vector<v1::LogEntry>* out) const;
  absl::StatusOr<uint64_t> LastPosition(PartitionId p) const;

 private:
  PartitionSet* const partitions_;
  const Clock* const clock_;
  const ValidationLimits limits_;
  const privacy::RecordSealer* const sealer_;
  SubmissionCounts* const counts_;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_STREAMS_STREAM_LEDGER_H_
