// Backups of a data directory, off the machine's disk, and restores from
// them.
//
// A backup directory holds:
//   GRIDCASE-BACKUP    what it is (a directory without it is not written to)
//   LOCK               taken (flock) by whoever writes or reads it
//   engine/            one RocksDB BackupEngine: every database of every set,
//                      table files shared between backups by checksum name
//   sets/NNNNNN.json   a set's manifest (v1::BackupSet), written last
//
// A set exists once its manifest does: a backup stopped halfway (cancelled,
// killed, power lost) leaves engine backups no manifest names, and the next
// backup deletes them and what only they used. Retention by count deletes a
// set's manifest first, then its engine backups.
//
// What is copied is a checkpoint (Auditor::Checkpoint): nothing writes it
// while it is copied, so every item's head is exact. The copy is verified
// (every file's checksum read back) before the manifest names it. A restore
// copies a set into an empty directory, writes each partition's durable
// mark, and checks every chain from position 1 to the head the manifest
// names.
#ifndef GRIDCASE_ENGINE_AUDIT_BACKUP_H_
#define GRIDCASE_ENGINE_AUDIT_BACKUP_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gridcase/v1/service.pb.h"

namespace rocksdb {
class Env;
}

namespace gridcase {

using BackupProgressFn = std::function<void(const v1::BackupProgress&)>;

struct BackupOptions {
  uint32_t keep = 0;            // sets kept after this one (0: all)
  uint64_t rate_limit = 0;      // bytes a second (0: unlimited)
  int64_t started_us = 0;       // when the backup began (the caller's clock)
  std::string version;          // the server's, for the manifest
  rocksdb::Env* env = nullptr;  // reads the checkpoint (nullptr: default)
  // Set from another thread to stop the copy: CANCELLED, no set written.
  const std::atomic<bool>* stop = nullptr;
  // Called with the time a set finishes (the caller's clock).
  std::function<int64_t()> now_us;
};

// The result of a backup: the set, and the sets retention deleted.
struct BackupResult {
  v1::BackupSet set;
  std::vector<uint32_t> removed;
};

// Backs up the data directory `checkpoint` (a checkpoint nothing writes,
// with `partitions` partitions) into `to`. `progress` (may be empty) is told
// of each phase and, while copying, about once a second.
// INVALID_ARGUMENT when `to` is not absolute or holds something other than
// backups; ABORTED while another process writes to `to`; CANCELLED when
// stopped; DATA_LOSS when a copy does not verify.
absl::StatusOr<BackupResult> BackUpCheckpoint(const std::string& checkpoint, uint32_t partitions,
                                              const std::string& to, const BackupOptions& options,
                                              const BackupProgressFn& progress);

// The sets in backup directory `from`, oldest first. NOT_FOUND when it is
// not a backup directory.
absl::StatusOr<std::vector<v1::BackupSet>> ListBackupSets(const std::string& from);

struct RestoreOptions {
  uint32_t set = 0;  // the set to restore (0: the newest)
  // The master key file the server used (backups never hold it): checked
  // against the restored key store, then copied to TO/keys/master.key
  // (0600). Empty: the restore's personal fields stay sealed until
  // gridcased is given that key.
  std::string master_key_file;
  rocksdb::Env* env = nullptr;
  // Told each item as it is copied and then checked.
  std::function<void(const std::string& phase, const std::string& item, uint32_t done,
                     uint32_t total)>
      progress;
};

struct RestoreReport {
  v1::BackupSet set;
  uint64_t records = 0;            // partition records whose chain was checked
  uint64_t access_records = 0;     // access-log records likewise
  bool master_key_placed = false;  // TO/keys/master.key written
  double copy_seconds = 0;
  double verify_seconds = 0;
};

// Restores a set of `from` into `to` (missing or empty), a data directory
// gridcased can open, and verifies it: every partition's chain holds from
// position 1 to the position and head the manifest names, and so does the
// access log's. NOT_FOUND for an unknown set; FAILED_PRECONDITION when `to`
// is not empty; DATA_LOSS naming the item when a file's checksum, a chain or
// a head does not match (`to` is then left as it is, for inspection);
// FAILED_PRECONDITION when the master key given is not the one the key
// store's keys were wrapped with.
absl::StatusOr<RestoreReport> RestoreBackupSet(const std::string& from, const std::string& to,
                                               const RestoreOptions& options);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_AUDIT_BACKUP_H_
