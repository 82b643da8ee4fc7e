// Workflow definition files on disk, as gridcased --workflows DIR deploys
// them.
#ifndef GRIDCASE_ENGINE_WORKFLOW_FILES_H_
#define GRIDCASE_ENGINE_WORKFLOW_FILES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gridcase::workflow {

struct WorkflowFile {
  std::string path;
  std::string source;  // the textproto
  std::string name;    // as the file says; empty when it does not parse
  uint32_t version = 0;
};

// Every *.textproto of `dir` (not below it), in the order they must be
// deployed: by workflow name, then version, since each version of a name
// follows the one before it. A file that does not parse comes first, so
// that deploying it reports its problems before anything is deployed.
// NOT_FOUND / PERMISSION_DENIED... when the directory or a file cannot be
// read.
absl::StatusOr<std::vector<WorkflowFile>> ReadWorkflowDir(const std::string& dir);

}  // namespace gridcase::workflow

#endif  // GRIDCASE_ENGINE_WORKFLOW_FILES_H_
