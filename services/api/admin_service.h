// AdminService: deploying and reading workflow definitions. Callback API:
// deployments complete from the engine's callback; reads are in memory.
#ifndef GRIDCASE_SERVICES_API_ADMIN_SERVICE_H_
#define GRIDCASE_SERVICES_API_ADMIN_SERVICE_H_

#include "engine/engine.h"
#include "gridcase/v1/service.grpc.pb.h"

namespace gridcase::api {

class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  // `engine` must outlive the service.
  explicit AdminServiceImpl(Engine* engine) : engine_(engine) {}

  grpc::ServerUnaryReactor* DeployWorkflow(grpc::CallbackServerContext* context,
                                           const v1::DeployWorkflowRequest* request,
                                           v1::DeployWorkflowResponse* response) override;
  grpc::ServerUnaryReactor* ListWorkflows(grpc::CallbackServerContext* context,
                                          const v1::ListWorkflowsRequest* request,
                                          v1::ListWorkflowsResponse* response) override;
  grpc::ServerUnaryReactor* GetWorkflow(grpc::CallbackServerContext* context,
                                        const v1::GetWorkflowRequest* request,
                                        v1::WorkflowDefinition* response) override;

 private:
  Engine* const engine_;
};

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_ADMIN_SERVICE_H_
