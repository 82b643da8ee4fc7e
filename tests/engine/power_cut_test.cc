// Power cuts: the real engine (4 partitions, sealing, the key store and
// the access log) on a file system that loses whatever was not synced
// (tests/support/power_cut_fs.h), through seeded cuts at random moments:
// while writers submit, while a flush, a compaction or a checkpoint is
// under way. After each cut the engine opens again and a ledger of every
// acknowledged event is checked: none lost, none doubled, each case's
// versions without gaps, every partition's chain verifies; at the end a
// rebuild from the log equals the live state. The negative control runs
// the same with syncs that make nothing durable and must see the loss.
// The small files kept beside the databases (marker, keys, durable marks)
// are cut at each of their operations in turn.
//
// GRIDCASE_POWER_CUTS sets the number of cuts (the soak build runs 250).
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/audit/rebuild.h"
#include "engine/common/durable_file.h"
#include "engine/engine.h"
#include "engine/privacy/master_key.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/durable_mark.h"
#include "engine/storage/signer.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"
#include "tests/support/power_cut_fs.h"
#include "tests/support/sealed_engine.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

#ifndef GRIDCASE_POWER_CUTS
#define GRIDCASE_POWER_CUTS 20
#endif

namespace gridcase {
namespace {

namespace fs = std::filesystem;
using ::gridcase::testing::Req;

constexpr int kPartitions = 4;
constexpr int kCases = 200;
constexpr int kWriters = 3;
constexpr int kBurst = 8;  // in flight per writer

struct Ack {
  std::string case_id;
  uint64_t position = 0;
  uint64_t version = 0;
};

// What a reopened engine holds against the ledger.
struct Check {
  uint64_t acknowledged = 0;
  uint64_t lost = 0;        // acknowledged, not in its case's timeline
  uint64_t moved = 0;       // there, at another position or version
  uint64_t doubled = 0;     // an event id twice
  uint64_t gaps = 0;        // a case version missing
  uint64_t bad_chains = 0;  // partitions whose chain does not verify
  std::string first_problem;
};

class PowerCutTest : public ::testing::Test {
 protected:
  PowerCutTest()
      : clock_(testing::kFeb22EveningUs),
        fs_(std::make_shared<testing::PowerCutFs>(dir_.Sub("scratch"))),
        env_(testing::EnvOverPowerCut(fs_)) {}

  // The cut, applied to the disk (the engine closed); `seed` chooses which
  // unsynced writes of the durable marks the kernel had written back.
  void RestoreAfterCut(uint64_t seed) {
    fs_->SetWriteBackSeed(seed);
    fs_->Restore();
  }

  std::string Data() const { return dir_.Sub("data"); }

  absl::StatusOr<std::unique_ptr<Engine>> Open() {
    EngineOptions options;
    options.env = env_.get();
    options.data_dir = Data();
    options.partitions = kPartitions;
    options.master_key = testing::TestMasterKey();
    return Engine::Open(options, &clock_);
  }

  // A reading, with a place (sealed under the case's key slot) every
  // third time.
  v1::SubmitRequest Reading(const std::string& event_id, int case_number, int n) {
    v1::Event e = testing::Fever(event_id, absl::StrCat("resident-", case_number),
                                 36.0 + (n % 30) / 10.0, clock_.NowMicros());
    if (n % 3 == 0) e.mutable_fever_reading()->set_location(absl::StrCat("gate ", n % 7));
    return Req(e);
  }

