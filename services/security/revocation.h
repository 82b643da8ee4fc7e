// Revoked certificates: the certificate revocation lists (CRLs) of the
// client CAs, from a PEM file (`--tls-crl`), vetted and reloaded with the
// server's pair (tls.h).
//
// A client certificate a list revokes fails the handshake (a verifier gRPC
// runs after it has checked the chain); a new server pair that a list
// revokes is refused on reload like any bad pair, the pair in use keeps
// serving. gRPC's own CRL directory is not used: it wants one file per
// issuer named by hash, keeps what it loaded, and refuses every client of a
// CA without a list.
#ifndef GRIDCASE_SERVICES_SECURITY_REVOCATION_H_
#define GRIDCASE_SERVICES_SECURITY_REVOCATION_H_

#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/security/tls_certificate_verifier.h"

namespace gridcase::security {

class Revocations {
 public:
  // The lists of a PEM text. Each must be signed by a CA of `ca_bundle`
  // (PEM) that names it as issuer; none may be empty text.
  // INVALID_ARGUMENT saying which list is wrong.
  static absl::StatusOr<Revocations> Parse(const std::string& crl_pem,
                                           const std::string& ca_bundle_pem);

  // Whether a list revokes `cert` (by its issuer and serial number).
  bool Revokes(X509* cert) const;
  // The same for the leaf (first certificate) of a PEM text; false when
  // it holds none.
  bool RevokesPem(const std::string& cert_pem) const;

  size_t lists() const { return lists_; }
  size_t revoked() const { return revoked_.size(); }

 private:
  size_t lists_ = 0;
  // (issuer name in DER, serial number in DER)
  std::set<std::pair<std::string, std::string>> revoked_;
};

// The lists in use, swapped whole on reload and read on every handshake.
class RevocationsInUse {
 public:
  std::shared_ptr<const Revocations> Get() const {
    absl::MutexLock lock(&mu_);
    return current_;
  }
  void Set(std::shared_ptr<const Revocations> next) {
    absl::MutexLock lock(&mu_);
    current_ = std::move(next);
  }

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const Revocations> current_ ABSL_GUARDED_BY(mu_);
};

// gRPC's certificate verifier for the server: refuses, at the handshake,
// a client certificate that the lists in use revoke.
std::shared_ptr<grpc::experimental::CertificateVerifier> RevocationVerifier(
    std::shared_ptr<const RevocationsInUse> in_use);

}  // namespace gridcase::security

#endif  // GRIDCASE_SERVICES_SECURITY_REVOCATION_H_
