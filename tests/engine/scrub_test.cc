// The background scrub (engine/audit/scrubber.h): a pass over sound
// partitions reports nothing and counts what it read; a flipped bit in a
// table file and a record whose hash no longer links are each reported,
// naming partition and file or position, while the engine keeps serving;
// the pass keeps to its byte rate on the injected clock; a stopped pass
// reports nothing.
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "engine/audit/scrubber.h"
#include "engine/engine.h"
#include "engine/storage/data_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/damage.h"
#include "tests/support/events.h"
#include "tests/support/raw_partition.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

namespace fs = std::filesystem;
using ::gridcase::testing::Fever;
using ::gridcase::testing::kFeb22EveningUs;
using ::gridcase::testing::Req;
using ::gridcase::testing::SubmitSync;
using ::gridcase::testing::TempDir;
using ::gridcase::testing::XorByte;
using ::testing::HasSubstr;

constexpr uint32_t kPartitions = 2;

class ScrubTest : public ::testing::Test {
 protected:
  ScrubTest() : clock_(kFeb22EveningUs) {}

  std::string Data() const { return dir_.Sub("data"); }

  std::unique_ptr<Engine> Open() {
    EngineOptions options;
    options.data_dir = Data();
    options.partitions = kPartitions;
    options.scrub.on_problem = [this](const std::string& p) { told_.push_back(p); };
    auto engine = Engine::Open(options, &clock_);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  }

  // Readings of a few cases, flushed into table files.
  void Fill(Engine& engine, int count) {
    testing::DeployShippedWorkflows(engine);
    for (int i = 0; i < count; ++i) {
      auto r = SubmitSync(engine, Req(Fever(absl::StrCat("r", i), absl::StrCat("c", i % 9), 36.6)));
      ASSERT_TRUE(r.ok()) << r.status();
    }
    for (uint32_t p = 0; p < kPartitions; ++p) {
      ASSERT_TRUE(engine.partitions().store(PartitionId(p)).Flush().ok());
    }
  }

  // A table file of partition `p` holding events.
  std::string SomeTableFile(uint32_t p) {
    for (const auto& entry : fs::directory_iterator(PartitionDir(Data(), p))) {
      if (entry.path().extension() == ".sst" && fs::file_size(entry.path()) > 4096) {
        return entry.path().string();
      }
    }
    ADD_FAILURE() << "partition " << p << " has no table file";
    return "";
  }

  TempDir dir_;
  FakeClock clock_;
  std::vector<std::string> told_;
};

TEST_F(ScrubTest, SoundPartitionsPassWithNothingFound) {
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  Fill(*engine, 60);
  ASSERT_TRUE(engine->scrubber().ScrubPass());
  uint64_t records = 0;
  for (const PartitionStats& p : engine->Stats()) {
    EXPECT_EQ(p.scrub.passes, 1u);
    EXPECT_EQ(p.scrub.passes_with_problems, 0u);
    EXPECT_EQ(p.scrub.problem, "");
    EXPECT_GT(p.scrub.table_files, 0u);
    EXPECT_GT(p.scrub.bytes, 0u);
    EXPECT_EQ(p.scrub.last_finished_us, clock_.NowMicros());
    EXPECT_FALSE(p.scrub.running);
    records += p.scrub.records;
  }
  // Every record of the log: the readings and the workflow deployments.
  uint64_t positions = 0;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    positions += engine->partitions().sequencer(PartitionId(p)).committed_head().first.value();
  }
  EXPECT_EQ(records, positions);
  EXPECT_TRUE(told_.empty());
}

TEST_F(ScrubTest, AFlippedBitInATableFileIsReportedAndServingGoesOn) {
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  Fill(*engine, 60);
  const std::string table = SomeTableFile(1);
  // Inside the first data block, which starts the file.
  XorByte(table, 200, 0x10);
  ASSERT_TRUE(engine->scrubber().ScrubPass());
  const auto stats = engine->Stats();
  EXPECT_EQ(stats[0].scrub.problem, "");
  EXPECT_EQ(stats[1].scrub.passes_with_problems, 1u);
  EXPECT_THAT(stats[1].scrub.problem, HasSubstr("partition 1: table file " + table));
  EXPECT_THAT(stats[1].scrub.problem, HasSubstr("Corruption"));
  ASSERT_EQ(told_.size(), 1u);
  EXPECT_EQ(told_[0], stats[1].scrub.problem);
  // It only reports: the partition still takes writes.
  EXPECT_TRUE(stats[1].refusing_writes.ok());
  EXPECT_TRUE(SubmitSync(*engine, Req(Fever("after", "c-after", 37.0))).ok());
}

