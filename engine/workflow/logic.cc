#include "engine/workflow/logic.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/check.h"
#include "engine/common/time.h"
#include "engine/workflow/appliers.h"
#include "engine/workflow/decider.h"
#include "engine/workflow/duration.h"

namespace gridcase::workflow {
namespace {

constexpr char kEngineCasePrefix[] = "~workflow~";

std::string TypeOf(const v1::Event& e) {
  const auto* f = v1::Event::descriptor()->FindFieldByNumber(e.payload_case());
  return f == nullptr ? "" : f->name();
}

// A deadline fires only while it is pending with the due time the
// scheduler saw, and never before that time.
absl::Status CheckStillPending(const v1::Event& event, const v1::CaseState& state, int64_t now_us) {
  const auto& expired = event.deadline_expired();
  if (const auto* d = FindDeadline(state, expired.deadline());
      d && Micros(d->due_at()) == Micros(expired.due_at())) {
    if (Micros(d->due_at()) > now_us) {
      return absl::FailedPreconditionError(absl::StrCat(
          "deadline ", expired.deadline(), " of case ", event.case_id(), " is not due yet"));
    }
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat("deadline ", expired.deadline(), " of case ",
                                                    event.case_id(),
                                                    " is no longer pending with that due time"));
}

// How late `record` arrived, for its explanation, against the case as it
// stood before it: a deadline that fired a second or more after its due
// time; an event that happened before the newest one the case already
// knew (an offline phone). Empty when neither.
std::string ArrivalNote(const v1::Record& record, const v1::CaseState& before) {
  const v1::Event& e = record.event();
  const int64_t recorded_us = Micros(record.recorded_at());
  if (e.has_deadline_expired()) {
    const int64_t late_us = recorded_us - Micros(e.deadline_expired().due_at());
    return late_us >= kSecondUs ? absl::StrCat("fired ", FormatSpan(late_us), " after its due time")
                                : "";
  }
  const int64_t occurred_us = Micros(e.occurred_at());
  if (!before.has_last_occurred_at() || occurred_us >= Micros(before.last_occurred_at())) return "";
  return absl::StrCat("arrived late: it happened ", FormatSpan(recorded_us - occurred_us),
                      " before it was recorded, ",
                      FormatSpan(Micros(before.last_occurred_at()) - occurred_us),
                      " before the newest event the case already knew");
}

}  // namespace

std::string WorkflowCaseId(const std::string& workflow_name) {
  return absl::StrCat(kEngineCasePrefix, workflow_name);
}

bool IsEngineCase(const std::string& case_id) { return case_id.rfind(kEngineCasePrefix, 0) == 0; }

std::string DeploymentEventId(const std::string& workflow_name, uint32_t version) {
  return absl::StrCat(WorkflowCaseId(workflow_name), "~v", version);
}

std::string DerivedEventId(const std::string& cause_event_id, int n) {
  return absl::StrCat(cause_event_id, "#", n);
}

const Definition& WorkflowLogic::DefinitionOf(const v1::WorkflowRef& ref) const {
  auto def = registry_.Get(ref.name(), ref.version());
  GC_CHECK(def != nullptr, "workflow ", ref.name(), " v", ref.version(),
           " of a stored case is not registered");
  return *def;  // the registry never drops a version, so the reference stays valid
}

namespace {

// The explanation of a submitted record: the rules that fired, or why none
// did. A record no rule reacted to is marked as having changed nothing.
std::string Explain(const Definition& def, const Stage& stage, const std::string& on,
                    const std::vector<std::string>& fired, bool opening, v1::Record* record) {
  const v1::Event& event = record->event();
  if (fired.empty() && event.has_reassignment()) {
    const auto& r = event.reassignment();
    return absl::StrCat(r.task().empty() ? "case" : "task " + r.task(), " reassigned to ",
                        r.to_assignee());
  }
  if (fired.empty() && !opening) {
    record->set_changed_nothing(true);
    return absl::StrCat("no rule of stage ", stage.name, " reacts to ", on);
  }
  if (!fired.empty()) return absl::StrCat("rules: ", absl::StrJoin(fired, ", "));
  return absl::StrCat("opened with workflow ", def.name(), " v", def.version());
}

}  // namespace

WorkflowLogic::Handler WorkflowLogic::HandlerFor(v1::Event::PayloadCase type) {
  // Payload types with a handler of their own; every other type is an event
  // of a case its workflow decides.
  struct Route {
    v1::Event::PayloadCase type;
    Handler handler;
  };
  static constexpr Route kRoutes[] = {
      {v1::Event::kWorkflowDeployed, &WorkflowLogic::ProcessDeployment},
      {v1::Event::kUnitDefined, &WorkflowLogic::ProcessDirectory},
      {v1::Event::kPersonRegistered, &WorkflowLogic::ProcessDirectory},
      {v1::Event::kCadrePaired, &WorkflowLogic::ProcessDirectory},
      {v1::Event::kAvailabilityChanged, &WorkflowLogic::ProcessDirectory},
      {v1::Event::kHolderReplaced, &WorkflowLogic::ProcessHolderReplaced},
      {v1::Event::kErasure, &WorkflowLogic::ProcessErasure},
  };
  for (const Route& route : kRoutes) {
    if (route.type == type) return route.handler;
  }
  return &WorkflowLogic::ProcessCaseEvent;
}

absl::Status WorkflowLogic::Process(v1::Record record, RecordStamper* stamper,
                                    std::optional<v1::CaseState>* state,
                                    std::vector<v1::Record>* out) const {
  const Handler handler = HandlerFor(record.event().payload_case());
  return (this->*handler)(std::move(record), stamper, state, out);
}

absl::Status WorkflowLogic::ProcessDeployment(v1::Record record, RecordStamper*,
                                              std::optional<v1::CaseState>* state,
                                              std::vector<v1::Record>* out) const {
  const auto& def = record.event().workflow_deployed().definition();
  if (record.event().case_id() != WorkflowCaseId(def.name()) ||
      record.case_version() != def.version()) {
    return absl::FailedPreconditionError(absl::StrCat("workflow ", def.name(), " version ",
                                                      def.version(), " is not the next version (",
                                                      record.case_version(), ")"));
  }
  v1::CaseState next = state->value_or(v1::CaseState());
  ApplyRecord(record, nullptr, &next);
  next.set_stage("deployed");
  *state = std::move(next);
  out->push_back(std::move(record));
  return absl::OkStatus();
}

absl::Status WorkflowLogic::ProcessDirectory(v1::Record record, RecordStamper*,
                                             std::optional<v1::CaseState>* state,
                                             std::vector<v1::Record>* out) const {
  // Checked whole before submission (Staffing::ImportDirectory); here only
  // the place is checked.
  if (record.event().case_id() != kDirectoryCaseId) {
    return absl::FailedPreconditionError("directory entries belong to the directory case");
  }
  if (auto entry = EntryOf(record.event())) {
    if (auto st = directory_.CheckNotErased(*entry); !st.ok()) return st;
  }
  v1::CaseState next = state->value_or(v1::CaseState());
  ApplyRecord(record, nullptr, &next);
  next.set_stage("directory");
  *state = std::move(next);
  out->push_back(std::move(record));
  return absl::OkStatus();
}

absl::Status WorkflowLogic::ProcessErasure(v1::Record record, RecordStamper*,
                                           std::optional<v1::CaseState>* state,
                                           std::vector<v1::Record>* out) const {
  const std::string& person_id = record.event().erasure().person_id();
  if (record.event().case_id() == kDirectoryCaseId) {
    // A person of the directory: their fields go, the directory stays.
    auto person = directory_.FindPerson(person_id);
    if (person_id.empty() || !person) {
      return absl::NotFoundError(
          absl::StrCat("person ", person_id, " does not exist: nothing to erase"));
    }
    if (person->erased_at != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("person ", person_id, " was erased at position ", person->erased_at));
    }
    return ProcessDirectory(std::move(record), nullptr, state, out);
  }
  if (!person_id.empty()) {
    return absl::InvalidArgumentError("erasure.person_id: only for the directory case");
  }
  // No rule reacts: the case becomes a tombstone (the appliers), its open
  // tasks and deadlines gone with it.
  if (!state->has_value() || (*state)->version() == 0) {
    return absl::NotFoundError(
        absl::StrCat("case ", record.event().case_id(), " does not exist: nothing to erase"));
  }
  v1::CaseState next = **state;
  ApplyRecord(record, nullptr, &next);
  *state = std::move(next);
  out->push_back(std::move(record));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Definition>> WorkflowLogic::OpeningDefinition(
    const v1::Record& record) const {
  const v1::Event& event = record.event();
  const int64_t now_us = Micros(record.recorded_at());
  if (record.workflow().name().empty()) {
    auto def = registry_.ForOpening(event, now_us);
    if (def == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("case ", event.case_id(),
                       " does not exist, and no deployed workflow opens a case "
                       "on this ",
                       TypeOf(event), " event"));
    }
    return def;
  }
  // A submission names a workflow; its latest version takes the case. A
  // version is named only by a replay that decides a case again
  // (DecideAsHappened), which keeps the case's own.
  const v1::WorkflowRef& ref = record.workflow();
  auto def =
      ref.version() == 0 ? registry_.Latest(ref.name()) : registry_.Get(ref.name(), ref.version());
  if (def == nullptr) {
    return absl::NotFoundError(absl::StrCat("no workflow named ", ref.name(), " is deployed"));
  }
  if (!Opens(*def, event, now_us)) {
    return absl::FailedPreconditionError(
        absl::StrCat("workflow ", def->name(), " v", def->version(),
                     " does not open a case on this ", TypeOf(event), " event (see its opens_on)"));
  }
  return def;
}

