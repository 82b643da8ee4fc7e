// Backups of a serving engine (Auditor::Backup) and restores from them
// (engine/audit/backup.h), on real RocksDB stores and real files.
#include "engine/audit/backup.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "engine/audit/rebuild.h"
#include "engine/common/time.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"
#include "tests/support/sealed_engine.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

namespace fs = std::filesystem;
using ::gridcase::testing::NoteEvent;
using ::gridcase::testing::Req;
using ::gridcase::testing::Screening;
using ::gridcase::testing::SubmitSync;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class BackupTest : public testing::SealedEngineTest {
 protected:
  void Open() {
    SealedEngineTest::Open();
    testing::DeployShippedWorkflows(*engine_);
  }

  // Submits `n` events over 40 cases, numbered from `from`: the first of
  // each case a screening that opens it, the rest notes (one record each).
  void Write(int from, int n) {
    for (int i = from; i < from + n; ++i) {
      const std::string case_id = "case-" + std::to_string(i % 40);
      const std::string id = "e-" + std::to_string(i);
      v1::Event e = i < 40 ? Screening(id, case_id, v1::CATEGORY_CLOSE_CONTACT)
                           : NoteEvent(id, case_id, "door-to-door check " + id);
      *e.mutable_occurred_at() = FromMicros(clock_.NowMicros());
      auto answer = SubmitSync(*engine_, Req(e));
      ASSERT_TRUE(answer.ok()) << answer.status();
    }
  }

  uint64_t Total() {
    uint64_t total = 0;
    for (uint64_t p : Positions()) total += p;
    return total;
  }

  std::vector<uint64_t> Positions() {
    std::vector<uint64_t> out;
    for (uint32_t p = 0; p < 4; ++p) {
      auto last = engine_->partitions().store(PartitionId(p)).ReadLastRecord();
      EXPECT_TRUE(last.ok()) << last.status();
      out.push_back(last.ok() && last->has_value() ? (*last)->record.position() : 0);
    }
    return out;
  }

  absl::StatusOr<BackupResult> Backup(uint32_t keep = 0, const std::atomic<bool>* stop = nullptr,
                                      const BackupProgressFn& progress = nullptr) {
    BackupOptions options;
    options.keep = keep;
    options.stop = stop;
    return engine_->audit().Backup(backups_, options, progress);
  }

  absl::StatusOr<RestoreReport> Restore(const std::string& to, uint32_t set = 0) {
    RestoreOptions options;
    options.set = set;
    return RestoreBackupSet(backups_, to, options);
  }

  // The cases of engine `e`, by id.
  std::map<std::string, v1::CaseState> Cases(Engine& e) {
    std::map<std::string, v1::CaseState> out;
    for (int i = 0; i < 40; ++i) {
      const std::string id = "case-" + std::to_string(i);
      auto state = e.GetCase(id);
      if (state.ok()) out[id] = *state;
    }
    return out;
  }

  std::unique_ptr<Engine> OpenRestored(const std::string& dir) {
    EngineOptions options;
    options.data_dir = dir;
    options.partitions = 4;
    options.master_key = testing::TestMasterKey();
    auto engine = Engine::Open(options, &clock_);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  }

  const std::string backups_ = dir_.Sub("backups");
};

TEST_F(BackupTest, ARestoreHoldsWhatWasAcknowledgedBeforeTheBackupAndVerifies) {
  Open();
  Write(0, 400);
  const std::vector<uint64_t> positions = Positions();
  const auto cases = Cases(*engine_);
  ASSERT_EQ(cases.size(), 40u);

  std::vector<std::string> phases;
  auto result = Backup(0, nullptr, [&](const v1::BackupProgress& p) {
    if (phases.empty() || phases.back() != p.phase()) phases.push_back(p.phase());
  });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(phases, ElementsAre("checkpoint", "copying", "verifying", "copying", "verifying",
                                  "copying", "verifying", "copying", "verifying", "copying",
                                  "verifying", "copying", "verifying", "done"));
  const v1::BackupSet& set = result->set;
  EXPECT_EQ(set.id(), 1u);
  EXPECT_TRUE(set.keys());
  EXPECT_EQ(set.partitions(), 4u);
  ASSERT_EQ(set.items_size(), 6);  // four partitions, the access log, the key store
  for (uint32_t p = 0; p < 4; ++p) {
    EXPECT_EQ(set.items(p).name(), "partition-00" + std::to_string(p));
    EXPECT_EQ(set.items(p).position(), positions[p]);
    EXPECT_EQ(set.items(p).head().size(), 32u);
  }
  EXPECT_EQ(set.items(4).name(), "access");
  EXPECT_EQ(set.items(5).name(), "keys/subjects");
  EXPECT_EQ(set.new_bytes(), set.bytes());  // the first backup copies everything
  EXPECT_GT(set.finished_us(), 0);
  // Its checkpoint is gone from the data directory.
  EXPECT_FALSE(fs::exists(dir_.Sub("data/checkpoints/.backup")));

  // Written after the backup: not in it.
  Write(400, 50);
  auto listed = ListBackupSets(backups_);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals((*listed)[0], set));

  auto report = Restore(dir_.Sub("restored"));
  ASSERT_TRUE(report.ok()) << report.status();
  uint64_t total = 0;
  for (uint64_t p : positions) total += p;
  EXPECT_EQ(report->records, total);
  EXPECT_EQ(report->set.id(), 1u);

  RebuildOptions rebuild;
  rebuild.data_dir = dir_.Sub("restored");
  rebuild.scratch_dir = dir_.Sub("rebuilt");
  auto rebuilt = RebuildAndCompare(rebuild);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  EXPECT_FALSE(rebuilt->difference.has_value());
  EXPECT_EQ(rebuilt->records, total);

  // A server on the restored directory opens it and reads every case,
  // personal fields unsealed, as the original held them at the backup.
  auto restored = OpenRestored(dir_.Sub("restored"));
  ASSERT_NE(restored, nullptr);
  const auto restored_cases = Cases(*restored);
  ASSERT_EQ(restored_cases.size(), cases.size());
  for (const auto& [id, state] : cases) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(restored_cases.at(id), state))
        << id;
  }
  v1::Event again = NoteEvent("e-400", "case-0", "again");
  *again.mutable_occurred_at() = FromMicros(clock_.NowMicros());
  auto late = SubmitSync(*restored, Req(again));
  EXPECT_TRUE(late.ok()) << late.status();  // e-400 was written after the backup
}

