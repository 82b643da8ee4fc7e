#include "services/security/permissions.h"

#include "absl/strings/str_cat.h"

namespace gridcase::security {
namespace {

// One letter per role, in Role order: grid worker, cadre, community
// secretary, street officer, district officer, application, operator,
// auditor, privacy officer, development caller.
//   n  refused          s  within scope      e  everywhere
//   b  only by break-glass                   S  within scope, and beyond
//                                               it by break-glass
struct Row {
  const char* method;
  const char grants[kRoleCount + 1];
};

// Operators administer without reading case contents or people; auditors
// verify chains and need break-glass for personal data; privacy officers
// likewise. Supervisors (secretaries, street and district officers) may
// break glass for a case beyond their area; workers, cadres and
// applications may not. Break-glass reads one case or one person
// (GetCase, GetTimeline, GetCaseAsOf, ReadLog of one case, GetPerson,
// GetWorkload), never a listing. ReadAccess: district officers read only
// the break-glass reads they were told of; auditors and privacy officers
// the whole access log. Only privacy officers erase. Only operators accept
// a jumped clock and take backups.
constexpr Row kTable[] = {
    {"/gridcase.v1.EventService/Submit", "ssssssnnne"},
    {"/gridcase.v1.EventService/SubmitStream", "ssssssnnne"},
    {"/gridcase.v1.CaseService/GetCase", "ssSSSsnbbe"},
    {"/gridcase.v1.CaseService/GetTimeline", "ssSSSsnbbe"},
    {"/gridcase.v1.CaseService/ListCases", "ssssssnnne"},
    {"/gridcase.v1.AdminService/DeployWorkflow", "nnnnnnenne"},
    {"/gridcase.v1.AdminService/ListWorkflows", "eeeeeeeeee"},
    {"/gridcase.v1.AdminService/GetWorkflow", "eeeeeeeeee"},
    {"/gridcase.v1.AdminService/ImportDirectory", "nnnnnnenne"},
    {"/gridcase.v1.AdminService/GetPerson", "ssssssnbbe"},
    {"/gridcase.v1.AdminService/GetUnit", "ssssssnnne"},
    {"/gridcase.v1.AdminService/GetWorkload", "sssssnnbbe"},
    {"/gridcase.v1.AdminService/GetStaffingReport", "sssssnnnne"},
    {"/gridcase.v1.AdminService/GetKafkaStatus", "nnnnnnenne"},
    {"/gridcase.v1.AdminService/GetServerStats", "nnnnnnenne"},
    {"/gridcase.v1.AdminService/ErasePerson", "nnnnnnnnee"},
    {"/gridcase.v1.AdminService/AcceptClock", "nnnnnnenne"},
    {"/gridcase.v1.AdminService/Backup", "nnnnnnenne"},
    {"/gridcase.v1.AuditService/ReadLog", "ssSSSsnbbe"},
    {"/gridcase.v1.AuditService/Checkpoint", "nnnnnnenne"},
    {"/gridcase.v1.AuditService/VerifyLog", "nnnnnneeee"},
    {"/gridcase.v1.AuditService/GetCaseAsOf", "ssSSSsnbbe"},
    {"/gridcase.v1.AuditService/ReadAccess", "nnnnsnneee"},
};

Grant FromLetter(char c) {
  switch (c) {
    case 's':
      return {Reach::kScope, false};
    case 'S':
      return {Reach::kScope, true};
    case 'e':
      return {Reach::kEverywhere, false};
    case 'b':
      return {Reach::kNone, true};
    default:
      return {Reach::kNone, false};
  }
}

}  // namespace

std::optional<Grant> GrantOf(Role role, absl::string_view method) {
  for (const Row& row : kTable) {
    if (method == row.method) return FromLetter(row.grants[static_cast<int>(role)]);
  }
  return std::nullopt;
}

std::vector<std::string> TabledMethods() {
  std::vector<std::string> methods;
  for (const Row& row : kTable) methods.emplace_back(row.method);
  return methods;
}

std::string PermissionTableMarkdown() {
  std::string out = "| RPC |";
  for (int r = 0; r < kRoleCount; ++r) absl::StrAppend(&out, " ", RoleName(Role(r)), " |");
  out += "\n|---|";
  for (int r = 0; r < kRoleCount; ++r) out += "---|";
  out += "\n";
  for (const Row& row : kTable) {
    absl::string_view method = row.method;
    absl::StrAppend(&out, "| ", method.substr(method.find('.') + 4), " |");
    for (int r = 0; r < kRoleCount; ++r) {
      const char* cell = "—";
      switch (row.grants[r]) {
        case 's':
          cell = "scope";
          break;
        case 'S':
          cell = "scope, break-glass";
          break;
        case 'e':
          cell = "all";
          break;
        case 'b':
          cell = "break-glass";
          break;
      }
      absl::StrAppend(&out, " ", cell, " |");
    }
    out += "\n";
  }
  return out;
}

}  // namespace gridcase::security
