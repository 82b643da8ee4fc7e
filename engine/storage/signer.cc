#include "engine/storage/signer.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "engine/common/check.h"
#include "engine/common/durable_file.h"
#include "engine/common/file_modes.h"
#include "engine/storage/keys.h"

namespace gridcase {
namespace {

constexpr char kDomain[] = "gridcase-head-v1";

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

}  // namespace

std::string SignedHead::Message() const {
  std::string m = kDomain;
  m += keys::EncodeFixed32Be(partition);
  keys::PutFixed64Be(&m, position);
  m += hash;
  keys::PutFixed64Be(&m, static_cast<uint64_t>(signed_at_us));
  return m;
}

std::string SignedHead::Encode() const {
  std::string out = keys::EncodeFixed32Be(partition);
  keys::PutFixed64Be(&out, position);
  keys::PutFixed64Be(&out, static_cast<uint64_t>(signed_at_us));
  out += hash;
  out += signature;
  return out;
}

absl::StatusOr<SignedHead> SignedHead::Decode(const std::string& bytes) {
  if (bytes.size() != 4 + 8 + 8 + 32 + 64) return absl::DataLossError("bad signed head");
  SignedHead h;
  h.partition = *keys::DecodeFixed32Be(absl::string_view(bytes).substr(0, 4));
  h.position = keys::DecodeFixed64Be(absl::string_view(bytes).substr(4));
  h.signed_at_us = static_cast<int64_t>(keys::DecodeFixed64Be(absl::string_view(bytes).substr(12)));
  h.hash = bytes.substr(20, 32);
  h.signature = bytes.substr(52, 64);
  return h;
}

absl::StatusOr<std::unique_ptr<HeadSigner>> HeadSigner::LoadOrCreate(const std::string& path,
                                                                     rocksdb::Env* env) {
  rocksdb::FileSystem& fs = FileSystemOf(env);
  auto text = ReadSmallFile(fs, path, 64 * 1024);
  if (!text.ok()) return text.status();
  if (text->has_value()) {
    if (auto st = CheckFileExposure(path, Exposure::kOwnerOnly, "signing key"); !st.ok()) {
      return st;
    }
    std::unique_ptr<BIO, BioFree> in(
        BIO_new_mem_buf((*text)->data(), static_cast<int>((*text)->size())));
    EVP_PKEY* key = in ? PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr) : nullptr;
    if (key == nullptr || EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
      if (key != nullptr) EVP_PKEY_free(key);
      return absl::InvalidArgumentError(absl::StrCat(path, ": not an Ed25519 private key in PEM"));
    }
    return std::unique_ptr<HeadSigner>(new HeadSigner(key));
  }
  EVP_PKEY* made = nullptr;
  std::unique_ptr<EVP_PKEY_CTX, void (*)(EVP_PKEY_CTX*)> ctx(
      EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr), EVP_PKEY_CTX_free);
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_keygen(ctx.get(), &made) != 1) {
    return absl::InternalError("cannot generate an Ed25519 key");
  }
  std::unique_ptr<EVP_PKEY, KeyFree> key(made);
  std::unique_ptr<BIO, BioFree> out(BIO_new(BIO_s_mem()));
  if (out == nullptr ||
      PEM_write_bio_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError("cannot encode the signing key");
  }
  char* pem = nullptr;
  const long pem_size = BIO_get_mem_data(out.get(), &pem);
  // Created for its owner alone, whatever the process's umask.
  if (auto st =
          WriteFileDurably(fs, path, absl::string_view(pem, pem_size), FileAccess::kOwnerOnly);
      !st.ok()) {
    return absl::Status(st.code(),
                        absl::StrCat("cannot write the signing key to ", path, ": ", st.message()));
  }
  return std::unique_ptr<HeadSigner>(new HeadSigner(key.release()));
}

HeadSigner::~HeadSigner() { EVP_PKEY_free(static_cast<EVP_PKEY*>(key_)); }

std::string HeadSigner::Sign(const std::string& message) const {
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  std::string sig(64, '\0');
  size_t len = sig.size();
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(key_)) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    GC_UNREACHABLE("Ed25519 signing failed");  // the key was usable when loaded
  }
  return sig;
}

std::string HeadSigner::PublicKeyPem() const {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), static_cast<EVP_PKEY*>(key_));
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::StatusOr<bool> VerifySignature(const std::string& public_key_pem, const std::string& message,
                                     const std::string& signature) {
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(public_key_pem.data(), static_cast<int>(public_key_pem.size())));
  int keys = 0;
  bool verified = false;
  while (true) {
    std::unique_ptr<EVP_PKEY, KeyFree> key(
        PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (key == nullptr) break;
    ++keys;
    if (EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519) {
      return absl::InvalidArgumentError(absl::StrCat("public key ", keys, " is not Ed25519"));
    }
    std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
      return absl::InternalError("cannot start verifying");
    }
    verified =
        verified ||
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                         signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                         message.size()) == 1;
  }
  ERR_clear_error();  // the end of the text reads as an error
  if (keys == 0) return absl::InvalidArgumentError("not an Ed25519 public key in PEM");
  return verified;
}

}  // namespace gridcase