  // Writers submit until the power is cut. Once a seeded number of
  // submissions has been acknowledged, `background` (a flush, a
  // compaction, a checkpoint) starts and the cut is armed to come at a
  // seeded number of file operations later, in whatever is under way
  // then: a group's append or sync, a table file, a rename.
  void RunUntilCut(Engine& engine, int cycle, uint64_t seed,
                   const std::function<void(Engine&)>& background) {
    std::mt19937_64 rng(seed);
    const int threshold = 10 + static_cast<int>(rng() % 100);
    const uint64_t ops = 1 + rng() % 400;
    std::mutex mu;
    std::condition_variable progressed;
    int acks = 0;
    int running = kWriters;
    std::vector<std::string> refused_before_cut;
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w, writer_seed = rng()] {
        std::mt19937_64 mine(writer_seed);
        for (int n = 0; !fs_->is_cut(); n += kBurst) {
          std::vector<std::future<absl::StatusOr<v1::SubmitResponse>>> answers;
          std::vector<std::string> ids;
          std::vector<char> cut_when_answered(kBurst, 0);
          for (int i = 0; i < kBurst; ++i) {
            ids.push_back(absl::StrCat("c", cycle, "-w", w, "-", n + i));
            auto done = std::make_shared<std::promise<absl::StatusOr<v1::SubmitResponse>>>();
            answers.push_back(done->get_future());
            engine.Submit(
                Reading(ids.back(), static_cast<int>(mine() % kCases), n + i),
                [this, done, cut = &cut_when_answered[i]](absl::StatusOr<v1::SubmitResponse> r) {
                  *cut = fs_->is_cut();
                  done->set_value(r);
                });
          }
          bool refused = false;
          for (size_t i = 0; i < answers.size(); ++i) {
            auto r = answers[i].get();
            std::lock_guard lock(mu);
            // An answer given after the cut would never have left a machine
            // without power: it does not count.
            if (r.ok() && !cut_when_answered[i]) {
              ledger_[ids[i]] = Ack{r->case_id(), r->position(), r->case_version()};
              ++acks;
            } else if (r.ok()) {
              continue;
            } else {
              refused = true;
              if (!cut_when_answered[i]) refused_before_cut.push_back(r.status().ToString());
            }
          }
          if (refused) break;
          progressed.notify_all();
        }
        std::lock_guard lock(mu);
        --running;
        progressed.notify_all();
      });
    }
    std::thread helper;
    {
      std::unique_lock lock(mu);
      progressed.wait(lock, [&] { return acks >= threshold || running == 0; });
      fs_->CutAfter(ops);
      if (background) helper = std::thread([&engine, &background] { background(engine); });
      // The writers stop at the cut; should they have stopped before (a
      // refusal, reported below), the power goes now.
      while (running > 0) progressed.wait(lock);
    }
    fs_->Cut();
    for (auto& t : writers) t.join();
    if (helper.joinable()) helper.join();
    EXPECT_TRUE(refused_before_cut.empty())
        << "cycle " << cycle << ": refused before the cut: " << refused_before_cut.front();
  }

  // Checks `engine` against the ledger: every case with an acknowledged
  // event (or `all`: every case of the ledger; else only `touched`).
  Check Verify(Engine& engine, const std::set<std::string>& cases) {
    Check c;
    std::map<std::string, std::vector<const std::pair<const std::string, Ack>*>> by_case;
    for (const auto& entry : ledger_) by_case[entry.second.case_id].push_back(&entry);
    for (const std::string& case_id : cases) {
      const std::vector<v1::Record> timeline = TimelineOf(engine, case_id);
      std::map<std::string, std::pair<uint64_t, uint64_t>> found;  // event id -> position, version
      for (size_t i = 0; i < timeline.size(); ++i) {
        const v1::Record& r = timeline[i];
        if (r.case_version() != i + 1) {
          ++c.gaps;
          if (c.first_problem.empty()) {
            c.first_problem =
                absl::StrCat(case_id, ": version ", r.case_version(), " at index ", i);
          }
        }
        if (r.caused_by() != 0) continue;
        if (!found.emplace(r.event().event_id(), std::make_pair(r.position(), r.case_version()))
                 .second) {
          ++c.doubled;
        }
      }
      for (const auto* entry : by_case[case_id]) {
        ++c.acknowledged;
        auto it = found.find(entry->first);
        if (it == found.end()) {
          ++c.lost;
          if (c.first_problem.empty()) c.first_problem = entry->first + " lost";
        } else if (it->second != std::make_pair(entry->second.position, entry->second.version)) {
          ++c.moved;
          if (c.first_problem.empty()) c.first_problem = entry->first + " moved";
        }
      }
    }
    auto chains = engine.audit().VerifyLog();
    EXPECT_TRUE(chains.ok()) << chains.status();
    if (chains.ok()) {
      for (const ChainCheck& chain : *chains) c.bad_chains += chain.first_bad_position != 0;
    }
    return c;
  }

  // A directory import of 8 new grid workers (their names and phones
  // sealed under keys of their own, made in the import's group); once it
  // is answered before the cut, they must be there after it.
  void ImportPeople(Engine& engine, int cycle) {
    std::vector<v1::DirectoryEntry> entries = testing::ExampleDirectory();
    std::vector<std::string> ids;
    for (int i = 0; i < 8; ++i) {
      v1::DirectoryEntry& p = entries.emplace_back();
      ids.push_back(absl::StrCat("worker-cut-", cycle, "-", i));
      p.mutable_person()->set_person_id(ids.back());
      p.mutable_person()->set_name(absl::StrCat("Worker ", cycle, "-", i));
      p.mutable_person()->set_phone("13800000000");
      p.mutable_person()->set_role(v1::ROLE_GRID_WORKER);
      p.mutable_person()->set_unit_id("jiangan-07-04");
    }
    v1::Actor importer;
    importer.set_id("admin-1");
    importer.set_kind(v1::ACTOR_KIND_PERSON);
    auto done =
        engine.staffing().ImportDirectory(entries, absl::StrCat("import-", cycle), importer);
    if (!done.ok() || fs_->is_cut()) return;
    std::lock_guard lock(people_mu_);
    for (std::string& id : ids) imported_.push_back(std::move(id));
  }

  // People whose import was answered before a cut and who are not in the
  // directory's log.
  size_t PeopleLost(Engine& engine) {
    std::lock_guard lock(people_mu_);
    if (imported_.empty()) return 0;
    std::set<std::string> registered;
    for (const v1::Record& r : TimelineOf(engine, kDirectoryCaseId)) {
      if (r.event().has_person_registered()) {
        registered.insert(r.event().person_registered().person_id());
      }
    }
    size_t lost = 0;
    for (const std::string& id : imported_) lost += registered.count(id) == 0;
    return lost;
  }

  // A case's records, every page; none when it does not exist (all of it
  // lost). The directory's case outgrows one page in the soak run.
  static std::vector<v1::Record> TimelineOf(Engine& engine, const std::string& case_id) {
    std::vector<v1::Record> out;
    v1::GetTimelineRequest req;
    req.set_case_id(case_id);
    req.set_page_size(kPageSizeMax);
    do {
      auto page = engine.GetTimeline(req);
      EXPECT_TRUE(page.ok() || absl::IsNotFound(page.status())) << case_id << ": " << page.status();
      if (!page.ok()) return out;
      out.insert(out.end(), page->records().begin(), page->records().end());
      req.set_page_token(page->next_page_token());
    } while (!req.page_token().empty());
    return out;
  }

  std::set<std::string> CasesOfLedger() const {
    std::set<std::string> out;
    for (const auto& [id, ack] : ledger_) out.insert(ack.case_id);
    return out;
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::shared_ptr<testing::PowerCutFs> fs_;
  std::unique_ptr<rocksdb::Env> env_;
  std::map<std::string, Ack> ledger_;  // event id -> where it was acknowledged
  std::mutex people_mu_;
  std::vector<std::string> imported_;  // people imported before a cut
};

