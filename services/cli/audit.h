// gridcase audit verify.
#ifndef GRIDCASE_SERVICES_CLI_AUDIT_H_
#define GRIDCASE_SERVICES_CLI_AUDIT_H_

#include "services/cli/common.h"

namespace gridcase::cli {

// Asks the server to recompute every partition's hash chain. Exit 1 when a
// chain is broken, naming the first bad record.
int RunAuditVerify(const GlobalOptions& options);

}  // namespace gridcase::cli

#endif  // GRIDCASE_SERVICES_CLI_AUDIT_H_
