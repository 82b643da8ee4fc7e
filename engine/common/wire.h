// Protocol Buffers wire encoding, for answers assembled from bytes that are
// already serialized messages (stored records), so that they need not be
// parsed and serialized again on the way out.
#ifndef GRIDCASE_ENGINE_COMMON_WIRE_H_
#define GRIDCASE_ENGINE_COMMON_WIRE_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace gridcase::wire {

inline void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Field `field` of wire type 2 (a string, bytes or an embedded message)
// holding `bytes`. Appending the serialized form of a message M as field f
// is exactly what serializing `M f` or an element of `repeated M f` writes.
inline void AppendLengthDelimited(uint32_t field, absl::string_view bytes, std::string* out) {
  AppendVarint((uint64_t{field} << 3) | 2, out);
  AppendVarint(bytes.size(), out);
  out->append(bytes.data(), bytes.size());
}

}  // namespace gridcase::wire

#endif  // GRIDCASE_ENGINE_COMMON_WIRE_H_
