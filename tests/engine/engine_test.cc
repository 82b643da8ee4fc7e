// The engine end to end in process: real RocksDB in a temporary directory
// with real fsync, a fake clock.
#include "engine/engine.h"

#include <condition_variable>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/keys.h"
#include "engine/storage/store.h"
#include "engine/workflow/logic.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"
#include "tests/support/fault_fs.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::BaseEvent;
using ::gridcase::testing::Fever;
using ::gridcase::testing::kFeb22EveningUs;
using ::gridcase::testing::NoteEvent;
using ::gridcase::testing::Req;
using ::gridcase::testing::Screening;
using ::gridcase::testing::SubmitSync;
using ::gridcase::testing::TempDir;
using ::testing::HasSubstr;

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : clock_(kFeb22EveningUs + 60 * 1000000LL) {}

  std::unique_ptr<Engine> Open(uint32_t partitions = 4, EngineOptions options = {}) {
    options.data_dir = dir_.Sub("data");
    options.partitions = partitions;
    auto engine = Engine::Open(options, &clock_);
    EXPECT_TRUE(engine.ok()) << engine.status();
    if (!engine.ok()) return nullptr;
    testing::DeployShippedWorkflows(**engine);
    return std::move(*engine);
  }

  absl::StatusOr<v1::SubmitResponse> Submit(const v1::Event& e) {
    return SubmitSync(*engine_, Req(e));
  }

  std::vector<v1::Record> Timeline(const std::string& case_id) {
    v1::GetTimelineRequest req;
    req.set_case_id(case_id);
    req.set_page_size(1000);
    auto page = engine_->GetTimeline(req);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return {};
    return {page->records().begin(), page->records().end()};
  }

  // The submitted records of a case (derived ones left out).
  std::vector<v1::Record> Submitted(const std::string& case_id) {
    std::vector<v1::Record> out;
    for (auto& r : Timeline(case_id)) {
      if (r.caused_by() == 0) out.push_back(std::move(r));
    }
    return out;
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, SubmitAssignsPositionVersionAndRecordedTime) {
  engine_ = Open();
  auto first = Submit(Fever("e1", "guard", 36.9));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->case_version(), 1u);
  EXPECT_EQ(first->partition(), engine_->PartitionOf("guard").value());
  EXPECT_EQ(first->recorded_at().seconds(), kFeb22EveningUs / 1000000 + 60);
  EXPECT_FALSE(first->duplicate());

  clock_.AdvanceMicros(1000000);
  auto second = Submit(Fever("e2", "guard", 37.0));
  ASSERT_TRUE(second.ok()) << second.status();
  // Opening the case derived two records: the initial stage and its daily
  // check deadline.
  EXPECT_EQ(second->case_version(), 4u);
  EXPECT_EQ(second->position(), first->position() + 3);
  EXPECT_EQ(second->recorded_at().seconds(), kFeb22EveningUs / 1000000 + 61);

  auto state = engine_->GetCase("guard");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->version(), 4u);
  EXPECT_EQ(state->fever_readings(), 2u);
  EXPECT_EQ(state->stage(), "screening");
}

TEST_F(EngineTest, ResubmittingIdenticalContentReturnsTheOriginalResult) {
  engine_ = Open();
  auto original = Submit(Fever("e1", "guard", 37.7));
  ASSERT_TRUE(original.ok());
  clock_.AdvanceMicros(5 * 1000000);
  auto retry = Submit(Fever("e1", "guard", 37.7));
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->duplicate());
  EXPECT_EQ(retry->position(), original->position());
  EXPECT_EQ(retry->case_version(), original->case_version());
  EXPECT_EQ(retry->recorded_at().seconds(), original->recorded_at().seconds());
  EXPECT_EQ(Submitted("guard").size(), 1u);
}

TEST_F(EngineTest, ReusingAnEventIdWithOtherContentIsRefused) {
  engine_ = Open();
  ASSERT_TRUE(Submit(Fever("e1", "guard", 37.7)).ok());
  const uint64_t version = engine_->GetCase("guard")->version();
  auto conflict = Submit(Fever("e1", "guard", 37.9));
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(conflict.status().message()), HasSubstr("event_id e1"));
  EXPECT_EQ(engine_->GetCase("guard")->version(), version);
}

