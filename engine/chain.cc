#include "engine/chain.h"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>

namespace gridcase {

std::string ChainHash(absl::string_view prev_hash, absl::string_view record_bytes) {
  std::string input;
  input.reserve(prev_hash.size() + record_bytes.size());
  input.append(prev_hash.data(), prev_hash.size());
  input.append(record_bytes.data(), record_bytes.size());
  std::string out(kHashBytes, '\0');
  unsigned int length = 0;
  if (EVP_Digest(input.data(), input.size(), reinterpret_cast<unsigned char*>(out.data()),
                 &length, EVP_sha256(), nullptr) != 1 ||
      length != kHashBytes) {
    std::fprintf(stderr, "SHA-256 failed\n");  // OpenSSL broken: nothing can be chained
    std::abort();
  }
  return out;
}

std::string GenesisHash() { return std::string(kHashBytes, '\0'); }

std::string EncodeStoredRecord(const std::string& record_bytes, const std::string& prev_hash,
                               const std::string& hash) {
  std::string out;
  out.reserve(record_bytes.size() + 2 * kHashBytes);
  out.append(record_bytes);
  out.append(prev_hash);
  out.append(hash);
  return out;
}

absl::Status DecodeStoredRecord(absl::string_view value, StoredRecord* out) {
  if (value.size() < 2 * kHashBytes) {
    return absl::DataLossError("stored record is shorter than its hashes");
  }
  out->record_bytes = value.substr(0, value.size() - 2 * kHashBytes);
  out->prev_hash = value.substr(value.size() - 2 * kHashBytes, kHashBytes);
  out->hash = value.substr(value.size() - kHashBytes);
  return absl::OkStatus();
}

}  // namespace gridcase
