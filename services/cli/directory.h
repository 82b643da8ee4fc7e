// gridcase directory import | person | unit.
#ifndef GRIDCASE_SERVICES_CLI_DIRECTORY_H_
#define GRIDCASE_SERVICES_CLI_DIRECTORY_H_

#include <cstddef>
#include <string>

#include "services/cli/common.h"

namespace gridcase::cli {

// Imports a JSON-lines file of gridcase.v1.DirectoryEntry ('-': stdin) in
// batches of `batch` entries, printing progress on stderr.
int RunDirectoryImport(const GlobalOptions& options, const std::string& file,
                       const std::string& actor, size_t batch);
int RunDirectoryPerson(const GlobalOptions& options, const std::string& id);
int RunDirectoryUnit(const GlobalOptions& options, const std::string& id);
int RunDirectoryWorkload(const GlobalOptions& options, const std::string& person);
int RunDirectoryStaffing(const GlobalOptions& options, const std::string& area);

}  // namespace gridcase::cli

#endif  // GRIDCASE_SERVICES_CLI_DIRECTORY_H_
