// Workflow definitions: deployed as events of their own cases (one per
// workflow name, workflow/logic.h), held in the registry the case logic
// reads.
//
// Thread-safety: every method may be called from any thread.
#ifndef GRIDCASE_ENGINE_DEPLOYMENTS_H_
#define GRIDCASE_ENGINE_DEPLOYMENTS_H_

#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "engine/domain/validate.h"
#include "engine/partition/partition_set.h"
#include "engine/workflow/registry.h"
#include "gridcase/v1/service.pb.h"

namespace gridcase {

class Deployments {
 public:
  // `partitions` and `registry` must outlive this.
  Deployments(PartitionSet* partitions, workflow::Registry* registry,
              const ValidationLimits& limits)
      : partitions_(partitions), registry_(registry), limits_(limits) {}

  // Loads every deployment stored, in version order. At open, before the
  // sequencers start.
  absl::Status Load();

  // Validates a workflow definition (textproto `source`, named `file_name`
  // in messages, at most kFileNameBytesMax) and deploys it as an event.
  // `done` is called exactly once: INVALID_ARGUMENT listing the problems
  // with their lines (workflow/definition.h), FAILED_PRECONDITION
  // when its version is not the next of its name, or the deployment once
  // durable (duplicate when this very version was deployed before).
  static constexpr size_t kFileNameBytesMax = 256;
  using DeployCallback = absl::AnyInvocable<void(absl::StatusOr<v1::DeployWorkflowResponse>) &&>;
  void DeployWorkflow(const std::string& source, const std::string& file_name,
                      const v1::Actor& actor, DeployCallback done);
  v1::ListWorkflowsResponse ListWorkflows() const;
  // version 0: the latest. NOT_FOUND when absent.
  absl::StatusOr<v1::WorkflowDefinition> GetWorkflow(const std::string& name,
                                                     uint32_t version) const;

 private:
  PartitionSet* const partitions_;
  workflow::Registry* const registry_;
  const ValidationLimits limits_;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_DEPLOYMENTS_H_
