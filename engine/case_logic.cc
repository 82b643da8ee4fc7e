#include "engine/case_logic.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace gridcase {
namespace {

using E = v1::Event;

constexpr char kScreening[] = "screening";
constexpr char kIsolation[] = "isolation";
constexpr char kTesting[] = "testing";
constexpr char kTreatment[] = "treatment";
constexpr char kObservation[] = "observation";
constexpr char kClosed[] = "closed";
constexpr char kRequested[] = "requested";
constexpr char kDelivered[] = "delivered";

void ApplyHelpRequest(const v1::Record& r, v1::CaseState* s) {
  const auto& h = r.event().help_request();
  auto* open = s->mutable_open_help_requests();
  const bool known = std::any_of(open->begin(), open->end(), [&](const auto& o) {
    return o.request_id() == h.request_id();
  });
  if (!known) {
    auto* o = open->Add();
    o->set_request_id(h.request_id());
    o->set_kind(h.kind());
    o->set_urgency(h.urgency());
    *o->mutable_requested_at() = r.recorded_at();
  }
  if (s->kind() == v1::CASE_KIND_HELP_REQUEST) s->set_stage(kRequested);
}

void ApplyHelpFulfilled(const v1::Record& r, v1::CaseState* s) {
  const std::string& id = r.event().help_fulfilled().request_id();
  auto* open = s->mutable_open_help_requests();
  for (int i = 0; i < open->size(); ++i) {
    if (open->Get(i).request_id() == id) {
      open->DeleteSubrange(i, 1);
      break;
    }
  }
  if (s->kind() == v1::CASE_KIND_HELP_REQUEST && open->empty()) {
    s->set_stage(kDelivered);
  }
}

void ApplyTestResult(const v1::Record& r, v1::CaseState* s) {
  const auto outcome = r.event().test_result().outcome();
  s->set_last_test_outcome(outcome);
  if (outcome == v1::TEST_OUTCOME_POSITIVE) {
    s->set_category(v1::CATEGORY_CONFIRMED);
    s->set_stage(kTreatment);
  } else if (outcome == v1::TEST_OUTCOME_NEGATIVE) {
    s->set_stage(s->isolation() != v1::ISOLATION_KIND_UNSPECIFIED ? kIsolation
                                                                    : kScreening);
  }
}

void ApplyPayload(const v1::Record& r, v1::CaseState* s) {
  const E& e = r.event();
  switch (e.payload_case()) {
    case E::kScreeningCheck:
      s->set_category(e.screening_check().category());
      break;
    case E::kFeverReading: {
      const double c = e.fever_reading().celsius();
      s->set_fever_readings(s->fever_readings() + 1);
      s->set_last_celsius(c);
      if (c >= BuiltinCaseLogic::kFeverCelsius) {
        s->set_abnormal_fever_readings(s->abnormal_fever_readings() + 1);
        if (s->category() == v1::CATEGORY_UNSPECIFIED ||
            s->category() == v1::CATEGORY_NONE) {
          s->set_category(v1::CATEGORY_FEVER);
        }
      }
      break;
    }
    case E::kHelpRequest:
      ApplyHelpRequest(r, s);
      break;
    case E::kHelpFulfilled:
      ApplyHelpFulfilled(r, s);
      break;
    case E::kIsolationOrder: {
      const auto& o = e.isolation_order();
      s->set_isolation(o.kind());
      s->set_isolation_facility(o.facility());
      if (o.has_until()) {
        *s->mutable_isolation_until() = o.until();
      } else {
        s->clear_isolation_until();
      }
      s->set_stage(kIsolation);
      break;
    }
    case E::kIsolationReleased:
      s->set_isolation(v1::ISOLATION_KIND_UNSPECIFIED);
      s->clear_isolation_facility();
      s->clear_isolation_until();
      s->set_stage(kClosed);
      break;
    case E::kTestOrdered:
      s->set_stage(kTesting);
      break;
    case E::kTestResult:
      ApplyTestResult(r, s);
      break;
    case E::kAdmission:
      s->set_hospital(e.admission().hospital());
      s->set_stage(kTreatment);
      break;
    case E::kDischarge:
      s->clear_hospital();
      s->set_stage(kObservation);
      break;
    case E::kContactAttempt:
      if (e.contact_attempt().outcome() == v1::CONTACT_OUTCOME_REACHED) {
        s->set_unanswered_contact_attempts(0);
      } else {
        s->set_unanswered_contact_attempts(s->unanswered_contact_attempts() + 1);
      }
      break;
    case E::kReassignment:
      s->set_assignee(e.reassignment().to_assignee());
      break;
    case E::kOccupancyEvidence:
    case E::kClueReport:
    case E::kNote:
    case E::PAYLOAD_NOT_SET:
      break;
  }
}

}  // namespace

bool OpensCase(v1::Event::PayloadCase payload) {
  switch (payload) {
    case E::kScreeningCheck:
    case E::kFeverReading:
    case E::kHelpRequest:
    case E::kOccupancyEvidence:
    case E::kClueReport:
    case E::kIsolationOrder:
    case E::kTestOrdered:
    case E::kTestResult:
    case E::kAdmission:
      return true;
    default:
      return false;
  }
}

const char* PayloadName(v1::Event::PayloadCase payload) {
  if (payload == E::PAYLOAD_NOT_SET) return "(none)";
  const auto* field = E::descriptor()->FindFieldByNumber(payload);
  return field == nullptr ? "(unknown)" : field->name().c_str();
}

absl::Status BuiltinCaseLogic::Check(const v1::CaseState* before,
                                     const v1::Event& event) const {
  if (before == nullptr && !OpensCase(event.payload_case())) {
    return absl::NotFoundError(absl::StrCat(
        "case ", event.case_id(), " does not exist, and a ",
        PayloadName(event.payload_case()),
        " event cannot open a case (it refers to an existing one)"));
  }
  return absl::OkStatus();
}

void BuiltinCaseLogic::Apply(const v1::Record& r, v1::CaseState* s) const {
  const E& e = r.event();
  if (r.case_version() == 1) {
    s->set_case_id(e.case_id());
    s->set_kind(e.has_help_request() ? v1::CASE_KIND_HELP_REQUEST
                                     : v1::CASE_KIND_EPIDEMIC);
    s->set_stage(e.has_help_request() ? kRequested : kScreening);
    s->set_partition(r.partition());
    *s->mutable_opened_at() = r.recorded_at();
    if (e.actor().kind() == v1::ACTOR_KIND_PERSON) {
      s->set_assignee(e.actor().id());
    }
  }
  s->set_version(r.case_version());
  s->set_last_position(r.position());
  *s->mutable_updated_at() = r.recorded_at();
  *s->mutable_last_occurred_at() = e.occurred_at();
  if (!e.grid_id().empty()) s->set_grid_id(e.grid_id());
  ApplyPayload(r, s);
}

}  // namespace gridcase
