#include "engine/storage/disk_space.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace gridcase {
namespace {

constexpr uint64_t kMiB = 1 << 20;

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

absl::StatusOr<uint64_t> FreeBytesAt(const std::string& path) {
  struct statvfs st;
  if (statvfs(path.c_str(), &st) != 0) {
    return absl::UnavailableError(
        absl::StrCat("measuring free space at ", path, ": ", std::strerror(errno)));
  }
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

DiskSpaceGuard::DiskSpaceGuard(std::string path, uint64_t reserve_bytes,
                               std::chrono::microseconds period, Probe probe)
    : path_(std::move(path)),
      reserve_bytes_(reserve_bytes),
      period_us_(period.count()),
      probe_(probe ? std::move(probe) : Probe(FreeBytesAt)) {
  Refresh().IgnoreError();  // a first figure before anyone asks
}

absl::Status DiskSpaceGuard::Check() {
  if (reserve_bytes_ == 0) return absl::OkStatus();
  const int64_t now = SteadyMicros();
  int64_t last = measured_at_us_.load(std::memory_order_relaxed);
  // One caller per period measures; the others judge the last figure.
  if (now - last >= period_us_ && measured_at_us_.compare_exchange_strong(last, now)) {
    return Refresh();
  }
  if (unknown_.load(std::memory_order_relaxed)) return absl::OkStatus();
  return Judge(free_bytes());
}

absl::Status DiskSpaceGuard::Refresh() {
  if (reserve_bytes_ == 0) return absl::OkStatus();
  measured_at_us_.store(SteadyMicros(), std::memory_order_relaxed);
  auto free = probe_(path_);
  if (!free.ok()) {
    // Not knowing is no reason to stop: RocksDB fails for a real shortage.
    unknown_.store(true, std::memory_order_relaxed);
    free_bytes_.store(0, std::memory_order_relaxed);
    return absl::OkStatus();
  }
  free_bytes_.store(*free, std::memory_order_relaxed);
  unknown_.store(false, std::memory_order_relaxed);
  return Judge(*free);
}

absl::Status DiskSpaceGuard::Judge(uint64_t free_bytes) {
  if (free_bytes >= reserve_bytes_) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("disk full: ", free_bytes / kMiB, " MiB free, need ", reserve_bytes_ / kMiB,
                   " MiB; free space on the file system of ", path_,
                   " (writes resume by themselves once it is free)"));
}

}  // namespace gridcase
