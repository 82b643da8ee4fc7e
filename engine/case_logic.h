// The state machine of a case, behind one interface.
//
// A case's state is a deterministic fold of its records: CaseLogic is pure
// (no clock, no randomness, no I/O), so live processing and a replay of the
// log produce the same state byte for byte. The sequencer is its only caller
// on the write path.
#ifndef GRIDCASE_ENGINE_CASE_LOGIC_H_
#define GRIDCASE_ENGINE_CASE_LOGIC_H_

#include "absl/status/status.h"
#include "gridcase/v1/case.pb.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase {

class CaseLogic {
 public:
  virtual ~CaseLogic() = default;

  // Decides whether `event` may be appended to the case whose state is
  // `before` (nullptr when the case does not exist yet). A refusal is a
  // domain answer for the submitter: NOT_FOUND for an event that needs an
  // existing case, FAILED_PRECONDITION for one the case cannot take now.
  virtual absl::Status Check(const v1::CaseState* before,
                             const v1::Event& event) const = 0;

  // Folds one accepted record into `state`. For the first record of a case
  // `state` is a default CaseState. Never fails: everything that could be
  // refused was refused by Check.
  virtual void Apply(const v1::Record& record, v1::CaseState* state) const = 0;
};

// The fixed rules the engine starts with: stage and category follow
// directly from the events (an isolation order puts the case in isolation, a
// positive test result in treatment, ...). Thread-safe (stateless).
class BuiltinCaseLogic final : public CaseLogic {
 public:
  // Readings at or above this count as fever.
  static constexpr double kFeverCelsius = 37.3;

  absl::Status Check(const v1::CaseState* before,
                     const v1::Event& event) const override;
  void Apply(const v1::Record& record, v1::CaseState* state) const override;
};

// True for the payloads that may open a case; the others need an existing
// case (a help being fulfilled, a release, a discharge, a contact attempt, a
// note, a reassignment all refer to something already known).
bool OpensCase(v1::Event::PayloadCase payload);

// The name of the payload as written in the proto ("fever_reading").
const char* PayloadName(v1::Event::PayloadCase payload);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_CASE_LOGIC_H_
