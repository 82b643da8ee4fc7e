// Audit over a real store: rebuilding derived state from the log (a random
// workload of 100,000 events, and tampered stores), a case as of sampled
// positions, checkpoints taken while writing, and reading the log filtered
// and followed.
#include <condition_variable>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include "engine/audit/log_reader.h"
#include "engine/audit/rebuild.h"
#include "engine/engine.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/derived_rows.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::BaseEvent;
using ::gridcase::testing::Req;
using ::testing::HasSubstr;

constexpr int64_t kStartUs = 1582372800LL * 1000000;  // 2020-02-22T12:00:00Z
constexpr int64_t kMinuteUs = 60LL * 1000000;

// Random events of every kind a client submits, over `cases` people of the
// example directory's two grids. Many are refused (an event for a case no
// workflow has opened, a release of someone not isolated): the log holds
// what was accepted, as in life.
class RandomWorkload {
 public:
  RandomWorkload(uint64_t seed, int cases) : rng_(seed), cases_(cases) {}

  v1::Event Next(int64_t now_us) {
    const int n = ++count_;
    const std::string case_id = "person-" + std::to_string(Pick(cases_));
    // Mostly fresh readings; a few arrive hours late from an offline phone.
    const int64_t lag = Pick(20) == 0 ? Pick(6 * 60) * kMinuteUs : Pick(10) * kMinuteUs;
    v1::Event e = BaseEvent("w-" + std::to_string(n), case_id, now_us - lag);
    e.set_grid_id(Pick(2) == 0 ? "jiangan-07-03" : "jiangan-07-04");
    e.mutable_actor()->set_id(e.grid_id() == "jiangan-07-03" ? "worker-li" : "worker-zhou");
    const int kind = Pick(100);
    if (kind < 30) {
      // About one reading in ten is a fever: workflows fire.
      e.mutable_fever_reading()->set_celsius(Pick(10) == 0 ? 37.5 + Pick(20) / 10.0
                                                           : 36.0 + Pick(12) / 10.0);
    } else if (kind < 48) {
      e.mutable_screening_check()->set_category(static_cast<v1::Category>(1 + Pick(5)));
    } else if (kind < 58) {
      auto* h = e.mutable_help_request();
      h->set_request_id("r" + std::to_string(Pick(4)));
      h->set_kind(static_cast<v1::HelpKind>(1 + Pick(5)));
      h->set_urgency(static_cast<v1::Urgency>(1 + Pick(3)));
      h->add_items("medicine");
    } else if (kind < 65) {
      e.mutable_help_fulfilled()->set_request_id("r" + std::to_string(Pick(4)));
    } else if (kind < 70) {
      e.mutable_isolation_order()->set_kind(static_cast<v1::IsolationKind>(1 + Pick(2)));
    } else if (kind < 73) {
      e.mutable_isolation_released()->set_reason("14 days");
    } else if (kind < 78) {
      e.mutable_test_ordered()->set_test_id("t" + std::to_string(Pick(3)));
    } else if (kind < 83) {
      auto* t = e.mutable_test_result();
      t->set_test_id("t" + std::to_string(Pick(3)));
      t->set_outcome(static_cast<v1::TestOutcome>(1 + Pick(3)));
    } else if (kind < 85) {
      e.mutable_admission()->set_hospital("Huoshenshan");
    } else if (kind < 86) {
      e.mutable_discharge()->set_hospital("Huoshenshan");
    } else if (kind < 93) {
      e.mutable_contact_attempt()->set_outcome(static_cast<v1::ContactOutcome>(1 + Pick(3)));
    } else if (kind < 98) {
      e.mutable_note()->set_text("checked on the family");
    } else {
      e.mutable_reassignment()->set_to_assignee(Pick(2) == 0 ? "cadre-zhang" : "cadre-wang");
      e.mutable_reassignment()->set_reason("workload");
    }
    return e;
  }

  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }

 private:
  std::mt19937_64 rng_;
  const int cases_;
  int count_ = 0;
};

class AuditTest : public ::testing::Test {
 protected:
  AuditTest() : clock_(kStartUs) {}

  void Open(uint32_t partitions = 4) {
    engine_.reset();
    EngineOptions options;
    options.data_dir = dir_.Sub("data");
    options.partitions = partitions;
    auto engine = Engine::Open(options, &clock_);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }

  void OpenWithWorkflowsAndDirectory() {
    engine_.reset();
    engine_ = testing::OpenWithShippedWorkflows(dir_.Sub("data"), 4, &clock_);
    ASSERT_NE(engine_, nullptr);
    v1::Actor admin;
    admin.set_id("admin-1");
    ASSERT_TRUE(
        engine_->staffing().ImportDirectory(testing::ExampleDirectory(), "base", admin).ok());
  }

