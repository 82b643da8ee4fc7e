#include "engine/privacy/aead.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace gridcase::privacy {
namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

const unsigned char* U(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

absl::Status CheckSizes(absl::string_view key, absl::string_view nonce) {
  if (key.size() != kKeyBytes || nonce.size() != kNonceBytes) {
    return absl::InvalidArgumentError(absl::StrCat("AES-256-GCM needs a ", kKeyBytes,
                                                   "-byte key and a ", kNonceBytes, "-byte nonce"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return absl::InternalError("the random generator failed");
  }
  return out;
}

absl::StatusOr<std::string> Seal(absl::string_view key, absl::string_view nonce,
                                 absl::string_view aad, absl::string_view plain) {
  if (auto st = CheckSizes(key, nonce); !st.ok()) return st;
  Ctx ctx(EVP_CIPHER_CTX_new());
  std::string out(plain.size() + kTagBytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  int total = 0;
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(key), U(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), o, &len, U(plain), static_cast<int>(plain.size())) != 1) {
    return absl::InternalError("AES-256-GCM: encryption failed");
  }
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), o + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, o + total + len) != 1) {
    return absl::InternalError("AES-256-GCM: encryption failed");
  }
  out.resize(total + len + kTagBytes);
  return out;
}

absl::StatusOr<std::string> Open(absl::string_view key, absl::string_view nonce,
                                 absl::string_view aad, absl::string_view sealed) {
  if (auto st = CheckSizes(key, nonce); !st.ok()) return st;
  if (sealed.size() < kTagBytes) return absl::DataLossError("sealed value shorter than its tag");
  const absl::string_view body = sealed.substr(0, sealed.size() - kTagBytes);
  std::string tag(sealed.substr(body.size()));
  Ctx ctx(EVP_CIPHER_CTX_new());
  std::string out(body.size(), '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  if (ctx == nullptr ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(key), U(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), o, &len, U(body), static_cast<int>(body.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1) {
    return absl::InternalError("AES-256-GCM: decryption failed");
  }
  const int total = len;
  if (EVP_DecryptFinal_ex(ctx.get(), o + total, &len) != 1) {
    return absl::DataLossError("AES-256-GCM: the tag does not match (wrong key or damaged bytes)");
  }
  out.resize(total + len);
  return out;
}

}  // namespace gridcase::privacy
