#include "services/api/case_service.h"

#include <utility>

#include "services/api/status.h"

namespace gridcase::api {
namespace {

template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpc(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status CaseServiceImpl::GetCase(grpc::ServerContext* context,
                                      const v1::GetCaseRequest* request,
                                      v1::CaseState* response) {
  return Reply(engine_->GetCase(request->case_id()), response);
}

grpc::Status CaseServiceImpl::GetTimeline(grpc::ServerContext* context,
                                          const v1::GetTimelineRequest* request,
                                          v1::GetTimelineResponse* response) {
  return Reply(engine_->GetTimeline(*request), response);
}

grpc::Status CaseServiceImpl::ListCases(grpc::ServerContext* context,
                                        const v1::ListCasesRequest* request,
                                        v1::ListCasesResponse* response) {
  return Reply(engine_->ListCases(*request), response);
}

}  // namespace gridcase::api
