// The directory in memory: units (district > street > community > grid),
// people with roles, cadre-worker pairings and availability.
//
// Built from the "~directory" case's records when the engine opens and kept
// current as new ones are committed. The workflow logic reads it to find
// who holds a role for a case's grid; those decisions name the person in
// their derived events, so replay never consults the directory.
//
// Thread-safe.
#ifndef GRIDCASE_ENGINE_DOMAIN_DIRECTORY_H_
#define GRIDCASE_ENGINE_DOMAIN_DIRECTORY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "gridcase/v1/directory.pb.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase {

// The engine-owned case whose records are the directory.
inline constexpr char kDirectoryCaseId[] = "~directory";

// A scope unit that stands for the whole city: every grid is at or under
// it (principals files, a submitter's units in a record).
inline constexpr char kEverywhereUnit[] = "*";

struct Unit {
  std::string id;
  v1::UnitLevel level = v1::UNIT_LEVEL_UNSPECIFIED;
  std::string parent_id;
  std::string name;
  std::vector<std::string> children;  // sorted
};

struct Person {
  std::string id;
  std::string name;
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string unit_id;
  std::string phone;
  std::string paired_with;  // cadre <-> worker
  v1::Availability availability = v1::AVAILABILITY_ON_DUTY;
  int64_t unavailable_from_us = 0;
  int64_t unavailable_until_us = 0;  // 0: until changed
  // The position of the record that erased their name and phone (now
  // empty); 0: not erased. An erased person keeps id, role, unit, pairing
  // and availability, and can be registered again under no other key.
  uint64_t erased_at = 0;
};

class Directory {
 public:
  Directory() = default;
  // A copy to check an import against before anything is written.
  std::unique_ptr<Directory> Clone() const;

  // Checks `entry` against the directory as it stands. The message says
  // what is wrong ("person w1: unit g-9 does not exist").
  absl::Status Check(const v1::DirectoryEntry& entry) const;
  // The part of Check that the log itself enforces, when a record is
  // decided: FAILED_PRECONDITION when `entry` names an erased person.
  absl::Status CheckNotErased(const v1::DirectoryEntry& entry) const;

  // Applies an entry recorded at `recorded_us`.
  void Apply(const v1::DirectoryEntry& entry, int64_t recorded_us);
  // Applies the erasure of a person's personal data, recorded at `position`.
  void ApplyErasure(const std::string& person_id, uint64_t position);

  std::optional<Person> FindPerson(const std::string& id) const;
  // What deciding who may act as a person needs: their role and unit, and
  // nothing personal (no copy of a name or phone for every call).
  struct RoleAndUnit {
    v1::Role role = v1::ROLE_UNSPECIFIED;
    std::string unit_id;
  };
  std::optional<RoleAndUnit> FindRoleAndUnit(const std::string& id) const;
  std::optional<Unit> FindUnit(const std::string& id) const;
  std::vector<Person> PeopleOf(const std::string& unit_id) const;

  // The grids at or under `unit_id` (a district, street, community or grid),
  // sorted; empty when the unit is unknown.
  std::vector<std::string> GridsUnder(const std::string& unit_id) const;
  // Every grid, sorted.
  std::vector<std::string> AllGrids() const;

  // Whether `unit_id` is `ancestor_id` or lies under it (a grid under its
  // community, street and district). False when either is unknown.
  bool IsAtOrUnder(const std::string& unit_id, const std::string& ancestor_id) const;
  // Whether someone with `role` serving `unit_id` is available at `now_us`.
  bool HasAvailable(const std::string& unit_id, v1::Role role, int64_t now_us) const;
  // People whose unavailability starts in (after_us, until_us].
  std::vector<std::string> BecomingUnavailable(int64_t after_us, int64_t until_us) const;
  // People who cannot hold cases at `now_us`, sorted by id.
  std::vector<Person> UnavailablePeople(int64_t now_us) const;

  // Whether `person` can hold cases at `now_us`.
  bool IsAvailable(const Person& person, int64_t now_us) const;

  // The available person who holds `role` for grid `grid_id` at `now_us`:
  // the grid's worker, else the worker's paired cadre (the first backup);
  // the grid's cadre; the secretary of its community; the officer of its
  // street or district. nullopt when nobody available holds it.
  std::optional<std::string> Resolve(v1::Role role, const std::string& grid_id,
                                     int64_t now_us) const;

  // The role named in a workflow ("grid_worker", "cadre", ...).
  static v1::Role RoleFromName(const std::string& name);

  size_t unit_count() const;
  size_t person_count() const;

 private:
  // The ancestor of `unit_id` (itself included) at `level`, if any.
  std::optional<std::string> AncestorAt(const std::string& unit_id, v1::UnitLevel level) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  std::optional<std::string> FirstAvailable(const std::string& unit_id, v1::Role role,
                                            int64_t now_us) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  absl::Status CheckNotErasedLocked(const v1::DirectoryEntry& entry) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Unit> units_ ABSL_GUARDED_BY(mu_);
  // By id; looked up for every submission an application makes for a
  // person (the gate checks the actor), so hashed. Node-based: Apply holds
  // references to two people at once while it may insert.
  absl::node_hash_map<std::string, Person> people_ ABSL_GUARDED_BY(mu_);
  // unit id -> ids of the people of that unit, in id order (the order in
  // which people_ lists them, so that choices do not depend on the index).
  std::map<std::string, std::set<std::string>> people_by_unit_ ABSL_GUARDED_BY(mu_);
  // Ids of the people whose availability is AVAILABILITY_UNAVAILABLE (now
  // or announced), in id order: the scheduler looks at them every round.
  std::set<std::string> marked_unavailable_ ABSL_GUARDED_BY(mu_);
};

// The directory entry a directory record carries, or nullopt.
std::optional<v1::DirectoryEntry> EntryOf(const v1::Event& event);
// The person whose personal data a directory record erases, or "".
std::string ErasedPersonOf(const v1::Event& event);
// Applies a durable record of the directory case: an entry or an erasure.
void ApplyDirectoryRecord(const v1::Record& record, Directory* directory);
// The event payload for `entry`.
void SetPayload(const v1::DirectoryEntry& entry, v1::Event* event);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_DOMAIN_DIRECTORY_H_
