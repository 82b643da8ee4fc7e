// The small files kept beside the RocksDB databases (the data directory's
// marker, the partitions' durable marks, the master key, the head-signing
// key) are written through the same rocksdb::FileSystem as the databases.
// One layer below everything that persists means one place where "synced"
// is defined, and the tests' simulated power cuts and injected disk faults
// reach these files exactly as they reach the logs and tables.
//
// A file replaced with WriteFileDurably() is whole or absent after a crash
// of the machine, never torn: a temporary file, written and synced, renamed
// over the target, then the directory synced (closing a file is not
// syncing it, and a new name lasts only once its directory is synced).
#ifndef GRIDCASE_ENGINE_COMMON_DURABLE_FILE_H_
#define GRIDCASE_ENGINE_COMMON_DURABLE_FILE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rocksdb/file_system.h"

namespace rocksdb {
class Env;
}

namespace gridcase {

// The file system of `env`; RocksDB's default (real files, real fsync) for
// nullptr.
rocksdb::FileSystem& FileSystemOf(rocksdb::Env* env);

// How others may see a file WriteFileDurably() creates.
enum class FileAccess {
  kShared,     // 0644 before the umask: markers, public keys
  kOwnerOnly,  // 0600, set before any byte is written: keys
};

// Replaces (or creates) `path` with `contents` durably, as above.
// UNAVAILABLE naming the file and step (RESOURCE_EXHAUSTED when the disk is
// full); the target is then unchanged.
absl::Status WriteFileDurably(rocksdb::FileSystem& fs, const std::string& path,
                              absl::string_view contents, FileAccess access = FileAccess::kShared);

// The whole of `path`; nullopt when it does not exist. OUT_OF_RANGE when it
// is longer than `limit` bytes (these files are small; a large one is not
// what it claims to be), UNAVAILABLE on a read error.
absl::StatusOr<std::optional<std::string>> ReadSmallFile(rocksdb::FileSystem& fs,
                                                         const std::string& path,
                                                         uint64_t limit = 1 << 20);

// Syncs directory `dir`, making the creations and renames in it durable.
absl::Status SyncDirectory(rocksdb::FileSystem& fs, const std::string& dir);

// An error of `fs` as a status naming `what` (e.g. "writing /d/GRIDCASE").
absl::Status FromIoStatus(const rocksdb::IOStatus& s, absl::string_view what);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_COMMON_DURABLE_FILE_H_
