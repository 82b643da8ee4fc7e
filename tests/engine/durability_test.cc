// What a damaged write-ahead log does to a partition, on real RocksDB with
// real fsync: 2,000 acknowledged events, the engine stopped, then the log
// cut or damaged as a crash or a bad disk would, and the partition opened
// again (the store alone: opening it is what decides).
//
// * A cut anywhere in the last record (a crash during its write, so it was
//   never acknowledged) opens, with every acknowledged event.
// * One byte changed anywhere in a record before the last refuses to open
//   with DATA_LOSS naming the partition, the file, where the damage starts
//   and the positions recovered and known durable, and changes nothing.
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/store.h"
#include "engine/storage/wal_scan.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/damage.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

namespace fs = std::filesystem;
using ::gridcase::testing::CopyDataDir;
using ::gridcase::testing::Fever;
using ::gridcase::testing::kFeb22EveningUs;
using ::gridcase::testing::LogWithRecords;
using ::gridcase::testing::NoteEvent;
using ::gridcase::testing::ReadFile;
using ::gridcase::testing::Req;
using ::gridcase::testing::SubmitSync;
using ::gridcase::testing::TempDir;
using ::gridcase::testing::XorByte;
using ::testing::HasSubstr;

constexpr int kAcknowledged = 2000;
constexpr int kBurst = 20;  // submitted together: records of one event and of many
constexpr int kCases = 200;

std::string EventId(int i) { return absl::StrCat("reading-", i); }

// Every file of `dir` with its bytes.
std::map<std::string, std::string> Contents(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      out[fs::relative(entry.path(), dir).string()] = ReadFile(entry.path().string());
    }
  }
  return out;
}

uint64_t LastPosition(const PartitionStore& store) {
  auto last = store.ReadLastRecord();
  EXPECT_TRUE(last.ok()) << last.status();
  return last.ok() && last->has_value() ? (*last)->record.position() : 0;
}

class DurabilityTest : public ::testing::Test {
 protected:
  DurabilityTest() : clock_(kFeb22EveningUs + 60 * 1000000LL) {}

  std::string Data() const { return dir_.Sub("data"); }
  std::unique_ptr<Engine> OpenEngine() {
    return testing::OpenWithShippedWorkflows(Data(), /*partitions=*/1, &clock_);
  }

  // Submits readings first .. first + count - 1, kBurst at a time (each
  // burst answered before the next), and returns the highest position
  // acknowledged.
  uint64_t Submit(Engine& engine, int first, int count) {
    uint64_t last = 0;
    for (int begin = first; begin < first + count; begin += kBurst) {
      std::vector<std::future<absl::StatusOr<v1::SubmitResponse>>> answers;
      for (int i = begin; i < std::min(begin + kBurst, first + count); ++i) {
        auto done = std::make_shared<std::promise<absl::StatusOr<v1::SubmitResponse>>>();
        answers.push_back(done->get_future());
        engine.Submit(Req(Fever(EventId(i), absl::StrCat("case-", i % kCases), 36.6)),
                      [done](absl::StatusOr<v1::SubmitResponse> r) { done->set_value(r); });
      }
      for (auto& a : answers) {
        auto r = a.get();
        EXPECT_TRUE(r.ok()) << r.status();
        if (r.ok()) last = std::max(last, r->position());
      }
    }
    return last;
  }

  // Every acknowledged reading is in `store`.
  void ExpectAcknowledged(const PartitionStore& store, int count) {
    for (int i = 0; i < count; ++i) {
      auto found = store.FindEventId(EventId(i));
      ASSERT_TRUE(found.ok()) << found.status();
      ASSERT_TRUE(found->has_value()) << EventId(i) << " is gone";
    }
  }

  TempDir dir_;
  FakeClock clock_;
};