  // Submits `events` all at once (the engine groups them) and waits for
  // every answer. Returns how many were accepted; any answer but an
  // acceptance or a refusal for the case's state fails the test.
  size_t SubmitAll(const std::vector<v1::Event>& events) {
    std::mutex mu;
    std::condition_variable cv;
    size_t answered = 0, accepted = 0;
    for (const auto& e : events) {
      engine_->Submit(Req(e), [&](absl::StatusOr<v1::SubmitResponse> r) {
        std::lock_guard<std::mutex> lock(mu);
        if (r.ok()) {
          ++accepted;
        } else {
          const auto code = r.status().code();
          EXPECT_TRUE(code == absl::StatusCode::kNotFound ||
                      code == absl::StatusCode::kFailedPrecondition)
              << r.status();
        }
        ++answered;
        cv.notify_one();
      });
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return answered == events.size(); });
    return accepted;
  }

  void FireAllDue() {
    for (;;) {
      auto fired = engine_->timers().FireDueDeadlines();
      ASSERT_TRUE(fired.ok()) << fired.status();
      if (*fired == 0) return;
    }
  }

  uint64_t LastPosition(PartitionId p) {
    auto last = engine_->partitions().store(p).ReadLastRecord();
    EXPECT_TRUE(last.ok()) << last.status();
    return last.ok() && last->has_value() ? (*last)->record.position() : 0;
  }

  absl::StatusOr<RebuildReport> Rebuild(const std::string& data_dir, const std::string& into) {
    RebuildOptions options;
    options.data_dir = data_dir;
    options.scratch_dir = into;
    return RebuildAndCompare(options);
  }

  // Rewrites one row of a stopped engine's partition, through RocksDB.
  void Tamper(uint32_t partition,
              const std::function<void(PartitionStore&, rocksdb::WriteBatch*)>& f) {
    engine_.reset();
    auto store =
        PartitionStore::Open(PartitionDir(dir_.Sub("data"), partition), PartitionId(partition));
    ASSERT_TRUE(store.ok()) << store.status();
    rocksdb::WriteBatch batch;
    f(**store, &batch);
    ASSERT_TRUE((*store)->Write(&batch).ok());
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Engine> engine_;
};

struct Sample {
  std::string case_id;
  uint64_t position;  // the partition's last position when it was taken
  v1::CaseState state;
};

