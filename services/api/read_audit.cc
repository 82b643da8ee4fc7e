#include "services/api/read_audit.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/api/status.h"
#include "services/logging/logging.h"

namespace gridcase::api {
namespace {

// "CaseService/GetCase" for "/gridcase.v1.CaseService/GetCase".
std::string CallName(absl::string_view method) {
  const size_t dot = method.rfind('.', method.find('/', 1));
  return std::string(dot == absl::string_view::npos ? method : method.substr(dot + 1));
}

}  // namespace

absl::Status NotRecorded(const absl::Status& why) {
  return absl::UnavailableError(absl::StrCat(
      "the read was not answered: its access record could not be written (", why.message(), ")"));
}

std::vector<std::string> ReadAudit::DistrictOfficersOver(const std::string& unit_id) const {
  std::optional<Unit> unit = directory_->FindUnit(unit_id);
  // Units nest at most district > street > community > grid; the bound
  // only guards against a parent cycle the directory's checks refuse.
  for (int up = 0; unit && unit->level != v1::UNIT_LEVEL_DISTRICT && up < 8; ++up) {
    unit = directory_->FindUnit(unit->parent_id);
  }
  std::vector<std::string> officers;
  if (!unit || unit->level != v1::UNIT_LEVEL_DISTRICT) return officers;
  for (const Person& p : directory_->PeopleOf(unit->id)) {
    if (p.role == v1::ROLE_DISTRICT_OFFICER) officers.push_back(p.id);
  }
  return officers;
}

v1::AccessRecord ReadAudit::RecordOf(const security::Admission& admission, absl::string_view method,
                                     ReadReturned read) const {
  v1::AccessRecord r;
  r.set_caller(admission.principal().Subject());
  r.set_role(std::string(security::RoleName(admission.principal().role)));
  r.set_call(CallName(method));
  for (auto& id : read.case_ids) r.add_case_ids(std::move(id));
  for (auto& id : read.person_ids) r.add_person_ids(std::move(id));
  for (auto& [field, value] : read.filters) {
    if (!value.empty()) (*r.mutable_filters())[field] = std::move(value);
  }
  if (admission.break_glass()) {
    auto* glass = r.mutable_break_glass();
    glass->set_reason(admission.break_glass_reason());
    std::vector<std::string> told;
    for (const auto& unit : read.units) {
      for (auto& officer : DistrictOfficersOver(unit)) told.push_back(std::move(officer));
    }
    std::sort(told.begin(), told.end());
    told.erase(std::unique(told.begin(), told.end()), told.end());
    for (auto& officer : told) glass->add_notified(std::move(officer));
  }
  return r;
}

namespace {

// The answer to a read whose record was appended at `position` (or not).
absl::Status Recorded(const absl::StatusOr<uint64_t>& position, bool break_glass,
                      const std::string& caller, const std::string& call) {
  if (!position.ok()) return NotRecorded(position.status());
  if (break_glass) {
    // The caller's subject and the access position only: the reason and
    // what was read stay in the access log.
    logging::Component("api").warn("break-glass read by {} through {}: access record {}", caller,
                                   call, *position);
  }
  return absl::OkStatus();
}

}  // namespace

void ReadAudit::Record(const security::Admission& admission, absl::string_view method,
                       ReadReturned read, std::function<void(absl::Status)> done) const {
  if (log_ == nullptr) {
    admission.EndBreakGlass();
    done(absl::OkStatus());
    return;
  }
  // A break-glass call's hold (one at a time) lasts until its record is
  // durable and so counted, and ends before the caller is answered.
  log_->Append(RecordOf(admission, method, std::move(read)),
               [done = std::move(done), admission,
                call = CallName(method)](absl::StatusOr<uint64_t> position) {
                 absl::Status recorded = Recorded(position, admission.break_glass(),
                                                  admission.principal().Subject(), call);
                 admission.EndBreakGlass();
                 done(std::move(recorded));
               });
}

absl::Status ReadAudit::RecordAndWait(const security::Admission& admission,
                                      absl::string_view method, ReadReturned read) const {
  if (log_ == nullptr) {
    admission.EndBreakGlass();
    return absl::OkStatus();
  }
  absl::Status recorded =
      Recorded(log_->AppendAndWait(RecordOf(admission, method, std::move(read))),
               admission.break_glass(), admission.principal().Subject(), CallName(method));
  admission.EndBreakGlass();
  return recorded;
}

std::function<void(absl::Status)> FinishOnceRecorded(grpc::ServerUnaryReactor* reactor,
                                                     absl::Status answer) {
  return [reactor, answer = std::move(answer)](absl::Status recorded) {
    reactor->Finish(ToGrpc(recorded.ok() ? answer : recorded));
  };
}

}  // namespace gridcase::api
