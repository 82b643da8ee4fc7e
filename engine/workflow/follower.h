// Keeps the workflow registry and the directory in step with the engine's
// own cases: a deployment registers its definition, a directory entry
// changes the directory, once the record is durable. The case logic only
// reads both.
#ifndef GRIDCASE_ENGINE_WORKFLOW_FOLLOWER_H_
#define GRIDCASE_ENGINE_WORKFLOW_FOLLOWER_H_

#include "engine/domain/commit_listener.h"
#include "engine/domain/directory.h"
#include "engine/workflow/registry.h"

namespace gridcase::workflow {

class EngineCaseFollower final : public CommitListener {
 public:
  // Both must outlive the follower.
  EngineCaseFollower(Registry* registry, Directory* directory)
      : registry_(registry), directory_(directory) {}
  void OnDurable(const v1::Record& record) override;

 private:
  Registry* const registry_;
  Directory* const directory_;
};

}  // namespace gridcase::workflow

#endif  // GRIDCASE_ENGINE_WORKFLOW_FOLLOWER_H_
