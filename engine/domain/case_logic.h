// The state machine of a case, behind one interface.
//
// Zeebe's split: a *processor* decides what follows a submitted event and
// may refuse it; *appliers* fold records (submitted and derived) into the
// case state and are the only code that changes it. Process() runs the
// appliers on every record it produces, and a replay of the log runs the
// same appliers alone, so live processing and replay give the same state
// byte for byte. Both are pure: no clock, no randomness, no I/O; time comes
// from the record's recorded_at.
#ifndef GRIDCASE_ENGINE_DOMAIN_CASE_LOGIC_H_
#define GRIDCASE_ENGINE_DOMAIN_CASE_LOGIC_H_

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "gridcase/v1/case.pb.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase {

class CaseLogic {
 public:
  virtual ~CaseLogic() = default;

  // Processes one submitted record, whose position, case_version and
  // recorded_at the sequencer has stamped (and, for a new case, whose
  // `workflow.name` may name the workflow asked for). `*state` is the case
  // (nullopt: it does not exist yet).
  //
  // A refusal (NOT_FOUND, FAILED_PRECONDITION) leaves `*state` and `*out`
  // untouched. Otherwise appends to `*out` the submitted record, completed
  // (workflow binding, changed_nothing, explanation), then every derived
  // record, with consecutive positions and versions, and leaves `*state` as
  // the appliers make it after all of them.
  virtual absl::Status Process(v1::Record record, std::optional<v1::CaseState>* state,
                               std::vector<v1::Record>* out) const = 0;

  // Folds one stored record into `state` (a default CaseState for a case's
  // first record).
  virtual void Apply(const v1::Record& record, v1::CaseState* state) const = 0;

  // Told about every record once its group is durable, in log order.
  virtual void OnCommitted(const v1::Record& record) const {}
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_DOMAIN_CASE_LOGIC_H_
