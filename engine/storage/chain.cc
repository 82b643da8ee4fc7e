#include "engine/storage/chain.h"

#include <openssl/evp.h>

#include <memory>

#include "engine/common/check.h"

namespace gridcase {

namespace {

[[noreturn]] void Sha256Failed() {
  GC_UNREACHABLE("SHA-256 failed");  // OpenSSL broken: nothing can be chained
}

// OpenSSL 3 looks an algorithm up by name, under a lock, on every
// EVP_Digest(..., EVP_sha256(), ...): that lookup cost more than hashing a
// record. The algorithm is fetched once, and each thread keeps its context.
const EVP_MD* Sha256() {
  static const EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) Sha256Failed();
    return fetched;
  }();
  return md;
}

struct ContextFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

}  // namespace

std::string ChainHash(absl::string_view prev_hash, absl::string_view record_bytes) {
  thread_local const std::unique_ptr<EVP_MD_CTX, ContextFree> ctx(EVP_MD_CTX_new());
  std::string out(kHashBytes, '\0');
  unsigned int length = 0;
  if (ctx == nullptr || EVP_DigestInit_ex2(ctx.get(), Sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), prev_hash.data(), prev_hash.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), record_bytes.data(), record_bytes.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &length) != 1 ||
      length != kHashBytes) {
    Sha256Failed();
  }
  return out;
}

std::string GenesisHash() { return std::string(kHashBytes, '\0'); }

std::string OriginGenesis(absl::string_view origin_bytes) {
  return ChainHash("gridcase-chain-origin-v1", origin_bytes);
}

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

std::string ChainOnto(const v1::Record& record, std::string* head) {
  const std::string bytes = record.SerializeAsString();
  std::string hash = ChainHash(*head, bytes);
  std::string stored = EncodeStoredRecord(bytes, *head, hash);
  *head = std::move(hash);
  return stored;
}

std::string CheckLink(const StoredRecord& stored, absl::string_view head) {
  if (stored.prev_hash != head) {
    return "its previous-hash does not match the hash of the record before it";
  }
  if (ChainHash(head, stored.record_bytes) != stored.hash) {
    return "its bytes do not match its hash (the record was changed)";
  }
  return "";
}

}  // namespace gridcase