TEST_F(BackupTest, ALaterBackupCopiesOnlyWhatIsNewAndEachSetRestoresAsItWas) {
  Open();
  Write(0, 600);
  FlushAndCompact();
  auto first = Backup();
  ASSERT_TRUE(first.ok()) << first.status();
  const std::vector<uint64_t> before = Positions();
  Write(600, 20);
  auto second = Backup();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->set.id(), 2u);
  // The compacted table files of the first set are not copied again.
  EXPECT_LT(second->set.new_bytes(), second->set.bytes());
  EXPECT_LT(second->set.new_bytes(), first->set.new_bytes());

  auto old = Restore(dir_.Sub("old"), 1);
  ASSERT_TRUE(old.ok()) << old.status();
  for (uint32_t p = 0; p < 4; ++p) EXPECT_EQ(old->set.items(p).position(), before[p]);
  auto now = Restore(dir_.Sub("now"));
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(now->set.id(), 2u);
  EXPECT_EQ(now->records, old->records + 20);
}

TEST_F(BackupTest, RetentionKeepsTheNewestSetsAndWhatTheyShare) {
  Open();
  uint64_t at_two = 0;
  for (int round = 0; round < 3; ++round) {
    Write(round * 100, 100);
    if (round == 1) at_two = Total();
    auto r = Backup(/*keep=*/2);
    ASSERT_TRUE(r.ok()) << r.status();
    if (round < 2) EXPECT_TRUE(r->removed.empty());
    if (round == 2) EXPECT_THAT(r->removed, ElementsAre(1u));
  }
  auto listed = ListBackupSets(backups_);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id(), 2u);
  EXPECT_EQ((*listed)[1].id(), 3u);
  auto gone = Restore(dir_.Sub("one"), 1);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(gone.status().message()), HasSubstr("sets 2 to 3"));
  // Set 2 shares files with the deleted set 1: still whole.
  auto two = Restore(dir_.Sub("two"), 2);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->records, at_two);
}

TEST_F(BackupTest, AStoppedBackupLeavesNoSetAndTheNextOneClearsWhatItLeft) {
  Open();
  Write(0, 300);
  const uint64_t total = Total();
  std::atomic<bool> stop{false};
  // Stopped once the first partition is copied.
  auto stopped = Backup(0, &stop, [&](const v1::BackupProgress& p) {
    if (p.items_done() >= 1) stop = true;
  });
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kCancelled) << stopped.status();
  auto listed = ListBackupSets(backups_);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(listed->empty());
  EXPECT_EQ(Restore(dir_.Sub("nothing")).status().code(), absl::StatusCode::kNotFound);
  // The copied partition is in the engine, named by no set.
  EXPECT_TRUE(fs::exists(backups_ + "/engine/meta/1"));

  auto next = Backup();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->set.id(), 1u);
  std::set<uint32_t> ids;
  for (const auto& item : next->set.items()) ids.insert(item.engine_backup_id());
  EXPECT_EQ(ids.count(1), 0u);  // the unfinished one was deleted
  EXPECT_FALSE(fs::exists(backups_ + "/engine/meta/1"));
  auto report = Restore(dir_.Sub("restored"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->records, total);
}