TEST_F(PowerCutTest, AcknowledgedEventsSurviveEveryCut) {
  const uint64_t base_seed = 20200123;
  std::set<std::string> touched;
  Check total;
  testing::PowerCutFs::Counts undone;
  auto engine = Open();
  ASSERT_TRUE(engine.ok()) << engine.status();
  testing::DeployShippedWorkflows(**engine);
  for (int cycle = 0; cycle < GRIDCASE_POWER_CUTS; ++cycle) {
    const uint64_t seed = base_seed + cycle;
    SCOPED_TRACE(absl::StrCat("cut ", cycle, ", seed ", seed));
    std::function<void(Engine&)> background;
    switch (seed % 5) {
      case 1:
        background = [](Engine& e) {
          for (uint32_t p = 0; p < kPartitions; ++p) {
            e.partitions().store(PartitionId(p)).Flush().IgnoreError();
          }
        };
        break;
      case 2:
        background = [](Engine& e) {
          for (uint32_t p = 0; p < kPartitions; ++p) {
            e.partitions().store(PartitionId(p)).Compact().IgnoreError();
          }
        };
        break;
      case 3:
        background = [cycle](Engine& e) {
          e.audit().Checkpoint(absl::StrCat("cut-", cycle), /*include_keys=*/true).IgnoreError();
        };
        break;
      case 4:
        background = [this, cycle](Engine& e) { ImportPeople(e, cycle); };
        break;
      default:
        break;
    }
    const size_t before = ledger_.size();
    RunUntilCut(**engine, cycle, seed, background);
    for (auto it = ledger_.begin(); it != ledger_.end(); ++it) touched.insert(it->second.case_id);
    ASSERT_GT(ledger_.size(), before);
    engine->reset();
    RestoreAfterCut(seed);
    undone.files_truncated += fs_->last_restore().files_truncated;
    undone.bytes_dropped += fs_->last_restore().bytes_dropped;
    undone.creations_undone += fs_->last_restore().creations_undone;
    undone.renames_undone += fs_->last_restore().renames_undone;
    undone.in_place_writes_undone += fs_->last_restore().in_place_writes_undone;
    undone.in_place_writes_kept += fs_->last_restore().in_place_writes_kept;
    clock_.AdvanceMicros(1000000);
    engine = Open();
    ASSERT_TRUE(engine.ok()) << "reopening after the cut: " << engine.status();
    // Every fifth cut, and the last, every case of the ledger; otherwise
    // the cases this cut's writers touched.
    const bool all = cycle % 5 == 4 || cycle + 1 == GRIDCASE_POWER_CUTS;
    const Check c = Verify(**engine, all ? CasesOfLedger() : touched);
    touched.clear();
    EXPECT_EQ(c.lost, 0u) << c.first_problem;
    EXPECT_EQ(c.moved, 0u) << c.first_problem;
    EXPECT_EQ(c.doubled, 0u);
    EXPECT_EQ(c.gaps, 0u) << c.first_problem;
    EXPECT_EQ(c.bad_chains, 0u);
    EXPECT_EQ(PeopleLost(**engine), 0u);
    if (all) total = c;
    if (HasFailure()) break;
  }
  std::cout << "power cuts: " << GRIDCASE_POWER_CUTS << ", acknowledged " << total.acknowledged
            << ", lost " << total.lost << ", moved " << total.moved << ", doubled " << total.doubled
            << ", gaps " << total.gaps << "; undone by the cuts: " << undone.files_truncated
            << " files cut short (" << undone.bytes_dropped << " bytes), "
            << undone.creations_undone << " creations, " << undone.renames_undone << " renames, "
            << undone.in_place_writes_undone << " of "
            << undone.in_place_writes_undone + undone.in_place_writes_kept
            << " unsynced durable-mark writes; people imported before a cut: " << imported_.size()
            << "\n";
  EXPECT_EQ(total.acknowledged, ledger_.size());
  // The cuts did drop unsynced bytes and mark writes: the harness is not
  // idle.
  EXPECT_GT(undone.bytes_dropped, 0u);
  EXPECT_GT(undone.in_place_writes_undone, 0u);
  engine->reset();
  RebuildOptions rebuild;
  rebuild.data_dir = Data();
  rebuild.scratch_dir = dir_.Sub("rebuilt");
  auto report = RebuildAndCompare(rebuild);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->difference.has_value())
      << report->difference->family << " " << report->difference->key;
}

