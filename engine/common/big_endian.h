// Fixed-width big-endian integers: byte order equals numeric order, so
// keys built from them sort as their numbers do.
#ifndef GRIDCASE_ENGINE_COMMON_BIG_ENDIAN_H_
#define GRIDCASE_ENGINE_COMMON_BIG_ENDIAN_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace gridcase {

inline void AppendFixed64Be(uint64_t v, std::string* dst) {
  char buf[8];
  for (int i = 7; i >= 0; --i, v >>= 8) buf[i] = static_cast<char>(v & 0xff);
  dst->append(buf, 8);
}

// Requires src.size() >= 8.
inline uint64_t ReadFixed64Be(absl::string_view src) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(src[i]);
  return v;
}

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_COMMON_BIG_ENDIAN_H_
