// The durable mark (durable_mark.h): its file, that it follows every
// acknowledged write and never a failed one, what opening does with it
// (read-only opens, checkpoints, a missing database, a hole RocksDB would
// replay over), and an operator's acceptance of a loss. Real RocksDB in a
// temporary directory.
#include "engine/storage/durable_mark.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/common/crc32c.h"
#include "engine/common/durable_file.h"
#include "engine/engine.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/store.h"
#include "engine/storage/wal_scan.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/damage.h"
#include "tests/support/events.h"
#include "tests/support/fault_fs.h"
#include "tests/support/raw_partition.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

namespace fs = std::filesystem;
using ::gridcase::testing::Fever;
using ::gridcase::testing::kFeb22EveningUs;
using ::gridcase::testing::LogWithRecords;
using ::gridcase::testing::ReadFile;
using ::gridcase::testing::Req;
using ::gridcase::testing::SubmitSync;
using ::gridcase::testing::TempDir;
using ::gridcase::testing::XorByte;
using ::testing::HasSubstr;

TEST(Crc32cTest, MatchesTheCastagnoliCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xe3069283u);
  EXPECT_EQ(Crc32cExtend(Crc32c("1234"), "56789"), Crc32c("123456789"));
}

TEST(DurableFileTest, WritesWholeFilesAndReadsThemBack) {
  TempDir dir;
  rocksdb::FileSystem& fs = FileSystemOf(nullptr);
  const std::string path = dir.Sub("marker");
  EXPECT_FALSE(ReadSmallFile(fs, path)->has_value());
  ASSERT_TRUE(WriteFileDurably(fs, path, "first\n").ok());
  ASSERT_TRUE(WriteFileDurably(fs, path, "second\n").ok());
  EXPECT_EQ(**ReadSmallFile(fs, path), "second\n");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  // A key: nobody but the owner, from its first byte.
  const std::string key = dir.Sub("key");
  ASSERT_TRUE(WriteFileDurably(fs, key, "secret", FileAccess::kOwnerOnly).ok());
  EXPECT_EQ(fs::status(key).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  // These files are small: a large one is not what it claims to be.
  auto large = ReadSmallFile(fs, path, 3);
  EXPECT_EQ(large.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(large.status().message(), HasSubstr(path));
  // A directory that does not exist: the error names the file.
  auto failed = WriteFileDurably(fs, dir.Sub("missing/marker"), "x");
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(failed.message(), HasSubstr(dir.Sub("missing/marker.tmp")));
}

TEST(DurableMarkFileTest, TheNewerReadableSlotIsTheMark) {
  TempDir dir;
  EXPECT_FALSE(ReadDurableMark(FileSystemOf(nullptr), dir.path())->has_value());
  auto file =
      DurableMarkFile::Create(FileSystemOf(nullptr), dir.path(), {.sequence = 10, .position = 3});
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(**ReadDurableMark(FileSystemOf(nullptr), dir.path()), (DurableMark{10, 3}));
  ASSERT_TRUE((*file)->Advance({20, 5}).ok());
  ASSERT_TRUE((*file)->Advance({30, 8}).ok());
  EXPECT_EQ(**ReadDurableMark(FileSystemOf(nullptr), dir.path()), (DurableMark{30, 8}));
  // {30, 8} went to slot 1 (generation 3), {20, 5} is in slot 0. A write
  // torn in the newer slot leaves the older one.
  const std::string path = DurableMarkPath(dir.path());
  XorByte(path, 4096 + 20, 0x40);
  EXPECT_EQ(**ReadDurableMark(FileSystemOf(nullptr), dir.path()), (DurableMark{20, 5}));
  XorByte(path, 0 + 30, 0x01);
  auto neither = ReadDurableMark(FileSystemOf(nullptr), dir.path());
  EXPECT_EQ(neither.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(neither.status().message(), HasSubstr(path));
}

TEST(DurableMarkFileTest, AnUnreadableMarkRefusesTheOpenAndAcceptingRewritesIt) {
  TempDir dir;
  const std::string partition = dir.Sub("partition-000");
  { ASSERT_TRUE(PartitionStore::Open(partition, PartitionId(0)).ok()); }
  const std::string path = DurableMarkPath(partition);
  XorByte(path, 0 + 30, 0x01);
  XorByte(path, 4096 + 30, 0x01);
  auto refused = PartitionStore::Open(partition, PartitionId(0));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(refused.status().message(), HasSubstr("gridcase storage accept-loss --data-dir " +
                                                    dir.path() + " --partition 0"));
  ASSERT_TRUE(PartitionStore::AcceptLoss(partition, PartitionId(0), dir.Sub("kept")).ok());
  EXPECT_TRUE(PartitionStore::Open(partition, PartitionId(0)).ok());
}

class DurableMarkTest : public ::testing::Test {
 protected:
  DurableMarkTest() : clock_(kFeb22EveningUs + 60 * 1000000LL) {}

  std::string Data() const { return dir_.Sub("data"); }
  std::string Partition() const { return PartitionDir(Data(), 0); }
  std::unique_ptr<Engine> OpenEngine(rocksdb::Env* env = nullptr) {
    EngineOptions options;
    options.data_dir = Data();
    options.partitions = 1;
    options.env = env;
    auto engine = Engine::Open(options, &clock_);
    EXPECT_TRUE(engine.ok()) << engine.status();
    if (!engine.ok()) return nullptr;
    testing::DeployShippedWorkflows(**engine);
    return std::move(*engine);
  }
  // Submits readings first .. first + count - 1, one by one; the last
  // position acknowledged.
  uint64_t SubmitReadings(Engine& engine, int first, int count) {
    uint64_t last = 0;
    for (int i = first; i < first + count; ++i) {
      auto r = SubmitSync(engine, Req(Fever(absl::StrCat("r", i), absl::StrCat("c", i % 7), 36.6)));
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok()) last = r->position();
    }
    return last;
  }

  TempDir dir_;
  FakeClock clock_;
};

TEST_F(DurableMarkTest, TheLogScanTellsATornTailFromDamage) {
  {
    auto engine = OpenEngine();
    ASSERT_NE(engine, nullptr);
    SubmitReadings(*engine, 0, 10);
  }
  const std::string log = LogWithRecords(Partition());
  auto whole = ScanWalFile(log);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_FALSE(whole->damaged) << whole->damage;
  ASSERT_GE(whole->records.size(), 10u);
  for (size_t i = 1; i < whole->records.size(); ++i) {
    // Each batch takes the sequence numbers after the one before it.
    const WalRecord& before = whole->records[i - 1];
    EXPECT_EQ(whole->records[i].sequence, before.sequence + before.count);
  }
  const WalRecord& last = whole->records.back();
  const WalRecord& third = whole->records[2];

  const std::string copy = dir_.Sub("copy.log");
  fs::copy_file(log, copy);
  fs::resize_file(copy, last.begin() + 3);
  auto torn = ScanWalFile(copy);
  ASSERT_TRUE(torn.ok());
  EXPECT_TRUE(torn->damaged && torn->damage_is_torn_tail);
  EXPECT_EQ(torn->damage_offset, last.begin());
  EXPECT_EQ(torn->records.size(), whole->records.size() - 1);

  fs::remove(copy);
  fs::copy_file(log, copy);
  XorByte(copy, third.end() - 1, 0x01);
  auto damaged = ScanWalFile(copy);
  ASSERT_TRUE(damaged.ok());
  EXPECT_TRUE(damaged->damaged);
  EXPECT_FALSE(damaged->damage_is_torn_tail);
  EXPECT_EQ(damaged->damage_offset, third.fragments.back().offset);
  EXPECT_THAT(damaged->damage, HasSubstr("checksum"));
  EXPECT_EQ(damaged->records.size(), 2u);
}

TEST_F(DurableMarkTest, FollowsEveryAcknowledgedWriteAndNoFailedOne) {
  auto fs = std::make_shared<testing::FaultFs>();
  auto env = testing::EnvOver(fs);
  auto engine = OpenEngine(env.get());
  ASSERT_NE(engine, nullptr);
  for (int i = 0; i < 20; ++i) {
    // Before the answer: an answered event (and what it led to) is always
    // under the mark.
    SubmitReadings(*engine, i, 1);
    auto last = engine->partitions().store(PartitionId(0)).ReadLastRecord();
    ASSERT_TRUE(last.ok() && last->has_value());
    EXPECT_EQ((*ReadDurableMark(FileSystemOf(nullptr), Partition()))->position,
              (*last)->record.position());
  }
  const DurableMark before = **ReadDurableMark(FileSystemOf(nullptr), Partition());
  fs->Arm();
  auto failed = SubmitSync(*engine, Req(Fever("lost", "c1", 36.6)));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(**ReadDurableMark(FileSystemOf(nullptr), Partition()), before);
}

TEST_F(DurableMarkTest, RefusesWhenTheDatabaseIsGoneButTheMarkIsNot) {
  {
    auto engine = OpenEngine();
    ASSERT_NE(engine, nullptr);
    SubmitReadings(*engine, 0, 3);
  }
  for (const auto& entry : fs::directory_iterator(Partition())) {
    if (entry.path().filename() != kDurableMarkFile) fs::remove(entry.path());
  }
  auto store = PartitionStore::Open(Partition(), PartitionId(0));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(), HasSubstr("database is missing"));
}

TEST_F(DurableMarkTest, ACheckpointCarriesAMarkOfWhatItHolds) {
  auto engine = OpenEngine();
  ASSERT_NE(engine, nullptr);
  const uint64_t last = SubmitReadings(*engine, 0, 10);
  auto info = engine->audit().Checkpoint("audit-1");
  ASSERT_TRUE(info.ok()) << info.status();
  const std::string copy = PartitionDir(info->dir, 0);
  auto mark = ReadDurableMark(FileSystemOf(nullptr), copy);
  ASSERT_TRUE(mark.ok() && mark->has_value()) << mark.status();
  EXPECT_EQ((*mark)->position, last);
  EXPECT_EQ(info->positions, std::vector<uint64_t>{last});
  // It opens as a data directory of its own, and refuses once damaged.
  {
    auto opened = PartitionStore::Open(copy, PartitionId(0));
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ((*opened)->recovered().position, last);
  }
  fs::remove_all(fs::path(copy) / "CURRENT");
  EXPECT_EQ(
      PartitionStore::Open(copy, PartitionId(0), {.mode = OpenMode::kReadOnly}).status().code(),
      absl::StatusCode::kDataLoss);
}

// RocksDB skips the rest of a 32 KiB block whose next header is zeros, in
// every recovery mode, and replays the blocks after it: a hole. Records of
// exactly one block each make such a hole from one zeroed block.
TEST_F(DurableMarkTest, RefusesAHoleRocksDbWouldReplayOver) {
  fs::create_directories(Data());
  {
    auto created = PartitionStore::Open(Partition(), PartitionId(0));
    ASSERT_TRUE(created.ok()) << created.status();
  }
  {
    testing::RawPartition raw(Partition());
    // WriteBatch header (12) + type, family, key length (3) + key (8) +
    // value length (3) + value = 32768 - 7: one FULL fragment per block.
    for (uint64_t p = 1; p <= 5; ++p) raw.Put(p, std::string(32735, 'x'));
  }
  // RawPartition's open flushed the store's first writes: the log holds the
  // five records alone.
  const std::string log = LogWithRecords(Partition());
  auto scan = ScanWalFile(log);
  ASSERT_TRUE(scan.ok() && !scan->damaged);
  ASSERT_EQ(scan->records.size(), 5u);
  for (size_t i = 0; i < 5; ++i) ASSERT_EQ(scan->records[i].begin(), i * kWalBlockBytes);
  const WalRecord& last = scan->records.back();
  ASSERT_TRUE(
      WriteDurableMark(FileSystemOf(nullptr), Partition(), {last.sequence + last.count - 1, 5})
          .ok());
  {
    std::fstream f(log, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2 * kWalBlockBytes);
    f << std::string(kWalBlockBytes, '\0');
  }
  // What RocksDB alone makes of it, on a copy: position 3 is gone, 5 is
  // there.
  const std::string copy = dir_.Sub("copy");
  fs::copy(Partition(), copy);
  {
    testing::RawPartition raw(copy);
    EXPECT_FALSE(raw.Find(3).has_value());
    EXPECT_TRUE(raw.Find(5).has_value());
  }
  auto store = PartitionStore::Open(Partition(), PartitionId(0));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(), HasSubstr("recovers up to position 2 "));
  EXPECT_THAT(store.status().message(), HasSubstr("records are missing before it"));
}