TEST_F(EngineTest, ReusingAnEventIdForACaseInAnotherPartitionIsRefused) {
  engine_ = Open(4);
  std::string other = "other-0";
  for (int i = 1; engine_->PartitionOf(other) == engine_->PartitionOf("guard"); ++i) {
    other = "other-" + std::to_string(i);
  }
  ASSERT_TRUE(Submit(Fever("e1", "guard", 37.7)).ok());
  auto conflict = Submit(Fever("e1", other, 37.7));
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(engine_->GetCase(other).status().code(), absl::StatusCode::kNotFound);
}

// The same, once each partition's filter of event ids is filled: the
// filter answers "not here" for the other partitions, and must never say
// so of an id that is there, whether the sequencer added it just now or
// the scan at open found it stored.
TEST_F(EngineTest, AnEventIdUsedInAnotherPartitionIsRefusedOnceTheFiltersAreFilled) {
  engine_ = Open(4);
  engine_->partitions().WaitForScanAtOpen();
  std::vector<std::string> cases;  // one case per partition
  for (int i = 0; cases.size() < 4; ++i) {
    const std::string id = "case-" + std::to_string(i);
    bool taken = false;
    for (const auto& c : cases)
      taken = taken || engine_->PartitionOf(c) == engine_->PartitionOf(id);
    if (!taken) cases.push_back(id);
  }
  ASSERT_TRUE(Submit(Fever("fresh", cases[0], 37.7)).ok());
  for (size_t i = 1; i < cases.size(); ++i) {
    EXPECT_EQ(Submit(Fever("fresh", cases[i], 37.7)).status().code(),
              absl::StatusCode::kAlreadyExists)
        << cases[i];
  }
  // Ids never used pass the filters and are recorded.
  for (size_t i = 1; i < cases.size(); ++i) {
    EXPECT_TRUE(Submit(Fever("new-" + std::to_string(i), cases[i], 36.6)).ok());
  }

  engine_.reset();
  engine_ = Open(4);
  engine_->partitions().WaitForScanAtOpen();
  for (size_t i = 1; i < cases.size(); ++i) {
    EXPECT_EQ(Submit(Fever("fresh", cases[i], 37.7)).status().code(),
              absl::StatusCode::kAlreadyExists)
        << cases[i] << " after reopening";
    EXPECT_EQ(Submit(Fever("new-" + std::to_string(i), cases[0], 36.6)).status().code(),
              absl::StatusCode::kAlreadyExists)
        << "new-" << i << " after reopening";
  }
}

// Once a partition's filters are filled, a new event id and a new case are
// decided without a read; an id or a case the partition holds must still be
// found, whether the sequencer remembered it just now or the scan at open
// found it stored (else a case would open twice, or a retry be recorded
// again).
TEST_F(EngineTest, TheIdFiltersNeverHideACaseOrAnEventIdThePartitionHolds) {
  auto check = [&](const std::string& when) {
    for (int i = 0; i < 20; ++i) {
      const std::string c = "case-" + std::to_string(i);
      auto retry = Submit(Fever("first-" + std::to_string(i), c, 36.6));
      ASSERT_TRUE(retry.ok()) << retry.status() << " " << when;
      EXPECT_TRUE(retry->duplicate()) << c << " " << when;
      EXPECT_EQ(Submit(Fever("first-" + std::to_string(i), c, 36.9)).status().code(),
                absl::StatusCode::kAlreadyExists)
          << c << " " << when;
      auto state = engine_->GetCase(c);
      ASSERT_TRUE(state.ok()) << state.status() << " " << when;
      const uint64_t before = state->version();
      auto next = Submit(Fever(when + "-" + std::to_string(i), c, 36.7));
      ASSERT_TRUE(next.ok()) << next.status() << " " << when;
      EXPECT_FALSE(next->duplicate());
      EXPECT_EQ(next->case_version(), before + 1) << c << " opened again " << when;
    }
  };
  engine_ = Open(2);
  engine_->partitions().WaitForScanAtOpen();
  for (int i = 0; i < 20; ++i) {
    const std::string c = "case-" + std::to_string(i);
    auto first = Submit(Fever("first-" + std::to_string(i), c, 36.6));
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(first->case_version(), 1u);
  }
  check("remembered");
  engine_.reset();
  engine_ = Open(2);
  engine_->partitions().WaitForScanAtOpen();
  check("scanned");
}

