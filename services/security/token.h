// Bearer tokens: JSON Web Tokens (RFC 7519) as an organisation's single
// sign-on issues them, verified offline against the issuers' public keys.
// The console and other browser clients present one in the
// "authorization: Bearer <token>" header instead of a client certificate.
//
// The issuers file (--token-issuers, JSON):
//
//   [{"issuer": "https://sso.example.gov", "audience": "gridcase",
//     "keys": {"key-2026": "/etc/gridcase/sso-key-2026.pem"}}]
//
// A token is accepted when its header names a key ("kid") of the issuer
// its "iss" claim names, with that key's algorithm (RS256, ES256 or
// EdDSA; "none" never), its signature verifies, its "aud" is the issuer's
// audience, "exp" is in the future and "nbf" (if any) in the past (a
// minute of leeway either way), and "sub" names the caller:
// "gridcase:person:<id>" (or a bare person id) or "gridcase:app:<id>".
#ifndef GRIDCASE_SERVICES_SECURITY_TOKEN_H_
#define GRIDCASE_SERVICES_SECURITY_TOKEN_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gridcase::security {

class TokenVerifier {
 public:
  // Reads the issuers file and the public keys it names.
  static absl::StatusOr<std::shared_ptr<const TokenVerifier>> Load(const std::string& path);
  // The same from the file's text; key files are read from disk.
  static absl::StatusOr<std::shared_ptr<const TokenVerifier>> Parse(const std::string& json);
  ~TokenVerifier();

  // The subject ("gridcase:person:w1") of a valid `token` at `now_unix_s`;
  // UNAUTHENTICATED saying what is wrong otherwise (never echoing the
  // token).
  absl::StatusOr<std::string> Verify(absl::string_view token, int64_t now_unix_s) const;

  static constexpr int64_t kLeewayS = 60;

  struct Key;  // a public key and its algorithm (token.cc)

 private:
  struct Issuer {
    std::string audience;
    std::map<std::string, std::shared_ptr<Key>> keys;  // by kid
  };
  TokenVerifier() = default;
  std::map<std::string, Issuer> issuers_;
};

}  // namespace gridcase::security

#endif  // GRIDCASE_SERVICES_SECURITY_TOKEN_H_