TEST_F(DurableMarkTest, AnAcceptedLossKeepsTheEvidenceAndOpensOnWhatRemains) {
  uint64_t acknowledged = 0;
  {
    auto engine = OpenEngine();
    ASSERT_NE(engine, nullptr);
    acknowledged = SubmitReadings(*engine, 0, 60);
  }
  const std::string log = LogWithRecords(Partition());
  auto scan = ScanWalFile(log);
  ASSERT_TRUE(scan.ok() && !scan->damaged);
  const WalRecord& middle = scan->records[scan->records.size() / 2];
  XorByte(log, middle.begin() + 9, 0x20);
  const std::string damaged = ReadFile(log);
  const std::string mark = ReadFile(DurableMarkPath(Partition()));
  ASSERT_EQ(PartitionStore::Open(Partition(), PartitionId(0)).status().code(),
            absl::StatusCode::kDataLoss);

  // Not while the partition is open somewhere (here: its lock is held).
  rocksdb::FileLock* lock = nullptr;
  ASSERT_TRUE(rocksdb::Env::Default()->LockFile(Partition() + "/LOCK", &lock).ok());
  auto busy = PartitionStore::AcceptLoss(Partition(), PartitionId(0), dir_.Sub("busy"));
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kUnavailable) << busy.status();
  EXPECT_EQ(ReadFile(log), damaged);
  EXPECT_EQ(ReadFile(DurableMarkPath(Partition())), mark);
  ASSERT_TRUE(rocksdb::Env::Default()->UnlockFile(lock).ok());

  const std::string keep = dir_.Sub("lost/partition-000");
  auto accepted = PartitionStore::AcceptLoss(Partition(), PartitionId(0), keep);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  ASSERT_TRUE(accepted->mark.has_value());
  EXPECT_GE(accepted->mark->position, acknowledged);
  EXPECT_LT(accepted->recovered.position, acknowledged);
  EXPECT_GT(accepted->recovered.position, 0u);
  EXPECT_EQ(ReadFile(keep + "/" + fs::path(log).filename().string()), damaged);
  EXPECT_EQ(ReadFile(keep + "/DURABLE"), mark);
  EXPECT_EQ(
      PartitionStore::AcceptLoss(Partition(), PartitionId(0), dir_.Sub("again")).status().code(),
      absl::StatusCode::kFailedPrecondition);

  // The partition goes on from what remained: the chain holds, and the next
  // event takes the next position.
  auto engine = OpenEngine();
  ASSERT_NE(engine, nullptr);
  auto chains = engine->audit().VerifyLog();
  ASSERT_TRUE(chains.ok()) << chains.status();
  EXPECT_EQ((*chains)[0].first_bad_position, 0u);
  EXPECT_EQ((*chains)[0].records, accepted->recovered.position);
  EXPECT_EQ(SubmitReadings(*engine, 1000, 1), accepted->recovered.position + 1);
}

}  // namespace
}  // namespace gridcase
