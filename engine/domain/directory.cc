#include "engine/domain/directory.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/common/time.h"
#include "engine/domain/validate.h"

namespace gridcase {
namespace {

v1::UnitLevel LevelServedBy(v1::Role role) {
  switch (role) {
    case v1::ROLE_GRID_WORKER:
    case v1::ROLE_CADRE:
      return v1::UNIT_LEVEL_GRID;
    case v1::ROLE_COMMUNITY_SECRETARY:
      return v1::UNIT_LEVEL_COMMUNITY;
    case v1::ROLE_STREET_OFFICER:
      return v1::UNIT_LEVEL_STREET;
    case v1::ROLE_DISTRICT_OFFICER:
      return v1::UNIT_LEVEL_DISTRICT;
    default:
      return v1::UNIT_LEVEL_UNSPECIFIED;
  }
}

absl::Status Bad(absl::string_view what) { return absl::InvalidArgumentError(what); }

bool ValidId(const std::string& id) { return IsValidId(id, ValidationLimits{}.id_bytes_max); }

}  // namespace

std::optional<v1::DirectoryEntry> EntryOf(const v1::Event& e) {
  v1::DirectoryEntry entry;
  if (e.has_unit_defined()) {
    *entry.mutable_unit() = e.unit_defined();
  } else if (e.has_person_registered()) {
    *entry.mutable_person() = e.person_registered();
  } else if (e.has_cadre_paired()) {
    *entry.mutable_pairing() = e.cadre_paired();
  } else if (e.has_availability_changed()) {
    *entry.mutable_availability() = e.availability_changed();
  } else {
    return std::nullopt;
  }
  return entry;
}

std::string ErasedPersonOf(const v1::Event& e) {
  if (e.case_id() != kDirectoryCaseId || !e.has_erasure()) return "";
  return e.erasure().person_id();
}

void ApplyDirectoryRecord(const v1::Record& record, Directory* directory) {
  if (auto entry = EntryOf(record.event())) {
    directory->Apply(*entry, Micros(record.recorded_at()));
  } else if (std::string person = ErasedPersonOf(record.event()); !person.empty()) {
    directory->ApplyErasure(person, record.position());
  }
}

void SetPayload(const v1::DirectoryEntry& entry, v1::Event* e) {
  switch (entry.entry_case()) {
    case v1::DirectoryEntry::kUnit:
      *e->mutable_unit_defined() = entry.unit();
      break;
    case v1::DirectoryEntry::kPerson:
      *e->mutable_person_registered() = entry.person();
      break;
    case v1::DirectoryEntry::kPairing:
      *e->mutable_cadre_paired() = entry.pairing();
      break;
    case v1::DirectoryEntry::kAvailability:
      *e->mutable_availability_changed() = entry.availability();
      break;
    case v1::DirectoryEntry::ENTRY_NOT_SET:
      break;
  }
}

v1::Role Directory::RoleFromName(const std::string& name) {
  static const std::pair<const char*, v1::Role> kNames[] = {
      {"grid_worker", v1::ROLE_GRID_WORKER},
      {"cadre", v1::ROLE_CADRE},
      {"community_secretary", v1::ROLE_COMMUNITY_SECRETARY},
      {"street_officer", v1::ROLE_STREET_OFFICER},
      {"district_officer", v1::ROLE_DISTRICT_OFFICER}};
  for (const auto& [n, role] : kNames) {
    if (name == n) return role;
  }
  return v1::ROLE_UNSPECIFIED;
}

std::unique_ptr<Directory> Directory::Clone() const {
  absl::ReaderMutexLock lock(&mu_);
  auto copy = std::make_unique<Directory>();
  absl::MutexLock copy_lock(&copy->mu_);
  copy->units_ = units_;
  copy->people_ = people_;
  copy->people_by_unit_ = people_by_unit_;
  copy->marked_unavailable_ = marked_unavailable_;
  return copy;
}

absl::Status Directory::CheckNotErased(const v1::DirectoryEntry& entry) const {
  absl::ReaderMutexLock lock(&mu_);
  return CheckNotErasedLocked(entry);
}

absl::Status Directory::CheckNotErasedLocked(const v1::DirectoryEntry& entry) const {
  // An erased person's key is gone for good: nothing more about them is
  // recorded (a new key would let their name back in under their id).
  for (const std::string* id : {&entry.person().person_id(), &entry.availability().person_id(),
                                &entry.pairing().cadre_id(), &entry.pairing().worker_id()}) {
    auto it = people_.find(*id);
    if (!id->empty() && it != people_.end() && it->second.erased_at != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("person ", *id, " was erased at position ", it->second.erased_at,
                       ": nothing more can be recorded about them"));
    }
  }
  return absl::OkStatus();
}