TEST_F(ScrubTest, ARecordWhoseHashNoLongerLinksIsReported) {
  {
    auto engine = Open();
    ASSERT_NE(engine, nullptr);
    Fill(*engine, 30);
  }
  {
    // Someone with the disk rewrites record 3 of partition 0, keeping its
    // stored hashes: every byte still checksums, the chain does not.
    testing::RawPartition raw(PartitionDir(Data(), 0));
    std::string value = raw.Get(3);
    value[5] ^= 0x01;
    raw.Put(3, value);
  }
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->scrubber().ScrubPass());
  const auto stats = engine->Stats();
  EXPECT_THAT(stats[0].scrub.problem,
              HasSubstr("partition 0: the hash chain breaks at position 3"));
  EXPECT_EQ(stats[0].scrub.records, 2u);  // the links that held
  EXPECT_EQ(stats[1].scrub.problem, "");
}

TEST_F(ScrubTest, APassKeepsToItsByteRateOnTheInjectedClock) {
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  Fill(*engine, 200);
  constexpr uint64_t kRate = 64 << 10;  // bytes a second
  int64_t waited_us = 0;
  int waits = 0;
  Scrubber scrubber(&engine->partitions(), &clock_, {.bytes_per_s = kRate},
                    [&](std::chrono::microseconds how_long) {
                      waited_us += how_long.count();
                      ++waits;
                      clock_.AdvanceMicros(how_long.count());
                      return true;
                    });
  const int64_t started = clock_.MonotonicMicros();
  ASSERT_TRUE(scrubber.ScrubPass());
  uint64_t bytes = 0;
  for (uint32_t p = 0; p < kPartitions; ++p) bytes += scrubber.stats(PartitionId(p)).bytes;
  // Time moves only by the waits here: the pass took as long as its bytes
  // at the rate, less at most the 10 ms it may run ahead.
  const int64_t due_us = static_cast<int64_t>(static_cast<double>(bytes) * 1e6 / kRate);
  EXPECT_EQ(clock_.MonotonicMicros() - started, waited_us);
  EXPECT_LE(waited_us, due_us);
  EXPECT_GE(waited_us, due_us - 10000);
  EXPECT_GT(waits, 1);
  // Unlimited: no wait at all.
  Scrubber unlimited(&engine->partitions(), &clock_, {.bytes_per_s = 0},
                     [&](std::chrono::microseconds) {
                       ADD_FAILURE() << "an unlimited pass waited";
                       return true;
                     });
  EXPECT_TRUE(unlimited.ScrubPass());
}

TEST_F(ScrubTest, BackgroundPassesComeAnHourAfterTheStartThenAtTheInterval) {
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  Fill(*engine, 20);
  constexpr int64_t kHourUs = 3600LL * 1000000;
  absl::Mutex mu;
  std::vector<int64_t> waits;  // guarded by mu
  absl::Notification third;
  Scrubber scrubber(&engine->partitions(), &clock_, {.every_us = 24 * kHourUs, .bytes_per_s = 0},
                    [&](std::chrono::microseconds how_long) {
                      absl::MutexLock lock(&mu);
                      waits.push_back(how_long.count());
                      if (waits.size() < 3) return true;
                      if (!third.HasBeenNotified()) third.Notify();
                      return false;  // stopping
                    });
  scrubber.Start();
  third.WaitForNotification();
  scrubber.Stop();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(waits, (std::vector<int64_t>{kHourUs, 24 * kHourUs, 24 * kHourUs}));
  for (uint32_t p = 0; p < kPartitions; ++p) EXPECT_EQ(scrubber.stats(PartitionId(p)).passes, 2u);
}

TEST_F(ScrubTest, AStoppedPassReportsNothing) {
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  Fill(*engine, 200);
  Scrubber scrubber(&engine->partitions(), &clock_, {.bytes_per_s = 1024},
                    [](std::chrono::microseconds) { return false; });
  EXPECT_FALSE(scrubber.ScrubPass());
  for (uint32_t p = 0; p < kPartitions; ++p) {
    EXPECT_EQ(scrubber.stats(PartitionId(p)).passes, 0u);
    EXPECT_FALSE(scrubber.stats(PartitionId(p)).running);
  }
}

}  // namespace
}  // namespace gridcase
