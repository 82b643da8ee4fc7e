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
#include "services/api/read_audit.h"
#include "services/security/gate.h"
#include "services/security/page_tokens.h"

namespace gridcase::api {

using AuditServiceBase = v1::AuditService::WithCallbackMethod_ReadAccess<
    v1::AuditService::WithCallbackMethod_VerifyLog<v1::AuditService::WithCallbackMethod_GetCaseAsOf<
        v1::AuditService::WithCallbackMethod_Checkpoint<v1::AuditService::Service>>>>;

class AuditServiceImpl final : public AuditServiceBase {
 public:
  // Streams of ReadLog open at once at most; beyond: RESOURCE_EXHAUSTED.
  static constexpr int kReadersMax = 32;

  // `engine`, `access` (its access log), `gate` and `reads` must outlive
  // the service. Reads of the log and of cases as of a time are recorded
  // by `reads` before they are answered; ReadLog records each batch before
  // it sends it.
  AuditServiceImpl(const Engine* engine, const AccessLog* access, const security::Gate* gate,
                   const ReadAudit* reads, const security::PageTokens* tokens)
      : engine_(engine), access_(access), gate_(gate), reads_(reads), tokens_(tokens) {}

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
  // The access log, filtered; district officers see only the break-glass
  // reads they were told of.
  grpc::ServerUnaryReactor* ReadAccess(grpc::CallbackServerContext* context,
                                       const v1::ReadAccessRequest* request,
                                       v1::ReadAccessResponse* response) override;

 private:
  const Engine* const engine_;
  const AccessLog* const access_;
  const security::Gate* const gate_;
  const ReadAudit* const reads_;
  const security::PageTokens* const tokens_;
  std::atomic<int> readers_{0};
};

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_AUDIT_SERVICE_H_
