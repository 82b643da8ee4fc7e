// Workflow definitions (engine/workflow/definition.cc): the input is a
// definition's textproto, as DeployWorkflow takes it, parsed and
// validated by Definition::Parse; the same bytes are also read as a binary
// WorkflowDefinition (what a deployment record stores) and validated by
// Definition::FromProto.
//
// Invariants: a refusal is INVALID_ARGUMENT and small enough for a gRPC
// status (docs/workflows.md, "Limits": under the 8 KiB a client takes); a
// definition Parse accepts is accepted by FromProto too, and printed as
// text it parses back to the same definition; and a case run under it
// (each opener's event, then an event of every type and the deadlines that
// fall due) keeps the sequencer's record sequence and folds, replayed, to
// the state live processing left.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/workflow/definition.h"
#include "google/protobuf/text_format.h"
#include "tests/fuzz/fuzz_support.h"

namespace gridcase::fuzz {
namespace {

using workflow::Definition;

// With a short file name, the most a refusal may say.
constexpr size_t kRefusalBytesMax = 8 * 1024 - 512;

void CheckRefusal(const absl::Status& status) {
  FUZZ_CHECK(absl::IsInvalidArgument(status), status.ToString());
  FUZZ_CHECK(status.message().size() <= kRefusalBytesMax, "a refusal of ", status.message().size(),
             " bytes:\n", status.message().substr(0, 2000));
}

// Runs a case under `def` for each event type that opens one.
void RunCases(std::shared_ptr<const Definition> def) {
  if (def->version() != 1) {
    // Deployed as the first version of its name (the registry takes
    // versions in order).
    v1::WorkflowDefinition first = def->proto();
    first.set_version(1);
    auto renumbered = Definition::FromProto(first);
    FUZZ_CHECK(renumbered.ok(), "valid as version ", def->version(),
               " but not as version 1: ", renumbered.status().ToString());
    def = *std::move(renumbered);
  }
  workflow::Registry registry;
  const absl::Status added = registry.Add(def);
  FUZZ_CHECK(added.ok(), added.ToString());
  const workflow::WorkflowLogic logic(registry, ExampleDirectory());
  int n = 0;
  for (const v1::Event& sample : SampleEvents("c", kNowUs)) {
    bool opens = false;
    for (const auto& opener : def->openers()) {
      const auto* field = v1::Event::descriptor()->FindFieldByNumber(sample.payload_case());
      opens = opens || opener.on == field->name();
    }
    if (!opens) continue;
    v1::SubmitRequest opening;
    *opening.mutable_event() = sample;
    opening.mutable_event()->set_case_id(absl::StrCat("case-", ++n));
    opening.set_workflow(def->name());
    DriveCase(logic, opening);
  }
}

int TestOneInput(const uint8_t* data, size_t size) {
  const std::string source(reinterpret_cast<const char*>(data), size);

  // Stored bytes: validated again when read back; must not crash.
  v1::WorkflowDefinition stored;
  if (stored.ParseFromString(source)) {
    auto def = Definition::FromProto(stored);
    if (!def.ok()) FUZZ_CHECK(absl::IsInvalidArgument(def.status()), def.status().ToString());
  }

  auto def = Definition::Parse(source, "fuzz.textproto");
  if (!def.ok()) {
    CheckRefusal(def.status());
    return 0;
  }
  auto again = Definition::FromProto((*def)->proto());
  FUZZ_CHECK(again.ok(), "Parse accepts what FromProto refuses: ", again.status().ToString());
  std::string printed;
  google::protobuf::TextFormat::Printer printer;
  printer.SetUseUtf8StringEscaping(true);
  FUZZ_CHECK(printer.PrintToString((*def)->proto(), &printed), "prints");
  // Printing may spell the same definition longer than the limit allows.
  if (printed.size() > workflow::kDefinitionBytesMax) {
    RunCases(*def);
    return 0;
  }
  auto reparsed = Definition::Parse(printed, "printed.textproto");
  FUZZ_CHECK(reparsed.ok(),
             "printed, a valid definition does not parse back: ", reparsed.status().ToString(),
             "\n", printed);
  FUZZ_CHECK(SameMessage((*reparsed)->proto(), (*def)->proto()),
             "printed and parsed back, the definition changed:\n", printed);
  RunCases(*def);
  return 0;
}

}  // namespace
}  // namespace gridcase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return gridcase::fuzz::TestOneInput(data, size);
}
