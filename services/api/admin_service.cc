#include "services/api/admin_service.h"

#include <utility>

#include "services/api/status.h"

namespace gridcase::api {

grpc::ServerUnaryReactor* AdminServiceImpl::DeployWorkflow(
    grpc::CallbackServerContext* context, const v1::DeployWorkflowRequest* request,
    v1::DeployWorkflowResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  engine_->DeployWorkflow(
      request->source(), request->file_name(), request->actor(),
      [reactor, response](absl::StatusOr<v1::DeployWorkflowResponse> result) {
        if (result.ok()) *response = std::move(*result);
        reactor->Finish(ToGrpc(result.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListWorkflows(
    grpc::CallbackServerContext* context, const v1::ListWorkflowsRequest* request,
    v1::ListWorkflowsResponse* response) {
  *response = engine_->ListWorkflows();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetWorkflow(grpc::CallbackServerContext* context,
                                                        const v1::GetWorkflowRequest* request,
                                                        v1::WorkflowDefinition* response) {
  auto result = engine_->GetWorkflow(request->name(), request->version());
  if (result.ok()) *response = std::move(*result);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpc(result.status()));
  return reactor;
}

}  // namespace gridcase::api
