#include "engine/privacy/aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace gridcase::privacy {
namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// OpenSSL 3 looks an algorithm up by name, under a lock, each time
// EVP_aes_256_gcm() is passed to an init: the cipher is fetched once, and
// each thread keeps its context (re-initialized for every use).
const EVP_CIPHER* Aes256Gcm() {
  static const EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

EVP_CIPHER_CTX* ThreadContext() {
  thread_local const std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  return ctx.get();
}

// Random bytes drawn from OpenSSL in blocks: each RAND_bytes call checks
// the process id with a system call (fork safety), which cost more than
// the encryption of a record. gridcased never forks.
constexpr size_t kRandomBlock = 4096;
struct RandomBuffer {
  unsigned char bytes[kRandomBlock];
  size_t used = kRandomBlock;
  ~RandomBuffer() { OPENSSL_cleanse(bytes, sizeof(bytes)); }
};

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
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (n > kRandomBlock / 4) {
    if (RAND_bytes(o, static_cast<int>(n)) != 1) {
      return absl::InternalError("the random generator failed");
    }
    return out;
  }
  thread_local RandomBuffer buffer;
  if (buffer.used + n > kRandomBlock) {
    if (RAND_bytes(buffer.bytes, static_cast<int>(kRandomBlock)) != 1) {
      return absl::InternalError("the random generator failed");
    }
    buffer.used = 0;
  }
  std::memcpy(o, buffer.bytes + buffer.used, n);
  OPENSSL_cleanse(buffer.bytes + buffer.used, n);  // handed out once, kept nowhere else
  buffer.used += n;
  return out;
}

absl::StatusOr<std::string> Seal(absl::string_view key, absl::string_view nonce,
                                 absl::string_view aad, absl::string_view plain) {
  if (auto st = CheckSizes(key, nonce); !st.ok()) return st;
  EVP_CIPHER_CTX* ctx = ThreadContext();
  std::string out(plain.size() + kTagBytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  int total = 0;
  if (ctx == nullptr || Aes256Gcm() == nullptr ||
      EVP_EncryptInit_ex2(ctx, Aes256Gcm(), U(key), U(nonce), nullptr) != 1 ||
      EVP_EncryptUpdate(ctx, nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx, o, &len, U(plain), static_cast<int>(plain.size())) != 1) {
    return absl::InternalError("AES-256-GCM: encryption failed");
  }
  total = len;
  if (EVP_EncryptFinal_ex(ctx, o + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, o + total + len) != 1) {
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
  EVP_CIPHER_CTX* ctx = ThreadContext();
  std::string out(body.size(), '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  if (ctx == nullptr || Aes256Gcm() == nullptr ||
      EVP_DecryptInit_ex2(ctx, Aes256Gcm(), U(key), U(nonce), nullptr) != 1 ||
      EVP_DecryptUpdate(ctx, nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx, o, &len, U(body), static_cast<int>(body.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1) {
    return absl::InternalError("AES-256-GCM: decryption failed");
  }
  const int total = len;
  if (EVP_DecryptFinal_ex(ctx, o + total, &len) != 1) {
    return absl::DataLossError("AES-256-GCM: the tag does not match (wrong key or damaged bytes)");
  }
  out.resize(total + len);
  return out;
}

}  // namespace gridcase::privacy
