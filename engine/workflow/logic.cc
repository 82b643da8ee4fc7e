#include "engine/workflow/logic.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/check.h"
#include "engine/common/time.h"
#include "engine/workflow/appliers.h"
#include "engine/workflow/duration.h"

namespace gridcase::workflow {
namespace {

constexpr char kEngineCasePrefix[] = "~workflow~";
constexpr char kEngineActor[] = "gridcase";

std::string TypeOf(const v1::Event& e) {
  const auto* f = v1::Event::descriptor()->FindFieldByNumber(e.payload_case());
  return f == nullptr ? "" : f->name();
}

// The case's pending deadline called `name`, or null.
const v1::PendingDeadline* FindDeadline(const v1::CaseState& state, const std::string& name) {
  for (const auto& d : state.deadlines()) {
    if (d.name() == name) return &d;
  }
  return nullptr;
}

// Runs the rules of one submitted record: emits derived records, applying
// each as it goes, so later actions see earlier ones (a close after an open).
class Decider {
 public:
  // `state` has the cause applied already: its last_occurred_at is the
  // newest moment the case knows of the world, which COUNT_FROM_HAPPENED
  // counts from; for the engine's own commands, their moment if later (a
  // deadline's due time).
  Decider(const Definition& def, const Directory& directory, const v1::Record& cause,
          RecordStamper* stamper, v1::CaseState* state, std::vector<v1::Record>* out)
      : def_(def),
        directory_(directory),
        cause_(cause),
        stamper_(stamper),
        state_(state),
        out_(out),
        now_us_(Micros(cause.recorded_at())),
        happened_us_(
            std::max(Micros(state->last_occurred_at()), Micros(cause.event().occurred_at()))) {}

  void Open() {
    EnterStage(def_.proto().initial_stage(),
               absl::StrCat("opened by workflow ", def_.name(), " v", def_.version()));
  }

  // Returns the names of the rules that fired (empty: none did).
  std::vector<std::string> RunRules(const std::string& type, const Stage& stage) {
    const v1::CaseState snapshot = *state_;
    const GuardInput in = GuardInputFor(cause_.event(), snapshot, now_us_);
    std::vector<const Rule*> firing;
    for (const Rule& rule : stage.rules) {
      if (rule.on == type && rule.guard.Evaluate(in)) firing.push_back(&rule);
    }
    std::vector<std::string> names;
    for (const Rule* rule : firing) {
      names.push_back(rule->name);
      for (const Action& a : rule->actions) Run(a, rule->name);
    }
    return names;
  }

  // The built-in handlers of the rung deadlines.
  void RungDeadline(const std::string& name) {
    const std::string& rung = state_->escalation_role();
    if (name == kRungEscalateDeadline) {
      const Rung* timing = def_.rung(rung);
      v1::EscalateSpec spec;
      spec.set_reason(absl::StrCat("held on rung ", rung, " for ",
                                   FormatDuration(timing ? timing->after_us : 0),
                                   " without moving on"));
      Escalate(spec, "ladder");
      return;
    }
    const auto& ladder = def_.ladder();
    auto at = std::find(ladder.begin(), ladder.end(), rung);
    v1::Event e;
    auto* n = e.mutable_notification();
    n->set_to_role(rung);
    n->set_message(
        at != ladder.end() && at + 1 != ladder.end()
            ? absl::StrCat("reminder: this case goes to the ", *(at + 1), " unless it moves on")
            : "reminder: this case has not moved on");
    n->set_rule("ladder");
    Emit(std::move(e));
  }

  // Keeps the rung timers: started when the case arrives on a rung or in
  // a stage, cancelled in terminal stages and on untimed rungs.
  void TimeRung(const std::string& stage_before, const std::string& rung_before, bool opening) {
    const Stage* stage = def_.stage(state_->stage());
    const Rung* rung = def_.rung(state_->escalation_role());
    if (stage == nullptr || stage->terminal || rung == nullptr) {
      for (const char* d : {kRungEscalateDeadline, kRungReminderDeadline}) Cancel(d, "ladder");
      return;
    }
    const bool moved =
        opening || state_->stage() != stage_before || state_->escalation_role() != rung_before;
    if (!moved) return;
    // A rung's clock starts when the case arrived on it, which is when the
    // engine decided so.
    SetDeadline(kRungEscalateDeadline, now_us_ + rung->after_us, "ladder");
    if (rung->remind_before_us > 0) {
      SetDeadline(kRungReminderDeadline, now_us_ + rung->after_us - rung->remind_before_us,
                  "ladder");
    } else {
      Cancel(kRungReminderDeadline, "ladder");
    }
  }

