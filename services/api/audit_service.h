// AuditService: proofs about the log.
//
// ReadLog is a long-lived server stream (follow mode keeps it open for
// hours), so it runs on gRPC's synchronous thread pool, one thread per
// stream, with blocking writes that carry the client's flow control back to
// the reader. The other methods use the callback API and run their store
// reads off the completion threads.
#ifndef GRIDCASE_SERVICES_API_AUDIT_SERVICE_H_
#define GRIDCASE_SERVICES_API_AUDIT_SERVICE_H_

#include <atomic>

#include "engine/engine.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "services/security/gate.h"

namespace gridcase::api {

using AuditServiceBase =
    v1::AuditService::WithCallbackMethod_VerifyLog<v1::AuditService::WithCallbackMethod_GetCaseAsOf<
        v1::AuditService::WithCallbackMethod_Checkpoint<v1::AuditService::Service>>>;

class AuditServiceImpl final : public AuditServiceBase {
 public:
  // Streams of ReadLog open at once at most; beyond: RESOURCE_EXHAUSTED.
  static constexpr int kReadersMax = 32;

  // `engine` must outlive the service.
  // `engine` and `gate` must outlive the service.
  AuditServiceImpl(const Engine* engine, const security::Gate* gate)
      : engine_(engine), gate_(gate) {}

  grpc::Status ReadLog(grpc::ServerContext* context, const v1::ReadLogRequest* request,
                       grpc::ServerWriter<v1::LogEntry>* writer) override;
  grpc::ServerUnaryReactor* Checkpoint(grpc::CallbackServerContext* context,
                                       const v1::CheckpointRequest* request,
                                       v1::CheckpointResponse* response) override;
  grpc::ServerUnaryReactor* VerifyLog(grpc::CallbackServerContext* context,
                                      const v1::VerifyLogRequest* request,
                                      v1::VerifyLogResponse* response) override;
  grpc::ServerUnaryReactor* GetCaseAsOf(grpc::CallbackServerContext* context,
                                        const v1::GetCaseAsOfRequest* request,
                                        v1::GetCaseAsOfResponse* response) override;

 private:
  const Engine* const engine_;
  const security::Gate* const gate_;
  std::atomic<int> readers_{0};
};

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_AUDIT_SERVICE_H_