absl::Status Directory::Check(const v1::DirectoryEntry& entry) const {
  absl::ReaderMutexLock lock(&mu_);
  if (auto st = CheckNotErasedLocked(entry); !st.ok()) return st;
  switch (entry.entry_case()) {
    case v1::DirectoryEntry::kUnit: {
      const auto& u = entry.unit();
      const std::string what = absl::StrCat("unit ", u.unit_id());
      if (!ValidId(u.unit_id())) return Bad("unit: unit_id is missing or not a valid id");
      if (u.level() == v1::UNIT_LEVEL_UNSPECIFIED)
        return Bad(absl::StrCat(what, ": level is required"));
      if (auto it = units_.find(u.unit_id()); it != units_.end() && it->second.level != u.level()) {
        return Bad(absl::StrCat(what, ": already defined at another level"));
      }
      if (u.level() == v1::UNIT_LEVEL_DISTRICT) {
        if (!u.parent_id().empty()) return Bad(absl::StrCat(what, ": a district has no parent"));
        return absl::OkStatus();
      }
      auto parent = units_.find(u.parent_id());
      if (parent == units_.end()) {
        return Bad(absl::StrCat(what, ": parent ", u.parent_id().empty() ? "(none)" : u.parent_id(),
                                " does not exist (define parents first)"));
      }
      if (parent->second.level != u.level() - 1) {
        return Bad(absl::StrCat(what, ": its parent ", u.parent_id(), " is a ",
                                v1::UnitLevel_Name(parent->second.level), ", not a ",
                                v1::UnitLevel_Name(static_cast<v1::UnitLevel>(u.level() - 1))));
      }
      return absl::OkStatus();
    }
    case v1::DirectoryEntry::kPerson: {
      const auto& p = entry.person();
      const std::string what = absl::StrCat("person ", p.person_id());
      if (!ValidId(p.person_id())) return Bad("person: person_id is missing or not a valid id");
      if (p.role() == v1::ROLE_UNSPECIFIED) return Bad(absl::StrCat(what, ": role is required"));
      auto unit = units_.find(p.unit_id());
      if (unit == units_.end()) {
        return Bad(absl::StrCat(what, ": unit ", p.unit_id(), " does not exist"));
      }
      if (unit->second.level != LevelServedBy(p.role())) {
        return Bad(absl::StrCat(what, ": a ", v1::Role_Name(p.role()), " serves a ",
                                v1::UnitLevel_Name(LevelServedBy(p.role())), "; ", p.unit_id(),
                                " is a ", v1::UnitLevel_Name(unit->second.level)));
      }
      return absl::OkStatus();
    }
    case v1::DirectoryEntry::kPairing: {
      const auto& pr = entry.pairing();
      auto cadre = people_.find(pr.cadre_id());
      auto worker = people_.find(pr.worker_id());
      if (cadre == people_.end() || cadre->second.role != v1::ROLE_CADRE) {
        return Bad(absl::StrCat("pairing ", pr.cadre_id(), "+", pr.worker_id(), ": ", pr.cadre_id(),
                                " is not a registered cadre"));
      }
      if (worker == people_.end() || worker->second.role != v1::ROLE_GRID_WORKER) {
        return Bad(absl::StrCat("pairing ", pr.cadre_id(), "+", pr.worker_id(), ": ",
                                pr.worker_id(), " is not a registered grid worker"));
      }
      if (cadre->second.unit_id != worker->second.unit_id) {
        return Bad(absl::StrCat("pairing ", pr.cadre_id(), "+", pr.worker_id(),
                                ": they serve different grids (", cadre->second.unit_id, ", ",
                                worker->second.unit_id, ")"));
      }
      return absl::OkStatus();
    }
    case v1::DirectoryEntry::kAvailability: {
      const auto& a = entry.availability();
      if (!people_.count(a.person_id())) {
        return Bad(absl::StrCat("availability: person ", a.person_id(), " is not registered"));
      }
      if (a.availability() == v1::AVAILABILITY_UNSPECIFIED) {
        return Bad(absl::StrCat("availability of ", a.person_id(), ": availability is required"));
      }
      // Sent as bytes by any admin client: a time out of range would
      // overflow in Micros().
      if ((a.has_from() && !IsValidTimestamp(a.from())) ||
          (a.has_until() && !IsValidTimestamp(a.until()))) {
        return Bad(absl::StrCat("availability of ", a.person_id(),
                                ": from or until is not a time "
                                "between years 1 and 9999"));
      }
      if (a.has_from() && a.has_until() && Micros(a.until()) <= Micros(a.from())) {
        return Bad(absl::StrCat("availability of ", a.person_id(), ": until is not after from"));
      }
      return absl::OkStatus();
    }
    case v1::DirectoryEntry::ENTRY_NOT_SET:
      break;
  }
  return Bad("an empty entry: give one of unit, person, pairing, availability");
}

