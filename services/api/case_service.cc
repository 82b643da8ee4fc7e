#include "services/api/case_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "services/api/admit.h"
#include "services/api/status.h"
#include "services/api/unparsed_request.h"

namespace gridcase::api {

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

absl::Status RecordCaseRead(const Engine& engine, const ReadAudit& reads,
                            const security::Admission& admission, absl::string_view method,
                            const std::string& case_id, const absl::Status& answered) {
  if (!answered.ok() && !admission.break_glass()) return answered;  // nothing personal answered
  ReadReturned read;
  read.filters = {{"case_id", case_id}};
  if (answered.ok()) read.case_ids = {case_id};
  if (admission.break_glass()) {
    if (auto state = engine.GetCase(case_id); state.ok()) read.units = {state->grid_id()};
  }
  if (auto st = reads.RecordAndWait(admission, method, std::move(read)); !st.ok()) return st;
  return answered;
}

absl::Status CaseBeyondReach(absl::string_view case_id) {
  return absl::NotFoundError(absl::StrCat("case ", case_id, " does not exist"));
}

grpc::Status CaseServiceImpl::GetCase(grpc::ServerContext* context,
                                      const v1::GetCaseRequest* request, v1::CaseState* response) {
  const std::string method = security::MethodOf<v1::CaseService>("GetCase");
  auto admitted = gate_->Admit(*context, method, request->break_glass_reason());
  if (!admitted.ok()) return ToGrpc(admitted.status());
  auto state = ReadCaseWithin(*engine_, *admitted, request->case_id());
  if (auto st =
          RecordCaseRead(*engine_, *reads_, *admitted, method, request->case_id(), state.status());
      !st.ok()) {
    return ToGrpc(st);
  }
  *response = std::move(*state);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* CaseServiceImpl::GetTimeline(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* response) {
  v1::GetTimelineRequest parsed;
  grpc::ByteBuffer copy(*request);  // shares the slices
  const bool parses =
      grpc::SerializationTraits<v1::GetTimelineRequest>::Deserialize(&copy, &parsed).ok();
  const std::string method = security::MethodOf<v1::CaseService>("GetTimeline");
  // Who calls comes first: a stranger learns nothing, not even that the
  // bytes did not parse.
  auto admitted = gate_->Admit(*context, method, parsed.break_glass_reason());
  if (!admitted.ok()) return Refuse(context, admitted.status());
  if (!parses) {
    return Refuse(context, absl::InvalidArgumentError(
                               UnparsedRequest(*v1::GetTimelineRequest::descriptor())));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const bool queued = timeline_pool_.Run([this, context, reactor, response, method,
                                          admission = std::move(*admitted),
                                          parsed = std::move(parsed)] {
    if (context->IsCancelled()) {  // the client gave up while this waited
      reactor->Finish(grpc::Status::CANCELLED);
      return;
    }
    absl::Status within = CheckCaseWithin(*engine_, admission, parsed.case_id());
    absl::StatusOr<std::string> page = within.ok() ? engine_->GetTimelineWire(parsed) : within;
    if (auto st =
            RecordCaseRead(*engine_, *reads_, admission, method, parsed.case_id(), page.status());
        !st.ok()) {
      reactor->Finish(ToGrpc(st));
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
  const std::string method = security::MethodOf<v1::CaseService>("ListCases");
  auto admitted = gate_->Admit(*context, method);
  if (!admitted.ok()) return ToGrpc(admitted.status());
  auto area = admitted->Area(request->area());
  if (!area.ok()) return ToGrpc(area.status());
  v1::ListCasesRequest within = *request;
  within.set_area(*area);
  auto page = engine_->ListCases(within);
  if (!page.ok()) return ToGrpc(page.status());
  ReadReturned read;
  for (const auto& c : page->cases()) read.case_ids.push_back(c.case_id());
  read.filters = {
      {"area", within.area()},
      {"stage", within.stage()},
      {"grid_id", within.grid_id()},
      {"assignee", within.assignee()},
      {"category",
       within.category() == v1::CATEGORY_UNSPECIFIED ? "" : v1::Category_Name(within.category())},
      {"overdue", within.overdue() ? "true" : ""},
      {"page_token", within.page_token()}};
  if (auto st = reads_->RecordAndWait(*admitted, method, std::move(read)); !st.ok()) {
    return ToGrpc(st);
  }
  *response = std::move(*page);
  return grpc::Status::OK;
}

}  // namespace gridcase::api
