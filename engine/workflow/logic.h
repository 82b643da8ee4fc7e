// The case logic driven by workflow definitions.
#ifndef GRIDCASE_ENGINE_WORKFLOW_LOGIC_H_
#define GRIDCASE_ENGINE_WORKFLOW_LOGIC_H_

#include <string>

#include "engine/domain/case_logic.h"
#include "engine/domain/directory.h"
#include "engine/workflow/registry.h"

namespace gridcase::workflow {

// Case ids of the engine's own cases: one per workflow name, whose records
// are the deployments of its versions (case version == workflow version).
std::string WorkflowCaseId(const std::string& workflow_name);
bool IsEngineCase(const std::string& case_id);

// The event id of the deployment of `version` of a workflow.
std::string DeploymentEventId(const std::string& workflow_name, uint32_t version);

// The id of the n-th (from 1) record derived from `cause_event_id`.
std::string DerivedEventId(const std::string& cause_event_id, int n);

// Thread-safe: any number of sequencers may call it at once.
class WorkflowLogic final : public CaseLogic {
 public:
  // `registry` and `directory` must outlive the logic; both are filled by
  // OnCommitted from deployment and directory records.
  WorkflowLogic(Registry* registry, Directory* directory)
      : registry_(registry), directory_(directory) {}

  absl::Status Process(v1::Record record, std::optional<v1::CaseState>* state,
                       std::vector<v1::Record>* out) const override;
  void Apply(const v1::Record& record, v1::CaseState* state) const override;
  // Registers deployed definitions once they are durable.
  void OnCommitted(const v1::Record& record) const override;

 private:
  absl::Status ProcessDeployment(v1::Record record, std::optional<v1::CaseState>* state,
                                 std::vector<v1::Record>* out) const;
  absl::Status ProcessDirectory(v1::Record record, std::optional<v1::CaseState>* state,
                                std::vector<v1::Record>* out) const;
  absl::Status ProcessHolderReplaced(v1::Record record, const Definition& def,
                                     v1::CaseState next, std::optional<v1::CaseState>* state,
                                     std::vector<v1::Record>* out) const;
  // The definition a case runs; aborts if it is not registered (the log
  // names it, so its deployment was loaded before any case of it).
  const Definition& DefinitionOf(const v1::WorkflowRef& ref) const;

  Registry* const registry_;
  Directory* const directory_;
};

}  // namespace gridcase::workflow

#endif  // GRIDCASE_ENGINE_WORKFLOW_LOGIC_H_
