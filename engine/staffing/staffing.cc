#include "engine/staffing/staffing.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/time.h"
#include "engine/partition/pending_answers.h"
#include "engine/staffing/successor.h"

namespace gridcase {
namespace {

std::string DirectoryEventId(const std::string& import_id, size_t entry) {
  return absl::StrCat(kDirectoryCaseId, "~", import_id, "~", entry);
}

}  // namespace

absl::Status Staffing::LoadDirectory(const privacy::RecordSealer* sealer) {
  const PartitionStore& home = partitions_->store(partitions_->PartitionOf(kDirectoryCaseId));
  return home.ForEachRecordOfCases(kDirectoryCaseId, [&](const v1::Record& stored) {
    if (stored.event().case_id() != kDirectoryCaseId) return absl::OkStatus();  // a longer id
    v1::Record r = stored;
    // An erased person's fields stay sealed (and the record's own copies
    // empty); anything else that does not open is a damaged store.
    if (auto st = privacy::OpenForReading(sealer, &r); !st.ok()) return st;
    ApplyDirectoryRecord(r, directory_);
    return absl::OkStatus();
  });
}

// An import carries the moment it was made and who made it, and event ids
// that are the same each time the same import is sent. Sent again, a
// minute or a day later or by someone else (a retry after a lost answer,
// the same file imported twice), it must be the same events, or each would
// be refused as an event id reused with other content: so an import
// already recorded keeps its moment and its author.
absl::Status Staffing::ImportAsRecorded(const std::string& import_id, int64_t* moment_us,
                                        v1::Actor* actor) const {
  const PartitionStore& home = partitions_->store(partitions_->PartitionOf(kDirectoryCaseId));
  auto first = home.FindEventId(DirectoryEventId(import_id, 1));
  if (!first.ok()) return first.status();
  if (!first->has_value()) return absl::OkStatus();
  auto record = home.ReadRecord(**first);
  if (!record.ok()) return record.status();
  *moment_us = Micros(record->event().occurred_at());
  *actor = record->event().actor();
  return absl::OkStatus();
}

absl::StatusOr<Staffing::ImportResult> Staffing::ImportDirectory(
    const std::vector<v1::DirectoryEntry>& entries, const std::string& import_id,
    const v1::Actor& actor) {
  if (!IsValidId(actor.id(), limits_.id_bytes_max)) {
    return absl::InvalidArgumentError("actor.id: who imports is required");
  }
  if (!IsValidId(import_id, 64)) {
    return absl::InvalidArgumentError("import_id: 1 to 64 bytes of printable ASCII required");
  }
  absl::MutexLock import_lock(&import_mu_);
  auto scratch = directory_->Clone();
  int64_t now_us = clock_->NowMicros();
  v1::Actor author = actor;
  if (auto st = ImportAsRecorded(import_id, &now_us, &author); !st.ok()) return st;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (auto st = scratch->Check(entries[i]); !st.ok()) {
      return absl::Status(
          st.code(), absl::StrCat("entry ", i + 1, ": ", st.message(), "; nothing was imported"));
    }
    scratch->Apply(entries[i], now_us);
  }
  size_t written = 0;
  PendingAnswers answers([&written](const absl::StatusOr<v1::SubmitResponse>& r) {
    if (r.ok()) {
      written += !r->duplicate();
      return absl::OkStatus();
    }
    return r.status();
  });
  Sequencer& sequencer = partitions_->sequencer(partitions_->PartitionOf(kDirectoryCaseId));
  for (size_t i = 0; i < entries.size(); ++i) {
    v1::SubmitRequest request;
    v1::Event* e = request.mutable_event();
    e->set_event_id(DirectoryEventId(import_id, i + 1));
    e->set_case_id(kDirectoryCaseId);
    *e->mutable_occurred_at() = WholeSeconds(now_us);
    *e->mutable_actor() = author;
    e->set_channel(v1::CHANNEL_SYSTEM);
    SetPayload(entries[i], e);
    sequencer.Submit(std::move(request), answers.Track());
  }
  if (auto st = answers.Wait(); !st.ok()) return st;
  ImportResult result;
  result.written = written;
  for (const auto& e : entries) {
    if (!e.has_availability()) continue;
    auto person = directory_->FindPerson(e.availability().person_id());
    if (!person || directory_->IsAvailable(*person, clock_->NowMicros())) continue;
    // Not the reason given for the absence: that is the person's own
    // (sealed under their key, gone with their erasure), while a
    // hand-over is recorded in the resident's case.
    auto moved = ReassignHolder(person->id, "unavailable");
    if (!moved.ok()) return moved.status();
    result.moved += *moved;
  }
  return result;
}