TEST_F(EngineTest, DuplicatesWithinOneGroupAreRecognised) {
  engine_ = Open(1);
  // Submitted back to back, these usually share a group commit; either way
  // exactly one record results.
  std::vector<std::future<absl::StatusOr<v1::SubmitResponse>>> answers;
  std::vector<std::promise<absl::StatusOr<v1::SubmitResponse>>> promises(3);
  for (auto& p : promises) {
    answers.push_back(p.get_future());
    engine_->Submit(Req(Fever("same", "guard", 37.7)),
                    [&p](absl::StatusOr<v1::SubmitResponse> r) { p.set_value(std::move(r)); });
  }
  int duplicates = 0;
  std::set<uint64_t> positions;
  for (auto& a : answers) {
    auto r = a.get();
    ASSERT_TRUE(r.ok()) << r.status();
    positions.insert(r->position());
    duplicates += r->duplicate();
  }
  EXPECT_EQ(duplicates, 2);
  EXPECT_EQ(positions.size(), 1u);
  EXPECT_EQ(Submitted("guard").size(), 1u);
}

TEST_F(EngineTest, ExpectedVersionIsEnforcedAndTheRefusalCarriesTheCurrentVersion) {
  engine_ = Open();
  auto req = Req(Fever("e1", "guard", 36.9));
  req.set_expected_version(0);  // must be new
  ASSERT_TRUE(SubmitSync(*engine_, req).ok());

  auto stale = Req(Fever("e2", "guard", 37.0));
  stale.set_expected_version(0);
  auto refused = SubmitSync(*engine_, stale);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("expected_version 0 but case guard is at version 3"));
  auto payload = refused.status().GetPayload(kCurrentVersionPayload);
  ASSERT_TRUE(payload.has_value());
  EXPECT_EQ(std::string(*payload), "3");

  stale.set_expected_version(3);
  auto accepted = SubmitSync(*engine_, stale);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(accepted->case_version(), 4u);
}

TEST_F(EngineTest, AFollowUpEventForAnUnknownCaseIsNotFoundAndWritesNothing) {
  engine_ = Open();
  auto done = BaseEvent("h1", "nobody");
  done.mutable_help_fulfilled()->set_request_id("r1");
  EXPECT_EQ(Submit(done).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_->GetCase("nobody").status().code(), absl::StatusCode::kNotFound);
  // The refused event_id is free for a later, valid use.
  EXPECT_TRUE(Submit(Fever("h1", "nobody", 36.5)).ok());
}

TEST_F(EngineTest, InvalidInputIsRefusedAndWritesNothing) {
  engine_ = Open();
  auto hot = Fever("e1", "guard", 52.0);
  auto st = Submit(hot).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("event.fever_reading.celsius"));
  EXPECT_EQ(engine_->GetCase("guard").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Submit(Fever("e1", "guard", 37.0)).ok());  // the id was not taken
}

TEST_F(EngineTest, RestartRecoversEveryRecordAndContinuesPositions) {
  engine_ = Open();
  std::map<std::string, std::string> states;
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(
        Submit(Fever("e" + std::to_string(i), "c" + std::to_string(i % 10), 36.0 + i * 0.05)).ok());
  }
  for (int c = 0; c < 10; ++c) {
    states["c" + std::to_string(c)] =
        engine_->GetCase("c" + std::to_string(c))->SerializeAsString();
  }
  // Notes change nothing in any stage, so they derive no records.
  const auto before = Submit(NoteEvent("last", "c0", "visited"));
  ASSERT_TRUE(before.ok());
  states["c0"] = engine_->GetCase("c0")->SerializeAsString();
  engine_.reset();

  engine_ = Open(0);  // 0: as stored
  ASSERT_EQ(engine_->partition_count(), 4u);
  for (const auto& [id, bytes] : states) {
    EXPECT_EQ(engine_->GetCase(id)->SerializeAsString(), bytes) << id;
  }
  auto next = Submit(NoteEvent("after", "c0", "visited again"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->position(), before->position() + 1);
  EXPECT_EQ(next->case_version(), before->case_version() + 1);
  // A retry of a pre-restart event is still recognised.
  auto retry = Submit(NoteEvent("last", "c0", "visited"));
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->duplicate());
}