TEST_F(BackupTest, RefusesTargetsThatAreNotForBackups) {
  Open();
  Write(0, 10);
  auto relative = engine_->audit().Backup("backups", {}, nullptr);
  EXPECT_EQ(relative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(relative.status().message()), HasSubstr("absolute"));
  auto inside = engine_->audit().Backup(dir_.Sub("data/backups"), {}, nullptr);
  EXPECT_EQ(inside.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(inside.status().message()), HasSubstr("inside the data directory"));
  auto around = engine_->audit().Backup(dir_.path(), {}, nullptr);
  EXPECT_EQ(around.status().code(), absl::StatusCode::kInvalidArgument);
  fs::create_directories(dir_.Sub("photos"));
  std::ofstream(dir_.Sub("photos/cat.jpg")) << "meow";
  auto busy = engine_->audit().Backup(dir_.Sub("photos"), {}, nullptr);
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(busy.status().message()), HasSubstr("not a backup directory"));
  EXPECT_EQ(ListBackupSets(dir_.Sub("photos")).status().code(), absl::StatusCode::kNotFound);

  // Another process holds the directory: refused, not interleaved.
  ASSERT_TRUE(Backup().ok());
  const int fd = ::open((backups_ + "/LOCK").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  auto locked = Backup();
  EXPECT_EQ(locked.status().code(), absl::StatusCode::kAborted) << locked.status();
  EXPECT_EQ(Restore(dir_.Sub("r")).status().code(), absl::StatusCode::kAborted);
  ::close(fd);
  ASSERT_TRUE(Restore(dir_.Sub("r")).ok());
  // A restore goes into an empty directory only.
  auto again = Restore(dir_.Sub("r"));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(BackupTest, TheMasterKeyIsNeverBackedUpAndAWrongOneIsRefusedAtRestore) {
  Open();
  Write(0, 50);
  ASSERT_TRUE(Backup().ok());
  for (const auto& f : fs::recursive_directory_iterator(backups_)) {
    EXPECT_NE(f.path().filename(), "master.key") << f.path();
  }
  auto write_key = [&](const std::string& path, const std::string& hex_byte) {
    std::string hex;
    for (int i = 0; i < 32; ++i) hex += hex_byte;
    std::ofstream(path) << hex << "\n";
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  };
  write_key(dir_.Sub("wrong.key"), "77");
  RestoreOptions options;
  options.master_key_file = dir_.Sub("wrong.key");
  auto wrong = RestoreBackupSet(backups_, dir_.Sub("r1"), options);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition) << wrong.status();
  EXPECT_THAT(std::string(wrong.status().message()), HasSubstr("not the key"));
  EXPECT_FALSE(fs::exists(dir_.Sub("r1/keys/master.key")));

  write_key(dir_.Sub("right.key"), "5a");  // TestMasterKey(): 32 bytes of 0x5a
  options.master_key_file = dir_.Sub("right.key");
  auto right = RestoreBackupSet(backups_, dir_.Sub("r2"), options);
  ASSERT_TRUE(right.ok()) << right.status();
  EXPECT_TRUE(right->master_key_placed);
  EXPECT_EQ(fs::status(dir_.Sub("r2/keys/master.key")).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(BackupTest, ADamagedBackupIsDataLossNamingTheItem) {
  Open();
  Write(0, 300);
  FlushAndCompact();
  ASSERT_TRUE(Backup().ok());
  // One byte of one copied table file changed.
  std::string victim;
  for (const auto& f : fs::directory_iterator(backups_ + "/engine/shared_checksum")) {
    if (f.path().extension() == ".sst") victim = f.path().string();
  }
  ASSERT_FALSE(victim.empty());
  {
    std::fstream file(victim, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(100);
    char c = 0;
    file.seekg(100);
    file.read(&c, 1);
    c = static_cast<char>(c ^ 0x40);
    file.seekp(100);
    file.write(&c, 1);
  }
  auto report = Restore(dir_.Sub("restored"));
  EXPECT_EQ(report.status().code(), absl::StatusCode::kDataLoss) << report.status();
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("backup set 1"));
}

TEST_F(BackupTest, AManifestThatNamesAnotherHeadIsDataLoss) {
  Open();
  Write(0, 100);
  auto result = Backup();
  ASSERT_TRUE(result.ok()) << result.status();
  // Somebody edits the manifest: partition 0 claims one record more.
  const std::string manifest = backups_ + "/sets/000001.json";
  std::ifstream in(manifest);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string from = "\"position\": \"" + std::to_string(result->set.items(0).position());
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, from.size(),
               "\"position\": \"" + std::to_string(result->set.items(0).position() + 1));
  std::ofstream(manifest, std::ios::trunc) << text;
  auto report = Restore(dir_.Sub("restored"));
  EXPECT_EQ(report.status().code(), absl::StatusCode::kDataLoss) << report.status();
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("partition-000"));
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("the manifest names"));
}

}  // namespace
}  // namespace gridcase
