// gridcase demo: the seed's stories played against a running server.
#ifndef GRIDCASE_SERVICES_CLI_DEMO_H_
#define GRIDCASE_SERVICES_CLI_DEMO_H_

#include "services/cli/common.h"

namespace gridcase::cli {

// Submits each story's events (case ids made unique for this run) and
// prints the resulting timelines and case states for people.
int RunDemo(const GlobalOptions& options);

}  // namespace gridcase::cli

#endif  // GRIDCASE_SERVICES_CLI_DEMO_H_
