// gridcase storage: acts on a stopped server's data directory, with no
// server.
#ifndef GRIDCASE_SERVICES_CLI_STORAGE_H_
#define GRIDCASE_SERVICES_CLI_STORAGE_H_

#include <cstdint>
#include <string>

namespace gridcase::cli {

// Accepts, explicitly, the loss of acknowledged writes that made partition
// `partition` of `data_dir` refuse to open (PartitionStore::AcceptLoss):
// its write-ahead logs and durable mark as they were are kept under
// DATA_DIR/lost/partition-NNN-TIME first. Prints what was lost as JSON.
// Exit 1 when there is nothing to accept or it fails.
int RunStorageAcceptLoss(const std::string& data_dir, uint32_t partition);

}  // namespace gridcase::cli

#endif  // GRIDCASE_SERVICES_CLI_STORAGE_H_
