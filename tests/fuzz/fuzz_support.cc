#include "tests/fuzz/fuzz_support.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "engine/common/time.h"
#include "engine/domain/stamper.h"
#include "engine/workflow/definition.h"
#include "engine/workflow/files.h"
#include "google/protobuf/util/json_util.h"

namespace gridcase::fuzz {

std::string SourceFile(const std::string& relative) {
  const std::string path = absl::StrCat(GRIDCASE_SOURCE_DIR, "/", relative);
  std::ifstream in(path, std::ios::binary);
  FUZZ_CHECK(in.good(), "cannot read ", path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

const std::string& ScratchDir() {
  static const std::string* const dir = [] {
    char path[] = "/tmp/gridcase-fuzz-XXXXXX";
    FUZZ_CHECK(mkdtemp(path) != nullptr, "a temporary directory");
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(ScratchDir(), ignored);
    });
    return new std::string(path);
  }();
  return *dir;
}

void WriteFile(const std::string& path, absl::string_view bytes, int mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  FUZZ_CHECK(fd >= 0, "cannot write ", path);
  FUZZ_CHECK(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()),
             "cannot write ", path);
  ::close(fd);
}

const workflow::Registry& ShippedWorkflows() {
  static const workflow::Registry* const registry = [] {
    auto* r = new workflow::Registry();
    auto files = workflow::ReadWorkflowDir(absl::StrCat(GRIDCASE_SOURCE_DIR, "/deploy/workflows"));
    FUZZ_CHECK(files.ok() && !files->empty(), "deploy/workflows: ", files.status().ToString());
    for (const auto& file : *files) {
      auto def = workflow::Definition::Parse(file.source, file.path);
      FUZZ_CHECK(def.ok(), def.status().ToString());
      const absl::Status added = r->Add(*def);
      FUZZ_CHECK(added.ok(), added.ToString());
    }
    return r;
  }();
  return *registry;
}

const Directory& ExampleDirectory() {
  static const Directory* const directory = [] {
    auto* d = new Directory();
    std::istringstream lines(SourceFile("deploy/examples/directory.jsonl"));
    std::string line;
    while (std::getline(lines, line)) {
      v1::DirectoryEntry entry;
      FUZZ_CHECK(google::protobuf::util::JsonStringToMessage(line, &entry).ok(), line);
      const absl::Status checked = d->Check(entry);
      FUZZ_CHECK(checked.ok(), checked.ToString());
      d->Apply(entry, kNowUs);
    }
    return d;
  }();
  return *directory;
}

bool SameMessage(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return a.GetDescriptor() == b.GetDescriptor() && a.SerializeAsString() == b.SerializeAsString();
}

void CheckStorable(const v1::Record& record) {
  // As stored (chain.cc) and read back (store.cc).
  v1::Record back;
  FUZZ_CHECK(back.ParseFromString(record.SerializeAsString()) && SameMessage(back, record),
             "a record does not read back as it was stored:\n", record.DebugString());
  // As the change feed publishes it in JSON (services/kafka/feed.cc).
  std::string json;
  const auto printed = google::protobuf::util::MessageToJsonString(record, &json);
  FUZZ_CHECK(printed.ok(), "a record does not print as JSON: ", printed.ToString());
  // JSON has no place for fields this build does not know.
  v1::Record known = record;
  known.DiscardUnknownFields();
  v1::Record parsed;
  const auto read = google::protobuf::util::JsonStringToMessage(json, &parsed);
  FUZZ_CHECK(read.ok() && SameMessage(parsed, known),
             "a record's JSON does not read back: ", read.ToString(), "\n", json);
}

