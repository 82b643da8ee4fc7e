// What the fuzz targets share: the shipped workflows and example directory
// as the engine would hold them, a case driven through the workflow logic
// the way a sequencer drives it (with the invariants the sequencer and a
// replay of the log rely on checked after every step), and the checks
// themselves.
//
// A broken invariant aborts with a message (FUZZ_CHECK), which libFuzzer
// reports as a crash and keeps the input of.
#ifndef GRIDCASE_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define GRIDCASE_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/common/check.h"
#include "engine/domain/directory.h"
#include "engine/domain/validate.h"
#include "engine/workflow/logic.h"
#include "engine/workflow/registry.h"
#include "google/protobuf/message.h"
#include "gridcase/v1/event.pb.h"
#include "gridcase/v1/service.pb.h"

// An invariant of a fuzz target: aborts (a crash to libFuzzer) when broken.
#define FUZZ_CHECK(condition, ...) GC_CHECK(condition, __VA_ARGS__)

namespace gridcase::fuzz {

// The clock of every target: 2020-02-22T20:00:00Z.
inline constexpr int64_t kNowUs = 1582401600LL * 1000000;

// The text of a file of the source tree ("deploy/workflows/x.textproto").
std::string SourceFile(const std::string& relative);

// A directory of this process's own under /tmp, made when first asked for
// and removed when the process exits.
const std::string& ScratchDir();
// `bytes` as the whole of the file at `path`, made with `mode` if new.
void WriteFile(const std::string& path, absl::string_view bytes, int mode);

// Every version of the workflows in deploy/workflows, as the engine
// registers them; aborts if one does not compile.
const workflow::Registry& ShippedWorkflows();
// deploy/examples/directory.jsonl, applied.
const Directory& ExampleDirectory();

// The same bytes, field for field.
bool SameMessage(const google::protobuf::Message& a, const google::protobuf::Message& b);

// A record the engine writes reads back as it was stored, and converts to
// JSON (the change feed's format) and back.
void CheckStorable(const v1::Record& record);

// One case as a partition keeps it: its state and every record it wrote.
// Submit() runs a submission as the sequencer does (stamp, logic, the
// record-sequence check) and then checks that a replay of every record so
// far, with the logic's appliers alone, folds the same state.
class CaseUnderTest {
 public:
  explicit CaseUnderTest(const workflow::WorkflowLogic& logic) : logic_(logic) {}

  // The logic's answer; on a refusal nothing changes.
  absl::Status Submit(v1::SubmitRequest request, int64_t recorded_us = kNowUs);
  // The deadline expiries the engine would submit for the deadlines the
  // case has pending that are due by `until_us`, in due order, each
  // recorded at its due time (or later: recorded times never go back).
  void ExpireDeadlines(int64_t until_us);

  const std::optional<v1::CaseState>& state() const { return state_; }
  const std::vector<v1::Record>& records() const { return records_; }

 private:
  const workflow::WorkflowLogic& logic_;
  std::optional<v1::CaseState> state_;
  std::vector<v1::Record> records_;
  v1::CaseState replayed_;  // the records folded by the appliers alone
  uint64_t next_position_ = 1;
  int64_t last_recorded_us_ = 0;
  int expiries_ = 0;
};

// One event of each type clients submit, for `case_id` in the example
// directory's grid jiangan-07-03, sent by its worker, at `occurred_us`.
std::vector<v1::Event> SampleEvents(const std::string& case_id, int64_t occurred_us);

// A case's life: `opening` first, then each sample event an hour after the
// one before, and after each the deadlines that fell due meanwhile. Stops
// early when the opening is refused.
void DriveCase(const workflow::WorkflowLogic& logic, const v1::SubmitRequest& opening);

// A client's submission: validated as Engine::Submit does (OK or
// INVALID_ARGUMENT; a valid event's ids can be keyed and routed), and
// when valid, with who submits set as the gate sets it, decided by the
// shipped workflows with the example directory through DriveCase.
void ValidateAndDecide(v1::SubmitRequest request);

}  // namespace gridcase::fuzz

#endif  // GRIDCASE_TESTS_FUZZ_FUZZ_SUPPORT_H_