TEST_F(EngineTest, ThePartitionCountOfADataDirectoryIsFixed) {
  engine_ = Open(4);
  engine_.reset();
  EngineOptions options;
  options.data_dir = dir_.Sub("data");
  options.partitions = 8;
  auto reopened = Engine::Open(options, &clock_);
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(reopened.status().message()), HasSubstr("created with 4"));
}

// A data directory written by the previous format is upgraded partition
// by partition as it opens; its GRIDCASE file must not go on naming the
// old format.
TEST_F(EngineTest, TheMarkerNamesTheFormatThePartitionsWereUpgradedTo) {
  engine_ = Open(2);
  engine_.reset();
  const std::string marker = dir_.Sub("data") + "/GRIDCASE";
  auto read = [&] {
    std::ifstream in(marker);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string current = read();
  ASSERT_THAT(current, HasSubstr(absl::StrCat("format ", keys::kFormatVersion, "\n")));
  {
    std::ofstream out(marker, std::ios::trunc);
    out << "gridcase data directory\nformat 1\npartitions 2\n";
  }
  for (uint32_t p = 0; p < 2; ++p) {
    auto store = PartitionStore::Open(PartitionDir(dir_.Sub("data"), p), PartitionId(p));
    ASSERT_TRUE(store.ok()) << store.status();
    rocksdb::WriteBatch b;
    b.Put((*store)->cf(keys::Cf::kMeta), "format", keys::EncodeFixed32Be(1));
    ASSERT_TRUE((*store)->Write(&b).ok());
  }
  engine_ = Open(2);
  ASSERT_NE(engine_, nullptr);
  EXPECT_EQ(read(), current);
}

TEST_F(EngineTest, TimelinePagesInCaseOrder) {
  engine_ = Open();
  ASSERT_TRUE(Submit(Fever("open", "c", 36.5)).ok());
  for (int i = 1; i < 250; ++i) {
    ASSERT_TRUE(Submit(NoteEvent("n" + std::to_string(i), "c", "visit")).ok());
  }
  v1::GetTimelineRequest req;
  req.set_case_id("c");
  req.set_page_size(100);
  std::vector<uint64_t> versions;
  std::vector<size_t> page_sizes;
  do {
    auto page = engine_->GetTimeline(req);
    ASSERT_TRUE(page.ok()) << page.status();
    page_sizes.push_back(page->records_size());
    for (const auto& r : page->records()) versions.push_back(r.case_version());
    req.set_page_token(page->next_page_token());
  } while (!req.page_token().empty());
  // 250 submitted records and the two the opening derived.
  EXPECT_EQ(page_sizes, (std::vector<size_t>{100, 100, 52}));
  ASSERT_EQ(versions.size(), 252u);
  for (size_t i = 0; i < versions.size(); ++i) EXPECT_EQ(versions[i], i + 1);

  req.set_page_token("garbage");
  EXPECT_EQ(engine_->GetTimeline(req).status().code(), absl::StatusCode::kInvalidArgument);
  req.set_page_token("");
  req.set_case_id("nobody");
  EXPECT_EQ(engine_->GetTimeline(req).status().code(), absl::StatusCode::kNotFound);
}

std::vector<std::string> ListAll(Engine& engine, v1::ListCasesRequest req) {
  std::vector<std::string> ids;
  do {
    auto page = engine.ListCases(req);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) break;
    EXPECT_LE(page->cases_size(), static_cast<int>(req.page_size()));
    for (const auto& c : page->cases()) ids.push_back(c.case_id());
    req.set_page_token(page->next_page_token());
  } while (!req.page_token().empty());
  return ids;
}