absl::Status CaseUnderTest::Submit(v1::SubmitRequest request, int64_t recorded_us) {
  // As Sequencer::Group::Process: the record takes the event, the stamp,
  // and for a new case the workflow asked for.
  // A log's recorded times never go back.
  recorded_us = std::max(recorded_us, last_recorded_us_);
  const uint64_t version_before = state_.has_value() ? state_->version() : 0;
  v1::Record record;
  *record.mutable_event() = request.event();
  record.set_submitted_by(request.submitted_by());
  RecordStamper stamper(0, Position(next_position_), version_before, FromMicros(recorded_us));
  stamper.StampSubmitted(&record);
  if (!state_.has_value() && !request.workflow().empty()) {
    record.mutable_workflow()->set_name(request.workflow());
  }
  std::optional<v1::CaseState> next = state_;
  std::vector<v1::Record> out;
  if (absl::Status st = logic_.Process(std::move(record), &stamper, &next, &out); !st.ok()) {
    FUZZ_CHECK(SameMessage(next.value_or(v1::CaseState()), state_.value_or(v1::CaseState())) &&
                   out.empty(),
               "a refusal changed the case: ", st.ToString());
    return st;
  }
  // The sequencer's check (CheckStamped): what was stamped, in order.
  FUZZ_CHECK(next.has_value() && !out.empty() && out.size() == stamper.stamped() &&
                 out.front().position() == next_position_ &&
                 out.back().position() + 1 == stamper.next().value() &&
                 next->version() == out.back().case_version(),
             "the logic broke the record sequence");
  for (size_t i = 0; i < out.size(); ++i) {
    FUZZ_CHECK(out[i].case_version() == version_before + 1 + i, "case version ",
               out[i].case_version(), " at ", i);
    FUZZ_CHECK((i == 0) == (out[i].caused_by() == 0), "caused_by of record ", i);
    FUZZ_CHECK(i == 0 || out[i].event().event_id() != out[0].event().event_id(),
               "a derived record reuses its cause's event id");
  }
  next_position_ = stamper.next().value();
  last_recorded_us_ = recorded_us;
  state_ = std::move(next);
  // Live and replayed states agree byte for byte (case_logic.h): the
  // appliers alone, record by record, fold what processing left.
  for (auto& r : out) {
    CheckStorable(r);
    logic_.Apply(r, &replayed_);
    records_.push_back(std::move(r));
  }
  FUZZ_CHECK(SameMessage(replayed_, *state_), "replay folds another state than live processing:\n",
             replayed_.DebugString(), "\nversus\n", state_->DebugString());
  return absl::OkStatus();
}

void ValidateAndDecide(v1::SubmitRequest request) {
  const ValidationLimits limits;
  const absl::Status valid = ValidateEvent(request.event(), limits, kNowUs);
  if (!valid.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(valid), valid.ToString());
    return;
  }
  const v1::Event& e = request.event();
  FUZZ_CHECK(IsValidId(e.event_id(), limits.id_bytes_max) &&
                 IsValidId(e.case_id(), limits.id_bytes_max) &&
                 e.event_id().find(kDerivedIdSeparator) == std::string::npos &&
                 e.case_id()[0] != kReservedCasePrefix && e.event_id()[0] != kReservedCasePrefix,
             "a valid event with ids the engine keeps for itself or cannot key by");
  // The gate replaces these from the caller's credentials.
  request.set_submitted_by("gridcase:app:fuzz");
  request.clear_submitter_units();
  static const workflow::WorkflowLogic logic(ShippedWorkflows(), ExampleDirectory());
  DriveCase(logic, request);
}

