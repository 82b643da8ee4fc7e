// The free-space guard (storage/disk_space.h) over a probe the test sets,
// and over the real file system of a temporary directory.
#include "engine/storage/disk_space.h"

#include <atomic>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace gridcase {
namespace {

constexpr uint64_t kMiB = 1 << 20;

TEST(DiskSpaceGuardTest, RefusesBelowTheReserveAndResumesOnceFreed) {
  std::atomic<uint64_t> free{100 * kMiB};
  DiskSpaceGuard guard("/data", 16 * kMiB, std::chrono::microseconds(0),
                       [&free](const std::string& path) -> absl::StatusOr<uint64_t> {
                         EXPECT_EQ(path, "/data");
                         return free.load();
                       });
  EXPECT_TRUE(guard.Check().ok());
  EXPECT_EQ(guard.free_bytes(), 100 * kMiB);
  free = 16 * kMiB;  // exactly the reserve: still fine
  EXPECT_TRUE(guard.Check().ok());
  free = 5 * kMiB + 123;
  const absl::Status full = guard.Check();
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.message()),
              ::testing::StartsWith("disk full: 5 MiB free, need 16 MiB; free space on the file "
                                    "system of /data"));
  free = 17 * kMiB;
  EXPECT_TRUE(guard.Check().ok());
}

TEST(DiskSpaceGuardTest, MeasuresAtMostOncePerPeriod) {
  int probes = 0;
  DiskSpaceGuard guard("/data", kMiB, std::chrono::hours(1),
                       [&probes](const std::string&) -> absl::StatusOr<uint64_t> {
                         ++probes;
                         return 0;
                       });
  EXPECT_EQ(probes, 1);  // at construction
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(guard.Check().ok());
  EXPECT_EQ(probes, 1);
  EXPECT_FALSE(guard.Refresh().ok());
  EXPECT_EQ(probes, 2);
}

TEST(DiskSpaceGuardTest, AProbeThatFailsStopsNothingAndNoReserveIsNoGuard) {
  DiskSpaceGuard failing("/data", kMiB, std::chrono::microseconds(0),
                         [](const std::string&) -> absl::StatusOr<uint64_t> {
                           return absl::UnavailableError("statvfs failed");
                         });
  EXPECT_TRUE(failing.Check().ok());
  EXPECT_EQ(failing.free_bytes(), 0u);
  DiskSpaceGuard off("/data", 0, std::chrono::microseconds(0),
                     [](const std::string&) -> absl::StatusOr<uint64_t> { return 0; });
  EXPECT_TRUE(off.Check().ok());
}

TEST(DiskSpaceGuardTest, TheRealFileSystemIsMeasured) {
  testing::TempDir dir;
  auto free = FreeBytesAt(dir.path());
  ASSERT_TRUE(free.ok()) << free.status();
  EXPECT_GT(*free, 0u);
  EXPECT_FALSE(FreeBytesAt(dir.Sub("missing/deeper")).ok());
  DiskSpaceGuard guard(dir.path(), *free * 4);  // more than there is
  EXPECT_EQ(guard.Check().code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace gridcase