absl::Status Staffing::HeldBy(const std::string& person,
                              std::vector<std::vector<HeldCase>>* out) const {
  out->assign(partitions_->count(), {});
  for (uint32_t i = 0; i < partitions_->count(); ++i) {
    const PartitionStore& store = partitions_->store(PartitionId(i));
    std::vector<std::string> held;
    if (auto st = store.CasesHeldBy(person, &held); !st.ok()) return st;
    std::sort(held.begin(), held.end());
    for (const std::string& case_id : held) {
      auto state = store.ReadCase(case_id);
      if (!state.ok()) return state.status();
      if (!state->has_value()) continue;
      (*out)[i].push_back(HeldCase{case_id, (*state)->grid_id()});
    }
  }
  return absl::OkStatus();
}

absl::Status Staffing::LoadsOf(const std::vector<std::string>& people,
                               std::map<std::string, size_t>* out) const {
  for (const std::string& id : people) {
    std::vector<std::string> held;
    for (uint32_t i = 0; i < partitions_->count(); ++i) {
      if (auto st = partitions_->store(PartitionId(i)).CasesHeldBy(id, &held); !st.ok()) {
        return st;
      }
    }
    (*out)[id] = held.size();
  }
  return absl::OkStatus();
}

namespace {

v1::SubmitRequest HolderReplaced(const std::string& from, const Successor& to,
                                 const std::string& case_id, const std::string& grid_id,
                                 const std::string& reason, int64_t now_us) {
  v1::SubmitRequest request;
  v1::Event* e = request.mutable_event();
  e->set_event_id(
      absl::StrCat(std::string(1, kReservedCasePrefix), "move~", from, "~", case_id, "~", now_us));
  e->set_case_id(case_id);
  *e->mutable_occurred_at() = WholeSeconds(now_us);
  e->mutable_actor()->set_id(kEngineActorId);
  e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
  e->set_grid_id(grid_id);
  e->set_channel(v1::CHANNEL_SYSTEM);
  auto* h = e->mutable_holder_replaced();
  h->set_from_person(from);
  h->set_to_person(to.person_id);
  h->set_to_role(to.role);
  h->set_reason(reason);
  return request;
}

}  // namespace

absl::StatusOr<size_t> Staffing::ReassignHolder(const std::string& person_id,
                                                const std::string& reason) {
  const int64_t now_us = clock_->NowMicros();
  auto person = directory_->FindPerson(person_id);
  if (!person) {
    return absl::NotFoundError(absl::StrCat("no person ", person_id, " in the directory"));
  }
  std::vector<std::vector<HeldCase>> held;
  if (auto st = HeldBy(person_id, &held); !st.ok()) return st;
  const bool holds_any =
      std::any_of(held.begin(), held.end(), [](const auto& h) { return !h.empty(); });
  std::map<std::string, size_t> load;
  if (holds_any) {
    if (auto st = LoadsOf(WorkersToWeigh(*directory_, *person, now_us), &load); !st.ok()) {
      return st;
    }
  }
  size_t moved = 0;
  PendingAnswers answers([&moved](const absl::StatusOr<v1::SubmitResponse>& r) {
    if (r.ok()) {
      moved += !r->duplicate();
      return absl::OkStatus();
    }
    // FAILED_PRECONDITION: moved meanwhile.
    return r.status().code() == absl::StatusCode::kFailedPrecondition ? absl::OkStatus()
                                                                      : r.status();
  });
  std::vector<std::vector<std::pair<v1::SubmitRequest, SubmitCallback>>> bundles(held.size());
  for (size_t i = 0; i < held.size(); ++i) {
    for (const HeldCase& c : held[i]) {
      auto to = ChooseSuccessor(*directory_, *person, c.grid_id, now_us, &load);
      // Nobody available anywhere up the chain: the case stays where it is,
      // and the staffing report lists it as held by someone unavailable.
      if (!to) continue;
      bundles[i].emplace_back(HolderReplaced(person_id, *to, c.case_id, c.grid_id, reason, now_us),
                              answers.Track());
    }
  }
  for (size_t i = 0; i < bundles.size(); ++i) {
    partitions_->sequencer(PartitionId(static_cast<uint32_t>(i)))
        .SubmitBundle(std::move(bundles[i]));
  }
  const absl::Status answered = answers.Wait();
  handed_over_.fetch_add(moved, std::memory_order_relaxed);
  if (!answered.ok()) return answered;
  return moved;
}