TEST_F(EngineTest, ListCasesFiltersAndPagesAcrossPartitions) {
  engine_ = Open(4);
  std::set<std::string> grid1, fever, all;
  for (int i = 0; i < 30; ++i) {
    const std::string id = "case-" + std::to_string(100 + i);
    auto e = Fever("f" + std::to_string(i), id, i % 3 == 0 ? 38.0 : 36.6);
    e.set_grid_id(i % 2 == 0 ? "g1" : "g2");
    if (i % 5 == 0) e.mutable_actor()->set_id("cadre-wang");
    ASSERT_TRUE(Submit(e).ok());
    all.insert(id);
    if (i % 2 == 0) grid1.insert(id);
    if (i % 3 == 0) fever.insert(id);
  }
  v1::ListCasesRequest req;
  req.set_page_size(7);
  auto everything = ListAll(*engine_, req);
  EXPECT_EQ(everything, std::vector<std::string>(all.begin(), all.end()));

  req.set_grid_id("g1");
  auto by_grid = ListAll(*engine_, req);
  EXPECT_EQ(by_grid, std::vector<std::string>(grid1.begin(), grid1.end()));

  req.clear_grid_id();
  req.set_category(v1::CATEGORY_FEVER);
  auto by_category = ListAll(*engine_, req);
  EXPECT_EQ(by_category, std::vector<std::string>(fever.begin(), fever.end()));

  req.set_grid_id("g1");  // both filters
  auto both = ListAll(*engine_, req);
  for (const auto& id : both) EXPECT_TRUE(grid1.count(id) && fever.count(id)) << id;
  EXPECT_EQ(both.size(), 5u);  // i in {0, 6, 12, 18, 24}

  v1::ListCasesRequest by_assignee;
  by_assignee.set_assignee("cadre-wang");
  by_assignee.set_page_size(100);
  EXPECT_EQ(ListAll(*engine_, by_assignee).size(), 6u);
}

TEST_F(EngineTest, IndexesFollowStageChanges) {
  engine_ = Open();
  ASSERT_TRUE(Submit(Fever("f1", "guard", 37.9)).ok());
  v1::ListCasesRequest screening;
  screening.set_stage("screening");
  screening.set_page_size(10);
  EXPECT_EQ(ListAll(*engine_, screening), std::vector<std::string>{"guard"});

  auto isolate = BaseEvent("i1", "guard");
  isolate.mutable_isolation_order()->set_kind(v1::ISOLATION_KIND_HOME);
  ASSERT_TRUE(Submit(isolate).ok());
  EXPECT_TRUE(ListAll(*engine_, screening).empty());
  v1::ListCasesRequest isolation = screening;
  isolation.set_stage("isolation");
  EXPECT_EQ(ListAll(*engine_, isolation), std::vector<std::string>{"guard"});
}

TEST_F(EngineTest, ConcurrentSubmittersGetDenseVersionsPerCase) {
  engine_ = Open(2);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 150;
  std::mutex mu;
  std::map<std::string, std::set<uint64_t>> versions;  // acknowledged, per case
  std::map<uint32_t, std::set<uint64_t>> positions;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string case_id = "c" + std::to_string((t * 7 + i) % 20);
        auto r = SubmitSync(
            *engine_, Req(Fever("t" + std::to_string(t) + "-" + std::to_string(i), case_id, 36.6)));
        ASSERT_TRUE(r.ok()) << r.status();
        std::lock_guard<std::mutex> lock(mu);
        EXPECT_TRUE(versions[case_id].insert(r->case_version()).second);
        EXPECT_TRUE(positions[r->partition()].insert(r->position()).second);
      }
    });
  }
  for (auto& t : threads) t.join();
  size_t total = 0;
  for (const auto& [case_id, vs] : versions) {
    const auto records = Timeline(case_id);
    size_t submitted = 0;
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(records[i].case_version(), i + 1) << case_id;  // 1..n, no gap
      if (records[i].caused_by() == 0) {
        ++submitted;
        EXPECT_TRUE(vs.count(records[i].case_version())) << case_id;
      }
    }
    EXPECT_EQ(submitted, vs.size()) << case_id;
    EXPECT_EQ(engine_->GetCase(case_id)->version(), records.size());
    total += vs.size();
  }
  EXPECT_EQ(total, static_cast<size_t>(kThreads * kPerThread));
}

