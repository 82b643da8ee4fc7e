// Waiting on the engine, and the workflows shipped in deploy/workflows, for
// tests.
#ifndef GRIDCASE_TESTS_SUPPORT_WORKFLOWS_H_
#define GRIDCASE_TESTS_SUPPORT_WORKFLOWS_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/engine.h"

namespace gridcase::testing {

// The text of deploy/workflows/<file>.
std::string ShippedWorkflow(const std::string& file);
// The directory deploy/workflows of the source tree.
std::string ShippedWorkflowDir();

// Submits `request` and waits for its answer.
absl::StatusOr<v1::SubmitResponse> SubmitSync(Engine& engine, v1::SubmitRequest request);

// Deploys `source` and waits for the answer.
absl::StatusOr<v1::DeployWorkflowResponse> DeploySync(Engine& engine, const std::string& source,
                                                      const std::string& file);
// Deploys epidemic-case and help-request; fails the test if either fails.
void DeployShippedWorkflows(Engine& engine);

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_SUPPORT_WORKFLOWS_H_