TEST_F(DurabilityTest, ALastRecordCutAnywhereOpensWithEveryAcknowledgedEvent) {
  const std::string partition = PartitionDir(Data(), 0);
  const std::string mark_file = partition + "/DURABLE";
  uint64_t acknowledged = 0;
  std::string mark_before_last;
  {
    auto engine = OpenEngine();
    ASSERT_NE(engine, nullptr);
    Submit(*engine, 0, kAcknowledged - 100);
  }
  {
    // Opening again flushed those into table files, so the log holds the
    // last 100 and each cut below copies little.
    auto engine = OpenEngine();
    ASSERT_NE(engine, nullptr);
    acknowledged = Submit(*engine, kAcknowledged - 100, 100);
    mark_before_last = ReadFile(mark_file);
    // Alone in its group: the log's last record.
    ASSERT_TRUE(SubmitSync(*engine, Req(NoteEvent("unanswered", "case-1", "called back"))).ok());
  }
  // As if the crash had come before the last write was answered: its
  // mark update, made before answering, never happened.
  std::ofstream(mark_file, std::ios::binary | std::ios::trunc) << mark_before_last;

  const std::string log = LogWithRecords(partition);
  auto scan = ScanWalFile(log);
  ASSERT_TRUE(scan.ok()) << scan.status();
  ASSERT_FALSE(scan->damaged) << scan->damage;
  ASSERT_GE(scan->records.size(), 2u);
  const WalRecord& last = scan->records.back();
  const std::string log_name = fs::path(log).filename().string();
  // Every cut: the check an open for writing makes first (it changes
  // nothing, so one copy cut shorter and shorter serves them all), and a
  // read-only open as audits make.
  const std::string cuts = dir_.Sub("cuts");
  CopyDataDir(Data(), cuts);
  for (uint64_t cut = last.end(); cut-- > last.begin();) {
    fs::resize_file(PartitionDir(cuts, 0) + "/" + log_name, cut);
    auto checked = PartitionStore::CheckRecovery(PartitionDir(cuts, 0), PartitionId(0));
    ASSERT_TRUE(checked.ok()) << "cut at byte " << cut << ": " << checked.status();
    ASSERT_EQ(checked->position, acknowledged) << "cut at byte " << cut;
    auto store =
        PartitionStore::Open(PartitionDir(cuts, 0), PartitionId(0), {.mode = OpenMode::kReadOnly});
    ASSERT_TRUE(store.ok()) << "cut at byte " << cut << ": " << store.status();
    ASSERT_EQ(LastPosition(**store), acknowledged) << "cut at byte " << cut;
  }
  // Some of them opened as the server opens them, for writing.
  for (uint64_t cut = last.begin(); cut < last.end(); cut += 61) {
    const std::string trial = dir_.Sub("trial");
    CopyDataDir(Data(), trial);
    fs::resize_file(PartitionDir(trial, 0) + "/" + log_name, cut);
    auto store = PartitionStore::Open(PartitionDir(trial, 0), PartitionId(0));
    ASSERT_TRUE(store.ok()) << "cut at byte " << cut << ": " << store.status();
    ASSERT_EQ(LastPosition(**store), acknowledged) << "cut at byte " << cut;
    if (cut == last.begin()) ExpectAcknowledged(**store, kAcknowledged);
  }
}

TEST_F(DurabilityTest, AByteChangedBeforeTheLastRecordRefusesToOpenEveryTime) {
  uint64_t acknowledged = 0;
  {
    auto engine = OpenEngine();
    ASSERT_NE(engine, nullptr);
    acknowledged = Submit(*engine, 0, kAcknowledged);
  }
  const std::string log = LogWithRecords(PartitionDir(Data(), 0));
  const std::string log_name = fs::path(log).filename().string();
  auto scan = ScanWalFile(log);
  ASSERT_TRUE(scan.ok()) << scan.status();
  ASSERT_FALSE(scan->damaged) << scan->damage;
  // The bytes of every fragment (header and payload) of every record but
  // the last, which may be dropped when torn.
  std::vector<WalFragment> fragments;
  uint64_t bytes = 0;
  for (size_t r = 0; r + 1 < scan->records.size(); ++r) {
    for (const WalFragment& f : scan->records[r].fragments) {
      fragments.push_back(f);
      bytes += f.end() - f.offset;
    }
  }
  ASSERT_GT(scan->records.size(), 50u);

  std::mt19937_64 random(20200222);
  const std::string trial = dir_.Sub("trial");
  const std::string trial_partition = PartitionDir(trial, 0);
  for (int attempt = 0; attempt < 50; ++attempt) {
    uint64_t pick = random() % bytes;
    const WalFragment* hit = nullptr;
    for (const WalFragment& f : fragments) {
      if (pick < f.end() - f.offset) {
        hit = &f;
        break;
      }
      pick -= f.end() - f.offset;
    }
    const uint64_t offset = hit->offset + pick;
    CopyDataDir(Data(), trial);
    XorByte(trial_partition + "/" + log_name, offset, static_cast<uint8_t>(1 + random() % 255));
    const auto before = Contents(trial);
    SCOPED_TRACE(absl::StrCat("byte ", offset, " changed (fragment at ", hit->offset, ")"));

    auto store = PartitionStore::Open(trial_partition, PartitionId(0));
    ASSERT_FALSE(store.ok()) << "opened with position " << LastPosition(**store) << " of "
                             << acknowledged;
    EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
    const std::string message(store.status().message());
    EXPECT_THAT(message, HasSubstr(absl::StrCat("partition 0 (", trial_partition, ")")));
    EXPECT_THAT(message, HasSubstr(absl::StrCat(log_name, " at byte ", hit->offset, ":")));
    EXPECT_THAT(message, HasSubstr(absl::StrCat("but position ", acknowledged, " (")));
    EXPECT_THAT(message, HasSubstr("recovers "));
    EXPECT_THAT(message, HasSubstr("gridcase storage accept-loss"));
    // Nothing changed: the damaged log is still there for whoever looks,
    // and opening again refuses the same way.
    EXPECT_EQ(Contents(trial), before);
    auto again = PartitionStore::Open(trial_partition, PartitionId(0));
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.status(), store.status());
    if (attempt == 0) {
      // The engine (and so gridcased) refuses with the partition's words,
      // and a read-only open (audits, rebuilds) refuses too.
      EngineOptions options;
      options.data_dir = trial;
      auto engine = Engine::Open(options, &clock_);
      ASSERT_FALSE(engine.ok());
      EXPECT_EQ(engine.status(), store.status());
      auto read_only =
          PartitionStore::Open(trial_partition, PartitionId(0), {.mode = OpenMode::kReadOnly});
      ASSERT_FALSE(read_only.ok());
      EXPECT_EQ(read_only.status(), store.status());
    }
  }
}

}  // namespace
}  // namespace gridcase
