// AdminService: workflow definitions and the directory. Callback API:
// deployments complete from the engine's callback; in-memory reads answer
// at once; reads of the store run off the completion threads.
#ifndef GRIDCASE_SERVICES_API_ADMIN_SERVICE_H_
#define GRIDCASE_SERVICES_API_ADMIN_SERVICE_H_

#include <functional>
#include <thread>

#include "engine/common/clock.h"
#include "engine/engine.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "services/api/read_audit.h"
#include "services/security/gate.h"

namespace gridcase::api {

class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  // Answers GetKafkaStatus; empty when the server runs without Kafka.
  using KafkaStatusFn = std::function<absl::StatusOr<v1::KafkaStatus>()>;
  // `engine`, `clock` and `gate` must outlive the service. People and
  // units beyond the caller's reach answer as if absent.
  // Reads of people, units and workloads are recorded by `reads` first.
  AdminServiceImpl(Engine* engine, const Clock* clock, const security::Gate* gate,
                   const ReadAudit* reads, KafkaStatusFn kafka_status = nullptr)
      : engine_(engine),
        clock_(clock),
        gate_(gate),
        reads_(reads),
        kafka_status_(std::move(kafka_status)) {}

  grpc::ServerUnaryReactor* DeployWorkflow(grpc::CallbackServerContext* context,
                                           const v1::DeployWorkflowRequest* request,
                                           v1::DeployWorkflowResponse* response) override;
  grpc::ServerUnaryReactor* ListWorkflows(grpc::CallbackServerContext* context,
                                          const v1::ListWorkflowsRequest* request,
                                          v1::ListWorkflowsResponse* response) override;
  grpc::ServerUnaryReactor* GetWorkflow(grpc::CallbackServerContext* context,
                                        const v1::GetWorkflowRequest* request,
                                        v1::WorkflowDefinition* response) override;
  grpc::ServerUnaryReactor* ImportDirectory(grpc::CallbackServerContext* context,
                                            const v1::ImportDirectoryRequest* request,
                                            v1::ImportDirectoryResponse* response) override;
  grpc::ServerUnaryReactor* GetPerson(grpc::CallbackServerContext* context,
                                      const v1::GetPersonRequest* request,
                                      v1::PersonView* response) override;
  grpc::ServerUnaryReactor* GetUnit(grpc::CallbackServerContext* context,
                                    const v1::GetUnitRequest* request,
                                    v1::UnitView* response) override;
  grpc::ServerUnaryReactor* GetWorkload(grpc::CallbackServerContext* context,
                                        const v1::GetWorkloadRequest* request,
                                        v1::Workload* response) override;
  grpc::ServerUnaryReactor* GetStaffingReport(grpc::CallbackServerContext* context,
                                              const v1::StaffingReportRequest* request,
                                              v1::StaffingReport* response) override;
  grpc::ServerUnaryReactor* ErasePerson(grpc::CallbackServerContext* context,
                                        const v1::ErasePersonRequest* request,
                                        v1::ErasePersonResponse* response) override;
  grpc::ServerUnaryReactor* AcceptClock(grpc::CallbackServerContext* context,
                                        const v1::AcceptClockRequest* request,
                                        v1::AcceptClockResponse* response) override;
  grpc::ServerUnaryReactor* GetServerStats(grpc::CallbackServerContext* context,
                                           const v1::GetServerStatsRequest* request,
                                           v1::ServerStats* response) override;
  grpc::ServerUnaryReactor* GetKafkaStatus(grpc::CallbackServerContext* context,
                                           const v1::GetKafkaStatusRequest* request,
                                           v1::KafkaStatus* response) override;
  // backup_call.h.
  grpc::ServerWriteReactor<v1::BackupProgress>* Backup(grpc::CallbackServerContext* context,
                                                       const v1::BackupRequest* request) override;

 private:
  Engine* const engine_;
  const Clock* const clock_;
  const security::Gate* const gate_;
  const ReadAudit* const reads_;
  const KafkaStatusFn kafka_status_;
};

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_ADMIN_SERVICE_H_
