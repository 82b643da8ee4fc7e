// AdminService: workflow definitions and the directory. Callback API:
// deployments complete from the engine's callback; in-memory reads answer
// at once; reads of the store run off the completion threads.
#ifndef GRIDCASE_SERVICES_API_ADMIN_SERVICE_H_
#define GRIDCASE_SERVICES_API_ADMIN_SERVICE_H_

#include <thread>

#include "engine/clock.h"
#include "engine/engine.h"
#include "gridcase/v1/service.grpc.pb.h"

namespace gridcase::api {

class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  // `engine` must outlive the service.
  // `engine` and `clock` must outlive the service.
  AdminServiceImpl(Engine* engine, const Clock* clock) : engine_(engine), clock_(clock) {}

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

 private:
  Engine* const engine_;
  const Clock* const clock_;
};

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_ADMIN_SERVICE_H_
