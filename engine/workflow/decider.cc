#include "engine/workflow/decider.h"

#include "absl/strings/str_cat.h"
#include "engine/workflow/appliers.h"
#include "engine/workflow/duration.h"
#include "engine/workflow/logic.h"

namespace gridcase::workflow {
namespace {

constexpr char kEngineActor[] = "gridcase";

}  // namespace

const v1::PendingDeadline* FindDeadline(const v1::CaseState& state, const std::string& name) {
  for (const auto& d : state.deadlines()) {
    if (d.name() == name) return &d;
  }
  return nullptr;
}

void Decider::Open() {
  EnterStage(def_.proto().initial_stage(),
             absl::StrCat("opened by workflow ", def_.name(), " v", def_.version()));
}

std::vector<std::string> Decider::RunRules(const std::string& type, const Stage& stage) {
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

void Decider::RungDeadline(const std::string& name) {
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

void Decider::TimeRung(const std::string& stage_before, const std::string& rung_before,
                       bool opening) {
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
    SetDeadline(kRungReminderDeadline, now_us_ + rung->after_us - rung->remind_before_us, "ladder");
  } else {
    Cancel(kRungReminderDeadline, "ladder");
  }
}

void Decider::Emit(v1::Event payload, std::string explanation) {
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

void Decider::EnterStage(const std::string& to, const std::string& rule) {
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

void Decider::SetCategory(v1::Category to, const std::string& rule) {
  if (state_->category() == to) return;
  v1::Event e;
  auto* changed = e.mutable_category_changed();
  changed->set_from(state_->category());
  changed->set_to(to);
  changed->set_rule(rule);
  Emit(std::move(e));
}

bool Decider::HasTask(const std::string& name) const {
  for (const auto& t : state_->open_tasks()) {
    if (t.name() == name) return true;
  }
  return false;
}

const v1::PendingDeadline* Decider::Pending(const std::string& name) const {
  return FindDeadline(*state_, name);
}

int64_t Decider::DueUs(const Action& action) const {
  return (action.from_happened ? happened_us_ : now_us_) + action.duration_us;
}

void Decider::SetDeadline(const std::string& name, int64_t due_us, const std::string& rule) {
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

void Decider::Cancel(const std::string& name, const std::string& rule) {
  if (Pending(name) == nullptr) return;
  v1::Event e;
  e.mutable_deadline_cancelled()->set_deadline(name);
  e.mutable_deadline_cancelled()->set_rule(rule);
  Emit(std::move(e));
}

void Decider::Escalate(const v1::EscalateSpec& spec, const std::string& rule) {
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

void Decider::Run(const Action& action, const std::string& rule) {
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

std::string Decider::Holder(const std::string& role) const {
  const v1::Role r = Directory::RoleFromName(role);
  if (r == v1::ROLE_UNSPECIFIED) return "";
  return directory_.Resolve(r, state_->grid_id(), now_us_).value_or("");
}

}  // namespace gridcase::workflow
