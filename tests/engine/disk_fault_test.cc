// Disk faults under the real engine: every cell of a grid of kind (an I/O
// error, no space, a corrupted read) × target (the write-ahead log's
// appends and syncs, table files written by flushes and compactions, the
// MANIFEST, directory syncs, table reads) × mode (once, from the N-th
// operation on, forever) is injected into one partition of two while
// writers submit to both, with a ledger of every acknowledgement.
//
// For a fault on the write path the engine must:
// * acknowledge nothing of that partition once its failure is visible,
//   and make the failure visible (Engine::WriteRefusals(), which health
//   and stats report) within a second of the first fault;
// * keep the other partition taking writes, and keep answering reads of
//   the failed one;
// * after a restart on a sound disk, hold every acknowledged event at the
//   position it was acknowledged with, and take writes again.
// For a fault on reads: never answer wrong data (an answer is the truth or
// an error), and lose nothing.
// And a fault while opening refuses the whole engine, naming the
// partition, the file and the error.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"
#include "tests/support/fault_fs.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::FaultFs;
using ::gridcase::testing::FaultKind;
using ::gridcase::testing::FaultMode;
using ::gridcase::testing::FaultRule;
using ::gridcase::testing::FaultTarget;
using ::gridcase::testing::Req;
using ::testing::HasSubstr;
using Steady = std::chrono::steady_clock;

constexpr char kFailing[] = "partition-001/";
constexpr int kCasesPerPartition = 6;

struct Ack {
  std::string case_id;
  uint64_t position = 0;
  uint32_t partition = 0;
  Steady::time_point answered;
};

bool IsRead(FaultTarget target) { return target == FaultTarget::kTableRead; }

