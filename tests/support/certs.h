// Certificates for tests, made with OpenSSL in memory: a CA and the
// server and client pairs it issues, including the bad ones (expired, not
// yet valid, for the wrong use, from an unknown CA).
#ifndef GRIDCASE_TESTS_SUPPORT_CERTS_H_
#define GRIDCASE_TESTS_SUPPORT_CERTS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gridcase::testing {

struct KeyPair {
  std::string key;   // PEM private key
  std::string cert;  // PEM certificate
};

struct CertSpec {
  std::string common_name;
  // subjectAltName, OpenSSL's syntax: "DNS:localhost,IP:127.0.0.1,URI:gridcase:app:x".
  std::string alt_names;
  // Validity, relative to now, in seconds.
  int64_t not_before_s = -3600;
  int64_t not_after_s = 30 * 86400;
  // extendedKeyUsage, OpenSSL's syntax ("serverAuth", "clientAuth", both).
  std::string extended_key_usage = "serverAuth,clientAuth";
  bool is_ca = false;
};

class TestCa {
 public:
  explicit TestCa(const std::string& name);
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const std::string& cert_pem() const { return self_.cert; }
  KeyPair Issue(const CertSpec& spec) const;

  // The pair a loopback server uses: localhost and 127.0.0.1.
  KeyPair Server(const std::string& common_name = "gridcased") const;
  // A client pair whose URI SAN is `uri` (e.g. "gridcase:app:triage").
  KeyPair Client(const std::string& uri) const;
  // A revocation list (PEM X509 CRL) of this CA revoking the certificates
  // `revoked` (PEM, each issued by it); `signer`: another CA signs it (a
  // forged list).
  std::string Crl(const std::vector<std::string>& revoked, const TestCa* signer = nullptr) const;

 private:
  struct Key;
  std::unique_ptr<Key> key_;
  KeyPair self_;
  std::string name_;
};

// An issuer of JSON Web Tokens with a P-256 key (ES256), as an
// organisation's single sign-on would be: signs what it is given, however
// wrong, so that tests can make bad tokens too.
class TestIssuer {
 public:
  TestIssuer();
  ~TestIssuer();
  TestIssuer(const TestIssuer&) = delete;
  TestIssuer& operator=(const TestIssuer&) = delete;

  const std::string& public_key_pem() const { return public_pem_; }
  // base64url(header) "." base64url(claims) "." base64url(ES256 signature),
  // header and claims as the JSON text given.
  std::string Sign(const std::string& header_json, const std::string& claims_json) const;

 private:
  void* key_;  // EVP_PKEY*
  std::string public_pem_;
};

// base64url without padding, as JWS wants it.
std::string Base64Url(const std::string& bytes);

// Writes `bytes` to `path` with `mode`.
void WriteFileWithMode(const std::string& path, const std::string& bytes, unsigned mode);

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_SUPPORT_CERTS_H_
