#include "engine/workflow/appliers.h"

#include <algorithm>
#include <iterator>

#include "engine/common/check.h"
#include "engine/common/time.h"
#include "engine/domain/personal.h"
#include "engine/domain/stamper.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace gridcase::workflow {
namespace {

using E = v1::Event;

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

// A windowed or reset counter keeps at most this many occurred times: a
// late event that happened before all of them is counted against those
// kept. Bounded so that a case's state stays small whatever it is sent.
constexpr int kCounterTimesMax = 256;

// Counters by occurred time, so that the order in which events arrive does
// not change what they count: a reset drops only what happened before it,
// and an event that happened before the latest reset is not counted, even
// when it arrives after it.
void ApplyCounters(const v1::Record& r, const Definition& def, v1::CaseState* s) {
  const auto* field = E::descriptor()->FindFieldByNumber(r.event().payload_case());
  const std::string& type = field->name();
  const int64_t occurred = Micros(r.event().occurred_at());
  for (const Counter& c : def.counters()) {
    const GuardInput in = GuardInputFor(r.event(), *s, Micros(r.recorded_at()));
    const bool counts = c.on == type && c.when.Evaluate(in);
    const bool resets = !c.reset_on.empty() && c.reset_on == type && c.reset_when.Evaluate(in);
    if (!counts && !resets) continue;
    v1::CounterState* state = Upsert(s->mutable_counters(), c.name);
    if (c.window_us == 0 && c.reset_on.empty()) {
      state->set_count(state->count() + 1);
      continue;
    }
    auto* times = state->mutable_occurred_us();
    if (resets && (!state->has_reset_us() || occurred >= state->reset_us())) {
      state->set_reset_us(occurred);
      times->erase(times->begin(), std::lower_bound(times->begin(), times->end(), occurred));
    }
    if (!counts || (state->has_reset_us() && occurred < state->reset_us())) continue;
    times->Add(occurred);
    std::inplace_merge(times->begin(), times->end() - 1, times->end());
    if (times->size() > kCounterTimesMax) {
      times->erase(times->begin(), times->begin() + (times->size() - kCounterTimesMax));
    }
  }
}

// Whether `e` happened at or after `*at`, the occurred time of the event a
// "latest" fact came from; if so, `*at` becomes e's. At the same instant the
// event that arrived last wins.
bool Latest(const E& e, google::protobuf::Timestamp* at) {
  const bool unset = at->seconds() == 0 && at->nanos() == 0;
  if (!unset && Micros(e.occurred_at()) < Micros(*at)) return false;
  *at = e.occurred_at();
  return true;
}

// Help asked for and given: the open requests.
void ApplyHelp(const v1::Record& r, v1::CaseState* s) {
  const E& e = r.event();
  switch (e.payload_case()) {
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
    default:
      break;
  }
}

// Isolation ordered and released, latest by occurred time.
void ApplyIsolation(const v1::Record& r, v1::CaseState* s) {
  const E& e = r.event();
  switch (e.payload_case()) {
    case E::kIsolationOrder: {
      if (!Latest(e, s->mutable_isolation_at())) break;
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
      if (!Latest(e, s->mutable_isolation_at())) break;
      s->set_isolation(v1::ISOLATION_KIND_UNSPECIFIED);
      s->clear_isolation_facility();
      s->clear_isolation_until();
      break;
    default:
      break;
  }
}

// Who holds the case and its tasks.
void ApplyHolders(const v1::Record& r, v1::CaseState* s) {
  const E& e = r.event();
  switch (e.payload_case()) {
    case E::kReassignment:
      if (e.reassignment().task().empty()) {
        s->set_assignee(e.reassignment().to_assignee());
      } else {
        for (auto& t : *s->mutable_open_tasks()) {
          if (t.name() == e.reassignment().task()) t.set_assignee(e.reassignment().to_assignee());
        }
      }
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

// Facts any submitted event carries, whatever the workflow.
void ApplyFacts(const v1::Record& r, v1::CaseState* s) {
  const E& e = r.event();
  switch (e.payload_case()) {
    case E::kFeverReading:
      s->set_fever_readings(s->fever_readings() + 1);
      if (Latest(e, s->mutable_last_celsius_at())) s->set_last_celsius(e.fever_reading().celsius());
      break;
    case E::kTestResult:
      if (Latest(e, s->mutable_last_test_at())) s->set_last_test_outcome(e.test_result().outcome());
      break;
    case E::kAdmission:
      if (Latest(e, s->mutable_hospital_at())) s->set_hospital(e.admission().hospital());
      break;
    case E::kDischarge:
      if (Latest(e, s->mutable_hospital_at())) s->clear_hospital();
      break;
    case E::kContactAttempt:
      if (Latest(e, s->mutable_last_contact_at())) {
        s->set_last_contact_outcome(e.contact_attempt().outcome());
      }
      break;
    case E::kDeadlineExpired:
      Erase(s->mutable_deadlines(), e.deadline_expired().deadline());
      break;
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

// An erasure leaves a tombstone: the case's id, place, versions and times,
// and the position of the erasure; nothing it held, waited for or counted.
void ApplyErasure(const v1::Record& r, v1::CaseState* s) {
  v1::CaseState tomb;
  tomb.set_case_id(s->case_id());
  tomb.set_partition(s->partition());
  tomb.set_grid_id(s->grid_id());
  tomb.set_version(s->version());
  tomb.set_last_position(s->last_position());
  *tomb.mutable_opened_at() = s->opened_at();
  *tomb.mutable_updated_at() = s->updated_at();
  if (s->has_workflow()) *tomb.mutable_workflow() = s->workflow();
  tomb.set_key_slot(s->key_slot());  // the key its erasure destroys
  tomb.set_stage("erased");
  tomb.set_erased_at(r.position());
  *s = std::move(tomb);
}

// Version 1 of the appliers.
void ApplyVersion1(const v1::Record& r, const Definition* def, v1::CaseState* s) {
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
  // A directory person's erasure (person_id set) leaves the directory
  // case as it was: only the person's fields go (Directory::ApplyErasure).
  if (e.has_erasure() && e.erasure().person_id().empty()) {
    ApplyErasure(r, s);
    return;
  }
  if (r.caused_by() != 0) {
    ApplyDecision(r, s);
    return;
  }
  // The grid of the newest event (a person who moved is where they were
  // seen last), and the newest occurred time: neither goes back. Only
  // what happened in the world counts: the engine's own commands (a
  // deadline falling due, a hand-over) are not news of the person.
  if (e.actor().kind() != v1::ACTOR_KIND_SYSTEM) {
    const bool newest =
        !s->has_last_occurred_at() || Micros(e.occurred_at()) >= Micros(s->last_occurred_at());
    if (!e.grid_id().empty() && (newest || s->grid_id().empty())) s->set_grid_id(e.grid_id());
    if (newest) *s->mutable_last_occurred_at() = e.occurred_at();
  }
  ApplyFacts(r, s);
  ApplyHelp(r, s);
  ApplyIsolation(r, s);
  ApplyHolders(r, s);
  if (def != nullptr) ApplyCounters(r, *def, s);
}

// The appliers of each record version, at index version - 1. A change to
// what a record does to its case adds a version here and leaves the
// earlier ones as they are, so old logs replay through their own rules.
using Applier = void (*)(const v1::Record&, const Definition*, v1::CaseState*);
constexpr Applier kAppliers[] = {&ApplyVersion1};
static_assert(std::size(kAppliers) == kRecordVersion, "one applier per record version");

}  // namespace

void ApplyRecord(const v1::Record& r, const Definition* def, v1::CaseState* s) {
  const uint32_t version = RecordVersionOf(r);
  // Newer records are refused before they are folded (CheckRecordVersion).
  GC_CHECK(version <= std::size(kAppliers), "record ", r.position(), " of record version ", version,
           " reached the appliers of version ", std::size(kAppliers));
  kAppliers[version - 1](r, def, s);
  // The first record sealed under a key slot gives the case its slot
  // (the sequencer, which folds records before it seals them, sets it as
  // it seals). A record read back opened has no Sealed: folding it leaves
  // the slot unknown, which only a reader of the log (an as-of view) does.
  if (s->key_slot() == 0 && r.has_sealed()) s->set_key_slot(SlotOfSubject(r.sealed().subject()));
}

}  // namespace gridcase::workflow
