#include "engine/storage/durable_mark.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/common/crc32c.h"

namespace gridcase {
namespace {

constexpr absl::string_view kMagic = "GCMARK01";
constexpr size_t kChecked = 8 + 8 + 8 + 8;  // magic, generation, sequence, position
constexpr size_t kSlotBytes = kChecked + 4;
constexpr off_t kSlotOffset[2] = {0, 4096};
constexpr size_t kFileBytes = 8192;

void PutFixed64Le(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t Fixed64Le(absl::string_view b, size_t at, int n = 8) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

std::string EncodeSlot(uint64_t generation, const DurableMark& mark) {
  std::string slot(kMagic);
  PutFixed64Le(&slot, generation);
  PutFixed64Le(&slot, mark.sequence);
  PutFixed64Le(&slot, mark.position);
  const uint32_t crc = Crc32c(slot);
  for (int i = 0; i < 4; ++i) slot.push_back(static_cast<char>(crc >> (8 * i)));
  return slot;
}

struct Slot {
  uint64_t generation;
  DurableMark mark;
};

std::optional<Slot> DecodeSlot(absl::string_view file, off_t offset) {
  if (file.size() < offset + kSlotBytes) return std::nullopt;
  const absl::string_view slot = file.substr(offset, kSlotBytes);
  if (slot.substr(0, kMagic.size()) != kMagic ||
      Crc32c(slot.substr(0, kChecked)) != Fixed64Le(slot, kChecked, 4)) {
    return std::nullopt;
  }
  return Slot{Fixed64Le(slot, 8), {Fixed64Le(slot, 16), Fixed64Le(slot, 24)}};
}

absl::Status SysError(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

bool WriteAt(int fd, absl::string_view bytes, off_t offset) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(n);
    offset += n;
  }
  return true;
}

}  // namespace

std::string DurableMarkPath(const std::string& partition_dir) {
  return (std::filesystem::path(partition_dir) / kDurableMarkFile).string();
}

absl::StatusOr<std::optional<DurableMark>> ReadDurableMark(const std::string& partition_dir) {
  const std::string path = DurableMarkPath(partition_dir);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return std::nullopt;
  if (fd < 0) return SysError("cannot open", path);
  std::string file(kFileBytes, '\0');
  ssize_t n;
  do {
    n = ::pread(fd, file.data(), file.size(), 0);
  } while (n < 0 && errno == EINTR);
  const int read_errno = errno;
  ::close(fd);
  if (n < 0) {
    errno = read_errno;
    return SysError("cannot read", path);
  }
  file.resize(n);
  std::optional<Slot> best;
  for (off_t offset : kSlotOffset) {
    auto slot = DecodeSlot(file, offset);
    if (slot && (!best || slot->generation > best->generation)) best = slot;
  }
  if (!best) {
    return absl::DataLossError(
        absl::StrCat(path,
                     ": neither copy of the partition's durable mark is readable, so what its "
                     "write-ahead log recovers cannot be checked"));
  }
  return best->mark;
}

absl::StatusOr<std::unique_ptr<DurableMarkFile>> DurableMarkFile::Create(
    const std::string& partition_dir, const DurableMark& mark) {
  const std::string path = DurableMarkPath(partition_dir);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return SysError("cannot create", tmp);
  std::string file(kFileBytes, '\0');
  for (uint64_t generation : {0, 1}) {
    file.replace(kSlotOffset[generation], kSlotBytes, EncodeSlot(generation, mark));
  }
  if (!WriteAt(fd, file, 0) || ::fdatasync(fd) != 0) {
    auto st = SysError("cannot write", tmp);
    ::close(fd);
    return st;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto st = SysError("cannot rename to", path);
    ::close(fd);
    return st;
  }
  const int dir_fd = ::open(partition_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool dir_synced = dir_fd >= 0 && ::fsync(dir_fd) == 0;
  if (dir_fd >= 0) ::close(dir_fd);
  if (!dir_synced) {
    auto st = SysError("cannot sync", partition_dir);
    ::close(fd);
    return st;
  }
  return std::unique_ptr<DurableMarkFile>(new DurableMarkFile(fd, path, mark));
}

DurableMarkFile::~DurableMarkFile() { ::close(fd_); }

absl::Status DurableMarkFile::Advance(const DurableMark& mark) {
  const uint64_t generation = generation_ + 1;
  if (!WriteAt(fd_, EncodeSlot(generation, mark), kSlotOffset[generation % 2])) {
    return SysError("cannot write", path_);
  }
  generation_ = generation;
  mark_ = mark;
  return absl::OkStatus();
}

absl::Status WriteDurableMark(const std::string& partition_dir, const DurableMark& mark) {
  return DurableMarkFile::Create(partition_dir, mark).status();
}

}  // namespace gridcase
