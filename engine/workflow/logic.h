// The case logic driven by workflow definitions.
#ifndef GRIDCASE_ENGINE_WORKFLOW_LOGIC_H_
#define GRIDCASE_ENGINE_WORKFLOW_LOGIC_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

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

// Thread-safe: any number of sequencers may call it at once. It reads the
// registry and the directory and never changes them: EngineCaseFollower
// (follower.h) keeps them in step with durable records.
class WorkflowLogic final : public CaseLogic {
 public:
  // `registry` and `directory` must outlive the logic.
  WorkflowLogic(const Registry& registry, const Directory& directory)
      : registry_(registry), directory_(directory) {}

  absl::Status Process(v1::Record record, RecordStamper* stamper,
                       std::optional<v1::CaseState>* state,
                       std::vector<v1::Record>* out) const override;
  bool Reaches(const google::protobuf::RepeatedPtrField<std::string>& units,
               const std::string& grid_id) const override;

  void Apply(const v1::Record& record, v1::CaseState* state) const override;

 private:
  using Handler = absl::Status (WorkflowLogic::*)(v1::Record, RecordStamper*,
                                                  std::optional<v1::CaseState>*,
                                                  std::vector<v1::Record>*) const;
  // The handler of a payload type (a table: the engine's own cases, the
  // hand-over, and every other event of a case).
  static Handler HandlerFor(v1::Event::PayloadCase type);

  absl::Status ProcessDeployment(v1::Record record, RecordStamper* stamper,
                                 std::optional<v1::CaseState>* state,
                                 std::vector<v1::Record>* out) const;
  absl::Status ProcessDirectory(v1::Record record, RecordStamper* stamper,
                                std::optional<v1::CaseState>* state,
                                std::vector<v1::Record>* out) const;
  absl::Status ProcessHolderReplaced(v1::Record record, RecordStamper* stamper,
                                     std::optional<v1::CaseState>* state,
                                     std::vector<v1::Record>* out) const;
  absl::Status ProcessErasure(v1::Record record, RecordStamper* stamper,
                              std::optional<v1::CaseState>* state,
                              std::vector<v1::Record>* out) const;
  // A case's event as its workflow decides it: rules, rung timers,
  // explanation.
  absl::Status ProcessCaseEvent(v1::Record record, RecordStamper* stamper,
                                std::optional<v1::CaseState>* state,
                                std::vector<v1::Record>* out) const;

  // The definition a record's case runs, and whether it may take the
  // record: a new case is bound to the workflow that opens it (recorded in
  // `*record`); an existing one checks its stage's forbidden types, a
  // deadline's still pending, a reassigned task's open.
  absl::StatusOr<std::shared_ptr<const Definition>> Bind(
      v1::Record* record, const std::optional<v1::CaseState>& state) const;
  // The workflow that opens a new case on `record`.
  absl::StatusOr<std::shared_ptr<const Definition>> OpeningDefinition(
      const v1::Record& record) const;
  // The definition a case runs; aborts if it is not registered (the log
  // names it, so its deployment was loaded before any case of it).
  const Definition& DefinitionOf(const v1::WorkflowRef& ref) const;

  const Registry& registry_;
  const Directory& directory_;
};

}  // namespace gridcase::workflow

#endif  // GRIDCASE_ENGINE_WORKFLOW_LOGIC_H_
