#include "services/security/token.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace gridcase::security {

struct TokenVerifier::Key {
  EVP_PKEY* pkey = nullptr;
  std::string alg;  // "RS256", "ES256" or "EdDSA"
  ~Key() { EVP_PKEY_free(pkey); }
};

namespace {

absl::Status Refused(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("bearer token refused: ", why));
}

absl::StatusOr<std::string> AlgorithmOf(EVP_PKEY* key, const std::string& path) {
  switch (EVP_PKEY_base_id(key)) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_bits(key) < 2048) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": RSA keys of 2048 bits or more"));
      }
      return std::string("RS256");
    case EVP_PKEY_EC:
      if (EVP_PKEY_bits(key) != 256) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": EC keys on P-256 only (ES256)"));
      }
      return std::string("ES256");
    case EVP_PKEY_ED25519:
      return std::string("EdDSA");
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": not an RSA, P-256 or Ed25519 public key"));
  }
}

// ES256 signatures are r || s, 32 bytes each; OpenSSL wants DER.
std::string EcdsaDer(absl::string_view raw) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  ECDSA_SIG_set0(sig, r, s);
  unsigned char* der = nullptr;
  const int n = i2d_ECDSA_SIG(sig, &der);
  std::string out = n > 0 ? std::string(reinterpret_cast<char*>(der), n) : std::string();
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

bool SignatureValid(EVP_PKEY* key, const std::string& alg, absl::string_view signed_part,
                    std::string signature) {
  if (alg == "ES256") {
    if (signature.size() != 64) return false;
    signature = EcdsaDer(signature);
  }
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  const EVP_MD* md = alg == "EdDSA" ? nullptr : EVP_sha256();
  const bool ok =
      EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size()) == 1;
  ERR_clear_error();
  return ok;
}

absl::StatusOr<nlohmann::json> DecodePart(absl::string_view part, absl::string_view what) {
  std::string text;
  if (!absl::WebSafeBase64Unescape(part, &text)) {
    return Refused(absl::StrCat("its ", what, " is not base64url"));
  }
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return Refused(absl::StrCat("its ", what, " is not a JSON object"));
  }
  return json;
}

// Whether the "aud" claim (a string or a list of them) holds `audience`.
bool HasAudience(const nlohmann::json& claims, const std::string& audience) {
  if (!claims.contains("aud")) return false;
  const auto& aud = claims["aud"];
  if (aud.is_string()) return aud == audience;
  if (!aud.is_array()) return false;
  for (const auto& a : aud) {
    if (a.is_string() && a == audience) return true;
  }
  return false;
}