void Directory::Apply(const v1::DirectoryEntry& entry, int64_t recorded_us) {
  absl::WriterMutexLock lock(&mu_);
  switch (entry.entry_case()) {
    case v1::DirectoryEntry::kUnit: {
      const auto& u = entry.unit();
      Unit& unit = units_[u.unit_id()];
      const bool is_new = unit.id.empty();
      unit.id = u.unit_id();
      unit.level = u.level();
      unit.name = u.name();
      if (is_new) {
        unit.parent_id = u.parent_id();
        if (auto parent = units_.find(u.parent_id()); parent != units_.end()) {
          auto& kids = parent->second.children;
          kids.insert(std::lower_bound(kids.begin(), kids.end(), u.unit_id()), u.unit_id());
        }
      }
      break;
    }
    case v1::DirectoryEntry::kPerson: {
      const auto& p = entry.person();
      Person& person = people_[p.person_id()];
      if (!person.unit_id.empty() && person.unit_id != p.unit_id()) {
        people_by_unit_[person.unit_id].erase(p.person_id());
      }
      people_by_unit_[p.unit_id()].insert(p.person_id());
      person.id = p.person_id();
      person.role = p.role();
      person.unit_id = p.unit_id();
      if (person.erased_at == 0) {  // an erased person's name never comes back
        person.name = p.name();
        person.phone = p.phone();
      }
      break;
    }
    case v1::DirectoryEntry::kPairing: {
      Person& cadre = people_[entry.pairing().cadre_id()];
      Person& worker = people_[entry.pairing().worker_id()];
      // One-to-one: whoever either was paired with is now unpaired.
      for (Person* p : {&cadre, &worker}) {
        if (!p->paired_with.empty()) people_[p->paired_with].paired_with.clear();
      }
      cadre.paired_with = worker.id;
      worker.paired_with = cadre.id;
      break;
    }
    case v1::DirectoryEntry::kAvailability: {
      const auto& a = entry.availability();
      Person& person = people_[a.person_id()];
      person.availability = a.availability();
      if (a.availability() == v1::AVAILABILITY_UNAVAILABLE) {
        marked_unavailable_.insert(a.person_id());
      } else {
        marked_unavailable_.erase(a.person_id());
      }
      person.unavailable_from_us = a.has_from() ? Micros(a.from()) : recorded_us;
      person.unavailable_until_us = a.has_until() ? Micros(a.until()) : 0;
      break;
    }
    case v1::DirectoryEntry::ENTRY_NOT_SET:
      break;
  }
}

void Directory::ApplyErasure(const std::string& person_id, uint64_t position) {
  absl::WriterMutexLock lock(&mu_);
  auto it = people_.find(person_id);
  if (it == people_.end()) return;
  it->second.name.clear();
  it->second.phone.clear();
  it->second.erased_at = position;
}

std::optional<Person> Directory::FindPerson(const std::string& id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = people_.find(id);
  if (it == people_.end()) return std::nullopt;
  return it->second;
}

std::optional<Directory::RoleAndUnit> Directory::FindRoleAndUnit(const std::string& id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = people_.find(id);
  if (it == people_.end()) return std::nullopt;
  return RoleAndUnit{it->second.role, it->second.unit_id};
}

std::optional<Unit> Directory::FindUnit(const std::string& id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = units_.find(id);
  if (it == units_.end()) return std::nullopt;
  return it->second;
}

std::vector<Person> Directory::PeopleOf(const std::string& unit_id) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Person> out;
  auto ids = people_by_unit_.find(unit_id);
  if (ids == people_by_unit_.end()) return out;
  for (const auto& id : ids->second) out.push_back(people_.at(id));
  return out;
}