std::vector<v1::Event> SampleEvents(const std::string& case_id, int64_t occurred_us) {
  v1::Event base;
  base.set_case_id(case_id);
  base.set_grid_id("jiangan-07-03");
  base.set_channel(v1::CHANNEL_APP);
  base.mutable_actor()->set_id("worker-li");
  base.mutable_actor()->set_kind(v1::ACTOR_KIND_PERSON);
  base.mutable_actor()->set_role("grid_worker");
  *base.mutable_occurred_at() = FromMicros(occurred_us);
  std::vector<v1::Event> out;
  auto add = [&](auto set) {
    v1::Event e = base;
    set(&e);
    e.set_event_id(absl::StrCat("sample-", out.size() + 1));
    out.push_back(std::move(e));
  };
  add([](v1::Event* e) { e->mutable_screening_check()->set_category(v1::CATEGORY_SUSPECTED); });
  add([](v1::Event* e) { e->mutable_fever_reading()->set_celsius(38.4); });
  add([](v1::Event* e) {
    e->mutable_help_request()->set_request_id("h1");
    e->mutable_help_request()->set_kind(v1::HELP_KIND_MEDICINE);
  });
  add([](v1::Event* e) { e->mutable_help_fulfilled()->set_request_id("h1"); });
  add([](v1::Event* e) { e->mutable_isolation_order()->set_kind(v1::ISOLATION_KIND_HOME); });
  add([](v1::Event* e) { e->mutable_test_ordered()->set_test_id("t1"); });
  add([](v1::Event* e) {
    e->mutable_test_result()->set_test_id("t1");
    e->mutable_test_result()->set_outcome(v1::TEST_OUTCOME_POSITIVE);
  });
  add([](v1::Event* e) { e->mutable_admission()->set_hospital("jinyintan"); });
  add([](v1::Event* e) { e->mutable_discharge()->set_hospital("jinyintan"); });
  add([](v1::Event* e) {
    e->mutable_contact_attempt()->set_outcome(v1::CONTACT_OUTCOME_NO_ANSWER);
  });
  add([](v1::Event* e) {
    e->mutable_occupancy_evidence()->set_household_id("hh-1");
    e->mutable_occupancy_evidence()->set_registered_empty(true);
    e->mutable_occupancy_evidence()->set_lights_on(true);
  });
  add([](v1::Event* e) { e->mutable_clue_report()->set_description("a cough behind the door"); });
  add([](v1::Event* e) { e->mutable_note()->set_text("called back"); });
  add([](v1::Event* e) { e->mutable_reassignment()->set_to_assignee("worker-zhou"); });
  add([](v1::Event* e) {
    e->mutable_help_request()->set_request_id("h2");
    e->mutable_help_request()->set_kind(v1::HELP_KIND_MEAL);
  });
  add([](v1::Event* e) { e->mutable_help_cancelled()->set_request_id("h2"); });
  add([](v1::Event* e) { e->mutable_isolation_released(); });
  return out;
}

void DriveCase(const workflow::WorkflowLogic& logic, const v1::SubmitRequest& opening) {
  CaseUnderTest c(logic);
  int64_t now_us = kNowUs;
  if (!c.Submit(opening, now_us).ok()) return;
  const std::string& case_id = opening.event().case_id();
  constexpr int64_t kHourUs = 3600LL * 1000000;
  for (v1::Event& e : SampleEvents(case_id, now_us)) {
    now_us += kHourUs;
    *e.mutable_occurred_at() = FromMicros(now_us - kHourUs / 2);
    // Validated as a client's would be; every sample must pass.
    const absl::Status valid = ValidateEvent(e, ValidationLimits(), now_us);
    FUZZ_CHECK(valid.ok(), valid.ToString());
    v1::SubmitRequest request;
    *request.mutable_event() = std::move(e);
    (void)c.Submit(std::move(request), now_us);
    c.ExpireDeadlines(now_us);
  }
  // What falls due in the next month, in turn.
  c.ExpireDeadlines(now_us + 30 * 24 * kHourUs);
}

void CaseUnderTest::ExpireDeadlines(int64_t until_us) {
  if (!state_.has_value()) return;
  // Copied, in due order: each expiry changes the case.
  std::vector<v1::PendingDeadline> due(state_->deadlines().begin(), state_->deadlines().end());
  std::stable_sort(due.begin(), due.end(), [](const auto& a, const auto& b) {
    return Micros(a.due_at()) < Micros(b.due_at());
  });
  for (const auto& d : due) {
    const int64_t due_us = Micros(d.due_at());
    if (due_us > until_us) break;
    v1::SubmitRequest request;
    v1::Event* e = request.mutable_event();
    e->set_event_id(absl::StrCat("~deadline~", state_->case_id(), "~", d.name(), "~", due_us, "~",
                                 ++expiries_));
    e->set_case_id(state_->case_id());
    *e->mutable_occurred_at() = d.due_at();
    e->mutable_actor()->set_id(kEngineActorId);
    e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
    e->set_channel(v1::CHANNEL_SYSTEM);
    e->mutable_deadline_expired()->set_deadline(d.name());
    *e->mutable_deadline_expired()->mutable_due_at() = d.due_at();
    // Fired when due or later (CheckStillPending refuses earlier); one
    // an earlier expiry cancelled or moved is refused, as in the engine.
    (void)Submit(std::move(request), due_us);
  }
}

}  // namespace gridcase::fuzz