// The negative control: the same writers and cut, on a disk whose syncs
// make nothing durable. The partitions' durable marks (kept outside the
// log) refuse the shortened logs; with the marks gone as well, the ledger
// finds acknowledged events lost. Either way the loss is seen.
TEST_F(PowerCutTest, NegativeControlWithoutSyncsTheLossIsSeen) {
  auto engine = Open();
  ASSERT_TRUE(engine.ok()) << engine.status();
  testing::DeployShippedWorkflows(**engine);
  fs_->SetHonourSyncs(false);
  RunUntilCut(**engine, 0, 4711, nullptr);
  ASSERT_FALSE(ledger_.empty());
  engine->reset();
  RestoreAfterCut(4711);
  fs_->SetHonourSyncs(true);
  EXPECT_GT(fs_->last_restore().bytes_dropped, 0u);
  auto refused = Open();
  ASSERT_FALSE(refused.ok()) << "a log shortened past its durable mark was opened";
  EXPECT_TRUE(absl::IsDataLoss(refused.status())) << refused.status();
  for (int p = 0; p < kPartitions; ++p) {
    fs::remove(fs::path(PartitionDir(Data(), p)) / kDurableMarkFile);
  }
  auto opened = Open();
  ASSERT_TRUE(opened.ok()) << opened.status();
  const Check c = Verify(**opened, CasesOfLedger());
  EXPECT_EQ(c.acknowledged, ledger_.size());
  EXPECT_GT(c.lost, 0u) << "the harness saw no loss with syncs turned off";
}