std::vector<std::string> Directory::GridsUnder(const std::string& unit_id) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::string> grids;
  std::vector<std::string> todo = {unit_id};
  while (!todo.empty()) {
    const std::string id = todo.back();
    todo.pop_back();
    auto it = units_.find(id);
    if (it == units_.end()) continue;
    if (it->second.level == v1::UNIT_LEVEL_GRID) grids.push_back(id);
    todo.insert(todo.end(), it->second.children.begin(), it->second.children.end());
  }
  std::sort(grids.begin(), grids.end());
  return grids;
}

std::vector<std::string> Directory::AllGrids() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::string> grids;
  for (const auto& [id, u] : units_) {
    if (u.level == v1::UNIT_LEVEL_GRID) grids.push_back(id);
  }
  return grids;
}

bool Directory::HasAvailable(const std::string& unit_id, v1::Role role, int64_t now_us) const {
  absl::ReaderMutexLock lock(&mu_);
  return FirstAvailable(unit_id, role, now_us).has_value();
}

std::vector<std::string> Directory::BecomingUnavailable(int64_t after_us, int64_t until_us) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& id : marked_unavailable_) {
    const Person& p = people_.at(id);
    if (p.availability == v1::AVAILABILITY_UNAVAILABLE && p.unavailable_from_us > after_us &&
        p.unavailable_from_us <= until_us) {
      out.push_back(id);
    }
  }
  return out;
}

std::vector<Person> Directory::UnavailablePeople(int64_t now_us) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Person> out;
  for (const auto& id : marked_unavailable_) {
    const Person& p = people_.at(id);
    if (!IsAvailable(p, now_us)) out.push_back(p);
  }
  return out;
}

bool Directory::IsAvailable(const Person& p, int64_t now_us) const {
  if (p.availability != v1::AVAILABILITY_UNAVAILABLE) return true;
  const bool started = now_us >= p.unavailable_from_us;
  const bool ended = p.unavailable_until_us != 0 && now_us >= p.unavailable_until_us;
  return !started || ended;
}

bool Directory::IsAtOrUnder(const std::string& unit_id, const std::string& ancestor_id) const {
  absl::ReaderMutexLock lock(&mu_);
  std::string id = unit_id;
  for (int hops = 0; hops < 8; ++hops) {  // four levels; a cycle cannot be imported
    auto it = units_.find(id);
    if (it == units_.end()) return false;
    if (id == ancestor_id) return true;
    id = it->second.parent_id;
  }
  return false;
}

std::optional<std::string> Directory::AncestorAt(const std::string& unit_id,
                                                 v1::UnitLevel level) const {
  std::string id = unit_id;
  for (int hops = 0; hops < 8; ++hops) {
    auto it = units_.find(id);
    if (it == units_.end()) return std::nullopt;
    if (it->second.level == level) return id;
    id = it->second.parent_id;
  }
  return std::nullopt;
}

std::optional<std::string> Directory::FirstAvailable(const std::string& unit_id, v1::Role role,
                                                     int64_t now_us) const {
  auto ids = people_by_unit_.find(unit_id);
  if (ids == people_by_unit_.end()) return std::nullopt;
  for (const auto& id : ids->second) {
    const Person& p = people_.at(id);
    if (p.role == role && IsAvailable(p, now_us)) return id;
  }
  return std::nullopt;
}

std::optional<std::string> Directory::Resolve(v1::Role role, const std::string& grid_id,
                                              int64_t now_us) const {
  absl::ReaderMutexLock lock(&mu_);
  const v1::UnitLevel level = LevelServedBy(role);
  auto unit = AncestorAt(grid_id, level);
  if (!unit) return std::nullopt;
  if (role == v1::ROLE_GRID_WORKER) {
    // The grid's workers first; then a worker's paired cadre.
    if (auto w = FirstAvailable(*unit, v1::ROLE_GRID_WORKER, now_us)) return w;
    auto ids = people_by_unit_.find(*unit);
    if (ids == people_by_unit_.end()) return std::nullopt;
    for (const auto& id : ids->second) {
      const Person& p = people_.at(id);
      if (p.role != v1::ROLE_GRID_WORKER || p.paired_with.empty()) continue;
      auto cadre = people_.find(p.paired_with);
      if (cadre != people_.end() && IsAvailable(cadre->second, now_us)) return cadre->first;
    }
    return std::nullopt;
  }
  return FirstAvailable(*unit, role, now_us);
}

size_t Directory::unit_count() const {
  absl::ReaderMutexLock lock(&mu_);
  return units_.size();
}

size_t Directory::person_count() const {
  absl::ReaderMutexLock lock(&mu_);
  return people_.size();
}

}  // namespace gridcase