TEST_F(AuditTest, ARandomWorkloadOf100kEventsRebuildsIdenticallyAndFoldsAsItStood) {
  OpenWithWorkflowsAndDirectory();
  RandomWorkload workload(/*seed=*/20200222, /*cases=*/4000);
  constexpr int kEvents = 100000;
  constexpr int kBatch = 500;
  size_t accepted = 0;
  std::vector<Sample> samples;
  v1::Actor admin;
  admin.set_id("admin-1");
  for (int done = 0; done < kEvents; done += kBatch) {
    std::vector<v1::Event> batch;
    for (int i = 0; i < kBatch; ++i) batch.push_back(workload.Next(clock_.NowMicros()));
    accepted += SubmitAll(batch);
    // Time passes: deadlines fall due and fire; now and then a worker is
    // away for a few hours and hands on what they hold.
    clock_.AdvanceMicros((1 + workload.Pick(20)) * kMinuteUs);
    FireAllDue();
    if (done % (40 * kBatch) == 0) {
      v1::DirectoryEntry away;
      auto* a = away.mutable_availability();
      a->set_person_id(workload.Pick(2) == 0 ? "worker-li" : "worker-zhou");
      a->set_availability(v1::AVAILABILITY_UNAVAILABLE);
      a->mutable_from()->set_seconds(clock_.NowMicros() / 1000000);
      a->mutable_until()->set_seconds(clock_.NowMicros() / 1000000 + 3 * 3600);
      ASSERT_TRUE(
          engine_->staffing().ImportDirectory({away}, "away-" + std::to_string(done), admin).ok());
    }
    // What a supervisor would have seen of a few cases at this moment.
    for (int s = 0; s < 3; ++s) {
      const std::string id = "person-" + std::to_string(workload.Pick(4000));
      auto state = engine_->GetCase(id);
      if (!state.ok()) continue;
      samples.push_back({id, LastPosition(engine_->PartitionOf(id)), *state});
    }
  }
  // The workload must have exercised the engine, not been refused wholesale.
  EXPECT_GT(accepted, kEvents / 2);
  ASSERT_GT(samples.size(), 300u);

  // As of each sampled position, the case folds to what was seen then.
  for (const Sample& s : samples) {
    v1::GetCaseAsOfRequest request;
    request.set_case_id(s.case_id);
    request.set_position(s.position);
    auto as_of = engine_->audit().GetCaseAsOf(request);
    ASSERT_TRUE(as_of.ok()) << as_of.status();
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(as_of->state(), s.state))
        << s.case_id << " at position " << s.position << "\nas of:\n"
        << as_of->state().DebugString() << "\nseen then:\n"
        << s.state.DebugString();
  }

  uint64_t records = 0;
  for (uint32_t p = 0; p < engine_->partition_count(); ++p) records += LastPosition(PartitionId(p));
  engine_.reset();
  std::vector<RebuildProgress> progress;
  RebuildOptions options;
  options.data_dir = dir_.Sub("data");
  options.scratch_dir = dir_.Sub("rebuilt");
  options.progress = [&](const RebuildProgress& p) { progress.push_back(p); };
  auto report = RebuildAndCompare(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->difference.has_value())
      << report->difference->family << " " << report->difference->key
      << "\nlive: " << report->difference->live.value_or("(absent)")
      << "\nrebuilt: " << report->difference->rebuilt.value_or("(absent)");
  EXPECT_EQ(report->records, records);
  EXPECT_GT(report->cases, 3000u);
  ASSERT_FALSE(progress.empty());
  EXPECT_STREQ(progress.back().phase, "comparing");
  EXPECT_EQ(progress.back().replayed, records);
  EXPECT_EQ(progress.back().total, records);

  // The rebuilt directory is a data directory a server can open.
  EngineOptions reopen;
  reopen.data_dir = dir_.Sub("rebuilt");
  auto rebuilt = Engine::Open(reopen, &clock_);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  auto state = (*rebuilt)->GetCase(samples.back().case_id);
  ASSERT_TRUE(state.ok()) << state.status();
  // Its log is the original one, chain and all.
  auto chains = (*rebuilt)->audit().VerifyLog();
  ASSERT_TRUE(chains.ok()) << chains.status();
  uint64_t chained = 0;
  for (const ChainCheck& c : *chains) {
    EXPECT_EQ(c.first_bad_position, 0u) << c.problem;
    chained += c.records;
  }
  EXPECT_EQ(chained, records);
}

// A small workload whose live store is then altered in one derived row.
class TamperedRebuildTest : public AuditTest {
 protected:
  void SetUp() override {
    OpenWithWorkflowsAndDirectory();
    RandomWorkload workload(7, 50);
    std::vector<v1::Event> events;
    for (int i = 0; i < 600; ++i) events.push_back(workload.Next(clock_.NowMicros()));
    ASSERT_GT(SubmitAll(events), 100u);
    // A case with a pending deadline, for the timers tests.
    auto fever = testing::Fever("fever-1", "hot-1", 38.6, clock_.NowMicros());
    ASSERT_TRUE(testing::SubmitSync(*engine_, Req(fever)).ok());
    auto hot = engine_->GetCase("hot-1");
    ASSERT_TRUE(hot.ok());
    ASSERT_GT(hot->deadlines_size(), 0) << hot->DebugString();
    hot_ = *hot;
  }

  RebuildDifference ExpectDifference() {
    auto report = Rebuild(dir_.Sub("data"), dir_.Sub("rebuilt"));
    EXPECT_TRUE(report.ok()) << report.status();
    if (!report.ok() || !report->difference) {
      ADD_FAILURE() << "no difference reported";
      return {};
    }
    return *report->difference;
  }

  v1::CaseState hot_;
};

