// Signed chain heads: an Ed25519 signature over a partition's chain head,
// so that an auditor who holds only the public key can tell that history up
// to a signed head was not rewritten, even by someone able to recompute
// every hash.
//
//   signed message := "gridcase-head-v1" fixed32be(partition)
//                     fixed64be(position) hash[32] fixed64be(signed_at_us)
#ifndef GRIDCASE_ENGINE_STORAGE_SIGNER_H_
#define GRIDCASE_ENGINE_STORAGE_SIGNER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gridcase/v1/event.pb.h"

namespace rocksdb {
class Env;
}

namespace gridcase {

struct SignedHead {
  uint32_t partition = 0;
  uint64_t position = 0;
  std::string hash;  // 32 bytes
  int64_t signed_at_us = 0;
  std::string signature;  // 64 bytes

  std::string Message() const;
  std::string Encode() const;  // for storage
  static absl::StatusOr<SignedHead> Decode(const std::string& bytes);
};

class HeadSigner {
 public:
  // Loads the Ed25519 private key (PEM) at `path`, creating it (mode 0600,
  // whole and durable before it signs anything) when the file does not
  // exist; through `env`'s file system (nullptr: RocksDB's default).
  static absl::StatusOr<std::unique_ptr<HeadSigner>> LoadOrCreate(const std::string& path,
                                                                  rocksdb::Env* env = nullptr);
  ~HeadSigner();

  std::string Sign(const std::string& message) const;
  // The public key, PEM, for auditors.
  std::string PublicKeyPem() const;

 private:
  explicit HeadSigner(void* key) : key_(key) {}
  void* key_;  // EVP_PKEY*
};

// Whether `signature` is over `message` by one of the keys of
// `public_key_pem` (one Ed25519 public key in PEM, or several one after
// the other: the keys a server signed with before and after a change of
// key). INVALID_ARGUMENT when it holds none, or one that is not Ed25519.
absl::StatusOr<bool> VerifySignature(const std::string& public_key_pem, const std::string& message,
                                     const std::string& signature);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_STORAGE_SIGNER_H_