absl::Status CheckTimes(const nlohmann::json& claims, int64_t now) {
  if (!claims.contains("exp") || !claims["exp"].is_number()) return Refused("it has no \"exp\"");
  const int64_t exp = claims["exp"].get<int64_t>();
  if (now > exp + TokenVerifier::kLeewayS) {
    return Refused(absl::StrCat("it expired ", now - exp, " s ago"));
  }
  if (claims.contains("nbf")) {
    if (!claims["nbf"].is_number()) return Refused("its \"nbf\" is not a number");
    const int64_t nbf = claims["nbf"].get<int64_t>();
    if (now + TokenVerifier::kLeewayS < nbf) {
      return Refused(absl::StrCat("it is not valid for another ", nbf - now, " s"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

TokenVerifier::~TokenVerifier() = default;

namespace {

absl::StatusOr<std::shared_ptr<TokenVerifier::Key>> ReadKey(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot be read"));
  EVP_PKEY* pkey = PEM_read_PUBKEY(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  ERR_clear_error();
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no PEM public key in it"));
  }
  auto key = std::make_shared<TokenVerifier::Key>();
  key->pkey = pkey;
  auto alg = AlgorithmOf(pkey, path);
  if (!alg.ok()) return alg.status();
  key->alg = *alg;
  return key;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const TokenVerifier>> TokenVerifier::Parse(const std::string& json) {
  auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("token issuers file: ", what));
  };
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_array()) return bad("not a JSON list of issuers");
  std::shared_ptr<TokenVerifier> verifier(new TokenVerifier());
  for (size_t i = 0; i < doc.size(); ++i) {
    const auto& entry = doc[i];
    const std::string where = absl::StrCat("issuer ", i + 1);
    if (!entry.is_object() || !entry.contains("issuer") || !entry["issuer"].is_string() ||
        !entry.contains("audience") || !entry["audience"].is_string() || !entry.contains("keys") ||
        !entry["keys"].is_object() || entry["keys"].empty()) {
      return bad(where + ": needs \"issuer\", \"audience\" and \"keys\" {kid: PEM file}");
    }
    Issuer issuer;
    issuer.audience = entry["audience"];
    for (const auto& [kid, path] : entry["keys"].items()) {
      if (!path.is_string()) return bad(absl::StrCat(where, ": key ", kid, ": a file path"));
      auto key = ReadKey(path);
      if (!key.ok()) return bad(absl::StrCat(where, ": key ", kid, ": ", key.status().message()));
      issuer.keys[kid] = *key;
    }
    if (!verifier->issuers_.emplace(entry["issuer"], std::move(issuer)).second) {
      return bad(absl::StrCat(where, ": issuer ", std::string(entry["issuer"]), " twice"));
    }
  }
  return std::shared_ptr<const TokenVerifier>(verifier);
}

absl::StatusOr<std::shared_ptr<const TokenVerifier>> TokenVerifier::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return absl::InvalidArgumentError(absl::StrCat("token issuers file ", path, ": unreadable"));
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str());
}

absl::StatusOr<std::string> TokenVerifier::Verify(absl::string_view token,
                                                  int64_t now_unix_s) const {
  if (token.size() > 16384) return Refused("it is longer than 16 KiB");
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return Refused("it is not three base64url parts joined by '.'");
  auto header = DecodePart(parts[0], "header");
  if (!header.ok()) return header.status();
  auto claims = DecodePart(parts[1], "claims");
  if (!claims.ok()) return claims.status();
  if (!claims->contains("iss") || !(*claims)["iss"].is_string()) return Refused("no \"iss\"");
  const std::string iss = (*claims)["iss"];
  auto issuer = issuers_.find(iss);
  if (issuer == issuers_.end()) return Refused(absl::StrCat("issuer ", iss, " is not trusted"));
  if (!header->contains("kid") || !(*header)["kid"].is_string()) {
    return Refused("its header names no key (\"kid\")");
  }
  auto key = issuer->second.keys.find((*header)["kid"]);
  if (key == issuer->second.keys.end()) {
    return Refused(absl::StrCat("issuer ", iss, " has no key ", std::string((*header)["kid"])));
  }
  if (!header->contains("alg") || (*header)["alg"] != key->second->alg) {
    return Refused(absl::StrCat("key ", std::string((*header)["kid"]), " signs with ",
                                key->second->alg, " only"));
  }
  std::string signature;
  if (!absl::WebSafeBase64Unescape(parts[2], &signature) ||
      !SignatureValid(key->second->pkey, key->second->alg,
                      token.substr(0, parts[0].size() + 1 + parts[1].size()), signature)) {
    return Refused("its signature does not verify");
  }
  if (!HasAudience(*claims, issuer->second.audience)) {
    return Refused(absl::StrCat("it is not for audience ", issuer->second.audience));
  }
  if (auto st = CheckTimes(*claims, now_unix_s); !st.ok()) return st;
  if (!claims->contains("sub") || !(*claims)["sub"].is_string() ||
      std::string((*claims)["sub"]).empty()) {
    return Refused("it names no subject (\"sub\")");
  }
  std::string sub = (*claims)["sub"];
  if (sub.rfind("gridcase:", 0) != 0) sub = "gridcase:person:" + sub;
  return sub;
}

}  // namespace gridcase::security
