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

// Converts `from` (a stopped server's data directory, written before
// personal fields were sealed) into `to`, which must not exist
// (engine/audit/seal_conversion.h). The master key comes from
// `master_key_file`, or FROM/keys/master.key when that is empty. Progress
// goes to stderr, the report as JSON to stdout. Exit 1 when the source's
// log is damaged or the result would not verify; 2 for other refusals.
int RunStorageSeal(const std::string& from, const std::string& to,
                   const std::string& master_key_file, const std::string& public_key_file);

// Re-derives, with the keys, the old chain of every partition of a
// converted data directory and checks it ends at the head its origin
// names. Exit 1 when a partition's does not.
int RunStorageVerifyConversion(const std::string& data_dir, const std::string& master_key_file);

}  // namespace gridcase::cli

#endif  // GRIDCASE_SERVICES_CLI_STORAGE_H_
