// The gRPC server around an engine: EventService, CaseService,
// AdminService, AuditService, the standard health service and (when asked)
// server reflection, on one listening address.
#ifndef GRIDCASE_SERVICES_API_SERVER_H_
#define GRIDCASE_SERVICES_API_SERVER_H_

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/monotonic_wait.h"
#include "engine/engine.h"
#include "grpcpp/grpcpp.h"
#include "services/api/admin_service.h"
#include "services/api/audit_service.h"
#include "services/api/case_service.h"
#include "services/api/event_service.h"
#include "services/api/read_audit.h"
#include "services/security/gate.h"
#include "services/security/page_tokens.h"

namespace gridcase::api {

struct ServerOptions {
  // host:port; port 0 picks a free port (see Server::port()).
  std::string listen_address = "127.0.0.1:7070";
  size_t stream_in_flight_max = 1024;
  // gRPC's own ceiling. Events are checked against the 1 MiB event limit by
  // validation, which names the field; this only stops absurd messages.
  int receive_bytes_max = 4 << 20;
  // AdminService.GetKafkaStatus; empty: the server runs without Kafka.
  AdminServiceImpl::KafkaStatusFn kafka_status;
  // TLS (security::TlsIdentity::credentials()); null: plaintext, which is
  // refused on an address other machines can reach unless
  // `plaintext_beyond_loopback` says the operator knows it is insecure.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  bool plaintext_beyond_loopback = false;
  // Who may call, and what (docs/security.md). development: callers on
  // loopback without a certificate may do everything; refused on an
  // address beyond loopback.
  security::GateOptions access;
  // gRPC server reflection (v1alpha), for tools like grpcurl.
  bool reflection = false;
  // The key page tokens are sealed with (page_tokens.h), from a file that
  // is its owner's alone; empty: random at each start.
  std::string page_token_key_file;
  // How often gRPC health is brought in line with the partitions (see
  // Server).
  std::chrono::milliseconds health_period{200};
};

// The services gRPC health reports on. Writes: "" (the server as a whole)
// and EventService are NOT_SERVING while any partition takes no writes (a
// storage failure, a full disk, a jumped clock: Engine::WriteRefusals()),
// and SERVING again once every partition does; reads (CaseService,
// AuditService, AdminService) stay SERVING, since they are still answered.
inline constexpr const char* kWriteHealthServices[] = {"", "gridcase.v1.EventService"};
inline constexpr const char* kReadHealthServices[] = {
    "gridcase.v1.CaseService", "gridcase.v1.AuditService", "gridcase.v1.AdminService"};

class Server {
 public:
  // Starts serving. `engine` must outlive the server.
  // `engine` and `clock` must outlive the server.
  static absl::StatusOr<std::unique_ptr<Server>> Start(Engine* engine, const Clock* clock,
                                                       const ServerOptions& options);
  ~Server();

  int port() const { return port_; }
  // host:port actually bound.
  std::string address() const;

  // Marks the server NOT_SERVING, stops accepting calls and waits for those
  // in flight, cancelling any still running at `deadline`. Submissions
  // already handed to the engine are still answered: the engine outlives
  // this call. Idempotent.
  void Shutdown(std::chrono::system_clock::time_point deadline);

 private:
  Server(Engine* engine, const Clock* clock, const ServerOptions& options,
         security::PageTokens tokens);
  // The health thread: every health_period, health follows the partitions.
  void WatchHealth(std::chrono::milliseconds period);
  void StopWatchingHealth();

  Engine* const engine_;

  std::string host_;
  int port_ = 0;
  ReadAudit reads_;
  security::Gate gate_;
  const security::PageTokens tokens_;
  EventServiceImpl events_;
  CaseServiceImpl cases_;
  AdminServiceImpl admin_;
  AuditServiceImpl audit_;
  std::unique_ptr<grpc::Server> server_;
  bool shut_down_ = false;
  absl::Mutex health_mu_;
  bool health_stopping_ ABSL_GUARDED_BY(health_mu_) = false;
  MonotonicWaiter health_waiter_;
  std::thread health_thread_;
};

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_SERVER_H_
