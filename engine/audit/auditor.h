// The audit of the log, over the partitions: the hash chain and signed
// heads verified, heads signed, a case as it stood at a moment, readers of
// the log as stored, and consistent copies of every partition.
//
// Thread-safety: every method may be called from any thread.
#ifndef GRIDCASE_ENGINE_AUDIT_AUDITOR_H_
#define GRIDCASE_ENGINE_AUDIT_AUDITOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/access/access_log.h"
#include "engine/audit/backup.h"
#include "engine/audit/log_reader.h"
#include "engine/common/clock.h"
#include "engine/domain/case_logic.h"
#include "engine/domain/directory.h"
#include "engine/partition/partition_set.h"
#include "engine/privacy/sealer.h"
#include "engine/storage/signer.h"
#include "engine/workflow/registry.h"
#include "gridcase/v1/service.pb.h"

namespace gridcase {

class Auditor {
 public:
  // Everything given must outlive the auditor; `logic` folds the records
  // of a case (its appliers); `sealer` (null when the engine seals nothing)
  // opens the sealed records a case is read back from; checkpoints' own
  // files go through `env`'s file system (nullptr: RocksDB's default).
  Auditor(PartitionSet* partitions, AccessLog* access, const CaseLogic* logic,
          const workflow::Registry* registry, const Directory* directory, const Clock* clock,
          std::string data_dir, const privacy::RecordSealer* sealer = nullptr,
          rocksdb::Env* env = nullptr)
      : partitions_(partitions),
        access_(access),
        logic_(logic),
        registry_(registry),
        directory_(directory),
        clock_(clock),
        data_dir_(std::move(data_dir)),
        sealer_(sealer),
        env_(env) {}

  // Recomputes the hash chain of every partition (chain.h), in order, and
  // reports for each the records that hold and the first one that does not.
  // Reads only committed records; safe while the engine runs.
  // With `public_key_pem`, also checks every signed head: its signature,
  // and that the chain recomputed from the stored records reaches the same
  // hash at its position (a rewrite that recomputed every hash is caught
  // here). The first failure is reported like a broken link.
  absl::StatusOr<std::vector<ChainCheck>> VerifyLog(const std::string& public_key_pem = "") const;
  // The same for the access log (access_log.h), whose heads carry
  // kAccessLogPartition.
  absl::StatusOr<ChainCheck> VerifyAccessLog(const std::string& public_key_pem = "") const;

  // Signs each partition's current chain head (if it moved since the last
  // signature) and keeps the signed heads, and the access log's head
  // likewise. Returns how many were signed. Only while the sequencers run.
  absl::StatusOr<size_t> SignHeads(const HeadSigner& signer);

  // A case as of a position, a known-at time or a happened-by time (see
  // GetCaseAsOfRequest), folded through the case logic's appliers.
  absl::StatusOr<v1::GetCaseAsOfResponse> GetCaseAsOf(const v1::GetCaseAsOfRequest& request) const;

  // A reader of the log as stored, filtered (log_reader.h).
  absl::StatusOr<std::unique_ptr<LogReader>> NewLogReader(const v1::ReadLogRequest& request) const {
    return LogReader::Create(partitions_, directory_, request);
  }

  // A consistent copy of every partition, taken while serving, in
  // DATA_DIR/checkpoints/NAME: a data directory of its own, for rebuilds
  // and audits. Table files are hard-linked, so it is cheap. `name` is 1 to
  // 64 of [A-Za-z0-9._-] (empty: the UTC time, 20200222T200500Z);
  // ALREADY_EXISTS when taken before. Cases of one partition may run
  // workflow versions deployed in another: a deployment made while the
  // partitions are copied makes the copy start over, so every case's
  // workflow is in the checkpoint.
  // With `include_keys`, the key store too (after the partitions, so that
  // every key a copied record needs is in it); FAILED_PRECONDITION when the
  // engine seals nothing.
  struct CheckpointInfo {
    std::string dir;
    std::vector<uint64_t> positions;  // the last position held, by partition
    bool keys = false;
  };
  absl::StatusOr<CheckpointInfo> Checkpoint(const std::string& name,
                                            bool include_keys = false) const;

  // Backs up the data directory into `to` (backup.h), an absolute directory
  // outside it, while serving: a checkpoint of every partition, the access
  // log and (when the server seals) the key store in
  // DATA_DIR/checkpoints/.backup, copied and verified, then removed. One at
  // a time: ABORTED while another runs. `options.stop` stops it (CANCELLED).
  absl::StatusOr<BackupResult> Backup(const std::string& to, BackupOptions options,
                                      const BackupProgressFn& progress) const;

 private:
  // Every record of `case_id`, in case order, opened. NOT_FOUND when it
  // does not exist or was erased.
  absl::Status RecordsOf(const std::string& case_id, std::vector<v1::Record>* out) const;

  absl::StatusOr<size_t> SignAccessHead(const HeadSigner& signer);

  // Checkpoint() into `dir` (which must not exist).
  absl::StatusOr<CheckpointInfo> CheckpointInto(const std::string& dir, bool include_keys) const;

  PartitionSet* const partitions_;
  AccessLog* const access_;
  const CaseLogic* const logic_;
  const workflow::Registry* const registry_;
  const Directory* const directory_;
  const Clock* const clock_;
  const std::string data_dir_;
  const privacy::RecordSealer* const sealer_;
  rocksdb::Env* const env_;
  mutable absl::Mutex backup_mu_;  // held by the backup running
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_AUDIT_AUDITOR_H_
