// Guards: the expression language of workflow rules.
//
//   expr  := or
//   or    := and { ("||" | "or") and }
//   and   := not { ("&&" | "and") not }
//   not   := ("!" | "not") not | cmp
//   cmp   := term [ ("==" | "!=" | "<" | "<=" | ">" | ">=") term
//                 | "in" "[" term { "," term } "]" ]
//   term  := "(" expr ")" | NUMBER | DURATION | STRING | "true" | "false"
//          | path | IDENT | "count" "(" STRING ")" | "time_in_stage"
//          | "overdue" "(" STRING ")"
//   path  := IDENT { "." IDENT }
//
// A path names a field of the event ("fever_reading.celsius", "grid_id",
// "actor.role") or, after "case.", of the case ("case.category",
// "case.stage"). Guards see the case with the event's own facts (readings,
// counters) folded in and before any decision of the rules. A bare IDENT that is not a field is an
// enum constant, resolved against the enum it is compared with: POSITIVE,
// TEST_OUTCOME_POSITIVE. DURATION is a number with a unit: 24h, 14d.
// count("name") is a counter of the definition (for a windowed one, the
// most counted events in any window that holds the moment the event
// happened: events on both sides of it count, so a reading that arrives
// late is counted with the newer ones already known); time_in_stage is
// how long the case has been in its current stage, and overdue("name")
// holds when the case has that deadline pending and due, both at the
// moment the event happened (GuardInput::at_us).
//
// Compile() checks names and types against the schema, so a compiled guard
// cannot fail when evaluated.
//
// Limits. Guards come from definitions anyone allowed to deploy may send, and
// both the parser (recursive descent) and the evaluator (a walk of the tree)
// recurse, on the stack of whichever thread compiles or decides: a gRPC
// handler, a sequencer, the engine opening its log. So every guard is
// bounded before it is parsed, and a compiled guard is bounded by
// construction (docs/workflows.md, "Limits", says why these numbers):
//   kGuardBytesMax    the source text, checked first
//   kGuardNestingMax  parentheses and negations open at once: `((x))` and
//                     `!!x` are 2, `!(x)` is 2
//   kGuardNodesMax    values, fields, comparisons, `in`, &&, ||, negations
// A compiled guard's tree is then at most kGuardDepthMax levels deep, and
// evaluating it recurses no deeper: each level of parentheses holds at most
// an ||, an && and a comparison on top of one another, each negation adds
// one, and a value ends the path.
#ifndef GRIDCASE_ENGINE_WORKFLOW_EXPR_H_
#define GRIDCASE_ENGINE_WORKFLOW_EXPR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gridcase/v1/case.pb.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase::workflow {

inline constexpr size_t kGuardBytesMax = 1024;
inline constexpr int kGuardNestingMax = 32;
inline constexpr int kGuardNodesMax = 256;
inline constexpr int kGuardDepthMax = 3 * (kGuardNestingMax + 1) + 1;

struct GuardScope {
  // The payload the guarded event carries ("fever_reading"), or empty when
  // the guard is not about one event type (deadline rules). Paths into
  // other payloads are errors.
  std::string payload;
  // Names count() may use, with their window in µs (0: none).
  std::map<std::string, int64_t> counters;
  // Names overdue() may use.
  std::set<std::string> deadlines;
};

// What a guard reads when evaluated. All pointers must be set.
struct GuardInput {
  const v1::Event* event;
  const v1::CaseState* state;  // the case, with the event's facts applied
  // The moment the event happened, as time-based guards see it: its
  // occurred time, but no later than its recorded time (a device clock
  // ahead of the server's does not make a deadline overdue early).
  int64_t at_us;
  int64_t occurred_us;  // occurred time of the deciding event
};

// What guards read for `event`, recorded at `recorded_us`, against `state`.
GuardInput GuardInputFor(const v1::Event& event, const v1::CaseState& state, int64_t recorded_us);

class Guard {
 public:
  // Parses and type-checks `source`. Errors: INVALID_ARGUMENT with the
  // column ("column 17: ..."), also for a guard beyond the limits above.
  static absl::StatusOr<Guard> Compile(absl::string_view source, const GuardScope& scope);
  // The guard that always holds (an empty `when`).
  Guard();
  ~Guard();
  Guard(Guard&&) noexcept;
  Guard& operator=(Guard&&) noexcept;

  bool Evaluate(const GuardInput& input) const;
  const std::string& source() const { return source_; }
  // The levels of the compiled tree (0 for the empty guard): how deep
  // Evaluate recurses. Never more than kGuardDepthMax.
  int depth() const;

  struct Node;

 private:
  std::string source_;
  std::shared_ptr<const Node> root_;  // null: always true
};

// The value of a counter in `state` for an event that occurred at
// `occurred_us`: for a windowed counter, the most counted events in any
// window [a, a + window_us) with a <= occurred_us < a + window_us.
uint32_t CounterValue(const v1::CaseState& state, const std::string& name, int64_t window_us,
                      int64_t occurred_us);

}  // namespace gridcase::workflow

#endif  // GRIDCASE_ENGINE_WORKFLOW_EXPR_H_
