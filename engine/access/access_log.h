// The access log: a record of every read of personal data, appended before
// the read is answered. One RocksDB database, DATA_DIR/access/, beside the
// partitions, with a hash chain of its own (chain.h: the same link as the
// partitions' logs) whose heads are signed with theirs (auditor.h), so an
// access record can no more be removed or changed unseen than an event.
//
//   "r" fixed64be(position)         -> stored record (chain.h), AccessRecord
//   "c" id "\0" fixed64be(position) -> ""   a case the read returned
//   "p" id "\0" fixed64be(position) -> ""   a person the read returned
//   "w" id "\0" fixed64be(position) -> fixed64be(recorded µs)  the caller
//   "n" id "\0" fixed64be(position) -> ""   a district officer told of it
//   "b" fixed64be(position)         -> ""   a break-glass read
//   "u" fixed64be(position)         -> ""   a read too long to list its ids
//   "s" fixed64be(position)         -> SignedHead (signer.h)
//
// Ids are the engine's (printable, no zero byte; validate.h).
//
// Appends are group-committed by a writer thread: every record of a group
// is in one synced WriteBatch, and each caller is told once it is on disk.
// A write that fails leaves the log refusing every append until it is
// reopened (the chain head in memory could no longer be trusted), so every
// read fails closed: none is answered without its record.
//
// Thread-safety: every method may be called from any thread.
#ifndef GRIDCASE_ENGINE_ACCESS_ACCESS_LOG_H_
#define GRIDCASE_ENGINE_ACCESS_ACCESS_LOG_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/clock.h"
#include "engine/storage/store.h"
#include "gridcase/v1/access.pb.h"
#include "gridcase/v1/service.pb.h"
#include "rocksdb/db.h"

namespace gridcase {

// The partition number the access log's signed heads carry, so that a
// signature over one can never pass for a partition's.
inline constexpr uint32_t kAccessLogPartition = 0xFFFFFFFFu;
// Ids an access record lists of each kind; beyond: count and digest only.
inline constexpr size_t kAccessIdsListedMax = 1000;

struct AccessLogStats {
  uint64_t records = 0;   // the last position
  uint64_t appended = 0;  // since open
  uint64_t groups = 0;    // synced writes since open
  std::string failure;    // the write error that stopped the log; empty: none
};

class AccessLog {
 public:
  // Opens (creating) the access log in `dir`. `env` null: RocksDB's
  // default (real files, real fsync); `clock` stamps recorded_at and must
  // outlive the log.
  static absl::StatusOr<std::unique_ptr<AccessLog>> Open(const std::string& dir, rocksdb::Env* env,
                                                         const Clock* clock);
  // Appends still queued are answered UNAVAILABLE.
  ~AccessLog();

  using Done = std::function<void(absl::StatusOr<uint64_t> position)>;
  // Appends `record` (its position, time, counts and digest are set here;
  // ids beyond kAccessIdsListedMax dropped) and calls `done` once it is
  // durable, with its position, or with why it could not be written. `done`
  // runs on the writer thread (or this one when the log has failed), so it
  // must not block.
  void Append(v1::AccessRecord record, Done done);
  // Append, waiting for the answer. Not on a callback-completion thread.
  absl::StatusOr<uint64_t> AppendAndWait(v1::AccessRecord record);

  // Break-glass reads `caller` made recorded at or after `since_us`.
  absl::StatusOr<size_t> CountBreakGlass(const std::string& caller, int64_t since_us) const;

  // A page of access records matching `request` (ReadAccessRequest);
  // INVALID_ARGUMENT for a page token this log did not give.
  absl::StatusOr<v1::ReadAccessResponse> Read(const v1::ReadAccessRequest& request) const;

  // Walks the chain from position 1, as PartitionStore::VerifyChain.
  absl::StatusOr<ChainCheck> VerifyChain(
      const std::function<void(uint64_t position, const std::string& hash)>& each) const;
  // The durable head: the last position and its hash (0 and the genesis
  // hash when empty).
  std::pair<uint64_t, std::string> head() const;
  absl::Status PutSignedHead(const std::string& encoded, uint64_t position);
  absl::Status ReadSignedHeads(std::vector<std::string>* encoded) const;

  AccessLogStats stats() const;

  // A consistent copy of the log in `dir` (which must not exist): what a
  // checkpoint of the data directory holds of it.
  absl::Status CreateCheckpoint(const std::string& dir) const;

 private:
  struct Pending {
    v1::AccessRecord record;
    Done done;
  };
  AccessLog(std::unique_ptr<rocksdb::DB> db, const Clock* clock, uint64_t position,
            std::string head, int64_t last_us);
  void WriterLoop();
  // Writes `group` in one synced batch; the error when it failed.
  absl::Status WriteGroup(std::vector<Pending>* group);
  absl::Status ReadRecord(uint64_t position, v1::AccessEntry* out) const;

  const std::unique_ptr<rocksdb::DB> db_;
  const Clock* const clock_;

  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  uint64_t position_ ABSL_GUARDED_BY(mu_);  // durable
  std::string head_ ABSL_GUARDED_BY(mu_);   // durable
  uint64_t appended_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t groups_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_us_;  // writer thread only: recorded_at never goes back
  std::thread writer_;
};

// The digest an access record keeps of the ids it returned: SHA-256 over
// each case id then each person id, each followed by a zero byte.
std::string AccessDigest(const std::vector<std::string>& case_ids,
                         const std::vector<std::string>& person_ids);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_ACCESS_ACCESS_LOG_H_
