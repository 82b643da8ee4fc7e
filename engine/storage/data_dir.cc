#include "engine/storage/data_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/common/file_modes.h"
#include "engine/storage/keys.h"

namespace gridcase {
namespace {

namespace fs = std::filesystem;

constexpr char kMarkerFile[] = "GRIDCASE";

absl::Status FsError(const std::string& what, const std::error_code& ec) {
  return absl::UnavailableError(absl::StrCat(what, ": ", ec.message()));
}

// Writes `contents` to `path` durably: a temporary file, fsync, rename,
// fsync of the directory.
absl::Status WriteFileDurably(const fs::path& path, const std::string& contents) {
  const fs::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("creating ", tmp.string()));
  const bool ok =
      ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()) &&
      ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return absl::UnavailableError(absl::StrCat("writing ", tmp.string()));
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return FsError(absl::StrCat("renaming ", tmp.string()), ec);
  const int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace

std::string PartitionDir(const std::string& data_dir, uint32_t partition) {
  return (fs::path(data_dir) / absl::StrFormat("partition-%03d", partition)).string();
}

std::string AccessLogDir(const std::string& data_dir) {
  return (fs::path(data_dir) / "access").string();
}

std::string ClockAnchorPath(const std::string& data_dir) { return data_dir + "/CLOCK"; }

absl::Status WriteMarker(const std::string& data_dir, uint32_t partitions) {
  return WriteFileDurably(fs::path(data_dir) / kMarkerFile,
                          absl::StrFormat("gridcase data directory\nformat %d\npartitions %d\n",
                                          keys::kFormatVersion, partitions));
}

namespace {

// The number after `key` on its line of DIR/GRIDCASE, 0 when there is none.
absl::StatusOr<uint32_t> ReadMarkerNumber(const std::string& data_dir, absl::string_view key) {
  const fs::path marker = fs::path(data_dir) / kMarkerFile;
  std::error_code ec;
  if (!fs::exists(marker, ec)) {
    return absl::NotFoundError(
        absl::StrCat(data_dir, " is not a gridcase data directory (no ", kMarkerFile, " file)"));
  }
  std::ifstream in(marker);
  std::string line;
  uint32_t stored = 0;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string word;
    words >> word;
    if (word == key) words >> stored;
  }
  return stored;
}

}  // namespace

absl::Status RefreshMarkerFormat(const std::string& data_dir, uint32_t partitions) {
  auto format = ReadMarkerNumber(data_dir, "format");
  if (!format.ok()) return format.status();
  if (*format == keys::kFormatVersion) return absl::OkStatus();
  return WriteMarker(data_dir, partitions);
}

absl::StatusOr<uint32_t> ReadPartitionCount(const std::string& data_dir) {
  auto stored = ReadMarkerNumber(data_dir, "partitions");
  if (!stored.ok()) return stored.status();
  if (*stored == 0 || *stored > kPartitionsMax) {
    const fs::path marker = fs::path(data_dir) / kMarkerFile;
    return absl::DataLossError(absl::StrCat(marker.string(), " names no valid partition count"));
  }
  return *stored;
}

absl::StatusOr<uint32_t> ResolvePartitions(const std::string& data_dir, uint32_t wanted) {
  const fs::path dir(data_dir);
  std::error_code ec;
  if (!fs::exists(dir / kMarkerFile, ec)) {
    const uint32_t n = wanted == 0 ? kDefaultPartitions : wanted;
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir.string(), " is not empty and is not a gridcase data directory (no ",
                       kMarkerFile, " file)"));
    }
    if (auto st = CreatePrivateDirectory(dir.string()); !st.ok()) return st;
    if (auto st = WriteMarker(data_dir, n); !st.ok()) return st;
    return n;
  }
  auto stored = ReadPartitionCount(data_dir);
  if (!stored.ok()) return stored.status();
  if (wanted != 0 && wanted != *stored) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir.string(), " was created with ", *stored, " partitions; it cannot be opened with ",
        wanted, " (cases are placed by partition count)"));
  }
  return *stored;
}

}  // namespace gridcase
