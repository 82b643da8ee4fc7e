// The free-space guard of a data directory.
//
// RocksDB that runs out of space fails a write or a background flush, and a
// partition stops on any storage failure until the server restarts. The
// guard refuses writes before that: while the file system holding the data
// directory has less than the reserve free (for gridcased's user: statvfs'
// f_bavail), every submission is refused RESOURCE_EXHAUSTED "disk full: F
// MiB free, need M MiB ...", nothing is written, and writes resume by
// themselves once space is freed. The reserve must cover what RocksDB
// writes besides submissions (a flush of full memtables, a compaction's
// new files before the old ones go) — gridcased defaults to 1 GiB.
//
// Check() measures at most once every `period` (a statvfs call), so the
// sequencers may call it before every group. Thread-safe.
#ifndef GRIDCASE_ENGINE_STORAGE_DISK_SPACE_H_
#define GRIDCASE_ENGINE_STORAGE_DISK_SPACE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace gridcase {

// Bytes free for an unprivileged user on the file system holding `path`.
absl::StatusOr<uint64_t> FreeBytesAt(const std::string& path);

class DiskSpaceGuard {
 public:
  using Probe = std::function<absl::StatusOr<uint64_t>(const std::string& path)>;

  // `probe` defaults to FreeBytesAt. A reserve of 0 turns the guard off.
  DiskSpaceGuard(std::string path, uint64_t reserve_bytes,
                 std::chrono::microseconds period = std::chrono::milliseconds(100),
                 Probe probe = nullptr);

  // OK, or RESOURCE_EXHAUSTED while less than the reserve is free. A probe
  // that fails lets writes go on (RocksDB reports a real shortage);
  // free_bytes() is 0 then.
  absl::Status Check();
  // Measures now, whatever the period.
  absl::Status Refresh();

  uint64_t reserve_bytes() const { return reserve_bytes_; }
  uint64_t free_bytes() const { return free_bytes_.load(std::memory_order_relaxed); }

 private:
  absl::Status Judge(uint64_t free_bytes);

  const std::string path_;
  const uint64_t reserve_bytes_;
  const int64_t period_us_;
  const Probe probe_;
  std::atomic<int64_t> measured_at_us_{0};  // steady clock
  std::atomic<uint64_t> free_bytes_{0};
  std::atomic<bool> unknown_{false};  // the last probe failed
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_STORAGE_DISK_SPACE_H_
