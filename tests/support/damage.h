// Damaging a stopped partition's files as a crash or a failing disk would,
// for the durability tests.
#ifndef GRIDCASE_TESTS_SUPPORT_DAMAGE_H_
#define GRIDCASE_TESTS_SUPPORT_DAMAGE_H_

#include <cstdint>
#include <string>

namespace gridcase::testing {

// The write-ahead log of a partition's folder that holds records (RocksDB
// may keep an empty one beside it). Fails the test unless there is exactly
// one.
std::string LogWithRecords(const std::string& partition_dir);

// XORs the byte at `offset` of the file at `path` with `with`.
void XorByte(const std::string& path, uint64_t offset, uint8_t with);

// A copy of a data directory (or a partition's folder). Table files are
// hard-linked: RocksDB never changes one in place.
void CopyDataDir(const std::string& from, const std::string& to);

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_SUPPORT_DAMAGE_H_