absl::StatusOr<std::shared_ptr<const Definition>> WorkflowLogic::Bind(
    v1::Record* record, const std::optional<v1::CaseState>& state) const {
  const v1::Event& event = record->event();
  std::shared_ptr<const Definition> def;
  if (!state.has_value()) {
    auto opening = OpeningDefinition(*record);
    if (!opening.ok()) return opening.status();
    def = std::move(*opening);
    record->mutable_workflow()->set_name(def->name());
    record->mutable_workflow()->set_version(def->version());
  } else {
    def = registry_.Get(state->workflow().name(), state->workflow().version());
    if (def == nullptr) DefinitionOf(state->workflow());  // aborts: a stored case's is known
    const std::string type = TypeOf(event);
    const Stage* stage = def->stage(state->stage());
    if (stage != nullptr &&
        std::find(stage->forbid.begin(), stage->forbid.end(), type) != stage->forbid.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "case ", event.case_id(), " is in stage ", state->stage(), " of workflow ", def->name(),
          " v", def->version(), ", which does not accept ", type, " events"));
    }
  }
  const v1::CaseState& current = state.has_value() ? *state : v1::CaseState::default_instance();
  if (event.has_deadline_expired()) {
    if (auto st = CheckStillPending(event, current, Micros(record->recorded_at())); !st.ok()) {
      return st;
    }
  }
  if (event.has_reassignment() && !event.reassignment().task().empty()) {
    const auto& tasks = current.open_tasks();
    if (std::none_of(tasks.begin(), tasks.end(),
                     [&](const auto& t) { return t.name() == event.reassignment().task(); })) {
      return absl::FailedPreconditionError(absl::StrCat(
          "case ", event.case_id(), " has no open task ", event.reassignment().task()));
    }
  }
  return def;
}

