#include "engine/timers/deadline_timers.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/common/time.h"
#include "engine/domain/validate.h"
#include "engine/partition/pending_answers.h"

namespace gridcase {

absl::StatusOr<size_t> DeadlineTimers::FireDueDeadlines(size_t limit) {
  int64_t now_us = 0;
  if (guard_ != nullptr) {
    auto now = guard_->Now();
    if (!now.ok()) return 0;  // the guard's refusal is in health and stats
    now_us = *now;
  } else {
    now_us = clock_->NowMicros();
  }
  std::vector<keys::TimerKey> due;
  for (uint32_t i = 0; i < partitions_->count(); ++i) {
    if (!partitions_->sequencer(PartitionId(i)).refusing_writes().ok()) continue;
    if (auto st = partitions_->store(PartitionId(i)).ReadDueTimers(now_us, limit, &due); !st.ok())
      return st;
  }
  std::stable_sort(due.begin(), due.end(),
                   [](const auto& a, const auto& b) { return a.due_us < b.due_us; });
  if (due.size() > limit) due.resize(limit);

  size_t fired = 0;
  PendingAnswers answers([this, &fired](const absl::StatusOr<v1::SubmitResponse>& r) {
    if (r.ok()) {
      if (!r->duplicate()) {
        ++fired;
        // The due time ends the event id made below.
        int64_t due_us = 0;
        const size_t tilde = r->event_id().rfind('~');
        if (tilde != std::string::npos &&
            absl::SimpleAtoi(r->event_id().substr(tilde + 1), &due_us)) {
          const int64_t delay = Micros(r->recorded_at()) - due_us;
          absl::MutexLock lock(&stats_mu_);
          stats_.fired += 1;
          stats_.delay.Add(static_cast<uint64_t>(std::max<int64_t>(0, delay)));
        }
      }
      return absl::OkStatus();
    }
    // FAILED_PRECONDITION: cancelled or moved since it was read.
    // RESOURCE_EXHAUSTED: the partition is busy; the row stays and the next
    // round fires it. Anything else is an error to report.
    const auto code = r.status().code();
    return code == absl::StatusCode::kFailedPrecondition ||
                   code == absl::StatusCode::kResourceExhausted
               ? absl::OkStatus()
               : r.status();
  });
  for (const auto& t : due) {
    v1::SubmitRequest request;
    v1::Event* e = request.mutable_event();
    e->set_event_id(absl::StrCat(std::string(1, kReservedCasePrefix), "deadline~", t.case_id, "~",
                                 t.deadline, "~", t.due_us));
    e->set_case_id(t.case_id);
    *e->mutable_occurred_at() = FromMicros(t.due_us);
    e->mutable_actor()->set_id(kEngineActorId);
    e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
    e->set_channel(v1::CHANNEL_SYSTEM);
    e->mutable_deadline_expired()->set_deadline(t.deadline);
    *e->mutable_deadline_expired()->mutable_due_at() = e->occurred_at();
    partitions_->sequencer(partitions_->PartitionOf(t.case_id))
        .Submit(std::move(request), answers.Track());
  }
  if (auto st = answers.Wait(); !st.ok()) return st;
  return fired;
}

absl::StatusOr<size_t> DeadlineTimers::CountDue(size_t limit) const {
  const int64_t now_us = clock_->NowMicros();
  std::vector<keys::TimerKey> due;
  for (uint32_t i = 0; i < partitions_->count() && due.size() < limit; ++i) {
    if (auto st =
            partitions_->store(PartitionId(i)).ReadDueTimers(now_us, limit - due.size(), &due);
        !st.ok()) {
      return st;
    }
  }
  return std::min(due.size(), limit);
}

DeadlineStats DeadlineTimers::stats() const {
  absl::MutexLock lock(&stats_mu_);
  return stats_;
}

absl::StatusOr<std::optional<int64_t>> DeadlineTimers::NextDeadlineDueUs() const {
  std::optional<int64_t> first;
  for (uint32_t i = 0; i < partitions_->count(); ++i) {
    auto t = partitions_->store(PartitionId(i)).ReadFirstTimer();
    if (!t.ok()) return t.status();
    if (t->has_value() && (!first || (*t)->due_us < *first)) first = (*t)->due_us;
  }
  return first;
}

}  // namespace gridcase