 private:
  void Emit(v1::Event payload, std::string explanation = "") {
    v1::Record r;
    v1::Event* e = r.mutable_event();
    *e = std::move(payload);
    e->set_event_id(DerivedEventId(cause_.event().event_id(), ++emitted_));
    e->set_case_id(cause_.event().case_id());
    *e->mutable_occurred_at() = cause_.recorded_at();
    e->mutable_actor()->set_id(kEngineActor);
    e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
    e->set_grid_id(cause_.event().grid_id());
    e->set_channel(v1::CHANNEL_SYSTEM);
    stamper_->StampDerived(&r);
    if (!explanation.empty()) r.set_explanation(std::move(explanation));
    ApplyRecord(r, &def_, state_);
    out_->push_back(std::move(r));
  }

  void EnterStage(const std::string& to, const std::string& rule) {
    const std::string from = state_->stage();
    if (from == to) return;
    if (const Stage* old = def_.stage(from)) {
      for (const Action& a : old->on_exit) Run(a, absl::StrCat("stage ", from, " on_exit"));
    }
    v1::Event e;
    auto* changed = e.mutable_stage_changed();
    changed->set_from(from);
    changed->set_to(to);
    changed->set_rule(rule);
    Emit(std::move(e));
    const Stage* now = def_.stage(to);
    for (const Action& a : now->on_enter) Run(a, absl::StrCat("stage ", to, " on_enter"));
  }

  void SetCategory(v1::Category to, const std::string& rule) {
    if (state_->category() == to) return;
    v1::Event e;
    auto* changed = e.mutable_category_changed();
    changed->set_from(state_->category());
    changed->set_to(to);
    changed->set_rule(rule);
    Emit(std::move(e));
  }

  bool HasTask(const std::string& name) const {
    for (const auto& t : state_->open_tasks()) {
      if (t.name() == name) return true;
    }
    return false;
  }

  const v1::PendingDeadline* Pending(const std::string& name) const {
    return FindDeadline(*state_, name);
  }

  // When a task's due time or a deadline of `action` falls: its duration
  // from when the cause was learnt, or from when it happened.
  int64_t DueUs(const Action& action) const {
    return (action.from_happened ? happened_us_ : now_us_) + action.duration_us;
  }

  // Like the other actions, a deadline set again for the instant it is
  // already due changes nothing and records nothing (a stage's on_enter and
  // a rule of the same decision both setting it, as in a first screening
  // check): the rule's firing is in the cause's explanation already. One
  // already past (counted from an event that arrived late) is recorded as
  // set, says so, and fires at once: the scheduler is told of every due
  // time it has not seen (Engine::SetDeadlineListener).
  void SetDeadline(const std::string& name, int64_t due_us, const std::string& rule) {
    if (const auto* pending = Pending(name); pending && Micros(pending->due_at()) == due_us) return;
    v1::Event e;
    auto* d = e.mutable_deadline_set();
    d->set_deadline(name);
    *d->mutable_due_at() = FromMicros(due_us);
    d->set_rule(rule);
    Emit(std::move(e), due_us <= now_us_
                           ? absl::StrCat("already past due by ", FormatSpan(now_us_ - due_us),
                                          " when set: fires at once")
                           : "");
  }

  void Cancel(const std::string& name, const std::string& rule) {
    if (Pending(name) == nullptr) return;
    v1::Event e;
    e.mutable_deadline_cancelled()->set_deadline(name);
    e.mutable_deadline_cancelled()->set_rule(rule);
    Emit(std::move(e));
  }

