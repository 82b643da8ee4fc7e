// CRC-32C (Castagnoli), the checksum RocksDB's write-ahead log uses; also
// the checksum of the durable mark (durable_mark.h).
#ifndef GRIDCASE_ENGINE_COMMON_CRC32C_H_
#define GRIDCASE_ENGINE_COMMON_CRC32C_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace gridcase {

// The CRC-32C of `data` continued from `crc` (the CRC of the bytes before
// it; 0 for none).
uint32_t Crc32cExtend(uint32_t crc, absl::string_view data);
inline uint32_t Crc32c(absl::string_view data) { return Crc32cExtend(0, data); }

// RocksDB stores a checksum "masked" so that a CRC of data that contains
// CRCs is not degenerate (util/crc32c.h: Mask/Unmask).
inline uint32_t Crc32cMask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_COMMON_CRC32C_H_
