// Who is calling: a principal, resolved on every call from a verified
// client certificate (URI SAN gridcase:app:<id> or gridcase:person:<id>),
// and what it may reach (its scope: units of the directory).
//
// People's roles and units come from the directory, as it stands at the
// call; applications, operators, auditors and privacy officers from the
// principals file:
//
//   {
//     "applications": [
//       {"id": "triage", "units": ["jiangan"], "acts_for_people": true},
//       {"id": "lab-feed", "units": ["*"]},
//       {"id": "city-feed", "units": ["*"], "acts_for_people": true,
//        "submits_per_second": 50000}
//     ],
//     "operators": ["ops-li"],
//     "auditors": ["audit-zhang"],
//     "privacy_officers": ["dpo-wang"]
//   }
//
// "*" is the whole city. An id named in the file is that role whatever the
// directory says of it. "submits_per_second" gives an application a
// submission limit of its own instead of the server's (--limit-submits);
// 0: unlimited.
#ifndef GRIDCASE_SERVICES_SECURITY_PRINCIPAL_H_
#define GRIDCASE_SERVICES_SECURITY_PRINCIPAL_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/domain/directory.h"

namespace gridcase::security {

enum class Role {
  kGridWorker,
  kCadre,
  kCommunitySecretary,
  kStreetOfficer,
  kDistrictOfficer,
  kApplication,
  kOperator,
  kAuditor,
  kPrivacyOfficer,
  // gridcased --development: a loopback caller without credentials.
  kDevelopment,
};
inline constexpr int kRoleCount = 10;

// "grid worker", "application", ...
absl::string_view RoleName(Role role);

// The whole city, as a scope unit.
inline constexpr const char* kEverywhere = kEverywhereUnit;

struct Principal {
  Role role = Role::kGridWorker;
  std::string id;  // the person's or the application's id
  // The units whose grids the principal reaches; {"*"}: everywhere.
  std::vector<std::string> units;
  // Applications: may submit on behalf of a person within its units.
  bool acts_for_people = false;
  // Applications: submissions a second, when not the server's limit
  // (< 0); 0: unlimited.
  double submits_per_s = -1;

  bool everywhere() const;
  // "gridcase:person:w1", "gridcase:app:triage".
  std::string Subject() const;
  // For messages: "person w1 (grid worker of unit g-1)".
  std::string Describe() const;
  // For messages: "unit g-1", "units a, b", "the whole city".
  std::string ScopeText() const;
};

struct PrincipalsFile {
  struct Application {
    std::vector<std::string> units;
    bool acts_for_people = false;
    double submits_per_s = -1;  // < 0: the server's limit
  };
  std::map<std::string, Application> applications;
  std::map<std::string, Role> staff;  // operators, auditors, privacy officers

  // Reads and checks `path`: others may read it but only its owner change
  // it. INVALID_ARGUMENT naming the entry that is wrong.
  static absl::StatusOr<PrincipalsFile> Load(const std::string& path);
  static absl::StatusOr<PrincipalsFile> Parse(const std::string& json);
};

}  // namespace gridcase::security

#endif  // GRIDCASE_SERVICES_SECURITY_PRINCIPAL_H_
