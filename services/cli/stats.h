// gridcase stats: what the server has written and how long it took.
#ifndef GRIDCASE_SERVICES_CLI_STATS_H_
#define GRIDCASE_SERVICES_CLI_STATS_H_

#include "services/cli/common.h"

namespace gridcase::cli {

// Per partition: submissions, synced groups, records and bytes, and the
// latency quantiles of the queue, the synced write and the answer; with
// the process's CPU time. Since the server started, or, when
// `interval_seconds` > 0, over that many seconds from now.
int RunStats(const GlobalOptions& options, double interval_seconds);

}  // namespace gridcase::cli

#endif  // GRIDCASE_SERVICES_CLI_STATS_H_
