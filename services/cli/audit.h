// gridcase audit verify.
#ifndef GRIDCASE_SERVICES_CLI_AUDIT_H_
#define GRIDCASE_SERVICES_CLI_AUDIT_H_

#include <cstdint>
#include <string>

#include "services/cli/common.h"

namespace gridcase::cli {

// Asks the server to recompute every partition's hash chain. Exit 1 when a
// chain is broken, naming the first bad record.
// With `public_key_file`, signed heads are checked too.
int RunAuditVerify(const GlobalOptions& options, const std::string& public_key_file);

// A case as of a position, or a time known at / happened by (RFC 3339).
struct AsOf {
  uint64_t position = 0;
  std::string known_at;
  std::string happened_by;
};
int RunAuditCase(const GlobalOptions& options, const std::string& case_id, const AsOf& as_of);

}  // namespace gridcase::cli

#endif  // GRIDCASE_SERVICES_CLI_AUDIT_H_
