// gridcase workflow deploy | list | get.
#ifndef GRIDCASE_SERVICES_CLI_WORKFLOW_H_
#define GRIDCASE_SERVICES_CLI_WORKFLOW_H_

#include <cstdint>
#include <string>

#include "services/cli/common.h"

namespace gridcase::cli {

// Deploys the textproto in `file` ("-": stdin) as `actor`.
int RunWorkflowDeploy(const GlobalOptions& options, const std::string& file,
                      const std::string& actor);
int RunWorkflowList(const GlobalOptions& options);
// version 0: the latest. Prints textproto, as the definition is written.
int RunWorkflowGet(const GlobalOptions& options, const std::string& name, uint32_t version);

}  // namespace gridcase::cli

#endif  // GRIDCASE_SERVICES_CLI_WORKFLOW_H_
