#include "engine/workflow/appliers.h"

#include <algorithm>

#include "google/protobuf/repeated_ptr_field.h"

namespace gridcase::workflow {
namespace {

using E = v1::Event;

int64_t Micros(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

// Named entries kept sorted by name, so that the serialized state does not
// depend on the order things happened in.
template <typename T>
T* Upsert(google::protobuf::RepeatedPtrField<T>* list, const std::string& name) {
  auto it = std::lower_bound(list->begin(), list->end(), name,
                             [](const T& e, const std::string& n) { return e.name() < n; });
  if (it != list->end() && it->name() == name) return &*it;
  const int at = static_cast<int>(it - list->begin());
  T* added = list->Add();
  added->set_name(name);
  for (int i = list->size() - 1; i > at; --i) list->SwapElements(i, i - 1);
  return list->Mutable(at);
}

template <typename T>
void Erase(google::protobuf::RepeatedPtrField<T>* list, const std::string& name) {
  for (int i = 0; i < list->size(); ++i) {
    if (list->Get(i).name() == name) {
      list->DeleteSubrange(i, 1);
      return;
    }
  }
}

void ApplyCounters(const v1::Record& r, const Definition& def, v1::CaseState* s) {
  const auto* field = E::descriptor()->FindFieldByNumber(r.event().payload_case());
  const std::string& type = field->name();
  const int64_t occurred = Micros(r.event().occurred_at());
  for (const Counter& c : def.counters()) {
    const GuardInput in{&r.event(), s, Micros(r.recorded_at()), occurred};
    const bool counts = c.on == type && c.when.Evaluate(in);
    const bool resets = !c.reset_on.empty() && c.reset_on == type && c.reset_when.Evaluate(in);
    if (!counts && !resets) continue;
    v1::CounterState* state = Upsert(s->mutable_counters(), c.name);
    if (resets) {
      state->set_count(0);
      state->clear_occurred_us();
    }
    if (!counts) continue;
    if (c.window_us == 0) {
      state->set_count(state->count() + 1);
      continue;
    }
    // Keep only what can still fall inside a window ending at or after
    // this event; late events are inserted in occurred order.
    auto* times = state->mutable_occurred_us();
    times->Add(occurred);
    std::sort(times->begin(), times->end());
    const int64_t newest = *std::max_element(times->begin(), times->end());
    int drop = 0;
    while (drop < times->size() && times->Get(drop) <= newest - c.window_us) ++drop;
    if (drop > 0) times->erase(times->begin(), times->begin() + drop);
  }
}

// Facts any submitted event carries, whatever the workflow.
void ApplyFacts(const v1::Record& r, v1::CaseState* s) {
  const E& e = r.event();
  switch (e.payload_case()) {
    case E::kFeverReading:
      s->set_fever_readings(s->fever_readings() + 1);
      s->set_last_celsius(e.fever_reading().celsius());
      break;
    case E::kHelpRequest: {
      const auto& h = e.help_request();
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
      break;
    }
    case E::kHelpFulfilled:
    case E::kHelpCancelled: {
      const std::string& id = e.has_help_fulfilled() ? e.help_fulfilled().request_id()
                                                     : e.help_cancelled().request_id();
      auto* open = s->mutable_open_help_requests();
      for (int i = 0; i < open->size(); ++i) {
        if (open->Get(i).request_id() == id) {
          open->DeleteSubrange(i, 1);
          break;
        }
      }
      break;
    }
    case E::kIsolationOrder: {
      const auto& o = e.isolation_order();
      s->set_isolation(o.kind());
      s->set_isolation_facility(o.facility());
      if (o.has_until()) {
        *s->mutable_isolation_until() = o.until();
      } else {
        s->clear_isolation_until();
      }
      break;
    }
    case E::kIsolationReleased:
      s->set_isolation(v1::ISOLATION_KIND_UNSPECIFIED);
      s->clear_isolation_facility();
      s->clear_isolation_until();
      break;
    case E::kTestResult:
      s->set_last_test_outcome(e.test_result().outcome());
      break;
    case E::kAdmission:
      s->set_hospital(e.admission().hospital());
      break;
    case E::kDischarge:
      s->clear_hospital();
      break;
    case E::kReassignment:
      if (e.reassignment().task().empty()) {
        s->set_assignee(e.reassignment().to_assignee());
      } else {
        for (auto& t : *s->mutable_open_tasks()) {
          if (t.name() == e.reassignment().task()) t.set_assignee(e.reassignment().to_assignee());
        }
      }
      break;
    case E::kDeadlineExpired:
      Erase(s->mutable_deadlines(), e.deadline_expired().deadline());
      break;
    case E::kHolderReplaced: {
      const auto& h = e.holder_replaced();
      if (s->assignee() == h.from_person()) s->set_assignee(h.to_person());
      for (auto& t : *s->mutable_open_tasks()) {
        if (t.assignee() == h.from_person()) t.set_assignee(h.to_person());
      }
      break;
    }
    default:
      break;
  }
}

// Decisions recorded as derived events.
void ApplyDecision(const v1::Record& r, v1::CaseState* s) {
  const E& e = r.event();
  switch (e.payload_case()) {
    case E::kStageChanged:
      s->set_stage(e.stage_changed().to());
      *s->mutable_stage_entered_at() = r.recorded_at();
      break;
    case E::kCategoryChanged:
      s->set_category(e.category_changed().to());
      break;
    case E::kTaskOpened: {
      const auto& t = e.task_opened();
      v1::OpenTask* task = Upsert(s->mutable_open_tasks(), t.task());
      task->set_role(t.role());
      task->set_title(t.title());
      task->set_assignee(t.assignee());
      *task->mutable_opened_at() = r.recorded_at();
      if (t.has_due_at()) {
        *task->mutable_due_at() = t.due_at();
      } else {
        task->clear_due_at();
      }
      break;
    }
    case E::kTaskClosed:
      Erase(s->mutable_open_tasks(), e.task_closed().task());
      break;
    case E::kDeadlineSet:
      *Upsert(s->mutable_deadlines(), e.deadline_set().deadline())->mutable_due_at() =
          e.deadline_set().due_at();
      break;
    case E::kDeadlineCancelled:
      Erase(s->mutable_deadlines(), e.deadline_cancelled().deadline());
      break;
    case E::kEscalated:
      s->set_escalation_role(e.escalated().to_role());
      if (!e.escalated().to_person().empty()) s->set_assignee(e.escalated().to_person());
      break;
    default:
      break;
  }
}

}  // namespace

void ApplyRecord(const v1::Record& r, const Definition* def, v1::CaseState* s) {
  const E& e = r.event();
  if (r.case_version() == 1) {
    s->set_case_id(e.case_id());
    s->set_partition(r.partition());
    *s->mutable_opened_at() = r.recorded_at();
    if (r.has_workflow()) *s->mutable_workflow() = r.workflow();
    if (e.actor().kind() == v1::ACTOR_KIND_PERSON) s->set_assignee(e.actor().id());
    if (def != nullptr && !def->ladder().empty()) s->set_escalation_role(def->ladder().front());
  }
  s->set_version(r.case_version());
  s->set_last_position(r.position());
  *s->mutable_updated_at() = r.recorded_at();
  if (r.caused_by() != 0) {
    ApplyDecision(r, s);
    return;
  }
  *s->mutable_last_occurred_at() = e.occurred_at();
  if (!e.grid_id().empty()) s->set_grid_id(e.grid_id());
  ApplyFacts(r, s);
  if (def != nullptr) ApplyCounters(r, *def, s);
}

}  // namespace gridcase::workflow
