// A partition's durable mark: the last of its writes known to be durable,
// kept beside its RocksDB database and outside the write-ahead log, so that
// damage which shortens the log cannot shorten the mark with it. Opening a
// partition compares what its log recovers with the mark (store.h): less
// is data loss, refused, never a shorter history.
//
//   partition-NNN/DURABLE := slot[0] at byte 0, slot[1] at byte 4096 (8 KiB)
//   slot := "GCMARK01" fixed64le(generation) fixed64le(sequence)
//           fixed64le(position) fixed32le(CRC-32C of the 32 bytes before)
//
// `sequence` is RocksDB's sequence number of the last durable write (every
// synced write counts, meta rows too); `position` the last durable log
// position. The readable slot with the higher generation is the mark.
//
// Updates alternate between the slots and are never synced: one write in
// place after each synced write of the partition has returned and before anyone
// is answered. So the mark never exceeds what is durable, and:
// * a killed process loses nothing of it (the page cache has it);
// * a power cut or kernel crash may leave an older mark on disk (what the
//   kernel had written back, at most about 30 s old on Linux defaults, and
//   never older than the last open, which syncs it): never a false alarm,
//   only damage after that older mark goes unnoticed;
// * a page written back torn leaves at least one slot whole: the two slots
//   are in different pages and sectors.
#ifndef GRIDCASE_ENGINE_STORAGE_DURABLE_MARK_H_
#define GRIDCASE_ENGINE_STORAGE_DURABLE_MARK_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "rocksdb/file_system.h"

namespace gridcase {

inline constexpr char kDurableMarkFile[] = "DURABLE";

struct DurableMark {
  uint64_t sequence = 0;  // RocksDB's sequence number
  uint64_t position = 0;  // log position (0: no record)
  bool operator==(const DurableMark&) const = default;
  // Whether everything `other` marks is also marked here.
  bool Covers(const DurableMark& other) const {
    return sequence >= other.sequence && position >= other.position;
  }
};

// The file goes through RocksDB's file system (engine/common/durable_file.h),
// as the partition's database does: `fs` is that of the store's Env.

// DIR/DURABLE.
std::string DurableMarkPath(const std::string& partition_dir);

// The mark kept in `partition_dir`; nullopt when there is no DURABLE file
// (a partition created before marks were kept, a rebuilt one, or one whose
// loss was accepted). DATA_LOSS naming the file when neither slot is
// readable.
absl::StatusOr<std::optional<DurableMark>> ReadDurableMark(rocksdb::FileSystem& fs,
                                                           const std::string& partition_dir);

// The mark file of a partition open for writing.
class DurableMarkFile {
 public:
  // Replaces DIR/DURABLE with one holding `mark` in both slots, durably (a
  // temporary file, fsync, rename, fsync of DIR), and keeps it open.
  static absl::StatusOr<std::unique_ptr<DurableMarkFile>> Create(rocksdb::FileSystem& fs,
                                                                 const std::string& partition_dir,
                                                                 const DurableMark& mark);
  ~DurableMarkFile();
  DurableMarkFile(const DurableMarkFile&) = delete;
  DurableMarkFile& operator=(const DurableMarkFile&) = delete;

  // Records `mark` (which must cover the current one) in the older slot:
  // one write in place, no sync. Callers serialize calls.
  absl::Status Advance(const DurableMark& mark);
  const DurableMark& mark() const { return mark_; }
  const std::string& path() const { return path_; }

 private:
  DurableMarkFile(std::unique_ptr<rocksdb::FSRandomRWFile> file, std::string path,
                  const DurableMark& mark)
      : file_(std::move(file)), path_(std::move(path)), mark_(mark) {}

  const std::unique_ptr<rocksdb::FSRandomRWFile> file_;
  const std::string path_;
  DurableMark mark_;
  uint64_t generation_ = 1;  // of the newer slot; slot = generation % 2
};

// Writes `mark` as DIR/DURABLE durably, replacing any (checkpoints, and an
// accepted loss).
absl::Status WriteDurableMark(rocksdb::FileSystem& fs, const std::string& partition_dir,
                              const DurableMark& mark);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_STORAGE_DURABLE_MARK_H_