// The files kept beside the databases go through the same file system: the
// data directory's marker, the master key, the head-signing key and a
// partition's durable mark (with three unsynced advances after it). The
// power goes at each of their file operations in turn; after each cut every
// file that was acknowledged (its call returned before the cut) is there
// whole with the same bytes (a key replaced by a new one would orphan
// everything sealed or signed with the old), and one that was not is absent
// or whole, never torn. The mark is never older than its creation nor newer
// than its last advance.
struct SmallFiles {
  bool marker = false;
  std::optional<std::string> master_key;
  std::optional<std::string> signing_key;  // its public half
  uint64_t mark_created = 0;               // position (0: not acknowledged)
  uint64_t mark_advanced = 0;
};

SmallFiles MakeSmallFiles(testing::PowerCutFs& power, rocksdb::Env* env, const std::string& data) {
  SmallFiles made;
  const auto acknowledged = [&] { return !power.is_cut(); };
  if (ResolvePartitions(data, kPartitions, env).ok() && acknowledged()) made.marker = true;
  auto key = privacy::LoadMasterKey("", data, nullptr, env);
  if (key.ok() && acknowledged()) made.master_key = *key;
  auto signer = HeadSigner::LoadOrCreate(data + "/keys/heads.key", env);
  if (signer.ok() && acknowledged()) made.signing_key = (*signer)->PublicKeyPem();
  const std::string partition = PartitionDir(data, 0);
  fs::create_directories(partition);
  auto mark = DurableMarkFile::Create(FileSystemOf(env), partition, {1, 1});
  if (!mark.ok() || !acknowledged()) return made;
  made.mark_created = made.mark_advanced = 1;
  for (uint64_t n = 2; n <= 4; ++n) {
    if ((*mark)->Advance({n, n}).ok() && acknowledged()) made.mark_advanced = n;
  }
  return made;
}

