// gridcase audit: verify, case, log, checkpoint, rebuild.
#ifndef GRIDCASE_SERVICES_CLI_AUDIT_H_
#define GRIDCASE_SERVICES_CLI_AUDIT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/audit/rebuild.h"
#include "services/cli/common.h"

namespace gridcase::cli {

// Asks the server to recompute every partition's hash chain. Exit 1 when a
// chain is broken, naming the first bad record.
// With `public_key_file`, signed heads are checked too.
int RunAuditVerify(const GlobalOptions& options, const std::vector<std::string>& public_key_files);

// A case as of a position, or a time known at / happened by (RFC 3339).
struct AsOf {
  uint64_t position = 0;
  std::string known_at;
  std::string happened_by;
};
int RunAuditCase(const GlobalOptions& options, const std::string& case_id, const AsOf& as_of);

// Streams the log as JSON lines (LogEntry), from a position, filtered; with
// `follow` it keeps printing new records until interrupted.
struct LogQuery {
  int64_t partition = -1;  // -1: every partition
  uint64_t from = 0;
  std::string case_id;
  std::vector<std::string> types;
  std::string area;
  bool follow = false;
};
int RunAuditLog(const GlobalOptions& options, const LogQuery& query);

// Prints the access log's records matching `query` (ReadAccess), every
// page, as JSON lines (a table with --table).
struct AccessQuery {
  std::string case_id;
  std::string person_id;
  std::string caller;  // a person id, or a full subject (gridcase:app:x)
  std::string notified;
  std::string from;  // RFC 3339
  std::string to;
  bool break_glass_only = false;
  bool include_unlisted = false;
  uint64_t limit = 0;  // 0: all
};
int RunAuditAccess(const GlobalOptions& options, const AccessQuery& query);

// Asks the server for a checkpoint of its data directory.
int RunAuditCheckpoint(const GlobalOptions& options, const std::string& name, bool include_keys);

// Replays the log of `data_dir` (a stopped server's, or a checkpoint) into
// `scratch` and compares every derived column family. Exit 1 when they
// differ, naming the first difference. Progress goes to stderr.
int RunAuditRebuild(const GlobalOptions& options, const std::string& data_dir,
                    const std::string& scratch);

// Progress of a long offline job on stderr: one line rewritten in place on
// a terminal, a line every 5 s otherwise, and always at `last_phase`.
std::function<void(const RebuildProgress&)> ProgressLines(const std::string& last_phase);

}  // namespace gridcase::cli

#endif  // GRIDCASE_SERVICES_CLI_AUDIT_H_
