// A workflow definition, validated and compiled: guards parsed, durations
// converted, names resolved. Immutable once built; shared between threads.
#ifndef GRIDCASE_ENGINE_WORKFLOW_DEFINITION_H_
#define GRIDCASE_ENGINE_WORKFLOW_DEFINITION_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/workflow/expr.h"
#include "gridcase/v1/workflow.pb.h"

namespace gridcase::workflow {

// "deadline:" + name: the `on` of a rule handling a deadline's expiry.
inline constexpr char kDeadlinePrefix[] = "deadline:";

struct Action {
  v1::ActionSpec spec;
  int64_t duration_us = 0;  // open_task.due or set_deadline.after; 0: none
  // That duration counts from when the deciding event happened
  // (COUNT_FROM_HAPPENED), not from when it was learnt.
  bool from_happened = false;
};

struct Rule {
  std::string name;
  std::string on;  // an event type, or "deadline:NAME"
  Guard guard;
  std::vector<Action> actions;
};

struct Stage {
  std::string name;
  bool terminal = false;
  std::vector<Action> on_enter;
  std::vector<Action> on_exit;
  std::vector<Rule> rules;
  std::vector<std::string> forbid;  // event types
};

struct Counter {
  std::string name;
  std::string on;
  Guard when;
  int64_t window_us = 0;
  std::string reset_on;
  Guard reset_when;
};

// Rung timing (RungSpec), in µs.
struct Rung {
  int64_t after_us = 0;
  int64_t remind_before_us = 0;  // 0: no reminder
};

// The engine's own deadlines for rung timing; their handlers are built in.
inline constexpr char kRungEscalateDeadline[] = "~escalate";
inline constexpr char kRungReminderDeadline[] = "~remind";

struct Opener {
  std::string on;
  Guard when;
};

// The largest definition source Parse accepts: a definition is parsed
// whole, kept in memory for every version, and written in one record.
// docs/workflows.md ("Limits") says why this size.
inline constexpr size_t kDefinitionBytesMax = 64 * 1024;
// How deep protobuf's text parser may nest messages. The schema nests five
// deep (definition, stage, rule, action, task) and is not recursive; the
// parser itself has no bound of its own, so one is set.
inline constexpr int kDefinitionNestingMax = 16;
// At most this many problems are listed in a refusal (all are counted):
// the message travels in a gRPC status, whose size is limited.
inline constexpr size_t kProblemsListedMax = 20;

class Definition {
 public:
  // Parses `source` (textproto) and validates it. `file` names it in
  // messages. On failure: INVALID_ARGUMENT whose message lists the
  // problems found (the first kProblemsListedMax of them), one per line, as
  // "file:line: explanation". A source beyond kDefinitionBytesMax is
  // refused before it is parsed; guards beyond their limits (expr.h) are
  // problems like any other.
  static absl::StatusOr<std::shared_ptr<const Definition>> Parse(const std::string& source,
                                                                 const std::string& file);
  // Validates an already parsed definition (lines are then unknown), with
  // the same checks and guard limits as Parse.
  static absl::StatusOr<std::shared_ptr<const Definition>> FromProto(
      const v1::WorkflowDefinition& proto);

  const v1::WorkflowDefinition& proto() const { return proto_; }
  const std::string& name() const { return proto_.name(); }
  uint32_t version() const { return proto_.version(); }

  // nullptr when the definition has no such stage.
  const Stage* stage(const std::string& name) const;
  const std::vector<Opener>& openers() const { return openers_; }
  const std::vector<Counter>& counters() const { return counters_; }
  const std::vector<std::string>& ladder() const { return ladder_; }
  // The timing of rung `role`, or nullptr when it has none.
  const Rung* rung(const std::string& role) const {
    auto it = rungs_.find(role);
    return it == rungs_.end() ? nullptr : &it->second;
  }

 private:
  Definition() = default;

  v1::WorkflowDefinition proto_;
  std::map<std::string, Stage> stages_;
  std::vector<Opener> openers_;
  std::vector<Counter> counters_;
  std::vector<std::string> ladder_;
  std::map<std::string, Rung> rungs_;

  friend class Compiler;
};

// The event types a rule may react to: payload names of gridcase.v1.Event
// that clients submit (derived payloads excluded).
bool IsSubmittableEventType(const std::string& name);

}  // namespace gridcase::workflow

#endif  // GRIDCASE_ENGINE_WORKFLOW_DEFINITION_H_
