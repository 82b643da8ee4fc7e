// gridcase admin backup / backups / restore: backups of a server's data
// directory (engine/audit/backup.h). A backup is taken by the running
// server, into a directory on its machine; listing and restoring read the
// backup directory here, with no server.
#ifndef GRIDCASE_SERVICES_CLI_BACKUP_H_
#define GRIDCASE_SERVICES_CLI_BACKUP_H_

#include <cstdint>
#include <string>

#include "services/cli/common.h"

namespace gridcase::cli {

// Asks the server for a backup into `to` (made absolute here; it names a
// directory on the server's machine), keeping `keep` sets (0: all), copying
// at most `rate_mib` MiB/s (0: unlimited). Progress goes to stderr, the set
// to stdout.
int RunAdminBackup(const GlobalOptions& options, const std::string& to, uint32_t keep,
                   double rate_mib);

// Lists the sets in backup directory `from`.
int RunAdminBackups(const GlobalOptions& options, const std::string& from);

// Restores set `set` (0: the newest) of `from` into `to` (new or empty),
// verifying every chain; with `rebuild`, also replays the restored log into
// a scratch directory beside `to` and compares every derived row. Exit 1
// when a check fails (DATA_LOSS, or the rebuild differs), 2 for other
// refusals. `master_key` (may be empty): the server's master key file,
// checked against the restored key store and placed in TO/keys/.
int RunAdminRestore(const GlobalOptions& options, const std::string& from, const std::string& to,
                    uint32_t set, bool rebuild, const std::string& master_key);

}  // namespace gridcase::cli

#endif  // GRIDCASE_SERVICES_CLI_BACKUP_H_