TEST_F(TamperedRebuildTest, AnUntouchedStoreIsIdentical) {
  engine_.reset();
  auto report = Rebuild(dir_.Sub("data"), dir_.Sub("rebuilt"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->difference.has_value()) << report->difference->key;
}

TEST_F(TamperedRebuildTest, AChangedCaseStateIsNamedWithBothValues) {
  const uint32_t p = hot_.partition();
  Tamper(p, [&](PartitionStore& store, rocksdb::WriteBatch* b) {
    v1::CaseState forged = hot_;
    forged.set_stage("closed");
    b->Put(store.cf(keys::Cf::kCases), "hot-1", forged.SerializeAsString());
  });
  RebuildDifference d = ExpectDifference();
  EXPECT_EQ(d.partition, p);
  EXPECT_EQ(d.family, "cases");
  EXPECT_EQ(d.case_id, "hot-1");
  ASSERT_TRUE(d.live && d.rebuilt);
  EXPECT_THAT(*d.live, HasSubstr("stage: \"closed\""));
  EXPECT_THAT(*d.rebuilt, HasSubstr("stage: \"" + hot_.stage() + "\""));
}

TEST_F(TamperedRebuildTest, ADeletedTimerIsNamed) {
  const uint32_t p = hot_.partition();
  const std::string key = TimerKeysOf(hot_).front();
  Tamper(p, [&](PartitionStore& store, rocksdb::WriteBatch* b) {
    b->Delete(store.cf(keys::Cf::kTimers), key);
  });
  RebuildDifference d = ExpectDifference();
  EXPECT_EQ(d.family, "timers");
  EXPECT_EQ(d.case_id, "hot-1");
  EXPECT_THAT(d.key, HasSubstr("deadline " + hot_.deadlines(0).name() + " of hot-1"));
  EXPECT_FALSE(d.live.has_value());
  EXPECT_TRUE(d.rebuilt.has_value());
}

TEST_F(TamperedRebuildTest, AForgottenIdempotencyKeyIsNamed) {
  const uint32_t p = hot_.partition();
  Tamper(p, [&](PartitionStore& store, rocksdb::WriteBatch* b) {
    b->Delete(store.cf(keys::Cf::kDedup), "fever-1");
  });
  RebuildDifference d = ExpectDifference();
  EXPECT_EQ(d.family, "dedup");
  EXPECT_EQ(d.key, "event_id fever-1");
  EXPECT_EQ(d.case_id, "hot-1");
  EXPECT_FALSE(d.live.has_value());
  EXPECT_THAT(d.rebuilt.value_or(""), HasSubstr("position "));
}

TEST_F(TamperedRebuildTest, AGapInTheLogIsDataLossNotADifference) {
  const uint32_t p = hot_.partition();
  Tamper(p, [&](PartitionStore& store, rocksdb::WriteBatch* b) {
    b->Delete(store.cf(keys::Cf::kEvents), keys::EventKey(Position(2)));
  });
  auto report = Rebuild(dir_.Sub("data"), dir_.Sub("rebuilt"));
  EXPECT_EQ(report.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("record 2 is missing"));
}

TEST_F(AuditTest, RebuildRefusesANonEmptyScratchAndAMissingSource) {
  Open();
  engine_.reset();
  ASSERT_TRUE(ResolvePartitions(dir_.Sub("other"), 2).ok());
  auto busy = Rebuild(dir_.Sub("data"), dir_.Sub("other"));
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(busy.status().message()), HasSubstr("is not empty"));
  auto missing = Rebuild(dir_.Sub("nothing-here"), dir_.Sub("fresh"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(AuditTest, ACheckpointTakenWhileWritingRebuildsIdentically) {
  OpenWithWorkflowsAndDirectory();
  RandomWorkload workload(11, 300);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    RandomWorkload w(12, 300);
    while (!stop.load()) {
      std::vector<v1::Event> events;
      for (int i = 0; i < 200; ++i) {
        v1::Event e = w.Next(clock_.NowMicros());
        e.set_event_id("bg-" + e.event_id());
        events.push_back(e);
      }
      SubmitAll(events);
    }
  });
  std::vector<v1::Event> first;
  for (int i = 0; i < 2000; ++i) first.push_back(workload.Next(clock_.NowMicros()));
  SubmitAll(first);
  auto info = engine_->audit().Checkpoint("mid-run");
  stop = true;
  writer.join();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->dir, dir_.Sub("data") + "/checkpoints/mid-run");
  ASSERT_EQ(info->positions.size(), 4u);
  for (uint32_t p = 0; p < 4; ++p) EXPECT_LE(info->positions[p], LastPosition(PartitionId(p)));

  EXPECT_EQ(engine_->audit().Checkpoint("mid-run").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(engine_->audit().Checkpoint("../escape").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto dated = engine_->audit().Checkpoint("");
  ASSERT_TRUE(dated.ok()) << dated.status();
  EXPECT_THAT(dated->dir, HasSubstr("/checkpoints/20200222T"));

  // The live engine keeps running while the checkpoint is rebuilt.
  auto report = Rebuild(info->dir, dir_.Sub("rebuilt"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->difference.has_value()) << report->difference->key;
  uint64_t held = 0;
  for (uint64_t p : info->positions) held += p;
  EXPECT_EQ(report->records, held);
}

TEST_F(AuditTest, TheLogIsReadFilteredWithHashesAndFollowed) {
  OpenWithWorkflowsAndDirectory();
  RandomWorkload workload(5, 40);
  std::vector<v1::Event> events;
  for (int i = 0; i < 400; ++i) events.push_back(workload.Next(clock_.NowMicros()));
  SubmitAll(events);

  auto read_all = [&](const v1::ReadLogRequest& request) {
    auto reader = engine_->audit().NewLogReader(request);
    EXPECT_TRUE(reader.ok()) << reader.status();
    std::vector<v1::LogEntry> out;
    bool caught_up = false;
    while (reader.ok() && !caught_up) {
      EXPECT_TRUE((*reader)->Next(50, 100, &out, &caught_up).ok());
    }
    return out;
  };

  // Everything, each partition in order, chained.
  const auto all = read_all({});
  uint64_t total = 0;
  for (uint32_t p = 0; p < 4; ++p) total += LastPosition(PartitionId(p));
  ASSERT_EQ(all.size(), total);
  for (size_t i = 1; i < all.size(); ++i) {
    if (all[i].record().partition() != all[i - 1].record().partition()) continue;
    EXPECT_EQ(all[i].record().position(), all[i - 1].record().position() + 1);
    EXPECT_EQ(all[i].prev_hash(), all[i - 1].hash());
  }

  // One partition from a position.
  v1::ReadLogRequest from;
  from.set_partition(2);
  from.set_from_position(10);
  const auto tail = read_all(from);
  ASSERT_EQ(tail.size(), LastPosition(PartitionId(2)) - 9);
  EXPECT_EQ(tail.front().record().position(), 10u);

  // One case, one type, one area.
  const std::string some_case = all.back().record().event().case_id();
  v1::ReadLogRequest by_case;
  by_case.set_case_id(some_case);
  const auto of_case = read_all(by_case);
  auto state = engine_->GetCase(some_case);
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(of_case.size(), state->version());
  for (size_t i = 0; i < of_case.size(); ++i) {
    EXPECT_EQ(of_case[i].record().case_version(), i + 1);
  }
  v1::ReadLogRequest by_type;
  by_type.add_event_types("fever_reading");
  by_type.add_event_types("escalated");
  size_t fevers = 0;
  for (const auto& e : all) {
    fevers += e.record().event().has_fever_reading() || e.record().event().has_escalated();
  }
  const auto typed = read_all(by_type);
  EXPECT_EQ(typed.size(), fevers);
  for (const auto& e : typed) {
    EXPECT_TRUE(e.record().event().has_fever_reading() || e.record().event().has_escalated());
  }
  v1::ReadLogRequest by_area;
  by_area.set_area("jiangan-07-04");
  size_t in_grid = 0;
  for (const auto& e : all) in_grid += e.record().event().grid_id() == "jiangan-07-04";
  EXPECT_EQ(read_all(by_area).size(), in_grid);
  ASSERT_GT(in_grid, 0u);

  // Refusals name what is wrong.
  v1::ReadLogRequest bad;
  bad.add_event_types("temperature");
  EXPECT_THAT(std::string(engine_->audit().NewLogReader(bad).status().message()),
              HasSubstr("temperature is not an event type"));
  bad.Clear();
  bad.set_partition(9);
  EXPECT_EQ(engine_->audit().NewLogReader(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad.Clear();
  bad.set_area("wuchang");
  EXPECT_THAT(std::string(engine_->audit().NewLogReader(bad).status().message()),
              HasSubstr("no unit wuchang"));

  // Following: a caught-up reader sees a new commit after the wait.
  v1::ReadLogRequest follow;
  follow.set_case_id("late-1");
  auto reader = engine_->audit().NewLogReader(follow);
  ASSERT_TRUE(reader.ok());
  std::vector<v1::LogEntry> got;
  bool caught_up = false;
  ASSERT_TRUE((*reader)->Next(10, 100, &got, &caught_up).ok());
  EXPECT_TRUE(got.empty());
  EXPECT_TRUE(caught_up);
  const uint64_t seen = engine_->commit_generation();
  std::thread later([&] {
    ASSERT_TRUE(testing::SubmitSync(
                    *engine_, Req(testing::Fever("late-f", "late-1", 38.9, clock_.NowMicros())))
                    .ok());
  });
  engine_->AwaitCommit(seen, std::chrono::seconds(30));
  later.join();
  ASSERT_TRUE((*reader)->Next(10, 100, &got, &caught_up).ok());
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front().record().event().event_id(), "late-f");
}

}  // namespace
}  // namespace gridcase