  // Climbs to `to_role` (or one rung), and on past rungs nobody available
  // holds, recording who held the case and who holds it now.
  void Escalate(const v1::EscalateSpec& spec, const std::string& rule) {
    const auto& ladder = def_.ladder();
    const std::string& from = state_->escalation_role();
    const auto current = std::find(ladder.begin(), ladder.end(), from);
    auto at = !spec.to_role().empty()   ? std::find(ladder.begin(), ladder.end(), spec.to_role())
              : current == ladder.end() ? ladder.begin()
                                        : current + 1;
    if (at == ladder.end() || *at == from) return;  // at the top, or already there
    std::string reason = spec.reason();
    std::string person = Holder(*at);
    // Past a rung nobody available holds, but only where the directory
    // knows the grid: without a directory there is nobody to look for.
    const bool known_grid = directory_.FindUnit(state_->grid_id()).has_value();
    while (known_grid && person.empty() && at + 1 < ladder.end()) {
      absl::StrAppend(&reason, reason.empty() ? "" : "; ", "no available ", *at);
      ++at;
      person = Holder(*at);
    }
    v1::Event e;
    auto* esc = e.mutable_escalated();
    esc->set_from_role(from);
    esc->set_to_role(*at);
    esc->set_reason(reason);
    esc->set_rule(rule);
    esc->set_from_person(state_->assignee());
    esc->set_to_person(person);
    Emit(std::move(e));
  }

  void Run(const Action& action, const std::string& rule) {
    const v1::ActionSpec& a = action.spec;
    v1::Event e;
    switch (a.action_case()) {
      case v1::ActionSpec::kMoveTo:
        EnterStage(a.move_to(), rule);
        return;
      case v1::ActionSpec::kSetCategory:
        SetCategory(a.set_category(), rule);
        return;
      case v1::ActionSpec::kSetCategoryFrom: {
        // Validated: "<payload>.<Category field>" of the event.
        const std::string& path = a.set_category_from();
        const size_t dot = path.find('.');
        const auto* payload = v1::Event::descriptor()->FindFieldByName(path.substr(0, dot));
        const auto& msg = cause_.event().GetReflection()->GetMessage(cause_.event(), payload);
        const auto* field = payload->message_type()->FindFieldByName(path.substr(dot + 1));
        const int value = msg.GetReflection()->GetEnumValue(msg, field);
        if (value != v1::CATEGORY_UNSPECIFIED) SetCategory(static_cast<v1::Category>(value), rule);
        return;
      }
      case v1::ActionSpec::kOpenTask: {
        // Never a second task of a name already open: a late event that
        // repeats a decision already taken (a first high reading arriving
        // after the second) leaves the task as it is.
        if (HasTask(a.open_task().name())) return;
        auto* t = e.mutable_task_opened();
        t->set_task(a.open_task().name());
        t->set_role(a.open_task().role());
        t->set_title(a.open_task().title());
        t->set_assignee(Holder(a.open_task().role()));
        if (action.duration_us > 0) *t->mutable_due_at() = FromMicros(DueUs(action));
        t->set_rule(rule);
        Emit(std::move(e));
        return;
      }
      case v1::ActionSpec::kCloseTask:
        if (!HasTask(a.close_task())) return;
        e.mutable_task_closed()->set_task(a.close_task());
        e.mutable_task_closed()->set_rule(rule);
        Emit(std::move(e));
        return;
      case v1::ActionSpec::kSetDeadline:
        SetDeadline(a.set_deadline().name(), DueUs(action), rule);
        return;
      case v1::ActionSpec::kCancelDeadline:
        Cancel(a.cancel_deadline(), rule);
        return;
      case v1::ActionSpec::kEscalate:
        Escalate(a.escalate(), rule);
        return;
      case v1::ActionSpec::kNotify:
        e.mutable_notification()->set_to_role(a.notify().to_role());
        e.mutable_notification()->set_message(a.notify().message());
        e.mutable_notification()->set_rule(rule);
        Emit(std::move(e));
        return;
      case v1::ActionSpec::ACTION_NOT_SET:
        return;  // refused by validation
    }
  }

  // The available person holding `role` in the case's grid, or "".
  std::string Holder(const std::string& role) const {
    const v1::Role r = Directory::RoleFromName(role);
    if (r == v1::ROLE_UNSPECIFIED) return "";
    return directory_.Resolve(r, state_->grid_id(), now_us_).value_or("");
  }

  const Definition& def_;
  const Directory& directory_;
  const v1::Record& cause_;
  RecordStamper* const stamper_;
  v1::CaseState* const state_;
  std::vector<v1::Record>* const out_;
  const int64_t now_us_;       // when the cause was learnt (recorded)
  const int64_t happened_us_;  // the newest moment the case knows (occurred)
  int emitted_ = 0;
};

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
  v1::CaseState next = state->value_or(v1::CaseState());
  ApplyRecord(record, nullptr, &next);
  next.set_stage("directory");
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

}  // namespace gridcase::workflow
