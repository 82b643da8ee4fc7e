#include "engine/storage/data_dir.h"

#include <filesystem>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/common/durable_file.h"
#include "engine/common/file_modes.h"
#include "engine/storage/keys.h"

namespace gridcase {
namespace {

namespace fs = std::filesystem;

constexpr char kMarkerFile[] = "GRIDCASE";

}  // namespace

std::string PartitionDir(const std::string& data_dir, uint32_t partition) {
  return (fs::path(data_dir) / absl::StrFormat("partition-%03d", partition)).string();
}

std::string AccessLogDir(const std::string& data_dir) {
  return (fs::path(data_dir) / "access").string();
}

std::string ClockAnchorPath(const std::string& data_dir) { return data_dir + "/CLOCK"; }

absl::Status WriteMarker(const std::string& data_dir, uint32_t partitions, rocksdb::Env* env) {
  return WriteFileDurably(FileSystemOf(env), (fs::path(data_dir) / kMarkerFile).string(),
                          absl::StrFormat("gridcase data directory\nformat %d\npartitions %d\n",
                                          keys::kFormatVersion, partitions));
}

namespace {

// The number after `key` on its line of DIR/GRIDCASE, 0 when there is none.
absl::StatusOr<uint32_t> ReadMarkerNumber(const std::string& data_dir, absl::string_view key,
                                          rocksdb::Env* env) {
  const std::string marker = (fs::path(data_dir) / kMarkerFile).string();
  auto text = ReadSmallFile(FileSystemOf(env), marker, 64 * 1024);
  if (!text.ok()) return text.status();
  if (!text->has_value()) {
    return absl::NotFoundError(
        absl::StrCat(data_dir, " is not a gridcase data directory (no ", kMarkerFile, " file)"));
  }
  std::istringstream in(**text);
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

absl::Status RefreshMarkerFormat(const std::string& data_dir, uint32_t partitions,
                                 rocksdb::Env* env) {
  auto format = ReadMarkerNumber(data_dir, "format", env);
  if (!format.ok()) return format.status();
  if (*format == keys::kFormatVersion) return absl::OkStatus();
  return WriteMarker(data_dir, partitions, env);
}

absl::StatusOr<uint32_t> ReadPartitionCount(const std::string& data_dir, rocksdb::Env* env) {
  auto stored = ReadMarkerNumber(data_dir, "partitions", env);
  if (!stored.ok()) return stored.status();
  if (*stored == 0 || *stored > kPartitionsMax) {
    const fs::path marker = fs::path(data_dir) / kMarkerFile;
    return absl::DataLossError(absl::StrCat(marker.string(), " names no valid partition count"));
  }
  return *stored;
}

absl::StatusOr<uint32_t> ResolvePartitions(const std::string& data_dir, uint32_t wanted,
                                           rocksdb::Env* env) {
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
    if (auto st = WriteMarker(data_dir, n, env); !st.ok()) return st;
    return n;
  }
  auto stored = ReadPartitionCount(data_dir, env);
  if (!stored.ok()) return stored.status();
  if (wanted != 0 && wanted != *stored) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir.string(), " was created with ", *stored, " partitions; it cannot be opened with ",
        wanted, " (cases are placed by partition count)"));
  }
  return *stored;
}

}  // namespace gridcase
