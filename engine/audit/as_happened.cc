#include "engine/audit/as_happened.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/time.h"
#include "engine/domain/validate.h"

namespace gridcase {
namespace {

// Decides one event after another, as a sequencer with a single case
// would, each stamped with the moment it happened.
class Replay {
 public:
  Replay(const CaseLogic& logic, const v1::Record& first)
      : logic_(logic), partition_(first.partition()), workflow_(first.workflow()) {}

  // Fires, in due order, every deadline pending at or before `until_us`.
  absl::Status FireDue(int64_t until_us) {
    while (state_.has_value()) {
      const v1::PendingDeadline* next = nullptr;
      for (const auto& d : state_->deadlines()) {
        if (Micros(d.due_at()) <= until_us &&
            (!next || Micros(d.due_at()) < Micros(next->due_at())))
          next = &d;
      }
      if (next == nullptr) return absl::OkStatus();
      if (++firings_ > kAsHappenedFiringsMax) {
        return absl::ResourceExhaustedError(
            absl::StrCat("case ", state_->case_id(), " would fire more than ",
                         kAsHappenedFiringsMax, " deadlines by then; ask for an earlier moment"));
      }
      v1::Record r;
      v1::Event* e = r.mutable_event();
      const int64_t due_us = Micros(next->due_at());
      e->set_event_id(absl::StrCat(std::string(1, kReservedCasePrefix), "deadline~",
                                   state_->case_id(), "~", next->name(), "~", due_us));
      e->set_case_id(state_->case_id());
      *e->mutable_occurred_at() = next->due_at();
      e->mutable_actor()->set_id("gridcase");
      e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
      e->set_channel(v1::CHANNEL_SYSTEM);
      e->mutable_deadline_expired()->set_deadline(next->name());
      *e->mutable_deadline_expired()->mutable_due_at() = next->due_at();
      // Pending with that due time and due: the logic cannot refuse it.
      if (auto st = Decide(std::move(r), due_us); !st.ok()) {
        return absl::InternalError(absl::StrCat("a due deadline was refused: ", st.message()));
      }
    }
    return absl::OkStatus();
  }

  // Decides a stored submitted event as arriving when it happened; a
  // refusal is kept in the answer, not returned.
  void Submit(const v1::Record& stored) {
    v1::Record r;
    *r.mutable_event() = stored.event();
    if (!state_.has_value()) *r.mutable_workflow() = workflow_;
    const std::string id = stored.event().event_id();
    if (auto st = Decide(std::move(r), Micros(stored.event().occurred_at())); !st.ok()) {
      v1::AsOfRefusal* refused = out_.add_refused();
      refused->set_event_id(id);
      refused->set_code(static_cast<int>(st.code()));
      refused->set_message(std::string(st.message()));
    }
  }

  v1::GetCaseAsOfResponse Finish() && {
    if (state_.has_value()) *out_.mutable_state() = std::move(*state_);
    return std::move(out_);
  }
  bool opened() const { return state_.has_value(); }

 private:
  absl::Status Decide(v1::Record r, int64_t at_us) {
    // Positions of a case decided alone: its versions.
    const uint64_t before = state_.has_value() ? state_->version() : 0;
    RecordStamper stamper(partition_, Position(before + 1), before, FromMicros(at_us));
    stamper.StampSubmitted(&r);
    std::vector<v1::Record> decided;
    if (auto st = logic_.Process(std::move(r), &stamper, &state_, &decided); !st.ok()) return st;
    for (auto& d : decided) *out_.add_records() = std::move(d);
    return absl::OkStatus();
  }

  const CaseLogic& logic_;
  const uint32_t partition_;
  const v1::WorkflowRef workflow_;  // the case's, for ever
  std::optional<v1::CaseState> state_;
  v1::GetCaseAsOfResponse out_;
  int firings_ = 0;
};

}  // namespace

absl::StatusOr<v1::GetCaseAsOfResponse> DecideAsHappened(const CaseLogic& logic,
                                                         const std::vector<v1::Record>& stored,
                                                         int64_t until_us) {
  std::vector<const v1::Record*> events;
  for (const v1::Record& r : stored) {
    if (r.caused_by() != 0 || r.event().has_deadline_expired()) continue;
    if (Micros(r.event().occurred_at()) <= until_us) events.push_back(&r);
  }
  // In the order they happened; at the same instant, in the order they
  // arrived (stored is in case order).
  std::stable_sort(events.begin(), events.end(), [](const v1::Record* a, const v1::Record* b) {
    return Micros(a->event().occurred_at()) < Micros(b->event().occurred_at());
  });
  if (events.empty()) {
    return absl::NotFoundError(absl::StrCat("case ",
                                            stored.empty() ? "" : stored.front().event().case_id(),
                                            " had no events that happened by then"));
  }
  Replay replay(logic, stored.front());
  for (const v1::Record* r : events) {
    if (auto st = replay.FireDue(Micros(r->event().occurred_at())); !st.ok()) return st;
    replay.Submit(*r);
  }
  if (auto st = replay.FireDue(until_us); !st.ok()) return st;
  if (!replay.opened()) {
    v1::GetCaseAsOfResponse refused = std::move(replay).Finish();
    return absl::NotFoundError(absl::StrCat(
        "case ", stored.front().event().case_id(),
        " would not have been opened by then: no event that happened by then opens it (",
        refused.refused(0).message(), ")"));
  }
  return std::move(replay).Finish();
}

}  // namespace gridcase