// Blocks Process() on notes that say "block" until released, so a test can
// hold the sequencer still without any timing.
class GateLogic final : public CaseLogic {
 public:
  GateLogic(const workflow::Registry& registry, const Directory& directory)
      : inner_(registry, directory) {}
  absl::Status Process(v1::Record record, RecordStamper* stamper,
                       std::optional<v1::CaseState>* state,
                       std::vector<v1::Record>* out) const override {
    const v1::Event& e = record.event();
    if (e.has_note() && e.note().text() == "block") {
      std::unique_lock<std::mutex> lock(mu_);
      entered_ = true;
      cv_.notify_all();
      cv_.wait(lock, [this] { return released_; });
    }
    return inner_.Process(std::move(record), stamper, state, out);
  }
  void Apply(const v1::Record& r, v1::CaseState* s) const override { inner_.Apply(r, s); }
  void AwaitEntered() const {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return entered_; });
  }
  void Release() const {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  workflow::WorkflowLogic inner_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable bool entered_ = false;
  mutable bool released_ = false;
};

TEST_F(EngineTest, AFullQueueAnswersResourceExhausted) {
  EngineOptions options;
  options.data_dir = dir_.Sub("data");
  options.partitions = 1;
  options.sequencer.queue_capacity = 4;
  options.sequencer.group_records_max = 1;
  const GateLogic* gate = nullptr;
  auto opened = Engine::Open(
      options, &clock_, [&gate](const workflow::Registry& registry, const Directory& directory) {
        auto logic = std::make_unique<GateLogic>(registry, directory);
        gate = logic.get();
        return logic;
      });
  ASSERT_TRUE(opened.ok());
  engine_ = std::move(*opened);
  testing::DeployShippedWorkflows(*engine_);
  auto opened_case = Submit(Fever("open", "c", 36.5));
  ASSERT_TRUE(opened_case.ok()) << opened_case.status();

  std::vector<std::promise<absl::StatusOr<v1::SubmitResponse>>> promises(6);
  std::vector<std::future<absl::StatusOr<v1::SubmitResponse>>> answers;
  for (auto& p : promises) answers.push_back(p.get_future());
  auto submit = [&](int i, const std::string& text) {
    engine_->Submit(Req(NoteEvent("n" + std::to_string(i), "c", text)),
                    [&promises, i](absl::StatusOr<v1::SubmitResponse> r) {
                      promises[i].set_value(std::move(r));
                    });
  };
  submit(0, "block");
  gate->AwaitEntered();  // the sequencer holds item 0; the queue is empty
  for (int i = 1; i <= 4; ++i) submit(i, "queued");
  submit(5, "one too many");
  auto rejected = answers[5].get();
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(rejected.status().message()), HasSubstr("queue is full"));
  gate->Release();
  for (int i = 0; i <= 4; ++i) EXPECT_TRUE(answers[i].get().ok()) << i;
}

TEST_F(EngineTest, StopAnswersEverySubmissionAlreadyQueued) {
  engine_ = Open(2);
  constexpr int kCount = 500;
  std::atomic<int> answered{0}, accepted{0};
  std::mutex mu;
  std::vector<std::string> accepted_ids;
  for (int i = 0; i < kCount; ++i) {
    const std::string id = "e" + std::to_string(i);
    engine_->Submit(Req(Fever(id, "c" + std::to_string(i % 7), 36.6)),
                    [&, id](absl::StatusOr<v1::SubmitResponse> r) {
                      if (r.ok()) {
                        std::lock_guard<std::mutex> lock(mu);
                        accepted_ids.push_back(id);
                        ++accepted;
                      } else {
                        EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
                      }
                      ++answered;
                    });
  }
  engine_->Stop();
  EXPECT_EQ(answered.load(), kCount);
  EXPECT_EQ(accepted.load(), kCount);  // queued before Stop: all processed
  auto late = Submit(Fever("late", "c0", 36.6));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnavailable);
  engine_.reset();
  engine_ = Open(2);
  size_t stored = 0;
  for (int c = 0; c < 7; ++c) stored += Submitted("c" + std::to_string(c)).size();
  EXPECT_EQ(stored, static_cast<size_t>(kCount));
}