std::string CellName(const FaultRule& rule) {
  std::string name = absl::StrCat(Name(rule.kind), "_", Name(rule.target), "_", Name(rule.mode));
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

class DiskFaultTest : public ::testing::TestWithParam<FaultRule> {
 protected:
  DiskFaultTest() : clock_(testing::kFeb22EveningUs), env_(testing::EnvOver(fs_)) {}
  ~DiskFaultTest() override { engine_.reset(); }  // before the file system

  absl::StatusOr<std::unique_ptr<Engine>> Open() {
    EngineOptions options;
    options.env = env_.get();
    options.data_dir = dir_.Sub("data");
    options.partitions = 2;
    return Engine::Open(options, &clock_);
  }

  void OpenAndSeed() {
    auto engine = Open();
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    testing::DeployShippedWorkflows(*engine_);
    for (int n = 0; cases_[0].size() + cases_[1].size() < 2 * kCasesPerPartition; ++n) {
      const std::string id = absl::StrCat("resident-", n);
      auto& mine = cases_[engine_->PartitionOf(id).value()];
      if (mine.size() < kCasesPerPartition) mine.push_back(id);
    }
    // Every case exists, and the failing partition's are in a table file,
    // so that reads and compactions go to the disk.
    for (int p = 0; p < 2; ++p) {
      for (const std::string& c : cases_[p]) Submit(absl::StrCat("seed-", c), c);
    }
    ASSERT_TRUE(engine_->partitions().store(PartitionId(1)).Flush().ok());
    ASSERT_EQ(acks_.size(), 2u * kCasesPerPartition);
  }

  // One submission, acknowledged into the ledger or counted as refused.
  void Submit(const std::string& event_id, const std::string& case_id) {
    auto r = testing::SubmitSync(*engine_,
                                 Req(testing::Fever(event_id, case_id, 37.3, clock_.NowMicros())));
    const auto answered = Steady::now();
    std::lock_guard lock(mu_);
    if (r.ok()) {
      acks_[event_id] =
          Ack{case_id, r->position(), engine_->PartitionOf(case_id).value(), answered};
    } else {
      refusals_[r.status().code()]++;
    }
  }

  // Reads a case of the failing partition: the truth (its state as last
  // acknowledged before the fault, or later) or an error, never anything
  // else.
  void ReadBack(const std::string& case_id) {
    auto state = engine_->GetCase(case_id);
    std::lock_guard lock(mu_);
    if (!state.ok()) {
      read_errors_[state.status().code()]++;
      return;
    }
    ++reads_ok_;
    if (state->case_id() != case_id || state->version() < 1) {
      ++wrong_reads_;
      ADD_FAILURE() << "wrong data for " << case_id << ": " << state->ShortDebugString();
    }
  }

  // Everything acknowledged is in its case's timeline at its position.
  void ExpectEveryAckHeld(Engine& engine) {
    std::map<std::string, uint64_t> held;
    for (int p = 0; p < 2; ++p) {
      for (const std::string& c : cases_[p]) {
        v1::GetTimelineRequest req;
        req.set_case_id(c);
        req.set_page_size(kPageSizeMax);
        for (;;) {
          auto page = engine.GetTimeline(req);
          ASSERT_TRUE(page.ok()) << page.status();
          for (const v1::Record& r : page->records()) held[r.event().event_id()] = r.position();
          if (page->next_page_token().empty()) break;
          req.set_page_token(page->next_page_token());
        }
      }
    }
    uint64_t lost = 0, moved = 0;
    for (const auto& [id, ack] : acks_) {
      auto it = held.find(id);
      if (it == held.end()) {
        ++lost;
      } else if (it->second != ack.position) {
        ++moved;
      }
    }
    EXPECT_EQ(lost, 0u) << "acknowledged events lost";
    EXPECT_EQ(moved, 0u) << "acknowledged events at another position";
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::shared_ptr<FaultFs> fs_ = std::make_shared<FaultFs>();
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<Engine> engine_;
  std::vector<std::string> cases_[2];
  std::mutex mu_;
  std::map<std::string, Ack> acks_;
  std::map<absl::StatusCode, int> refusals_;
  std::map<absl::StatusCode, int> read_errors_;
  int reads_ok_ = 0;
  int wrong_reads_ = 0;
};

TEST_P(DiskFaultTest, NothingAcknowledgedAfterTheFaultAndNothingLost) {
  const FaultRule rule = GetParam();
  ASSERT_NO_FATAL_FAILURE(OpenAndSeed());
  fs_->Arm(rule);

  // Watches the failing partition: when its refusal first shows.
  std::atomic<bool> done{false};
  std::optional<Steady::time_point> visible;
  uint64_t written_when_visible = 0;  // the partition's last position then
  std::string reason;
  std::thread watcher([&] {
    while (!done) {
      const absl::Status st = engine_->WriteRefusals()[1];
      if (!st.ok()) {
        const uint64_t written =
            engine_->partitions().sequencer(PartitionId(1)).last_position().value();
        std::lock_guard lock(mu_);
        written_when_visible = written;
        visible = Steady::now();
        reason = std::string(st.message());
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  auto is_visible = [&] {
    std::lock_guard lock(mu_);
    return visible.has_value();
  };
  // What makes the target's operations happen: submissions (the log),
  // flushes and compactions (table files, the MANIFEST, directory syncs),
  // reads (table reads; compactions read too).
  std::thread background([&] {
    for (int round = 0; round < 40 && !done && !is_visible(); ++round) {
      PartitionStore& store = engine_->partitions().store(PartitionId(1));
      store.Flush().IgnoreError();
      if (rule.target != FaultTarget::kWalAppend && rule.target != FaultTarget::kWalSync) {
        store.Compact().IgnoreError();
      }
      for (const std::string& c : cases_[1]) ReadBack(c);
    }
  });
  std::vector<std::thread> writers;
  std::atomic<int> after_visible{0};
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      for (int n = 0; n < 400 && after_visible < 40; ++n) {
        const int p = n % 2;
        const std::string& c = cases_[p][(n / 2 + w) % kCasesPerPartition];
        Submit(absl::StrCat("w", w, "-", n), c);
        if (is_visible()) ++after_visible;
      }
    });
  }
  for (auto& t : writers) t.join();
  done = true;
  background.join();
  watcher.join();

  ASSERT_GT(fs_->injected(), 0u) << "the fault never fired: the cell tests nothing";
  const Steady::time_point first = *fs_->first_injected_at();
  if (!IsRead(rule.target)) {
    ASSERT_TRUE(visible.has_value()) << "the partition never showed its failure";
    const auto delay =
        std::chrono::duration_cast<std::chrono::milliseconds>(*visible - first).count();
    EXPECT_LE(delay, 1000) << "failure visible " << delay << " ms after the fault";
    int acked_after_fault = 0;
    for (const auto& [id, ack] : acks_)
      acked_after_fault += ack.partition == 1 && ack.answered > first;
    std::cout << "visible after " << delay
              << " ms; acknowledged by partition 1 after the fault: " << acked_after_fault
              << " (all found after the restart, below)\n";
    EXPECT_THAT(reason, HasSubstr("partition 1"));
    EXPECT_THAT(reason, HasSubstr("restart"));
    // Once the failure shows, nothing more is written: an answer the
    // writer receives after that moment belongs to a group written before
    // it (its thread woke late), never to a later one.
    int acked_after = 0, other_partition_after = 0;
    for (const auto& [id, ack] : acks_) {
      if (ack.answered <= *visible) continue;
      if (ack.partition != 1) {
        ++other_partition_after;
      } else if (ack.position > written_when_visible) {
        ++acked_after;
      }
    }
    EXPECT_EQ(acked_after, 0) << "written and acknowledged after the failure showed";
    EXPECT_GT(other_partition_after, 0) << "the other partition stopped too";
    EXPECT_TRUE(engine_->WriteRefusals()[0].ok());
    // Reads of the failed partition are still answered.
    for (const std::string& c : cases_[1]) {
      auto state = engine_->GetCase(c);
      EXPECT_TRUE(state.ok()) << state.status();
    }
  } else {
    EXPECT_EQ(wrong_reads_, 0);
    int errors = 0;
    for (const auto& [code, n] : read_errors_) errors += n;
    for (const auto& [code, n] : refusals_) errors += n;
    EXPECT_GT(errors, 0) << "a corrupted or failed read went unnoticed";
  }

  // A restart on a sound disk: everything acknowledged is there, and the
  // partition takes writes again.
  fs_->Disarm();
  engine_.reset();
  auto reopened = Open();
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  engine_ = std::move(*reopened);
  ExpectEveryAckHeld(*engine_);
  EXPECT_TRUE(engine_->WriteRefusals()[1].ok());
  auto again = testing::SubmitSync(
      *engine_, Req(testing::Fever("after-restart", cases_[1][0], 36.6, clock_.NowMicros())));
  EXPECT_TRUE(again.ok()) << again.status();
}

std::vector<FaultRule> Grid() {
  std::vector<FaultRule> grid;
  for (FaultKind kind : {FaultKind::kIoError, FaultKind::kNoSpace}) {
    for (FaultTarget target :
         {FaultTarget::kWalAppend, FaultTarget::kWalSync, FaultTarget::kTableWrite,
          FaultTarget::kManifestWrite, FaultTarget::kDirSync}) {
      for (FaultMode mode : {FaultMode::kOnce, FaultMode::kFromNth, FaultMode::kForever}) {
        grid.push_back(
            {.kind = kind, .target = target, .mode = mode, .nth = 3, .path_contains = kFailing});
      }
    }
  }
  for (FaultKind kind : {FaultKind::kIoError, FaultKind::kCorruptRead}) {
    for (FaultMode mode : {FaultMode::kOnce, FaultMode::kFromNth, FaultMode::kForever}) {
      grid.push_back({.kind = kind,
                      .target = FaultTarget::kTableRead,
                      .mode = mode,
                      .nth = 3,
                      .path_contains = kFailing});
    }
  }
  return grid;
}

INSTANTIATE_TEST_SUITE_P(Grid, DiskFaultTest, ::testing::ValuesIn(Grid()),
                         [](const ::testing::TestParamInfo<FaultRule>& info) {
                           return CellName(info.param);
                         });

// A flush that fails while nobody writes: RocksDB's report alone must stop
// the partition and show it, within a second, before any write meets the
// failure.
class DiskFaultIdleTest : public DiskFaultTest {};

TEST_P(DiskFaultIdleTest, ABackgroundFailureShowsWithoutAnyWrite) {
  ASSERT_NO_FATAL_FAILURE(OpenAndSeed());
  for (const std::string& c : cases_[1]) Submit(absl::StrCat("unflushed-", c), c);
  fs_->Arm(GetParam());
  EXPECT_FALSE(engine_->partitions().store(PartitionId(1)).Flush().ok());
  ASSERT_GT(fs_->injected(), 0u);
  const auto first = *fs_->first_injected_at();
  while (engine_->WriteRefusals()[1].ok() && Steady::now() - first < std::chrono::seconds(2)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - first);
  const absl::Status refusal = engine_->WriteRefusals()[1];
  ASSERT_FALSE(refusal.ok()) << "no sign of the failed flush";
  EXPECT_LE(delay.count(), 1000);
  EXPECT_THAT(std::string(refusal.message()), HasSubstr("partition 1"));
  EXPECT_TRUE(engine_->WriteRefusals()[0].ok());
  // And the partition's next submission is refused, with the reason.
  auto refused = testing::SubmitSync(
      *engine_, Req(testing::Fever("after", cases_[1][0], 36.6, clock_.NowMicros())));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  fs_->Disarm();
  engine_.reset();
  auto reopened = Open();
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  engine_ = std::move(*reopened);
  ExpectEveryAckHeld(*engine_);
}

INSTANTIATE_TEST_SUITE_P(Idle, DiskFaultIdleTest,
                         ::testing::Values(FaultRule{.kind = FaultKind::kIoError,
                                                     .target = FaultTarget::kTableWrite,
                                                     .mode = FaultMode::kOnce,
                                                     .path_contains = kFailing},
                                           FaultRule{.kind = FaultKind::kNoSpace,
                                                     .target = FaultTarget::kManifestWrite,
                                                     .mode = FaultMode::kOnce,
                                                     .path_contains = kFailing},
                                           FaultRule{.kind = FaultKind::kIoError,
                                                     .target = FaultTarget::kDirSync,
                                                     .mode = FaultMode::kOnce,
                                                     .path_contains = kFailing}),
                         [](const ::testing::TestParamInfo<FaultRule>& info) {
                           return CellName(info.param);
                         });

// A fault while opening: the engine refuses as a whole (no partition is
// served while another failed), naming the partition's directory, the
// file and the error; once the disk is sound it opens with everything.
class DiskFaultAtOpenTest : public DiskFaultTest {};

TEST_P(DiskFaultAtOpenTest, RefusesWholeNamingPartitionFileAndError) {
  const FaultRule rule = GetParam();
  ASSERT_NO_FATAL_FAILURE(OpenAndSeed());
  engine_.reset();
  fs_->Arm(rule);
  auto refused = Open();
  ASSERT_GT(fs_->injected(), 0u) << "opening never met the fault: the cell tests nothing";
  ASSERT_FALSE(refused.ok()) << "opened on a failing disk";
  const std::string message(refused.status().message());
  EXPECT_THAT(message, HasSubstr("partition-001"));
  // The error: the injected one with its file, or what a corrupted read
  // became (a checksum that does not match, naming the table file).
  EXPECT_THAT(message, ::testing::AnyOf(HasSubstr("injected fault"), HasSubstr("Corruption")))
      << message;
  EXPECT_THAT(message, ::testing::AnyOf(HasSubstr(".sst"), HasSubstr("MANIFEST"), HasSubstr(".log"),
                                        HasSubstr("partition-001:")));
  fs_->Disarm();
  auto opened = Open();
  ASSERT_TRUE(opened.ok()) << opened.status();
  engine_ = std::move(*opened);
  ExpectEveryAckHeld(*engine_);
}

INSTANTIATE_TEST_SUITE_P(AtOpen, DiskFaultAtOpenTest,
                         ::testing::Values(FaultRule{.kind = FaultKind::kIoError,
                                                     .target = FaultTarget::kManifestWrite,
                                                     .mode = FaultMode::kForever,
                                                     .path_contains = kFailing},
                                           FaultRule{.kind = FaultKind::kNoSpace,
                                                     .target = FaultTarget::kManifestWrite,
                                                     .mode = FaultMode::kOnce,
                                                     .path_contains = kFailing},
                                           FaultRule{.kind = FaultKind::kIoError,
                                                     .target = FaultTarget::kDirSync,
                                                     .mode = FaultMode::kForever,
                                                     .path_contains = kFailing},
                                           FaultRule{.kind = FaultKind::kIoError,
                                                     .target = FaultTarget::kTableRead,
                                                     .mode = FaultMode::kForever,
                                                     .path_contains = kFailing},
                                           FaultRule{.kind = FaultKind::kCorruptRead,
                                                     .target = FaultTarget::kTableRead,
                                                     .mode = FaultMode::kForever,
                                                     .path_contains = kFailing}),
                         [](const ::testing::TestParamInfo<FaultRule>& info) {
                           return CellName(info.param);
                         });

}  // namespace
}  // namespace gridcase
