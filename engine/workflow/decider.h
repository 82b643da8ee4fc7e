// The deciding half of WorkflowLogic: runs the rules of one submitted
// record against its case's workflow and emits the derived records that
// hold the decisions, each stamped by the RecordStamper and applied as it
// goes, so later actions see earlier ones (a close after an open). Pure:
// time is the cause's recorded time; the directory is only read.
#ifndef GRIDCASE_ENGINE_WORKFLOW_DECIDER_H_
#define GRIDCASE_ENGINE_WORKFLOW_DECIDER_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/common/time.h"
#include "engine/domain/directory.h"
#include "engine/domain/stamper.h"
#include "engine/workflow/definition.h"
#include "gridcase/v1/case.pb.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase::workflow {

// The case's pending deadline called `name`, or null.
const v1::PendingDeadline* FindDeadline(const v1::CaseState& state, const std::string& name);

class Decider {
 public:
  // `state` has the cause applied already: its last_occurred_at is the
  // newest moment the case knows of the world, which COUNT_FROM_HAPPENED
  // counts from; for the engine's own commands, their moment if later (a
  // deadline's due time).
  Decider(const Definition& def, const Directory& directory, const v1::Record& cause,
          RecordStamper* stamper, v1::CaseState* state, std::vector<v1::Record>* out)
      : def_(def),
        directory_(directory),
        cause_(cause),
        stamper_(stamper),
        state_(state),
        out_(out),
        now_us_(Micros(cause.recorded_at())),
        happened_us_(
            std::max(Micros(state->last_occurred_at()), Micros(cause.event().occurred_at()))) {}

  void Open();

  // Returns the names of the rules that fired (empty: none did).
  std::vector<std::string> RunRules(const std::string& type, const Stage& stage);

  // The built-in handlers of the rung deadlines.
  void RungDeadline(const std::string& name);

  // Keeps the rung timers: started when the case arrives on a rung or in
  // a stage, cancelled in terminal stages and on untimed rungs.
  void TimeRung(const std::string& stage_before, const std::string& rung_before, bool opening);

 private:
  void Emit(v1::Event payload, std::string explanation = "");

  void EnterStage(const std::string& to, const std::string& rule);

  void SetCategory(v1::Category to, const std::string& rule);

  bool HasTask(const std::string& name) const;

  const v1::PendingDeadline* Pending(const std::string& name) const;

  // When a task's due time or a deadline of `action` falls: its duration
  // from when the cause was learnt, or from when it happened.
  int64_t DueUs(const Action& action) const;

  // Like the other actions, a deadline set again for the instant it is
  // already due changes nothing and records nothing (a stage's on_enter and
  // a rule of the same decision both setting it, as in a first screening
  // check): the rule's firing is in the cause's explanation already. One
  // already past (counted from an event that arrived late) is recorded as
  // set, says so, and fires at once: the scheduler is told of every due
  // time it has not seen (Engine::SetDeadlineListener).
  void SetDeadline(const std::string& name, int64_t due_us, const std::string& rule);

  void Cancel(const std::string& name, const std::string& rule);

  // Climbs to `to_role` (or one rung), and on past rungs nobody available
  // holds, recording who held the case and who holds it now.
  void Escalate(const v1::EscalateSpec& spec, const std::string& rule);

  void Run(const Action& action, const std::string& rule);

  // The available person holding `role` in the case's grid, or "".
  std::string Holder(const std::string& role) const;

  const Definition& def_;
  const Directory& directory_;
  const v1::Record& cause_;
  RecordStamper* const stamper_;
  v1::CaseState* const state_;
  std::vector<v1::Record>* const out_;
  const int64_t now_us_;       // when the cause was learnt (recorded)
  const int64_t happened_us_;  // the newest moment the case knows (occurred)
  int emitted_ = 0;
};

}  // namespace gridcase::workflow

#endif  // GRIDCASE_ENGINE_WORKFLOW_DECIDER_H_
