#include "services/security/tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/file_modes.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "services/security/pem.h"

namespace gridcase::security {
namespace {

namespace fs = std::filesystem;

using pem::BioPtr;
using pem::MemoryBio;
using pem::PkeyFree;
using pem::ReadCertificates;
using pem::X509Ptr;

std::string TimeText(const ASN1_TIME* t) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(bio.get(), t);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n);
}

absl::StatusOr<std::string> ReadWhole(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, ": cannot be read (", std::strerror(errno), ")"));
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Sha256(const std::string& bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof digest);
}

// A private directory for the vetted copy, in memory where the machine
// offers it, so that the key never reaches a disk a second time: systemd's
// runtime directory (RuntimeDirectory=, on /run), else /dev/shm, else
// TMPDIR or /tmp.
absl::StatusOr<std::string> MakeStagingDir() {
  std::vector<std::string> bases;
  if (const char* run = std::getenv("RUNTIME_DIRECTORY"); run != nullptr && *run != '\0') {
    bases.emplace_back(run);
  }
  bases.emplace_back("/dev/shm");
  const char* tmp = std::getenv("TMPDIR");
  bases.emplace_back(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp");
  std::string tried;
  for (const std::string& base : bases) {
    std::string pattern = base + "/gridcased-tls-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) return pattern;
    absl::StrAppend(&tried, tried.empty() ? "" : ", ", base, " (", std::strerror(errno), ")");
  }
  return absl::UnavailableError(
      absl::StrCat("cannot make a private directory for the TLS key in ", tried));
}

// Writes `bytes` to `path` for its owner alone, replacing it at once
// (rename), with a modification time of `mtime_s`.
absl::Status WriteReplacing(const std::string& path, const std::string& bytes, int64_t mtime_s) {
  const std::string tmp = path + ".new";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("writing ", tmp, ": ", strerror(errno)));
  const bool written =
      ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  const struct timespec times[2] = {{mtime_s, 0}, {mtime_s, 0}};
  const bool timed = ::futimens(fd, times) == 0;
  ::close(fd);
  if (!written || !timed || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("writing ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status VetIdentity(const std::string& key_pem, const std::string& chain_pem,
                         int64_t now_unix_s, bool for_server) {
  std::vector<X509Ptr> chain = ReadCertificates(chain_pem);
  if (chain.empty()) return absl::InvalidArgumentError("certificate: no PEM certificate in it");
  BioPtr key_bio = MemoryBio(key_pem);
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        "private key: no unencrypted PEM private key in it (encrypted keys are not supported)");
  }
  X509* leaf = chain.front().get();
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the private key is not the certificate's");
  }
  time_t now = static_cast<time_t>(now_unix_s);
  if (X509_cmp_time(X509_get0_notBefore(leaf), &now) > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the certificate is not valid before ", TimeText(X509_get0_notBefore(leaf))));
  }
  if (X509_cmp_time(X509_get0_notAfter(leaf), &now) < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the certificate expired at ", TimeText(X509_get0_notAfter(leaf))));
  }
  const int purpose = for_server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT;
  if (X509_check_purpose(leaf, purpose, 0) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the certificate's key usage does not allow a TLS ",
                     for_server ? "server" : "client", " (keyUsage / extendedKeyUsage)"));
  }
  return absl::OkStatus();
}

absl::Status VetCaBundle(const std::string& pem) {
  std::vector<X509Ptr> certs = ReadCertificates(pem);
  if (certs.empty()) return absl::InvalidArgumentError("CA bundle: no PEM certificate in it");
  for (size_t i = 0; i < certs.size(); ++i) {
    if (X509_check_ca(certs[i].get()) < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("CA bundle: certificate ", i + 1, " is not a CA certificate"));
    }
  }
  return absl::OkStatus();
}

TlsIdentity::TlsIdentity(const ServerTlsOptions& options, std::function<int64_t()> now, Log log)
    : options_(options), now_(std::move(now)), log_(std::move(log)) {}

