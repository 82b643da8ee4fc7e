#include "services/api/server.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "services/api/unparsed_request.h"
#include "services/logging/logging.h"
#include "services/security/tls.h"

namespace gridcase::api {
namespace {

// Linking gRPC's reflection installs it in every server (a static
// initializer registers the plugin): this option takes it out again.
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->erase(
        std::remove_if(plugins->begin(), plugins->end(),
                       [](const std::unique_ptr<grpc::ServerBuilderPlugin>& p) {
                         return dynamic_cast<grpc::reflection::ProtoServerReflectionPlugin*>(
                                    p.get()) != nullptr;
                       }),
        plugins->end());
  }
};

// The gate's options, with break-glass reads counted from the access log.
security::GateOptions WithBreakGlassCount(security::GateOptions options, AccessLog* access,
                                          const Clock* clock) {
  options.break_glass_last_hour = [access, clock](const std::string& caller) {
    constexpr int64_t kHourUs = int64_t{3600} * 1'000'000;
    return access->CountBreakGlass(caller, clock->NowMicros() - kHourUs);
  };
  return options;
}

}  // namespace

Server::Server(Engine* engine, const Clock* clock, const ServerOptions& options,
               security::PageTokens tokens)
    : engine_(engine),
      reads_(&engine->access(), &engine->staffing().directory()),
      gate_(&engine->staffing().directory(),
            WithBreakGlassCount(options.access, &engine->access(), clock)),
      tokens_(std::move(tokens)),
      events_(engine, &gate_, options.stream_in_flight_max),
      cases_(engine, &gate_, &reads_, &tokens_),
      admin_(engine, clock, &gate_, &reads_, options.kafka_status),
      audit_(engine, &engine->access(), &gate_, &reads_, &tokens_) {}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(Engine* engine, const Clock* clock,
                                                      const ServerOptions& options) {
  const std::string& addr = options.listen_address;
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address ", addr, ": expected host:port"));
  }
  auto tokens = options.page_token_key_file.empty()
                    ? absl::StatusOr<security::PageTokens>(security::PageTokens::Random())
                    : security::PageTokens::FromFile(options.page_token_key_file);
  if (!tokens.ok()) return tokens.status();
  std::unique_ptr<Server> server(new Server(engine, clock, options, std::move(*tokens)));
  server->host_ = addr.substr(0, colon);
  if (options.access.development && !security::IsLoopbackHost(server->host_)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "development mode trusts every caller without a certificate; it serves loopback "
        "only, not ",
        addr));
  }
  if (options.credentials == nullptr && !options.plaintext_beyond_loopback &&
      !security::IsLoopbackHost(server->host_)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to serve plaintext on ", addr,
        ", which other machines can reach: health data would cross the network unencrypted "
        "and unauthenticated. Give a TLS certificate and key (--tls-cert, --tls-key), listen "
        "on a loopback address, or say --insecure-plaintext if the network itself is "
        "trusted"));
  }

  grpc::EnableDefaultHealthCheckService(true);
  if (options.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!options.reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  builder.AddListeningPort(
      addr, options.credentials ? options.credentials : grpc::InsecureServerCredentials(),
      &server->port_);
  builder.SetMaxReceiveMessageSize(options.receive_bytes_max);
  AddUnparsedRequestRefusal(builder);
  builder.RegisterService(&server->events_);
  builder.RegisterService(&server->cases_);
  builder.RegisterService(&server->admin_);
  builder.RegisterService(&server->audit_);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", addr));
  }
  auto* health = server->server_->GetHealthCheckService();
  health->SetServingStatus(true);
  for (const char* service : kWriteHealthServices) health->SetServingStatus(service, true);
  for (const char* service : kReadHealthServices) health->SetServingStatus(service, true);
  server->health_thread_ =
      std::thread([s = server.get(), period = options.health_period] { s->WatchHealth(period); });
  return server;
}

Server::~Server() {
  Shutdown(std::chrono::system_clock::now());
  StopWatchingHealth();
}

void Server::WatchHealth(std::chrono::milliseconds period) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  std::vector<absl::Status> said(engine_->partition_count());
  bool serving = true;
  absl::MutexLock lock(&health_mu_);
  while (!health_stopping_) {
    const std::vector<absl::Status> now = engine_->WriteRefusals();
    bool all = true;
    for (size_t i = 0; i < now.size(); ++i) {
      all = all && now[i].ok();
      if (now[i] == said[i]) continue;
      // Each change once, with its reason (never personal: storage, disk
      // and clock words only).
      if (now[i].ok()) {
        logging::Component("api").warn("partition {} takes writes again", i);
      } else {
        logging::Component("api").error("partition {} refuses writes: {}", i,
                                        std::string(now[i].message()));
      }
      said[i] = now[i];
    }
    if (all != serving) {
      serving = all;
      for (const char* service : kWriteHealthServices) health->SetServingStatus(service, all);
    }
    health_waiter_.WaitFor(&health_mu_, period, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(health_mu_) {
      return health_stopping_;
    });
  }
}

void Server::StopWatchingHealth() {
  {
    absl::MutexLock lock(&health_mu_);
    health_stopping_ = true;
    health_waiter_.Notify();
  }
  if (health_thread_.joinable()) health_thread_.join();
}

std::string Server::address() const { return absl::StrCat(host_, ":", port_); }

void Server::Shutdown(std::chrono::system_clock::time_point deadline) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  StopWatchingHealth();
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(deadline);
  server_->Wait();
}

}  // namespace gridcase::api
