// Engine, continued: the directory, hand-overs and the supervisor reports. See engine.h.
#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/partition/pending_answers.h"

namespace gridcase {
namespace {

// "community_secretary" for ROLE_COMMUNITY_SECRETARY: the rung names the
// workflows use.
std::string ShortRoleName(v1::Role role) {
  std::string name = v1::Role_Name(role).substr(5);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string DirectoryEventId(const std::string& import_id, size_t entry) {
  return absl::StrCat(kDirectoryCaseId, "~", import_id, "~", entry);
}

}  // namespace

// An import carries the moment it was made and who made it, and event ids
// that are the same each time the same import is sent. Sent again, a
// minute or a day later or by someone else (a retry after a lost answer,
// the same file imported twice), it must be the same events, or each would
// be refused as an event id reused with other content: so an import
// already recorded keeps its moment and its author.
absl::Status Engine::ImportAsRecorded(const std::string& import_id, int64_t* moment_us,
                                      v1::Actor* actor) const {
  const PartitionStore& home = *parts_[PartitionOf(kDirectoryCaseId).value()].store;
  auto first = home.FindEventId(DirectoryEventId(import_id, 1));
  if (!first.ok()) return first.status();
  if (!first->has_value()) return absl::OkStatus();
  auto record = home.ReadRecord(**first);
  if (!record.ok()) return record.status();
  *moment_us = record->event().occurred_at().seconds() * 1000000;
  *actor = record->event().actor();
  return absl::OkStatus();
}

absl::StatusOr<Engine::ImportResult> Engine::ImportDirectory(
    const std::vector<v1::DirectoryEntry>& entries, const std::string& import_id,
    const v1::Actor& actor) {
  if (!IsValidId(actor.id(), options_.limits.id_bytes_max)) {
    return absl::InvalidArgumentError("actor.id: who imports is required");
  }
  if (!IsValidId(import_id, 64)) {
    return absl::InvalidArgumentError("import_id: 1 to 64 bytes of printable ASCII required");
  }
  std::lock_guard<std::mutex> import_lock(import_mu_);
  auto scratch = directory_.Clone();
  int64_t now_us = clock_->NowMicros();
  v1::Actor author = actor;
  if (auto st = ImportAsRecorded(import_id, &now_us, &author); !st.ok()) return st;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (auto st = scratch->Check(entries[i]); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("entry ", i + 1, ": ", st.message(),
                                                     "; nothing was imported"));
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
  Sequencer& sequencer = *parts_[PartitionOf(kDirectoryCaseId).value()].sequencer;
  for (size_t i = 0; i < entries.size(); ++i) {
    v1::SubmitRequest request;
    v1::Event* e = request.mutable_event();
    e->set_event_id(DirectoryEventId(import_id, i + 1));
    e->set_case_id(kDirectoryCaseId);
    e->mutable_occurred_at()->set_seconds(now_us / 1000000);
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
    auto person = directory_.FindPerson(e.availability().person_id());
    if (!person || directory_.IsAvailable(*person, clock_->NowMicros())) continue;
    auto moved = ReassignHolder(person->id, e.availability().reason().empty()
                                                ? "unavailable"
                                                : e.availability().reason());
    if (!moved.ok()) return moved.status();
    result.moved += *moved;
  }
  return result;
}

absl::StatusOr<size_t> Engine::ReassignHolder(const std::string& person_id,
                                              const std::string& reason) {
  const int64_t now_us = clock_->NowMicros();
  auto person = directory_.FindPerson(person_id);
  if (!person) {
    return absl::NotFoundError(absl::StrCat("no person ", person_id, " in the directory"));
  }
  // Candidates: the paired partner, then the grid's available workers by
  // load (cases held), then up the ladder for the case's grid.
  std::map<std::string, size_t> load;
  auto load_of = [&](const std::string& id) -> absl::StatusOr<size_t> {
    if (auto it = load.find(id); it != load.end()) return it->second;
    std::vector<std::string> held;
    for (const auto& p : parts_) {
      if (auto st = p.store->CasesHeldBy(id, &held); !st.ok()) return st;
    }
    return load[id] = held.size();
  };
  auto target = [&](const std::string& grid_id)
      -> absl::StatusOr<std::pair<std::string, std::string>> {
    if (!person->paired_with.empty()) {
      auto partner = directory_.FindPerson(person->paired_with);
      if (partner && directory_.IsAvailable(*partner, now_us)) {
        return std::make_pair(partner->id, std::string(partner->role == v1::ROLE_CADRE
                                                           ? "cadre"
                                                           : "grid_worker"));
      }
    }
    if (person->role == v1::ROLE_GRID_WORKER || person->role == v1::ROLE_CADRE) {
      std::string best;
      size_t best_load = 0;
      for (const auto& p : directory_.PeopleOf(person->unit_id)) {
        if (p.id == person->id || p.role != v1::ROLE_GRID_WORKER ||
            !directory_.IsAvailable(p, now_us)) {
          continue;
        }
        auto l = load_of(p.id);
        if (!l.ok()) return l.status();
        if (best.empty() || *l < best_load) {
          best = p.id;
          best_load = *l;
        }
      }
      if (!best.empty()) {
        ++load[best];
        return std::make_pair(best, std::string("grid_worker"));
      }
    }
    for (v1::Role r : {v1::ROLE_COMMUNITY_SECRETARY, v1::ROLE_STREET_OFFICER,
                       v1::ROLE_DISTRICT_OFFICER}) {
      if (r <= person->role) continue;  // only upwards
      if (auto holder = directory_.Resolve(r, grid_id, now_us); holder && *holder != person->id) {
        return std::make_pair(*holder, ShortRoleName(r));
      }
    }
    return std::make_pair(std::string(), std::string());
  };

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
  std::vector<std::vector<std::pair<v1::SubmitRequest, SubmitCallback>>> bundles(parts_.size());
  for (size_t i = 0; i < parts_.size(); ++i) {
    std::vector<std::string> held;
    if (auto st = parts_[i].store->CasesHeldBy(person_id, &held); !st.ok()) return st;
    std::sort(held.begin(), held.end());
    for (const std::string& case_id : held) {
      auto state = parts_[i].store->ReadCase(case_id);
      if (!state.ok()) return state.status();
      if (!state->has_value()) continue;
      auto to = target((*state)->grid_id());
      if (!to.ok()) return to.status();
      // Nobody available anywhere up the chain: the case stays where it is,
      // and the staffing report lists it as held by someone unavailable.
      if (to->first.empty()) continue;
      v1::SubmitRequest request;
      v1::Event* e = request.mutable_event();
      e->set_event_id(absl::StrCat(std::string(1, kReservedCasePrefix), "move~", person_id, "~",
                                   case_id, "~", now_us));
      e->set_case_id(case_id);
      e->mutable_occurred_at()->set_seconds(now_us / 1000000);
      e->mutable_actor()->set_id(kEngineActorId);
      e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
      e->set_grid_id((*state)->grid_id());
      e->set_channel(v1::CHANNEL_SYSTEM);
      auto* h = e->mutable_holder_replaced();
      h->set_from_person(person_id);
      h->set_to_person(to->first);
      h->set_to_role(to->second);
      h->set_reason(reason);
      bundles[i].emplace_back(std::move(request), answers.Track());
    }
  }
  for (size_t i = 0; i < parts_.size(); ++i) parts_[i].sequencer->SubmitBundle(std::move(bundles[i]));
  if (auto st = answers.Wait(); !st.ok()) return st;
  return moved;
}

absl::StatusOr<v1::Workload> Engine::Workload(const std::string& person) const {
  const int64_t now_us = clock_->NowMicros();
  v1::Workload out;
  out.set_person_id(person);
  std::vector<std::string> ids;
  for (const auto& p : parts_) {
    std::vector<std::string> held;
    if (auto st = p.store->CasesHeldBy(person, &held); !st.ok()) return st;
    for (const std::string& id : held) {
      auto state = p.store->ReadCase(id);
      if (!state.ok()) return state.status();
      if (!state->has_value()) continue;
      out.set_cases(out.cases() + ((*state)->assignee() == person));
      for (const auto& t : (*state)->open_tasks()) {
        if (t.assignee() != person) continue;
        out.set_open_tasks(out.open_tasks() + 1);
        const int64_t due = t.due_at().seconds() * 1000000 + t.due_at().nanos() / 1000;
        out.set_overdue_tasks(out.overdue_tasks() + (t.has_due_at() && due <= now_us));
      }
      ids.push_back(id);
    }
  }
  std::sort(ids.begin(), ids.end());
  for (auto& id : ids) out.add_case_ids(std::move(id));
  return out;
}

absl::StatusOr<v1::StaffingReport> Engine::StaffingReport(const std::string& area) const {
  const int64_t now_us = clock_->NowMicros();
  v1::StaffingReport out;
  std::vector<std::string> grids;
  if (!area.empty()) {
    grids = directory_.GridsUnder(area);
    if (grids.empty()) {
      return absl::NotFoundError(absl::StrCat("area: no unit ", area, " with grids in the directory"));
    }
  }
  auto in_area = [&](const std::string& grid) {
    return area.empty() || std::binary_search(grids.begin(), grids.end(), grid);
  };
  for (const std::string& grid : area.empty() ? directory_.AllGrids() : grids) {
    if (!directory_.HasAvailable(grid, v1::ROLE_GRID_WORKER, now_us)) {
      out.add_grids_without_available_worker(grid);
    }
  }
  for (const Person& person : directory_.UnavailablePeople(now_us)) {
    for (const auto& p : parts_) {
      std::vector<std::string> held;
      if (auto st = p.store->CasesHeldBy(person.id, &held); !st.ok()) return st;
      for (const std::string& id : held) {
        auto state = p.store->ReadCase(id);
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

absl::StatusOr<size_t> Engine::HandOnFromNewlyUnavailable() {
  std::lock_guard<std::mutex> lock(handoff_mu_);
  const int64_t now_us = clock_->NowMicros();
  std::vector<std::string> people;
  if (handoff_checked_us_ == 0) {
    // The first round after start sweeps everyone unavailable: the moves of
    // an import that were cut short by a crash (a partition's bundle is
    // atomic, the set of partitions is not) are completed here.
    for (const Person& p : directory_.UnavailablePeople(now_us)) people.push_back(p.id);
  } else {
    people = directory_.BecomingUnavailable(handoff_checked_us_, now_us);
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
