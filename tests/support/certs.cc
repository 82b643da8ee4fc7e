#include "tests/support/certs.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <fstream>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace gridcase::testing {
namespace {

EVP_PKEY* NewKey() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) {
    ADD_FAILURE() << "cannot generate a P-256 key";
    std::abort();
  }
  return key;
}

std::string KeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, n);
  BIO_free(bio);
  return pem;
}

std::string CertPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, n);
  BIO_free(bio);
  return pem;
}

void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  if (value.empty()) return;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) {
    ADD_FAILURE() << "bad extension " << OBJ_nid2sn(nid) << "=" << value;
    std::abort();
  }
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` and `spec`, signed by `issuer_key` as `issuer`
// (null: self-signed).
X509* MakeCert(EVP_PKEY* key, const CertSpec& spec, X509* issuer, EVP_PKEY* issuer_key) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert), spec.not_before_s);
  X509_gmtime_adj(X509_getm_notAfter(cert), spec.not_after_s);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("gridcase tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert;
  X509_set_issuer_name(cert, X509_get_subject_name(signer));
  AddExtension(cert, signer, NID_basic_constraints, spec.is_ca ? "critical,CA:TRUE" : "CA:FALSE");
  AddExtension(cert, signer, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) AddExtension(cert, signer, NID_authority_key_identifier, "keyid");
  AddExtension(cert, signer, NID_key_usage,
               spec.is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  if (!spec.is_ca) AddExtension(cert, signer, NID_ext_key_usage, spec.extended_key_usage);
  AddExtension(cert, signer, NID_subject_alt_name, spec.alt_names);
  X509_sign(cert, issuer_key != nullptr ? issuer_key : key, EVP_sha256());
  return cert;
}

}  // namespace

struct TestCa::Key {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~Key() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

TestCa::TestCa(const std::string& name) : key_(std::make_unique<Key>()), name_(name) {
  key_->key = NewKey();
  CertSpec spec;
  spec.common_name = name;
  spec.is_ca = true;
  spec.not_after_s = 3650LL * 86400;
  key_->cert = MakeCert(key_->key, spec, nullptr, nullptr);
  self_ = {KeyPem(key_->key), CertPem(key_->cert)};
}

TestCa::~TestCa() = default;

KeyPair TestCa::Issue(const CertSpec& spec) const {
  EVP_PKEY* key = NewKey();
  X509* cert = MakeCert(key, spec, key_->cert, key_->key);
  KeyPair pair{KeyPem(key), CertPem(cert)};
  X509_free(cert);
  EVP_PKEY_free(key);
  return pair;
}

KeyPair TestCa::Server(const std::string& common_name) const {
  CertSpec spec;
  spec.common_name = common_name;
  spec.alt_names = "DNS:localhost,IP:127.0.0.1";
  spec.extended_key_usage = "serverAuth";
  return Issue(spec);
}

KeyPair TestCa::Client(const std::string& uri) const {
  CertSpec spec;
  spec.common_name = uri;
  spec.alt_names = "URI:" + uri;
  spec.extended_key_usage = "clientAuth";
  return Issue(spec);
}

std::string TestCa::Crl(const std::vector<std::string>& revoked, const TestCa* signer) const {
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(key_->cert));
  ASN1_TIME* now = X509_gmtime_adj(nullptr, -60);
  ASN1_TIME* next = X509_gmtime_adj(nullptr, 7 * 86400);
  X509_CRL_set1_lastUpdate(crl, now);
  X509_CRL_set1_nextUpdate(crl, next);
  for (const std::string& pem : revoked) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (cert == nullptr) std::abort();
    X509_REVOKED* entry = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(entry, X509_get_serialNumber(cert));
    X509_REVOKED_set_revocationDate(entry, now);
    X509_CRL_add0_revoked(crl, entry);
    X509_free(cert);
  }
  X509_CRL_sort(crl);
  X509_CRL_sign(crl, (signer != nullptr ? signer : this)->key_->key, EVP_sha256());
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_CRL(out, crl);
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  std::string text(data, static_cast<size_t>(n));
  BIO_free(out);
  ASN1_TIME_free(now);
  ASN1_TIME_free(next);
  X509_CRL_free(crl);
  return text;
}

TestIssuer::TestIssuer() : key_(NewKey()) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, static_cast<EVP_PKEY*>(key_));
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  public_pem_.assign(data, n);
  BIO_free(bio);
}

TestIssuer::~TestIssuer() { EVP_PKEY_free(static_cast<EVP_PKEY*>(key_)); }

std::string Base64Url(const std::string& bytes) {
  std::string out;
  absl::WebSafeBase64Escape(bytes, &out);
  return out;
}

std::string TestIssuer::Sign(const std::string& header_json, const std::string& claims_json) const {
  const std::string input = Base64Url(header_json) + "." + Base64Url(claims_json);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, static_cast<EVP_PKEY*>(key_));
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string der(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  EVP_MD_CTX_free(ctx);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return input + "." + Base64Url(raw);
}

void WriteFileWithMode(const std::string& path, const std::string& bytes, unsigned mode) {
  {
    std::ofstream out(path, std::ios::trunc | std::ios::binary);
    out << bytes;
  }
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

}  // namespace gridcase::testing
