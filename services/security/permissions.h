// The permission table: for every RPC of the gridcase.v1 services, what
// each role may reach with it. One table in code, printed in
// docs/security.md and checked against every method the services declare
// (a method without a row fails the tests).
#ifndef GRIDCASE_SERVICES_SECURITY_PERMISSIONS_H_
#define GRIDCASE_SERVICES_SECURITY_PERMISSIONS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "services/security/principal.h"

namespace gridcase::security {

enum class Reach {
  kNone,        // refused
  kScope,       // within the caller's units (grids at or under them)
  kEverywhere,  // the whole city, or the call touches no personal data
};

struct Grant {
  Reach reach = Reach::kNone;
  // Whether the role may read beyond its reach by break-glass: an
  // emergency read with a stated reason, one call at a time, recorded.
  bool break_glass = false;
};

// What `role` may do with `method` ("/gridcase.v1.CaseService/GetCase");
// nullopt when the method has no row.
std::optional<Grant> GrantOf(Role role, absl::string_view method);

// Every method with a row, in table order.
std::vector<std::string> TabledMethods();

// The table as Markdown, for docs/security.md.
std::string PermissionTableMarkdown();

}  // namespace gridcase::security

#endif  // GRIDCASE_SERVICES_SECURITY_PERMISSIONS_H_
