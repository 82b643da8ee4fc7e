#include "engine/staffing/successor.h"

#include <cctype>

namespace gridcase {
namespace {

// "community_secretary" for ROLE_COMMUNITY_SECRETARY: the rung names the
// workflows use.
std::string ShortRoleName(v1::Role role) {
  std::string name = v1::Role_Name(role).substr(5);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

bool IsFieldRole(v1::Role role) { return role == v1::ROLE_GRID_WORKER || role == v1::ROLE_CADRE; }

std::optional<Person> AvailablePartner(const Directory& directory, const Person& leaving,
                                       int64_t now_us) {
  if (leaving.paired_with.empty()) return std::nullopt;
  auto partner = directory.FindPerson(leaving.paired_with);
  if (!partner || !directory.IsAvailable(*partner, now_us)) return std::nullopt;
  return partner;
}

}  // namespace

std::vector<std::string> WorkersToWeigh(const Directory& directory, const Person& leaving,
                                        int64_t now_us) {
  std::vector<std::string> out;
  if (!IsFieldRole(leaving.role) || AvailablePartner(directory, leaving, now_us)) return out;
  for (const auto& p : directory.PeopleOf(leaving.unit_id)) {
    if (p.id == leaving.id || p.role != v1::ROLE_GRID_WORKER || !directory.IsAvailable(p, now_us)) {
      continue;
    }
    out.push_back(p.id);
  }
  return out;
}

std::optional<Successor> ChooseSuccessor(const Directory& directory, const Person& leaving,
                                         const std::string& grid_id, int64_t now_us,
                                         std::map<std::string, size_t>* load) {
  if (auto partner = AvailablePartner(directory, leaving, now_us)) {
    return Successor{partner->id, partner->role == v1::ROLE_CADRE ? "cadre" : "grid_worker"};
  }
  if (IsFieldRole(leaving.role)) {
    std::string best;
    size_t best_load = 0;
    for (const std::string& id : WorkersToWeigh(directory, leaving, now_us)) {
      const size_t l = (*load)[id];
      if (best.empty() || l < best_load) {
        best = id;
        best_load = l;
      }
    }
    if (!best.empty()) {
      ++(*load)[best];
      return Successor{best, "grid_worker"};
    }
  }
  for (v1::Role r :
       {v1::ROLE_COMMUNITY_SECRETARY, v1::ROLE_STREET_OFFICER, v1::ROLE_DISTRICT_OFFICER}) {
    if (r <= leaving.role) continue;  // only upwards
    if (auto holder = directory.Resolve(r, grid_id, now_us); holder && *holder != leaving.id) {
      return Successor{*holder, ShortRoleName(r)};
    }
  }
  return std::nullopt;
}

}  // namespace gridcase