absl::StatusOr<v1::Workload> Staffing::Workload(const std::string& person) const {
  const int64_t now_us = clock_->NowMicros();
  v1::Workload out;
  out.set_person_id(person);
  std::vector<std::string> ids;
  for (uint32_t i = 0; i < partitions_->count(); ++i) {
    const PartitionStore& store = partitions_->store(PartitionId(i));
    std::vector<std::string> held;
    if (auto st = store.CasesHeldBy(person, &held); !st.ok()) return st;
    for (const std::string& id : held) {
      auto state = store.ReadCase(id);
      if (!state.ok()) return state.status();
      if (!state->has_value()) continue;
      out.set_cases(out.cases() + ((*state)->assignee() == person));
      for (const auto& t : (*state)->open_tasks()) {
        if (t.assignee() != person) continue;
        out.set_open_tasks(out.open_tasks() + 1);
        const int64_t due = Micros(t.due_at());
        out.set_overdue_tasks(out.overdue_tasks() + (t.has_due_at() && due <= now_us));
      }
      ids.push_back(id);
    }
  }
  std::sort(ids.begin(), ids.end());
  for (auto& id : ids) out.add_case_ids(std::move(id));
  return out;
}

absl::StatusOr<v1::StaffingReport> Staffing::StaffingReport(const std::string& area) const {
  const int64_t now_us = clock_->NowMicros();
  v1::StaffingReport out;
  std::vector<std::string> grids;
  if (!area.empty()) {
    grids = directory_->GridsUnder(area);
    if (grids.empty()) {
      return absl::NotFoundError(
          absl::StrCat("area: no unit ", area, " with grids in the directory"));
    }
  }
  auto in_area = [&](const std::string& grid) {
    return area.empty() || std::binary_search(grids.begin(), grids.end(), grid);
  };
  for (const std::string& grid : area.empty() ? directory_->AllGrids() : grids) {
    if (!directory_->HasAvailable(grid, v1::ROLE_GRID_WORKER, now_us)) {
      out.add_grids_without_available_worker(grid);
    }
  }
  for (const Person& person : directory_->UnavailablePeople(now_us)) {
    for (uint32_t i = 0; i < partitions_->count(); ++i) {
      const PartitionStore& store = partitions_->store(PartitionId(i));
      std::vector<std::string> held;
      if (auto st = store.CasesHeldBy(person.id, &held); !st.ok()) return st;
      for (const std::string& id : held) {
        auto state = store.ReadCase(id);
        if (!state.ok()) return state.status();
        if (!state->has_value() || !in_area((*state)->grid_id())) continue;
        auto* stranded = out.add_stranded();
        stranded->set_case_id(id);
        stranded->set_holder(person.id);
        stranded->set_grid_id((*state)->grid_id());
      }
    }
  }
  return out;
}

absl::StatusOr<size_t> Staffing::HandOnFromNewlyUnavailable() {
  absl::MutexLock lock(&handoff_mu_);
  const int64_t now_us = clock_->NowMicros();
  std::vector<std::string> people;
  if (handoff_checked_us_ == 0) {
    // The first round after start sweeps everyone unavailable: the moves of
    // an import that were cut short by a crash (a partition's bundle is
    // atomic, the set of partitions is not) are completed here.
    for (const Person& p : directory_->UnavailablePeople(now_us)) people.push_back(p.id);
  } else {
    people = directory_->BecomingUnavailable(handoff_checked_us_, now_us);
  }
  size_t moved = 0;
  for (const std::string& person : people) {
    auto n = ReassignHolder(person, "unavailable from now");
    if (!n.ok()) return n.status();
    moved += *n;
  }
  handoff_checked_us_ = now_us;
  return moved;
}

}  // namespace gridcase
