// Waiting on the engine, the workflows shipped in deploy/workflows and the
// example directory, for tests.
#ifndef GRIDCASE_TESTS_SUPPORT_WORKFLOWS_H_
#define GRIDCASE_TESTS_SUPPORT_WORKFLOWS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "engine/workflow/registry.h"

namespace gridcase::testing {

// The text of deploy/workflows/<file>.
std::string ShippedWorkflow(const std::string& file);
// The directory deploy/workflows of the source tree.
std::string ShippedWorkflowDir();

// Submits `request` and waits for its answer.
absl::StatusOr<v1::SubmitResponse> SubmitSync(Engine& engine, v1::SubmitRequest request);
// Submits a message of an external stream and waits for its answer.
absl::StatusOr<v1::SubmitResponse> SubmitFromStreamSync(Engine& engine,
                                                        absl::StatusOr<v1::SubmitRequest> request,
                                                        StreamOrigin origin);

// Every record of `case_id` in case order (the first 1,000); fails the
// test if the timeline cannot be read.
std::vector<v1::Record> TimelineOf(Engine& engine, const std::string& case_id);

// Adds every workflow version `engine` has deployed to `registry`, as a
// replay of its log would; fails the test if one does not validate.
void RegisterDeployed(Engine& engine, workflow::Registry* registry);

// Deploys `source` and waits for the answer.
absl::StatusOr<v1::DeployWorkflowResponse> DeploySync(Engine& engine, const std::string& source,
                                                      const std::string& file);
// Deploys every version of the workflows in deploy/workflows, in order;
// fails the test if any is refused.
void DeployShippedWorkflows(Engine& engine);

// Opens an engine on `data_dir` with `partitions` and deploys the shipped
// workflows, on `env` (null: RocksDB's default). Fails the test and
// returns nullptr when it cannot open.
std::unique_ptr<Engine> OpenWithShippedWorkflows(const std::string& data_dir, uint32_t partitions,
                                                 const Clock* clock, rocksdb::Env* env = nullptr,
                                                 const std::string& master_key = "");

// deploy/examples/directory.jsonl: one district down to two grids
// (jiangan-07-03 and -04), with workers, paired cadres, a secretary and
// officers.
std::vector<v1::DirectoryEntry> ExampleDirectory();

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_SUPPORT_WORKFLOWS_H_
