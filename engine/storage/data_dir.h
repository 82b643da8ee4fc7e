// The layout of a data directory, shared by the engine, checkpoints and
// the rebuild tool:
//
//   DIR/GRIDCASE          "gridcase data directory", format, partition count
//   DIR/partition-NNN/    one RocksDB database per partition, and its
//                         durable mark, DURABLE (durable_mark.h)
//   DIR/access/           the access log (engine/access/access_log.h)
//   DIR/CLOCK             the clock guard's last good reading (clock_guard.h)
//   DIR/keys/             gridcased's head-signing key (heads.key, 0600) and
//                         its public key (heads.key.pub), unless placed elsewhere
//   DIR/checkpoints/NAME/ checkpoints taken while serving (a data directory each)
//   DIR/lost/partition-NNN-TIME/  a partition's write-ahead logs and mark as
//                         they were when its loss was accepted (store.h)
#ifndef GRIDCASE_ENGINE_STORAGE_DATA_DIR_H_
#define GRIDCASE_ENGINE_STORAGE_DATA_DIR_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace rocksdb {
class Env;
}

namespace gridcase {

// Partitions of a new data directory when none are asked for, and at most.
inline constexpr uint32_t kDefaultPartitions = 4;
inline constexpr uint32_t kPartitionsMax = 256;

// DIR/partition-NNN.
std::string PartitionDir(const std::string& data_dir, uint32_t partition);

// DIR/access.
std::string AccessLogDir(const std::string& data_dir);

// DIR/CLOCK.
std::string ClockAnchorPath(const std::string& data_dir);

// Reads DIR/GRIDCASE, or creates it in an empty (or missing) DIR with
// `wanted` partitions (0: kDefaultPartitions). FAILED_PRECONDITION when DIR
// holds something else or `wanted` differs from the stored count.
//
// The marker is read and written through `env`'s file system (nullptr:
// RocksDB's default), the one the partitions' databases use.
absl::StatusOr<uint32_t> ResolvePartitions(const std::string& data_dir, uint32_t wanted,
                                           rocksdb::Env* env = nullptr);

// The partition count of an existing data directory. NOT_FOUND when DIR has
// no GRIDCASE file.
absl::StatusOr<uint32_t> ReadPartitionCount(const std::string& data_dir,
                                            rocksdb::Env* env = nullptr);

// Writes DIR/GRIDCASE durably (temporary file, fsync, rename, fsync of DIR).
absl::Status WriteMarker(const std::string& data_dir, uint32_t partitions,
                         rocksdb::Env* env = nullptr);

// Rewrites DIR/GRIDCASE when the format it names is not this build's
// (after the partitions were upgraded to it), so that what an operator
// reads there stays true.
absl::Status RefreshMarkerFormat(const std::string& data_dir, uint32_t partitions,
                                 rocksdb::Env* env = nullptr);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_STORAGE_DATA_DIR_H_
