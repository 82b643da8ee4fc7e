#include "services/security/revocation.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "services/security/pem.h"

namespace gridcase::security {
namespace {

// `value` in DER, by OpenSSL's encoder for its type.
template <typename T>
std::string Der(const T* value, int (*i2d)(const T*, unsigned char**)) {
  unsigned char* out = nullptr;
  const int n = i2d(value, &out);
  std::string der = n > 0 ? std::string(reinterpret_cast<char*>(out), n) : std::string();
  OPENSSL_free(out);
  return der;
}

class Verifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit Verifier(std::shared_ptr<const RevocationsInUse> in_use) : in_use_(std::move(in_use)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> callback, grpc::Status* sync_status) override {
    const grpc::string_ref cert = request->peer_cert();
    std::shared_ptr<const Revocations> lists = in_use_->Get();
    if (cert.empty() || lists == nullptr ||
        !lists->RevokesPem(std::string(cert.data(), cert.size()))) {
      *sync_status = grpc::Status::OK;
    } else {
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                  "the client certificate is revoked (--tls-crl)");
    }
    return true;  // decided here, synchronously
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  const std::shared_ptr<const RevocationsInUse> in_use_;
};

}  // namespace

absl::StatusOr<Revocations> Revocations::Parse(const std::string& crl_pem,
                                               const std::string& ca_bundle_pem) {
  std::vector<pem::CrlPtr> crls = pem::ReadCrls(crl_pem);
  if (crls.empty()) return absl::InvalidArgumentError("no PEM revocation list (X509 CRL) in it");
  std::vector<pem::X509Ptr> cas = pem::ReadCertificates(ca_bundle_pem);
  Revocations out;
  for (size_t i = 0; i < crls.size(); ++i) {
    X509_CRL* crl = crls[i].get();
    const X509* issuer = nullptr;
    for (const auto& ca : cas) {
      if (X509_NAME_cmp(X509_get_subject_name(ca.get()), X509_CRL_get_issuer(crl)) == 0) {
        issuer = ca.get();
      }
    }
    if (issuer == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "revocation list ", i + 1, " is not issued by a CA of the client CA bundle"));
    }
    EVP_PKEY* key = X509_get0_pubkey(issuer);
    if (key == nullptr || X509_CRL_verify(crl, key) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          absl::StrCat("revocation list ", i + 1, " is not signed by the CA it names"));
    }
    const std::string issuer_der = Der(X509_CRL_get_issuer(crl), i2d_X509_NAME);
    STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
    for (int r = 0; r < sk_X509_REVOKED_num(revoked); ++r) {
      const X509_REVOKED* entry = sk_X509_REVOKED_value(revoked, r);
      out.revoked_.emplace(issuer_der,
                           Der(X509_REVOKED_get0_serialNumber(entry), i2d_ASN1_INTEGER));
    }
    ++out.lists_;
  }
  return out;
}

bool Revocations::Revokes(X509* cert) const {
  return revoked_.count({Der(X509_get_issuer_name(cert), i2d_X509_NAME),
                         Der(X509_get0_serialNumber(cert), i2d_ASN1_INTEGER)}) > 0;
}

bool Revocations::RevokesPem(const std::string& cert_pem) const {
  std::vector<pem::X509Ptr> certs = pem::ReadCertificates(cert_pem);
  return !certs.empty() && Revokes(certs.front().get());
}

std::shared_ptr<grpc::experimental::CertificateVerifier> RevocationVerifier(
    std::shared_ptr<const RevocationsInUse> in_use) {
  return grpc::experimental::ExternalCertificateVerifier::Create<Verifier>(std::move(in_use));
}

}  // namespace gridcase::security
