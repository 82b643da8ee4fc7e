// Transport security: the server's TLS identity, vetted before use and
// reloaded from disk while serving, the client CA bundle that mutual TLS
// checks applications' certificates against, and the client side's
// credentials for the CLI, the bench and the tests.
//
// gRPC's FileWatcherCertificateProvider reloads whatever files it is
// pointed at, a mismatched or expired pair included, which would take the
// server off the air until someone notices. So gridcased points it at a
// private copy instead (a directory only its user may enter, in memory when
// the machine has /dev/shm) and replaces that copy only with a pair it has
// checked: key and certificate match, the certificate is valid now and made
// for a server. A bad new pair is refused, said in the log and counted, and
// the good one keeps serving.
#ifndef GRIDCASE_SERVICES_SECURITY_TLS_H_
#define GRIDCASE_SERVICES_SECURITY_TLS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/monotonic_wait.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "services/security/revocation.h"

namespace gridcase::security {

// What a PEM file holds, checked. `now_unix_s` is the moment validity is
// judged at.
//
// A private key and its certificate chain (leaf first): both parse, the key
// is the leaf's, the leaf is valid at `now_unix_s` and, when `for_server`,
// may serve TLS (its key usage and extended key usage allow it).
absl::Status VetIdentity(const std::string& key_pem, const std::string& chain_pem,
                         int64_t now_unix_s, bool for_server);
// A bundle of CA certificates: at least one, every one a CA.
absl::Status VetCaBundle(const std::string& pem);

struct ServerTlsOptions {
  std::string cert_path;  // PEM chain, leaf first
  std::string key_path;   // PEM private key; only its owner may read it
  // CA bundle client certificates must chain to (mutual TLS). Empty: the
  // server does not ask for client certificates.
  std::string client_ca_path;
  // Revocation lists (PEM) of the client CAs (revocation.h); needs
  // client_ca_path. Empty: none.
  std::string crl_path;
  // Whether a client without a certificate fails the handshake. When
  // bearer tokens are also accepted, a client may present either.
  bool require_client_cert = true;
  // How often the files are looked at for a new pair (and gRPC looks at
  // the vetted copy), in seconds.
  unsigned reload_every_s = 10;
};

// Watches the configured files, vets what they hold and keeps the vetted
// copy that gRPC serves from up to date.
class TlsIdentity {
 public:
  using Log = std::function<void(bool error, const std::string& line)>;

  // Vets the files as they are now: a bad pair fails the start. `now`
  // gives Unix seconds (the validity check's clock).
  static absl::StatusOr<std::unique_ptr<TlsIdentity>> Start(const ServerTlsOptions& options,
                                                            std::function<int64_t()> now, Log log);
  ~TlsIdentity();

  // For grpc::ServerBuilder::AddListeningPort.
  std::shared_ptr<grpc::ServerCredentials> credentials() const { return credentials_; }

  // Looks at the files now (the watcher does so every reload_every_s):
  // OK when they were vetted and staged, now or before; otherwise what is
  // wrong with them, and the pair in use stays.
  absl::Status Reload();

  struct Counts {
    uint64_t accepted = 0;  // new pairs (or bundles) taken into use
    uint64_t refused = 0;   // new files refused; the old ones kept serving
  };
  Counts counts() const;

 private:
  TlsIdentity(const ServerTlsOptions& options, std::function<int64_t()> now, Log log);
  absl::Status ReloadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StageLocked(const std::string& identity, const std::string& ca)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The revocation lists of `crl` (vetted against the client CAs `ca`),
  // and that they do not revoke the server's own `chain`.
  absl::StatusOr<std::shared_ptr<const Revocations>> VetRevocations(const std::string& crl,
                                                                    const std::string& ca,
                                                                    const std::string& chain) const;

  const ServerTlsOptions options_;
  const std::function<int64_t()> now_;
  const Log log_;
  std::string staging_dir_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  // Read by gRPC's handshakes (revocation.h), replaced on reload.
  const std::shared_ptr<RevocationsInUse> revocations_ = std::make_shared<RevocationsInUse>();

  mutable absl::Mutex mu_;
  std::string fingerprint_ ABSL_GUARDED_BY(mu_);  // of the files last looked at
  absl::Status refusal_ ABSL_GUARDED_BY(mu_);     // why they were refused, if they were
  int64_t staged_mtime_s_ ABSL_GUARDED_BY(mu_) = 0;
  Counts counts_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  MonotonicWaiter waiter_;  // between reloads
  std::thread watcher_;
};

// The client side: what the CLI, the bench and the tests connect with.
struct ClientTlsOptions {
  std::string ca_path;    // CA bundle the server's certificate must chain to
  std::string cert_path;  // client certificate (mutual TLS); optional
  std::string key_path;
  // The name the server's certificate must carry, when it is not the host
  // of the address (e.g. connecting to 127.0.0.1 with a certificate for
  // "gridcase.local").
  std::string server_name;
  // A bearer token (JWT from single sign-on) sent with every call; TLS only.
  std::string token;

  bool enabled() const { return !ca_path.empty(); }
};

// Fills unset fields from GRIDCASE_CA, GRIDCASE_CERT, GRIDCASE_KEY,
// GRIDCASE_SERVER_NAME and GRIDCASE_TOKEN.
void ClientTlsFromEnvironment(ClientTlsOptions* options);

// Channel credentials: TLS when `options` name a CA, else plaintext.
// INVALID_ARGUMENT naming the file that cannot be read or parsed.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(
    const ClientTlsOptions& options);

// Channel arguments `options` call for (the server name override).
grpc::ChannelArguments ClientChannelArguments(const ClientTlsOptions& options);

// Whether `host` (of host:port) can only be reached from this machine.
bool IsLoopbackHost(const std::string& host);

}  // namespace gridcase::security

#endif  // GRIDCASE_SERVICES_SECURITY_TLS_H_