TEST_F(EngineTest, ADiskFailureIsAnErrorForEveryWaiterAndNeverAnAck) {
  auto fs = std::make_shared<testing::FaultFs>();
  auto env = testing::EnvOver(fs);
  EngineOptions options;
  options.env = env.get();
  engine_ = Open(1, options);
  ASSERT_TRUE(Submit(Fever("before", "guard", 36.9)).ok());

  fs->Arm();
  std::vector<std::thread> threads;
  std::atomic<int> acked{0}, failed{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto r = SubmitSync(*engine_, Req(Fever("during-" + std::to_string(t), "guard", 37.7)));
      if (r.ok()) {
        ++acked;
      } else {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
        ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(acked.load(), 0);
  EXPECT_EQ(failed.load(), 4);
  EXPECT_GT(fs->failures(), 0);

  // The partition refuses from now on rather than build on an unknown state.
  fs->Disarm();
  auto after = Submit(Fever("after", "guard", 36.6));
  EXPECT_EQ(after.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(after.status().message()), HasSubstr("restart"));

  engine_.reset();
  engine_ = Open(1);  // the real file system
  const auto records = Submitted("guard");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].event().event_id(), "before");
  EXPECT_TRUE(Submit(Fever("during-0", "guard", 37.7)).ok());
}

TEST_F(EngineTest, AStreamMessageIsDecidedWithItsOffsetInOneWrite) {
  engine_ = Open();
  const std::string source = "events/0";
  // Applied: the offset is recorded with the records.
  auto applied = testing::SubmitFromStreamSync(*engine_, Req(Fever("s-1", "s-case", 36.6)),
                                               {source, 7, "original-7"});
  ASSERT_TRUE(applied.ok()) << applied.status();
  const PartitionId home = engine_->PartitionOf("s-case");
  std::map<std::string, int64_t> offsets;
  ASSERT_TRUE(engine_->streams().StreamOffsets(home, "events/", &offsets).ok());
  EXPECT_EQ(offsets[source], 7);

  // Refused for its content before queueing, and for the case's state in
  // the sequencer: both are decided, as dead letters, in their partition.
  auto bad = testing::SubmitFromStreamSync(*engine_, Req(Fever("s-2", "s-case", 99.0)),
                                           {source, 8, "original-8"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  auto unknown = testing::SubmitFromStreamSync(*engine_, Req(NoteEvent("s-3", "s-none", "hello")),
                                               {source, 9, "original-9"});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  auto unreadable = testing::SubmitFromStreamSync(
      *engine_, absl::InvalidArgumentError("message is not JSON"), {source, 10, "{{{"});
  EXPECT_EQ(unreadable.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->streams().RouteOf(absl::InvalidArgumentError("x")), PartitionId(0));

  engine_.reset();
  engine_ = Open();  // all of it durable
  std::vector<std::pair<std::string, v1::DeadLetter>> letters;
  for (uint32_t p = 0; p < engine_->partition_count(); ++p) {
    ASSERT_TRUE(engine_->streams().DeadLetters(PartitionId(p), 100, &letters).ok());
  }
  ASSERT_EQ(letters.size(), 3u);
  std::map<int64_t, v1::DeadLetter> by_offset;
  for (const auto& [key, letter] : letters) by_offset[letter.offset()] = letter;
  EXPECT_EQ(by_offset[8].original(), "original-8");
  EXPECT_THAT(by_offset[8].reason(), HasSubstr("celsius"));
  EXPECT_EQ(by_offset[9].code(), static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_EQ(by_offset[10].original(), "{{{");
  std::map<std::string, int64_t> all;
  for (uint32_t p = 0; p < engine_->partition_count(); ++p) {
    std::map<std::string, int64_t> of_partition;
    ASSERT_TRUE(engine_->streams().StreamOffsets(PartitionId(p), source, &of_partition).ok());
    for (const auto& [k, v] : of_partition) all[k] = std::max(all[k], v);
  }
  EXPECT_EQ(all[source], 10);
  // Handed on: removed.
  for (uint32_t p = 0; p < engine_->partition_count(); ++p) {
    std::vector<std::pair<std::string, v1::DeadLetter>> mine;
    ASSERT_TRUE(engine_->streams().DeadLetters(PartitionId(p), 100, &mine).ok());
    std::vector<std::string> keys;
    for (const auto& [k, l] : mine) keys.push_back(k);
    ASSERT_TRUE(engine_->streams().RemoveDeadLetters(PartitionId(p), keys).ok());
  }
  letters.clear();
  for (uint32_t p = 0; p < engine_->partition_count(); ++p) {
    ASSERT_TRUE(engine_->streams().DeadLetters(PartitionId(p), 100, &letters).ok());
  }
  EXPECT_TRUE(letters.empty());
}

// Clients may not pose as the engine: its actor kind, ids and channel, and
// the payloads only it writes, are refused before anything is written. Its
// own records keep being written: they are queued straight to a sequencer.
TEST_F(EngineTest, NobodyCanPoseAsTheEngineAndTheEngineStillActs) {
  engine_ = Open(2);
  ASSERT_TRUE(Submit(Fever("open", "c", 36.6)).ok());  // screening: daily-check due in 24 h
  const auto log_ends = [this] {
    std::vector<uint64_t> out;
    for (uint32_t p = 0; p < engine_->partition_count(); ++p) {
      auto last = engine_->partitions().store(PartitionId(p)).ReadLastRecord();
      EXPECT_TRUE(last.ok()) << last.status();
      out.push_back(last.ok() && last->has_value() ? (*last)->record.position() : 0);
    }
    return out;
  };
  const std::vector<uint64_t> before = log_ends();
  const auto refused = [this](const v1::Event& e, const std::string& why) {
    auto r = Submit(e);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(why));
  };
  for (const std::string case_id : {"c", "new-case"}) {
    v1::Event engine_like = Fever("posing", case_id, 38.5);
    engine_like.mutable_actor()->set_id("gridcase");
    engine_like.mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
    engine_like.set_channel(v1::CHANNEL_SYSTEM);
    refused(engine_like, "event.actor.kind: ACTOR_KIND_SYSTEM is reserved to gridcase itself");
    engine_like.mutable_actor()->set_kind(v1::ACTOR_KIND_APP);
    refused(engine_like, "event.actor.id: \"gridcase\" is reserved to gridcase itself");
    engine_like.mutable_actor()->set_id("lab-2");
    refused(engine_like, "event.channel: CHANNEL_SYSTEM is reserved to gridcase itself");
    v1::Event expired = BaseEvent("expired", case_id);
    expired.mutable_deadline_expired()->set_deadline("daily-check");
    refused(expired, "event.deadline_expired: is written by the engine only");
    v1::Event moved = BaseEvent("moved", case_id);
    moved.mutable_holder_replaced()->set_to_person("worker-li");
    refused(moved, "event.holder_replaced: is written by the engine only");
  }
  EXPECT_EQ(log_ends(), before);
  EXPECT_EQ(engine_->GetCase("new-case").status().code(), absl::StatusCode::kNotFound);

  clock_.AdvanceMicros(24 * 3600 * 1000000LL);
  auto fired = engine_->timers().FireDueDeadlines();
  ASSERT_TRUE(fired.ok()) << fired.status();
  EXPECT_EQ(*fired, 1u);
  bool expiry = false;
  for (const auto& r : Timeline("c")) {
    if (!r.event().has_deadline_expired()) continue;
    expiry = true;
    EXPECT_EQ(r.event().actor().id(), "gridcase");
    EXPECT_EQ(r.event().actor().kind(), v1::ACTOR_KIND_SYSTEM);
    EXPECT_EQ(r.event().channel(), v1::CHANNEL_SYSTEM);
  }
  EXPECT_TRUE(expiry);
}

}  // namespace
}  // namespace gridcase