absl::StatusOr<std::unique_ptr<TlsIdentity>> TlsIdentity::Start(const ServerTlsOptions& options,
                                                                std::function<int64_t()> now,
                                                                Log log) {
  if (options.cert_path.empty() || options.key_path.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a private key file");
  }
  if (auto st = CheckFileExposure(options.key_path, Exposure::kOwnerOnly, "TLS private key");
      !st.ok()) {
    return st;
  }
  if (!options.crl_path.empty() && options.client_ca_path.empty()) {
    return absl::InvalidArgumentError(
        "--tls-crl needs --tls-client-ca: revocation lists are of client CAs");
  }
  std::unique_ptr<TlsIdentity> identity(new TlsIdentity(options, std::move(now), std::move(log)));
  auto staging = MakeStagingDir();
  if (!staging.ok()) return staging.status();
  identity->staging_dir_ = *staging;
  {
    absl::MutexLock lock(&identity->mu_);
    if (auto st = identity->ReloadLocked(); !st.ok()) return st;
  }
  const std::string staged = identity->staging_dir_ + "/identity.pem";
  const std::string ca =
      options.client_ca_path.empty() ? "" : identity->staging_dir_ + "/client-ca.pem";
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      staged, staged, ca, std::max(1u, options.reload_every_s));
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (ca.empty()) {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    tls.watch_root_certs();
    if (!options.crl_path.empty())
      tls.set_certificate_verifier(RevocationVerifier(identity->revocations_));
    tls.set_cert_request_type(options.require_client_cert
                                  ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                  : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  identity->credentials_ = grpc::experimental::TlsServerCredentials(tls);
  identity->watcher_ = std::thread([raw = identity.get()] {
    absl::MutexLock lock(&raw->mu_);
    // On the monotonic clock, as every wait for time to pass.
    while (!raw->waiter_.WaitFor(
        &raw->mu_, std::chrono::seconds(std::max(1u, raw->options_.reload_every_s)),
        [raw]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(raw->mu_) { return raw->stop_; })) {
      (void)raw->ReloadLocked();  // said in the log and counted
    }
  });
  return identity;
}

TlsIdentity::~TlsIdentity() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    waiter_.Notify();
  }
  if (watcher_.joinable()) watcher_.join();
  std::error_code ec;
  if (!staging_dir_.empty()) fs::remove_all(staging_dir_, ec);
}

absl::Status TlsIdentity::Reload() {
  absl::MutexLock lock(&mu_);
  return ReloadLocked();
}

TlsIdentity::Counts TlsIdentity::counts() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

absl::Status TlsIdentity::ReloadLocked() {
  auto key = ReadWhole(options_.key_path, "TLS private key");
  auto chain = key.ok() ? ReadWhole(options_.cert_path, "TLS certificate") : key.status();
  absl::StatusOr<std::string> ca = std::string();
  if (chain.ok() && !options_.client_ca_path.empty()) {
    ca = ReadWhole(options_.client_ca_path, "client CA bundle");
  }
  absl::StatusOr<std::string> crl = std::string();
  if (ca.ok() && !options_.crl_path.empty()) crl = ReadWhole(options_.crl_path, "revocation lists");
  absl::Status st = crl.status();
  std::string fingerprint;
  std::shared_ptr<const Revocations> revocations;
  if (st.ok()) {
    fingerprint = Sha256(*key + '\0' + *chain + '\0' + *ca + '\0' + *crl);
    if (fingerprint == fingerprint_) return refusal_;
    st = VetIdentity(*key, *chain, now_(), /*for_server=*/true);
    if (!st.ok()) {
      st = absl::InvalidArgumentError(
          absl::StrCat(options_.cert_path, " and ", options_.key_path, ": ", st.message()));
    } else if (!options_.client_ca_path.empty()) {
      st = VetCaBundle(*ca);
      if (!st.ok()) {
        st = absl::InvalidArgumentError(absl::StrCat(options_.client_ca_path, ": ", st.message()));
      }
    }
    if (st.ok() && !options_.crl_path.empty()) {
      auto vetted = VetRevocations(*crl, *ca, *chain);
      st = vetted.status();
      if (vetted.ok()) revocations = *std::move(vetted);
    }
  }
  const bool first = fingerprint_.empty();
  if (st.ok()) st = StageLocked(*key + "\n" + *chain, *ca);
  if (st.ok() && revocations != nullptr) revocations_->Set(std::move(revocations));
  if (first) {
    if (st.ok()) fingerprint_ = fingerprint;
    return st;  // a bad pair at the start fails the start
  }
  if (!st.ok()) {
    // Refused once per content: the watcher does not say it again every
    // few seconds, and the pair in use keeps serving.
    if (!fingerprint.empty()) {
      fingerprint_ = fingerprint;
      refusal_ = st;
    }
    ++counts_.refused;
    log_(true,
         absl::StrCat("TLS: new files refused, the pair in use keeps serving: ", st.message()));
    return st;
  }
  fingerprint_ = fingerprint;
  refusal_ = absl::OkStatus();
  ++counts_.accepted;
  log_(false, absl::StrCat("TLS: new certificate files taken into use (", options_.cert_path, ")"));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Revocations>> TlsIdentity::VetRevocations(
    const std::string& crl, const std::string& ca, const std::string& chain) const {
  auto lists = Revocations::Parse(crl, ca);
  if (!lists.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options_.crl_path, ": ", lists.status().message()));
  }
  if (lists->RevokesPem(chain)) {
    return absl::InvalidArgumentError(
        absl::StrCat(options_.cert_path, ": the certificate is revoked by ", options_.crl_path));
  }
  return std::make_shared<const Revocations>(*std::move(lists));
}

