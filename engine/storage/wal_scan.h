// A reading of RocksDB's write-ahead log files that says, record by record,
// where a file stops being readable and why. RocksDB's own recovery says
// only that it stopped; when a partition refuses to open (store.h), this
// names the damaged file and the byte where the damage starts. Tests use it
// to find the records they cut and damage.
//
// The format (RocksDB 7.8, db/log_format.h, db/log_writer.cc):
//
//   file     := block* (every block 32 KiB; the last one may be shorter)
//   block    := fragment* trailer
//   trailer  := up to 6 zero bytes (too few for a header)
//   fragment := masked_crc32c[4] length[2, little-endian] type[1] payload[length]
//   type     := FULL(1) | FIRST(2) | MIDDLE(3) | LAST(4)
//   record   := FULL | FIRST MIDDLE* LAST   (a record never spans files)
//   crc      := Crc32cMask(CRC-32C of type || payload)
//   payload of a record := a WriteBatch: fixed64le(sequence) fixed32le(count) ...
//
// Types 5-9 (recycled log files, compressed logs) are not written with the
// options the store uses (store.cc); they are reported as damage.
#ifndef GRIDCASE_ENGINE_STORAGE_WAL_SCAN_H_
#define GRIDCASE_ENGINE_STORAGE_WAL_SCAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gridcase {

inline constexpr uint64_t kWalBlockBytes = 32768;
inline constexpr uint64_t kWalHeaderBytes = 7;

// One physical piece of a record: its header and payload are the bytes
// [offset, offset + kWalHeaderBytes + length) of the file.
struct WalFragment {
  uint64_t offset = 0;
  uint32_t length = 0;
  uint8_t type = 0;
  uint64_t end() const { return offset + kWalHeaderBytes + length; }
};

// One whole record: a WriteBatch, written with one write.
struct WalRecord {
  std::vector<WalFragment> fragments;
  uint64_t sequence = 0;  // of its first entry (RocksDB's sequence number)
  uint32_t count = 0;     // entries; the batch takes sequence .. sequence + count - 1
  uint64_t begin() const { return fragments.front().offset; }
  uint64_t end() const { return fragments.back().end(); }
};

struct WalScan {
  std::string path;
  uint64_t size_bytes = 0;
  std::vector<WalRecord> records;  // every readable record before any damage
  // Whether reading stopped before the end of the file, where, and why.
  bool damaged = false;
  uint64_t damage_offset = 0;
  std::string damage;
  // The damage is an incomplete record at the very end of the file: what a
  // crash during a write leaves, and never an acknowledged write.
  bool damage_is_torn_tail = false;
};

// Reads a write-ahead log file whole. Fails only when it cannot be read.
absl::StatusOr<WalScan> ScanWalFile(const std::string& path);

// The write-ahead log files (NNNNNN.log) of a RocksDB folder, by number.
absl::StatusOr<std::vector<std::string>> WalFiles(const std::string& dir);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_STORAGE_WAL_SCAN_H_
