// The state machine of a case, behind one interface.
//
// Zeebe's split: a *processor* decides what follows a submitted event and
// may refuse it; *appliers* fold records (submitted and derived) into the
// case state and are the only code that changes it. Process() runs the
// appliers on every record it produces, and a replay of the log runs the
// same appliers alone, so live processing and replay give the same state
// byte for byte. Both are pure: no clock, no randomness, no I/O; time comes
// from the record's recorded_at. Whatever must follow a durable record
// outside the case is a CommitListener (commit_listener.h).
#ifndef GRIDCASE_ENGINE_DOMAIN_CASE_LOGIC_H_
#define GRIDCASE_ENGINE_DOMAIN_CASE_LOGIC_H_

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "engine/domain/stamper.h"
#include "gridcase/v1/case.pb.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase {

class CaseLogic {
 public:
  virtual ~CaseLogic() = default;

  // Processes one submitted record, which `stamper` has stamped (and, for
  // a new case, whose `workflow.name` may name the workflow asked for).
  // `*state` is the case (nullopt: it does not exist yet).
  //
  // A refusal (NOT_FOUND, FAILED_PRECONDITION) leaves `*state` and `*out`
  // untouched. Otherwise appends to `*out` the submitted record, completed
  // (workflow binding, changed_nothing, explanation), then every derived
  // record, each stamped by `stamper` as it is emitted, and leaves `*state`
  // as the appliers make it after all of them.
  virtual absl::Status Process(v1::Record record, RecordStamper* stamper,
                               std::optional<v1::CaseState>* state,
                               std::vector<v1::Record>* out) const = 0;

  // Folds one stored record into `state` (a default CaseState for a case's
  // first record).
  virtual void Apply(const v1::Record& record, v1::CaseState* state) const = 0;

  // Whether a submitter who reaches only `units` (units of the directory;
  // empty: everywhere) may touch a case that stands in `grid_id`. Logic
  // that knows no directory reaches nothing for a limited submitter.
  virtual bool Reaches(const google::protobuf::RepeatedPtrField<std::string>& units,
                       const std::string& grid_id) const {
    return units.empty();
  }
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_DOMAIN_CASE_LOGIC_H_