absl::Status TlsIdentity::StageLocked(const std::string& identity, const std::string& ca) {
  // gRPC reads key and certificate from the same file, one after the
  // other, and reads again when its modification time (in seconds) moved
  // meanwhile: every staged copy carries a later second than the last.
  const int64_t mtime = std::max<int64_t>(now_(), staged_mtime_s_ + 1);
  if (!options_.client_ca_path.empty()) {
    if (auto st = WriteReplacing(staging_dir_ + "/client-ca.pem", ca, mtime); !st.ok()) return st;
  }
  if (auto st = WriteReplacing(staging_dir_ + "/identity.pem", identity, mtime); !st.ok()) {
    return st;
  }
  staged_mtime_s_ = mtime;
  return absl::OkStatus();
}

void ClientTlsFromEnvironment(ClientTlsOptions* options) {
  auto fill = [](std::string* field, const char* name) {
    const char* value = std::getenv(name);
    if (field->empty() && value != nullptr) *field = value;
  };
  fill(&options->ca_path, "GRIDCASE_CA");
  fill(&options->cert_path, "GRIDCASE_CERT");
  fill(&options->key_path, "GRIDCASE_KEY");
  fill(&options->server_name, "GRIDCASE_SERVER_NAME");
  fill(&options->token, "GRIDCASE_TOKEN");
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(
    const ClientTlsOptions& options) {
  if (!options.enabled()) {
    if (!options.token.empty()) {
      return absl::InvalidArgumentError(
          "a bearer token is sent only over TLS: give the CA bundle of the server's certificate "
          "(--ca or GRIDCASE_CA)");
    }
    if (!options.cert_path.empty() || !options.key_path.empty()) {
      return absl::InvalidArgumentError(
          "a client certificate needs the CA bundle of the server's certificate too "
          "(--ca or GRIDCASE_CA)");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  auto ca = ReadWhole(options.ca_path, "CA bundle");
  if (!ca.ok()) return ca.status();
  if (ReadCertificates(*ca).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CA bundle ", options.ca_path, ": no PEM certificate in it"));
  }
  ssl.pem_root_certs = *ca;
  if (options.cert_path.empty() != options.key_path.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate and its private key go together (--cert and --key)");
  }
  if (!options.cert_path.empty()) {
    auto cert = ReadWhole(options.cert_path, "client certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadWhole(options.key_path, "client private key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  auto channel = grpc::SslCredentials(ssl);
  if (options.token.empty()) return channel;
  return grpc::CompositeChannelCredentials(channel, grpc::AccessTokenCredentials(options.token));
}

grpc::ChannelArguments ClientChannelArguments(const ClientTlsOptions& options) {
  grpc::ChannelArguments args;
  if (options.enabled() && !options.server_name.empty()) {
    args.SetSslTargetNameOverride(options.server_name);
  }
  return args;
}

bool IsLoopbackHost(const std::string& host) {
  std::string h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace gridcase::security