// What is wrong with the files of `data` after the cut ("" when nothing).
std::string SmallFilesProblem(const SmallFiles& made, const std::string& data) {
  auto count = ReadPartitionCount(data);
  if (count.ok() ? *count != kPartitions : made.marker || !absl::IsNotFound(count.status())) {
    return absl::StrCat("marker: ", count.ok() ? absl::StrCat(*count) : count.status().ToString());
  }
  const std::string master = data + "/keys/master.key";
  if (made.master_key || fs::exists(master)) {
    auto key = privacy::LoadMasterKey(master, data);
    if (!key.ok()) return absl::StrCat("master key: ", key.status().ToString());
    if (made.master_key && *key != *made.master_key) return "master key: replaced";
  }
  const std::string heads = data + "/keys/heads.key";
  if (made.signing_key || fs::exists(heads)) {
    auto signer = HeadSigner::LoadOrCreate(heads);
    if (!signer.ok()) return absl::StrCat("signing key: ", signer.status().ToString());
    if (made.signing_key && (*signer)->PublicKeyPem() != *made.signing_key) {
      return "signing key: replaced";
    }
  }
  auto mark = ReadDurableMark(FileSystemOf(nullptr), PartitionDir(data, 0));
  if (!mark.ok()) return absl::StrCat("durable mark: ", mark.status().ToString());
  if (made.mark_created != 0 && (!mark->has_value() || (*mark)->position < made.mark_created ||
                                 (*mark)->position > made.mark_advanced)) {
    return absl::StrCat("durable mark: ", mark->has_value() ? (*mark)->position : 0,
                        " outside what was written, ", made.mark_created, "..", made.mark_advanced);
  }
  return "";
}

TEST(SmallFilesPowerCutTest, EachFileIsWholeOrAbsentAtEveryCut) {
  testing::TempDir dir;
  auto power = std::make_shared<testing::PowerCutFs>(dir.Sub("scratch"));
  auto env = testing::EnvOverPowerCut(power);
  int cuts = 0;
  int acknowledged_then_cut = 0;
  for (uint64_t at = 1;; ++at) {
    SCOPED_TRACE(absl::StrCat("cut at operation ", at));
    const std::string data = dir.Sub(absl::StrCat("data-", at));
    power->CutAfter(at);
    const SmallFiles made = MakeSmallFiles(*power, env.get(), data);
    if (!power->is_cut()) {
      EXPECT_EQ(SmallFilesProblem(made, data), "") << "without a cut";
      break;
    }
    ++cuts;
    if (made.marker || made.master_key) ++acknowledged_then_cut;
    power->SetWriteBackSeed(at);
    power->Restore();
    EXPECT_EQ(SmallFilesProblem(made, data), "");
    ASSERT_LT(at, 1000u) << "the files never finished";
  }
  std::cout << "small files: " << cuts << " cuts, " << acknowledged_then_cut
            << " after some were acknowledged\n";
  // Every step of every file was cut at: the marker's, both keys' and the
  // mark's creation take five operations each (create, append, sync,
  // close, rename) besides the directory syncs.
  EXPECT_GE(cuts, 20);
  EXPECT_GT(acknowledged_then_cut, 0);
}

// The negative control: with syncs that make nothing durable, files that
// were acknowledged are lost at the cut, and the check says so.
TEST(SmallFilesPowerCutTest, NegativeControlWithoutSyncsTheLossIsSeen) {
  testing::TempDir dir;
  auto power = std::make_shared<testing::PowerCutFs>(dir.Sub("scratch"));
  auto env = testing::EnvOverPowerCut(power);
  const std::string data = dir.Sub("data");
  power->SetHonourSyncs(false);
  const SmallFiles made = MakeSmallFiles(*power, env.get(), data);
  ASSERT_TRUE(made.marker && made.master_key && made.signing_key && made.mark_created != 0);
  power->Cut();
  power->Restore();
  EXPECT_NE(SmallFilesProblem(made, data), "");
}

}  // namespace
}  // namespace gridcase