absl::Status WorkflowLogic::ProcessHolderReplaced(v1::Record record, RecordStamper*,
                                                  std::optional<v1::CaseState>* state,
                                                  std::vector<v1::Record>* out) const {
  auto def = Bind(&record, *state);
  if (!def.ok()) return def.status();
  v1::CaseState next = state->value_or(v1::CaseState());
  const auto& h = record.event().holder_replaced();
  bool held = next.assignee() == h.from_person();
  for (const auto& t : next.open_tasks()) held = held || t.assignee() == h.from_person();
  if (!held) {
    return absl::FailedPreconditionError(
        absl::StrCat("case ", next.case_id(), " is no longer held by ", h.from_person()));
  }
  ApplyRecord(record, def->get(), &next);
  record.set_explanation(absl::StrCat("moved from ", h.from_person(), " to ",
                                      h.to_person().empty() ? "nobody" : h.to_person(), ": ",
                                      h.reason()));
  *state = std::move(next);
  out->push_back(std::move(record));
  return absl::OkStatus();
}

absl::Status WorkflowLogic::ProcessCaseEvent(v1::Record record, RecordStamper* stamper,
                                             std::optional<v1::CaseState>* state,
                                             std::vector<v1::Record>* out) const {
  auto bound = Bind(&record, *state);
  if (!bound.ok()) return bound.status();
  const Definition& def = **bound;
  const bool opening = !state->has_value();
  v1::CaseState next = state->value_or(v1::CaseState());
  const std::string note = ArrivalNote(record, next);
  const std::string stage_before = next.stage();
  const std::string rung_before = next.escalation_role();
  ApplyRecord(record, &def, &next);
  std::vector<v1::Record> derived;
  Decider decider(def, directory_, record, stamper, &next, &derived);
  if (opening) decider.Open();
  const Stage& stage = *def.stage(next.stage());  // as the rules find it
  const v1::Event& event = record.event();
  const std::string on = event.has_deadline_expired()
                             ? absl::StrCat(kDeadlinePrefix, event.deadline_expired().deadline())
                             : TypeOf(event);
  std::vector<std::string> fired;
  if (event.has_deadline_expired() && event.deadline_expired().deadline()[0] == '~') {
    decider.RungDeadline(event.deadline_expired().deadline());
    fired.push_back("ladder");
  } else {
    fired = decider.RunRules(on, stage);
  }
  decider.TimeRung(stage_before, rung_before, opening);
  std::string explanation = Explain(def, stage, on, fired, opening, &record);
  if (!note.empty()) absl::StrAppend(&explanation, " (", note, ")");
  record.set_explanation(std::move(explanation));
  *state = std::move(next);
  out->push_back(std::move(record));
  for (auto& r : derived) out->push_back(std::move(r));
  return absl::OkStatus();
}

void WorkflowLogic::Apply(const v1::Record& record, v1::CaseState* state) const {
  if (IsEngineCase(record.event().case_id())) {
    ApplyRecord(record, nullptr, state);
    state->set_stage("deployed");
    return;
  }
  if (record.event().case_id() == kDirectoryCaseId) {
    ApplyRecord(record, nullptr, state);
    state->set_stage("directory");
    return;
  }
  const v1::WorkflowRef& ref = record.case_version() == 1 ? record.workflow() : state->workflow();
  ApplyRecord(record, &DefinitionOf(ref), state);
}

bool WorkflowLogic::Reaches(const google::protobuf::RepeatedPtrField<std::string>& units,
                            const std::string& grid_id) const {
  if (units.empty()) return true;
  for (const std::string& unit : units) {
    if (unit == kEverywhereUnit || directory_.IsAtOrUnder(grid_id, unit)) return true;
  }
  return false;
}

}  // namespace gridcase::workflow
