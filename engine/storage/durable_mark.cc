#include "engine/storage/durable_mark.h"

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/common/crc32c.h"
#include "engine/common/durable_file.h"

namespace gridcase {
namespace {

constexpr absl::string_view kMagic = "GCMARK01";
constexpr size_t kChecked = 8 + 8 + 8 + 8;  // magic, generation, sequence, position
constexpr size_t kSlotBytes = kChecked + 4;
constexpr uint64_t kSlotOffset[2] = {0, 4096};
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

std::optional<Slot> DecodeSlot(absl::string_view file, uint64_t offset) {
  if (file.size() < offset + kSlotBytes) return std::nullopt;
  const absl::string_view slot = file.substr(offset, kSlotBytes);
  if (slot.substr(0, kMagic.size()) != kMagic ||
      Crc32c(slot.substr(0, kChecked)) != Fixed64Le(slot, kChecked, 4)) {
    return std::nullopt;
  }
  return Slot{Fixed64Le(slot, 8), {Fixed64Le(slot, 16), Fixed64Le(slot, 24)}};
}

}  // namespace

std::string DurableMarkPath(const std::string& partition_dir) {
  return (std::filesystem::path(partition_dir) / kDurableMarkFile).string();
}

absl::StatusOr<std::optional<DurableMark>> ReadDurableMark(rocksdb::FileSystem& fs,
                                                           const std::string& partition_dir) {
  const std::string path = DurableMarkPath(partition_dir);
  auto file = ReadSmallFile(fs, path, kFileBytes);
  if (!file.ok() && !absl::IsOutOfRange(file.status())) return file.status();
  if (file.ok() && !file->has_value()) return std::nullopt;
  std::optional<Slot> best;
  for (uint64_t offset : kSlotOffset) {
    auto slot = file.ok() ? DecodeSlot(**file, offset) : std::nullopt;
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
    rocksdb::FileSystem& fs, const std::string& partition_dir, const DurableMark& mark) {
  const std::string path = DurableMarkPath(partition_dir);
  std::string image(kFileBytes, '\0');
  for (uint64_t generation : {0, 1}) {
    image.replace(kSlotOffset[generation], kSlotBytes, EncodeSlot(generation, mark));
  }
  if (auto st = WriteFileDurably(fs, path, image); !st.ok()) return st;
  std::unique_ptr<rocksdb::FSRandomRWFile> file;
  if (auto s = fs.NewRandomRWFile(path, rocksdb::FileOptions(), &file, nullptr); !s.ok()) {
    return FromIoStatus(s, absl::StrCat("opening ", path));
  }
  return std::unique_ptr<DurableMarkFile>(new DurableMarkFile(std::move(file), path, mark));
}

DurableMarkFile::~DurableMarkFile() {
  file_->Close(rocksdb::IOOptions(), nullptr).PermitUncheckedError();
}

absl::Status DurableMarkFile::Advance(const DurableMark& mark) {
  const uint64_t generation = generation_ + 1;
  const std::string slot = EncodeSlot(generation, mark);
  if (auto s = file_->Write(kSlotOffset[generation % 2], slot, rocksdb::IOOptions(), nullptr);
      !s.ok()) {
    return FromIoStatus(s, absl::StrCat("writing ", path_));
  }
  generation_ = generation;
  mark_ = mark;
  return absl::OkStatus();
}

absl::Status WriteDurableMark(rocksdb::FileSystem& fs, const std::string& partition_dir,
                              const DurableMark& mark) {
  return DurableMarkFile::Create(fs, partition_dir, mark).status();
}

}  // namespace gridcase
