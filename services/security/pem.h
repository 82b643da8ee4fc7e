// OpenSSL objects owned by unique_ptr, and PEM text read into them: what
// the TLS identity and the revocation lists share.
#ifndef GRIDCASE_SERVICES_SECURITY_PEM_H_
#define GRIDCASE_SERVICES_SECURITY_PEM_H_

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

namespace gridcase::security::pem {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct CrlFree {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using CrlPtr = std::unique_ptr<X509_CRL, CrlFree>;

inline BioPtr MemoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Every certificate of a PEM text, in order.
inline std::vector<X509Ptr> ReadCertificates(const std::string& text) {
  std::vector<X509Ptr> certs;
  BioPtr bio = MemoryBio(text);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(x);
  ERR_clear_error();  // the end of the text reads as an error
  return certs;
}

// Every certificate revocation list of a PEM text, in order.
inline std::vector<CrlPtr> ReadCrls(const std::string& text) {
  std::vector<CrlPtr> crls;
  BioPtr bio = MemoryBio(text);
  while (X509_CRL* c = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) {
    crls.emplace_back(c);
  }
  ERR_clear_error();
  return crls;
}

}  // namespace gridcase::security::pem

#endif  // GRIDCASE_SERVICES_SECURITY_PEM_H_
