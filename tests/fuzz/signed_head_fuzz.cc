// Signed chain heads (engine/storage/signer.h, services/server/
// head_signing.h): the first byte of the input picks what the rest is:
//
//   0  a stored signed head (meta "signed_head/..."), SignedHead::Decode
//   1  an auditor's public key file (PEM, one key or several), read by
//      VerifySignature
//   2  a server's signing key file (PEM), loaded by HeadSigning::LoadKey
//
// Invariants: a decoded head encodes back to the same bytes and verifies
// only with the signature of its message; a public key file verifies a
// head or refuses (INVALID_ARGUMENT), and verifies a genuine head only
// when it holds the signing key; a signing key that loads signs heads its
// own public key verifies.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "engine/storage/chain.h"
#include "engine/storage/signer.h"
#include "services/server/head_signing.h"
#include "spdlog/spdlog.h"
#include "tests/fuzz/fuzz_support.h"

namespace gridcase::fuzz {
namespace {

const HeadSigner& Signer() {
  static const HeadSigner* const signer = [] {
    spdlog::set_level(spdlog::level::off);
    auto made = HeadSigner::LoadOrCreate(ScratchDir() + "/fixed.key");
    FUZZ_CHECK(made.ok(), made.status().ToString());
    return made->release();
  }();
  return *signer;
}

SignedHead Genuine() {
  SignedHead h;
  h.partition = 1;
  h.position = 42;
  h.hash = std::string(kHashBytes, 'h');
  h.signed_at_us = kNowUs;
  h.signature = Signer().Sign(h.Message());
  return h;
}

void StoredHead(const std::string& bytes) {
  auto head = SignedHead::Decode(bytes);
  if (!head.ok()) {
    FUZZ_CHECK(absl::IsDataLoss(head.status()), head.status().ToString());
    return;
  }
  FUZZ_CHECK(head->Encode() == bytes, "a signed head does not encode back");
  const std::string pem = Signer().PublicKeyPem();
  auto verified = VerifySignature(pem, head->Message(), head->signature);
  const bool genuine = head->signature == Signer().Sign(head->Message());
  FUZZ_CHECK(verified.ok() && *verified == genuine, "a head verified as ",
             verified.ok() ? (*verified ? "signed" : "not signed") : verified.status().ToString(),
             " that is", genuine ? "" : " not", " signed");
}

void PublicKeys(const std::string& pem) {
  static const SignedHead head = Genuine();
  auto verified = VerifySignature(pem, head.Message(), head.signature);
  if (!verified.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(verified.status()), verified.status().ToString());
    return;
  }
  // Verified only by a file holding the key that signed.
  if (*verified) {
    FUZZ_CHECK(absl::StrContains(pem, "-----BEGIN PUBLIC KEY-----"), "verified by no key");
  }
}

void SigningKey(const std::string& file) {
  const std::string path = ScratchDir() + "/heads.key";
  WriteFile(path, file, 0600);
  server::SigningOptions options;
  options.key_path = path;
  auto signer = server::HeadSigning::LoadKey(options, ScratchDir());
  if (!signer.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(signer.status()), signer.status().ToString());
    return;
  }
  FUZZ_CHECK(*signer != nullptr, "signing on, yet no signer");
  SignedHead h = Genuine();
  h.signature = (*signer)->Sign(h.Message());
  auto verified = VerifySignature((*signer)->PublicKeyPem(), h.Message(), h.signature);
  FUZZ_CHECK(verified.ok() && *verified, "a loaded key's own signature does not verify");
}

int TestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      StoredHead(rest);
      break;
    case 1:
      PublicKeys(rest);
      break;
    default:
      SigningKey(rest);
      break;
  }
  return 0;
}

}  // namespace
}  // namespace gridcase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return gridcase::fuzz::TestOneInput(data, size);
}
