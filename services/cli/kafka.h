// gridcase kafka status.
#ifndef GRIDCASE_SERVICES_CLI_KAFKA_H_
#define GRIDCASE_SERVICES_CLI_KAFKA_H_

#include "services/cli/common.h"

namespace gridcase::cli {

// The change feed's lag per partition and the ingest's progress.
int RunKafkaStatus(const GlobalOptions& options);

}  // namespace gridcase::cli

#endif  // GRIDCASE_SERVICES_CLI_KAFKA_H_
