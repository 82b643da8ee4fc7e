// AES-256-GCM, the one cipher of the key store and of sealed records
// (OpenSSL's EVP). A sealed value is ciphertext || 16-byte tag; the nonce is
// 12 random bytes chosen per sealing and kept beside it.
#ifndef GRIDCASE_ENGINE_PRIVACY_AEAD_H_
#define GRIDCASE_ENGINE_PRIVACY_AEAD_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gridcase::privacy {

inline constexpr size_t kKeyBytes = 32;
inline constexpr size_t kNonceBytes = 12;
inline constexpr size_t kTagBytes = 16;

// `n` bytes from OpenSSL's random generator; INTERNAL when it fails.
absl::StatusOr<std::string> RandomBytes(size_t n);

// Encrypts `plain` under `key` (32 bytes) with `nonce` (12 bytes),
// authenticating `aad` too.
absl::StatusOr<std::string> Seal(absl::string_view key, absl::string_view nonce,
                                 absl::string_view aad, absl::string_view plain);

// The inverse; DATA_LOSS when the tag does not match (a wrong key, other
// associated data, or damaged bytes).
absl::StatusOr<std::string> Open(absl::string_view key, absl::string_view nonce,
                                 absl::string_view aad, absl::string_view sealed);

}  // namespace gridcase::privacy

#endif  // GRIDCASE_ENGINE_PRIVACY_AEAD_H_
