#include "services/api/case_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
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

absl::StatusOr<v1::CaseState> ReadCaseWithin(const Engine& engine,
                                             const security::Admission& admission,
                                             const std::string& case_id) {
  auto state = engine.GetCase(case_id);
  if (state.ok() && !admission.Reaches(state->grid_id())) return CaseBeyondReach(case_id);
  return state;
}

absl::Status CheckCaseWithin(const Engine& engine, const security::Admission& admission,
                             const std::string& case_id) {
  if (admission.everywhere()) return absl::OkStatus();
  return ReadCaseWithin(engine, admission, case_id).status();
}

absl::Status CaseBeyondReach(absl::string_view case_id) {
  return absl::NotFoundError(absl::StrCat("case ", case_id, " does not exist"));
}

grpc::Status CaseServiceImpl::GetCase(grpc::ServerContext* context,
                                      const v1::GetCaseRequest* request, v1::CaseState* response) {
  auto admitted = gate_->Admit(*context, security::MethodOf<v1::CaseService>("GetCase"));
  if (!admitted.ok()) return ToGrpc(admitted.status());
  return Reply(ReadCaseWithin(*engine_, *admitted, request->case_id()), response);
}

grpc::ServerUnaryReactor* CaseServiceImpl::GetTimeline(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto admitted = gate_->Admit(*context, security::MethodOf<v1::CaseService>("GetTimeline"));
  if (!admitted.ok()) {
    reactor->Finish(ToGrpc(admitted.status()));
    return reactor;
  }
  v1::GetTimelineRequest parsed;
  grpc::ByteBuffer copy(*request);  // shares the slices
  if (!grpc::SerializationTraits<v1::GetTimelineRequest>::Deserialize(&copy, &parsed).ok()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 UnparsedRequest(*v1::GetTimelineRequest::descriptor())));
    return reactor;
  }
  const bool queued = timeline_pool_.Run([this, context, reactor, response,
                                          admission = std::move(*admitted),
                                          parsed = std::move(parsed)] {
    if (context->IsCancelled()) {  // the client gave up while this waited
      reactor->Finish(grpc::Status::CANCELLED);
      return;
    }
    if (auto st = CheckCaseWithin(*engine_, admission, parsed.case_id()); !st.ok()) {
      reactor->Finish(ToGrpc(st));
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
  auto admitted = gate_->Admit(*context, security::MethodOf<v1::CaseService>("ListCases"));
  if (!admitted.ok()) return ToGrpc(admitted.status());
  auto area = admitted->Area(request->area());
  if (!area.ok()) return ToGrpc(area.status());
  v1::ListCasesRequest within = *request;
  within.set_area(*area);
  return Reply(engine_->ListCases(within), response);
}

}  // namespace gridcase::api
