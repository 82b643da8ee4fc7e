#include "services/api/case_service.h"

#include <utility>

#include "services/api/status.h"
#include "services/api/unparsed_request.h"

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
                                      const v1::GetCaseRequest* request, v1::CaseState* response) {
  return Reply(engine_->GetCase(request->case_id()), response);
}

grpc::ServerUnaryReactor* CaseServiceImpl::GetTimeline(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  v1::GetTimelineRequest parsed;
  grpc::ByteBuffer copy(*request);  // shares the slices
  if (!grpc::SerializationTraits<v1::GetTimelineRequest>::Deserialize(&copy, &parsed).ok()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 UnparsedRequest(*v1::GetTimelineRequest::descriptor())));
    return reactor;
  }
  const bool queued = timeline_pool_.Run([this, context, reactor, response,
                                          parsed = std::move(parsed)] {
    if (context->IsCancelled()) {  // the client gave up while this waited
      reactor->Finish(grpc::Status::CANCELLED);
      return;
    }
    absl::StatusOr<std::string> page = engine_->GetTimelineWire(parsed);
    if (!page.ok()) {
      reactor->Finish(ToGrpc(page.status()));
      return;
    }
    auto* bytes = new std::string(std::move(*page));
    grpc::Slice slice(
        bytes->data(), bytes->size(), [](void* p) { delete static_cast<std::string*>(p); }, bytes);
    *response = grpc::ByteBuffer(&slice, 1);
    reactor->Finish(grpc::Status::OK);
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "too many timeline reads waiting; retry later"));
  }
  return reactor;
}

grpc::Status CaseServiceImpl::ListCases(grpc::ServerContext* context,
                                        const v1::ListCasesRequest* request,
                                        v1::ListCasesResponse* response) {
  return Reply(engine_->ListCases(*request), response);
}

}  // namespace gridcase::api
