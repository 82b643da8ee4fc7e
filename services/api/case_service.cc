#include "services/api/case_service.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/wire.h"
#include "services/api/admit.h"
#include "services/api/status.h"
#include "services/api/unparsed_request.h"

namespace gridcase::api {

absl::StatusOr<v1::CaseState> ReadCaseWithin(const Engine& engine,
                                             const security::Admission& admission,
                                             const std::string& case_id) {
  auto state = engine.GetCase(case_id);
  if (state.ok() && !admission.Reaches(state->grid_id())) return CaseBeyondReach(case_id);
  // Only a caller who may see the case learns that it was erased.
  if (state.ok() && state->erased_at() != 0) return ErasedCase(*state);
  return state;
}

absl::Status CheckCaseWithin(const Engine& engine, const security::Admission& admission,
                             const std::string& case_id) {
  if (admission.everywhere()) return absl::OkStatus();
  return ReadCaseWithin(engine, admission, case_id).status();
}

namespace {

// The access record of a read of case `case_id` that `answered`; nullopt
// when there is nothing to record (it failed, and did not break glass).
std::optional<ReadReturned> CaseReadOf(const Engine& engine, const security::Admission& admission,
                                       const std::string& case_id, const absl::Status& answered) {
  if (!answered.ok() && !admission.break_glass()) return std::nullopt;
  ReadReturned read;
  read.filters = {{"case_id", case_id}};
  if (answered.ok()) read.case_ids = {case_id};
  if (admission.break_glass()) {
    if (auto state = engine.GetCase(case_id); state.ok()) read.units = {state->grid_id()};
  }
  return read;
}

}  // namespace

absl::Status RecordCaseRead(const Engine& engine, const ReadAudit& reads,
                            const security::Admission& admission, absl::string_view method,
                            const std::string& case_id, const absl::Status& answered) {
  auto read = CaseReadOf(engine, admission, case_id, answered);
  if (!read) return answered;
  if (auto st = reads.RecordAndWait(admission, method, std::move(*read)); !st.ok()) return st;
  return answered;
}

void RecordCaseRead(const Engine& engine, const ReadAudit& reads,
                    const security::Admission& admission, absl::string_view method,
                    const std::string& case_id, const absl::Status& answered,
                    grpc::ServerUnaryReactor* reactor) {
  auto read = CaseReadOf(engine, admission, case_id, answered);
  if (!read) {
    reactor->Finish(ToGrpc(answered));
    return;
  }
  reads.Record(admission, method, std::move(*read), FinishOnceRecorded(reactor, answered));
}

absl::Status CaseBeyondReach(absl::string_view case_id) {
  return absl::NotFoundError(absl::StrCat("case ", case_id, " does not exist"));
}

void CaseServiceImpl::OnPool(grpc::CallbackServerContext* context,
                             grpc::ServerUnaryReactor* reactor,
                             absl::AnyInvocable<void() &&> read) {
  const bool queued = read_pool_.Run([context, reactor, read = std::move(read)]() mutable {
    if (context->IsCancelled()) {  // the client gave up while this waited
      reactor->Finish(grpc::Status::CANCELLED);
      return;
    }
    std::move(read)();
  });
  if (!queued) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many reads waiting; retry later"));
  }
}

grpc::ServerUnaryReactor* CaseServiceImpl::GetCase(grpc::CallbackServerContext* context,
                                                   const v1::GetCaseRequest* request,
                                                   v1::CaseState* response) {
  const std::string method = security::MethodOf<v1::CaseService>("GetCase");
  auto admitted = gate_->Admit(*context, method, request->break_glass_reason());
  if (!admitted.ok()) return Refuse(context, admitted.status());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  OnPool(context, reactor,
         [this, reactor, request, response, method, admission = std::move(*admitted)] {
           auto state = ReadCaseWithin(*engine_, admission, request->case_id());
           if (state.ok()) *response = std::move(*state);
           RecordCaseRead(*engine_, *reads_, admission, method, request->case_id(), state.status(),
                          reactor);
         });
  return reactor;
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
  auto cursor = tokens_->Open(admitted->principal().Subject(), method, parsed);
  if (!cursor.ok()) return Refuse(context, cursor.status());
  parsed.set_page_token(*cursor);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  OnPool(context, reactor,
         [this, reactor, response, method, admission = std::move(*admitted),
          parsed = std::move(parsed)] {
           absl::Status within = CheckCaseWithin(*engine_, admission, parsed.case_id());
           std::string next;
           absl::StatusOr<std::string> page =
               within.ok() ? engine_->GetTimelineWire(parsed, &next) : within;
           if (page.ok() && !next.empty()) {
             wire::AppendLengthDelimited(
                 2, tokens_->Seal(admission.principal().Subject(), method, parsed, next), &*page);
           }
           if (page.ok()) {
             auto* bytes = new std::string(std::move(*page));
             grpc::Slice slice(
                 bytes->data(), bytes->size(), [](void* p) { delete static_cast<std::string*>(p); },
                 bytes);
             *response = grpc::ByteBuffer(&slice, 1);
           }
           RecordCaseRead(*engine_, *reads_, admission, method, parsed.case_id(), page.status(),
                          reactor);
         });
  return reactor;
}

grpc::ServerUnaryReactor* CaseServiceImpl::ListCases(grpc::CallbackServerContext* context,
                                                     const v1::ListCasesRequest* request,
                                                     v1::ListCasesResponse* response) {
  const std::string method = security::MethodOf<v1::CaseService>("ListCases");
  auto admitted = gate_->Admit(*context, method);
  auto area = admitted.ok() ? admitted->Area(request->area()) : admitted.status();
  if (!area.ok()) return Refuse(context, area.status());
  v1::ListCasesRequest within = *request;
  within.set_area(*area);
  auto cursor = tokens_->Open(admitted->principal().Subject(), method, within);
  if (!cursor.ok()) return Refuse(context, cursor.status());
  within.set_page_token(*cursor);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  OnPool(context, reactor,
         [this, reactor, response, method, admission = std::move(*admitted),
          within = std::move(within)] {
           auto page = engine_->ListCases(within);
           if (!page.ok()) {
             reactor->Finish(ToGrpc(page.status()));
             return;
           }
           ReadReturned read;
           for (const auto& c : page->cases()) read.case_ids.push_back(c.case_id());
           read.filters = {{"area", within.area()},
                           {"stage", within.stage()},
                           {"grid_id", within.grid_id()},
                           {"assignee", within.assignee()},
                           {"category", within.category() == v1::CATEGORY_UNSPECIFIED
                                            ? ""
                                            : v1::Category_Name(within.category())},
                           {"overdue", within.overdue() ? "true" : ""},
                           {"page_token", within.page_token()}};
           page->set_next_page_token(tokens_->Seal(admission.principal().Subject(), method, within,
                                                   page->next_page_token()));
           *response = std::move(*page);
           reads_->Record(admission, method, std::move(read), FinishOnceRecorded(reactor));
         });
  return reactor;
}

}  // namespace gridcase::api
