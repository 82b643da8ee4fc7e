// Erasure over real RocksDB stores: 1,000 residents' cases with a unique
// marker in every personal field, 100 of them erased, then flush and
// compaction. No byte of the data directory, of checkpoints taken before
// and after, or of what the change feed publishes holds a marker; every
// other case reads back whole; the chain and its signed heads verify; a
// rebuild from the log equals the live state, tombstones included. The
// same for people of the directory, and for a data directory written
// before sealing once converted. Control runs without sealing show the
// byte scan finds markers where they are stored.
#include <filesystem>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/audit/rebuild.h"
#include "engine/audit/seal_conversion.h"
#include "engine/common/clock.h"
#include "engine/common/time.h"
#include "engine/engine.h"
#include "engine/storage/signer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"
#include "tests/support/markers.h"
#include "tests/support/raw_partition.h"
#include "tests/support/sealed_engine.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::BaseEvent;
using ::gridcase::testing::FindMarkers;
using ::gridcase::testing::MarkerMaker;
using ::gridcase::testing::Markers;
using ::gridcase::testing::Req;
using ::gridcase::testing::ScanTree;
using ::testing::HasSubstr;

constexpr int kCases = 1000;
constexpr int kErased = 100;
const std::string& kMasterKey = testing::TestMasterKey();

std::string CaseId(int i) { return absl::StrCat("resident-", i); }

// One case's events, a marker in every personal field they have.
std::vector<v1::Event> EventsOf(int i, MarkerMaker* mk, int64_t now_us) {
  const std::string id = CaseId(i);
  std::vector<v1::Event> out;
  auto next = [&](const std::string& tag) {
    out.push_back(BaseEvent(absl::StrCat(id, "-", tag), id, now_us));
    return &out.back();
  };
  auto* screening = next("screen");
  screening->set_channel(v1::CHANNEL_VISIT);
  screening->mutable_screening_check()->set_category(v1::CATEGORY_FEVER);
  screening->mutable_screening_check()->set_household_id(mk->For(i));
  screening->mutable_screening_check()->set_notes(mk->For(i));
  auto* fever = next("fever");
  fever->mutable_fever_reading()->set_celsius(37.9);
  fever->mutable_fever_reading()->set_location(mk->For(i));
  auto* help = next("help");
  help->mutable_help_request()->set_request_id("r1");
  help->mutable_help_request()->set_kind(v1::HELP_KIND_MEDICINE);
  help->mutable_help_request()->add_items(mk->For(i));
  help->mutable_help_request()->add_items(mk->For(i));
  auto* given = next("given");
  given->mutable_help_fulfilled()->set_request_id("r1");
  given->mutable_help_fulfilled()->set_notes(mk->For(i));
  auto* contact = next("contact");
  contact->mutable_contact_attempt()->set_outcome(v1::CONTACT_OUTCOME_REACHED);
  contact->mutable_contact_attempt()->set_notes(mk->For(i));
  auto* clue = next("clue");
  clue->mutable_clue_report()->set_description(mk->For(i));
  clue->mutable_clue_report()->set_reported_by(mk->For(i));
  auto* note = next("note");
  note->mutable_note()->set_text(mk->For(i));
  return out;
}

class ErasureTest : public testing::SealedEngineTest {
 protected:
  void SubmitAll(const std::vector<v1::Event>& events) {
    for (const v1::Event& e : events) {
      auto r = testing::SubmitSync(*engine_, Req(e));
      ASSERT_TRUE(r.ok()) << e.event_id() << ": " << r.status();
    }
  }

  // Everything the change feed would publish: every log entry, as stored.
  std::set<std::string> ScanFeed(const Markers& markers) {
    std::set<std::string> found;
    for (uint32_t p = 0; p < engine_->partition_count(); ++p) {
      uint64_t next = 1;
      for (;;) {
        std::vector<v1::LogEntry> entries;
        EXPECT_TRUE(engine_->streams().ReadLog(PartitionId(p), Position(next), 500, &entries).ok());
        if (entries.empty()) break;
        for (const auto& e : entries) FindMarkers(e.SerializeAsString(), markers, &found);
        next = entries.back().record().position() + 1;
      }
    }
    return found;
  }

  absl::StatusOr<ErasureResult> Erase(int i) {
    return engine_->erasures().Erase(testing::OfficersErasure(CaseId(i)));
  }

  // A rebuild of `sub` from its log alone, compared with its live state
  // (the engine closed first).
  RebuildReport RebuildEqualsLive(const std::string& sub) {
    engine_.reset();
    RebuildOptions options;
    options.data_dir = dir_.Sub(sub);
    options.scratch_dir = dir_.Sub(sub + "-rebuilt");
    auto report = RebuildAndCompare(options);
    EXPECT_TRUE(report.ok()) << report.status();
    if (!report.ok()) return {};
    EXPECT_FALSE(report->difference.has_value())
        << report->difference->family << " " << report->difference->key;
    return *report;
  }

  // The example directory and `n` grid workers of grid jiangan-07-04,
  // worker-0 to worker-(n-1), each with a marker as name and phone (the
  // markers' owners numbered from `first_owner`).
  static std::vector<v1::DirectoryEntry> PeopleWithMarkers(int n, MarkerMaker* mk,
                                                           int first_owner = 0) {
    std::vector<v1::DirectoryEntry> entries = testing::ExampleDirectory();
    for (int i = 0; i < n; ++i) {
      v1::DirectoryEntry& p = entries.emplace_back();
      p.mutable_person()->set_person_id(absl::StrCat("worker-", i));
      p.mutable_person()->set_name(mk->For(first_owner + i));
      p.mutable_person()->set_phone(mk->For(first_owner + i));
      p.mutable_person()->set_role(v1::ROLE_GRID_WORKER);
      p.mutable_person()->set_unit_id("jiangan-07-04");
    }
    return entries;
  }

  absl::Status Import(const std::vector<v1::DirectoryEntry>& entries, const std::string& id) {
    v1::Actor importer;
    importer.set_id("admin-1");
    importer.set_kind(v1::ACTOR_KIND_PERSON);
    return engine_->staffing().ImportDirectory(entries, id, importer).status();
  }
};

TEST_F(ErasureTest, ThousandCasesHundredErasedLeaveNoMarkerAndTheChainVerifies) {
  Open();
  testing::DeployShippedWorkflows(*engine_);
  Markers markers;
  MarkerMaker mk(&markers);
  std::vector<v1::Event> events;
  for (int i = 0; i < kCases; ++i) {
    auto mine = EventsOf(i, &mk, clock_.NowMicros());
    events.insert(events.end(), mine.begin(), mine.end());
  }
  SubmitAll(events);
  ASSERT_EQ(markers.size(), static_cast<size_t>(kCases) * 10);

  auto signer = HeadSigner::LoadOrCreate(dir_.Sub("heads.key"));
  ASSERT_TRUE(signer.ok()) << signer.status();
  ASSERT_TRUE(engine_->audit().SignHeads(**signer).ok());
  auto before = engine_->audit().Checkpoint("before");
  ASSERT_TRUE(before.ok()) << before.status();

  std::set<int> erased;
  for (int i = 0; i < kCases && erased.size() < kErased; i += kCases / kErased) erased.insert(i);
  for (int i : erased) {
    auto r = Erase(i);
    ASSERT_TRUE(r.ok()) << CaseId(i) << ": " << r.status();
    EXPECT_FALSE(r->duplicate);
  }
  clock_.AdvanceMicros(1000000);
  ASSERT_TRUE(engine_->audit().SignHeads(**signer).ok());
  FlushAndCompact();
  auto after = engine_->audit().Checkpoint("after");
  ASSERT_TRUE(after.ok()) << after.status();

  // No marker of an erased case anywhere: data directory (partitions, key
  // store, access log, both checkpoints) and the feed. The others are
  // sealed at rest too, so none is found in clear either.
  const std::set<std::string> on_disk = ScanTree(dir_.Sub("data"), markers);
  const std::set<std::string> in_feed = ScanFeed(markers);
  int erased_found = 0;
  for (const auto& m : on_disk) erased_found += erased.count(markers.at(m));
  for (const auto& m : in_feed) erased_found += erased.count(markers.at(m));
  EXPECT_EQ(erased_found, 0);
  EXPECT_TRUE(on_disk.empty()) << on_disk.size() << " markers in clear on disk";
  EXPECT_TRUE(in_feed.empty()) << in_feed.size() << " markers in clear in the feed";

  // Every other case reads back whole; erased ones answer NOT_FOUND.
  size_t readable = 0, expected = 0;
  for (int i = 0; i < kCases; ++i) {
    v1::GetTimelineRequest req;
    req.set_case_id(CaseId(i));
    auto timeline = engine_->GetTimeline(req);
    if (erased.count(i)) {
      ASSERT_FALSE(timeline.ok());
      EXPECT_TRUE(absl::IsNotFound(timeline.status()));
      EXPECT_THAT(std::string(timeline.status().message()), HasSubstr("was erased at position"));
      auto state = engine_->GetCase(CaseId(i));
      ASSERT_TRUE(state.ok());
      EXPECT_NE(state->erased_at(), 0u);
      EXPECT_EQ(state->open_tasks_size(), 0);
      EXPECT_EQ(state->deadlines_size(), 0);
      continue;
    }
    ASSERT_TRUE(timeline.ok()) << timeline.status();
    std::set<std::string> seen;
    for (const auto& r : timeline->records()) FindMarkers(r.SerializeAsString(), markers, &seen);
    for (const auto& [m, c] : markers) {
      if (c != i) continue;
      ++expected;
      readable += seen.count(m);
    }
  }
  EXPECT_EQ(readable, expected);
  EXPECT_EQ(expected, static_cast<size_t>(kCases - kErased) * 10);

  // The chain and every signed head hold over the sealed bytes.
  auto chains = engine_->audit().VerifyLog((*signer)->PublicKeyPem());
  ASSERT_TRUE(chains.ok()) << chains.status();
  uint64_t heads = 0;
  for (const ChainCheck& c : *chains) {
    EXPECT_EQ(c.first_bad_position, 0u) << c.problem;
    heads += c.signed_heads_verified;
  }
  EXPECT_GE(heads, 2u * engine_->partition_count());

  // A rebuild from the log alone equals the live state, tombstones too.
  EXPECT_GE(RebuildEqualsLive("data").cases, static_cast<uint64_t>(kCases));
}

// The same workload without sealing: the scan finds the markers, so its
// zero above means something.
TEST_F(ErasureTest, ControlWithoutSealingTheScanFindsTheMarkers) {
  Open(/*sealed=*/false, "control");
  testing::DeployShippedWorkflows(*engine_);
  Markers markers;
  MarkerMaker mk(&markers);
  std::vector<v1::Event> events;
  for (int i = 0; i < 100; ++i) {
    auto mine = EventsOf(i, &mk, clock_.NowMicros());
    events.insert(events.end(), mine.begin(), mine.end());
  }
  SubmitAll(events);
  FlushAndCompact();
  const size_t on_disk = ScanTree(dir_.Sub("control"), markers).size();
  const size_t in_feed = ScanFeed(markers).size();
  EXPECT_GE(on_disk, markers.size() * 95 / 100) << on_disk << " of " << markers.size();
  EXPECT_EQ(in_feed, markers.size());
  // And nothing can be erased there.
  auto r = Erase(1);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
}

// People of the directory are sealed under keys of their own ("person:<id>")
// and erased like residents: name, phone and the reasons given for their
// absences leave every byte of the data directory and the feed, while id,
// role and unit stay; nothing more is recorded about them; the chain and a
// rebuild hold.
TEST_F(ErasureTest, DirectoryPeopleAreSealedAndErasedToo) {
  Open();
  constexpr int kPeople = 40;
  Markers markers;
  MarkerMaker mk(&markers);
  const size_t first_person = testing::ExampleDirectory().size();
  std::vector<v1::DirectoryEntry> entries = PeopleWithMarkers(kPeople, &mk);
  auto person_id = [](int i) { return absl::StrCat("worker-", i); };
  for (int i = 0; i < kPeople; ++i) {
    v1::DirectoryEntry& a = entries.emplace_back();
    a.mutable_availability()->set_person_id(person_id(i));
    a.mutable_availability()->set_availability(v1::AVAILABILITY_ON_DUTY);
    a.mutable_availability()->set_reason(mk.For(i));
  }
  ASSERT_TRUE(Import(entries, "people-1").ok());
  EXPECT_EQ(markers.size(), static_cast<size_t>(kPeople) * 3);

  auto erase = [&](const std::string& id) {
    ErasureRequest r = testing::OfficersErasure("");
    r.person_id = id;
    r.reason = "the worker left the service and asked for erasure";
    return engine_->erasures().Erase(r);
  };
  std::set<int> erased;
  for (int i = 0; i < kPeople; i += 4) erased.insert(i);
  uint64_t first_position = 0;
  for (int i : erased) {
    auto r = erase(person_id(i));
    ASSERT_TRUE(r.ok()) << person_id(i) << ": " << r.status();
    EXPECT_FALSE(r->duplicate);
    if (i == 0) first_position = r->position;
  }
  auto again = erase(person_id(0));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->position, first_position);
  EXPECT_TRUE(absl::IsNotFound(erase("nobody").status()));
  {
    ErasureRequest both;
    both.case_id = "resident-1";
    both.person_id = person_id(1);
    both.reason = "the worker left the service and asked for erasure";
    both.legal_basis = "PIPL art. 47(1)";
    EXPECT_TRUE(absl::IsInvalidArgument(engine_->erasures().Erase(both).status()));
  }

  // Nothing more about an erased person: a registration would bring their
  // name back under a new key. Refused whole, nothing written.
  const uint64_t directory_version = engine_->GetCase(kDirectoryCaseId)->version();
  std::vector<v1::DirectoryEntry> again_entries = {entries[first_person],
                                                   entries[first_person + 1]};
  ASSERT_EQ(again_entries[0].person().person_id(), person_id(0));
  auto refused = Import(again_entries, "people-2");
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_THAT(
      std::string(refused.message()),
      HasSubstr(absl::StrCat("person ", person_id(0), " was erased at position ", first_position)));
  EXPECT_EQ(engine_->GetCase(kDirectoryCaseId)->version(), directory_version);

  // Read back after a restart: the directory opens the others' fields.
  auto check_directory = [&] {
    size_t named = 0;
    for (int i = 0; i < kPeople; ++i) {
      auto p = engine_->staffing().directory().FindPerson(person_id(i));
      ASSERT_TRUE(p.has_value()) << person_id(i);
      EXPECT_EQ(p->role, v1::ROLE_GRID_WORKER);
      EXPECT_EQ(p->unit_id, "jiangan-07-04");
      if (erased.count(i)) {
        EXPECT_NE(p->erased_at, 0u);
        EXPECT_TRUE(p->name.empty());
        EXPECT_TRUE(p->phone.empty());
        continue;
      }
      EXPECT_EQ(p->erased_at, 0u);
      named += markers.count(p->name) + markers.count(p->phone);
    }
    EXPECT_EQ(named, static_cast<size_t>(kPeople - erased.size()) * 2);
  };
  check_directory();
  engine_->Stop();
  Open();
  check_directory();
  // The directory case still reads whole: the erased people's records
  // stay sealed in it, the others' open.
  {
    v1::GetTimelineRequest req;
    req.set_case_id(kDirectoryCaseId);
    req.set_page_size(1000);
    auto timeline = engine_->GetTimeline(req);
    ASSERT_TRUE(timeline.ok()) << timeline.status();
    size_t still_sealed = 0;
    for (const auto& r : timeline->records()) still_sealed += r.has_sealed();
    EXPECT_EQ(still_sealed, erased.size() * 2);  // a registration and an availability each
  }

  FlushAndCompact();
  const std::set<std::string> on_disk = ScanTree(dir_.Sub("data"), markers);
  const std::set<std::string> in_feed = ScanFeed(markers);
  EXPECT_TRUE(on_disk.empty()) << on_disk.size() << " markers in clear on disk";
  EXPECT_TRUE(in_feed.empty()) << in_feed.size() << " markers in clear in the feed";

  auto chains = engine_->audit().VerifyLog("");
  ASSERT_TRUE(chains.ok()) << chains.status();
  for (const ChainCheck& c : *chains) EXPECT_EQ(c.first_bad_position, 0u) << c.problem;
  RebuildEqualsLive("data");
}

// Without sealing, the same directory is on disk in clear: the scan above
// can see names and phones.
TEST_F(ErasureTest, ControlWithoutSealingTheDirectoryIsInClear) {
  Open(/*sealed=*/false, "control");
  Markers markers;
  MarkerMaker mk(&markers);
  ASSERT_TRUE(Import(PeopleWithMarkers(50, &mk), "people-1").ok());
  FlushAndCompact();
  // A table file's compression may fold a few letters of a marker into a
  // back-reference (four letters recurring by chance), so not every one
  // shows; sealed, none does.
  const size_t on_disk = ScanTree(dir_.Sub("control"), markers).size();
  EXPECT_GE(on_disk, markers.size() * 3 / 4) << on_disk << " of " << markers.size();
  EXPECT_EQ(ScanFeed(markers).size(), markers.size());
}

// A data directory written before sealing, then partly by a build that
// seals (an upgrade: the realistic case), then by one that does not
// again, converted offline. The new log
// keeps every position, holds no personal field in clear, is linked to
// the old chain's heads (its origin), re-derives the old chain with the
// keys, reads back whole, takes new records and erasures, and rebuilds
// equal. The old directory is only read.
TEST_F(ErasureTest, AnOlderDataDirectoryIsConvertedLinkedToItsOldHeads) {
  Markers markers;
  MarkerMaker mk(&markers);
  auto signer = HeadSigner::LoadOrCreate(dir_.Sub("heads.key"));
  ASSERT_TRUE(signer.ok()) << signer.status();
  // Before sealing: 60 residents and the directory, in clear.
  Open(/*sealed=*/false, "old");
  testing::DeployShippedWorkflows(*engine_);
  ASSERT_TRUE(Import(PeopleWithMarkers(5, &mk, 1000), "people-1").ok());
  for (int i = 0; i < 60; ++i) SubmitAll(EventsOf(i, &mk, clock_.NowMicros()));
  ASSERT_TRUE(engine_->audit().SignHeads(**signer).ok());
  engine_->Stop();
  // After an upgrade to a build that seals: 40 more.
  Open(/*sealed=*/true, "old");
  for (int i = 60; i < 100; ++i) SubmitAll(EventsOf(i, &mk, clock_.NowMicros()));
  clock_.AdvanceMicros(1000000);
  ASSERT_TRUE(engine_->audit().SignHeads(**signer).ok());
  // A resident of the clear part cannot be erased yet: it says why.
  auto refused = Erase(3);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("gridcase storage seal"));
  engine_->Stop();
  // And 10 more by a build that does not seal again: clear after sealed.
  Open(/*sealed=*/false, "old");
  for (int i = 100; i < 110; ++i) SubmitAll(EventsOf(i, &mk, clock_.NowMicros()));
  auto old_chains = engine_->audit().VerifyLog((*signer)->PublicKeyPem());
  ASSERT_TRUE(old_chains.ok());
  engine_->Stop();
  engine_.reset();
  const size_t old_in_clear = ScanTree(dir_.Sub("old"), markers).size();
  ASSERT_GE(old_in_clear, 70u * 10 * 95 / 100);  // the scan sees what is in clear

  SealConversionOptions options;
  options.from_dir = dir_.Sub("old");
  options.to_dir = dir_.Sub("new");
  options.master_key = kMasterKey;
  options.public_key_pem = (*signer)->PublicKeyPem();
  options.converted_at_us = clock_.NowMicros();
  std::set<std::string> phases;
  options.progress = [&phases](const RebuildProgress& p) { phases.insert(p.phase); };
  auto report = SealDataDirectory(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(phases, (std::set<std::string>{"checking", "sealing", "verifying", "done"}));
  uint64_t old_records = 0, old_heads = 0;
  for (const ChainCheck& c : *old_chains) {
    old_records += c.records;
    old_heads += c.signed_heads_verified;
  }
  EXPECT_EQ(report->records, old_records);
  EXPECT_EQ(report->old_signed_heads, old_heads);
  EXPECT_EQ(report->records_sealed, 70u * 7 + 12);  // 7 events of a case; 12 people
  EXPECT_TRUE(std::filesystem::exists(dir_.Sub("new")));
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("new") + ".partial"));
  // Nothing in clear in the new directory; the old one only read.
  EXPECT_TRUE(ScanTree(dir_.Sub("new"), markers).empty());
  EXPECT_EQ(ScanTree(dir_.Sub("old"), markers).size(), old_in_clear);

  // With the keys, the old chain re-derives to the head each origin names.
  auto checks = VerifyConversion(dir_.Sub("new"), kMasterKey);
  ASSERT_TRUE(checks.ok()) << checks.status();
  for (const ConversionCheck& c : *checks) {
    EXPECT_TRUE(c.converted);
    EXPECT_TRUE(c.old_chain_rederived) << c.partition << ": " << c.problem;
  }

  // The server opens it: everything reads back, the chain holds from its
  // origin, the old signed heads verify, new records continue the chain.
  Open(/*sealed=*/true, "new");
  size_t readable = 0;
  for (int i = 0; i < 110; ++i) {
    v1::GetTimelineRequest req;
    req.set_case_id(CaseId(i));
    auto timeline = engine_->GetTimeline(req);
    ASSERT_TRUE(timeline.ok()) << timeline.status();
    std::set<std::string> seen;
    for (const auto& r : timeline->records()) FindMarkers(r.SerializeAsString(), markers, &seen);
    readable += seen.size();
  }
  EXPECT_EQ(readable, 110u * 10);
  EXPECT_TRUE(markers.count(engine_->staffing().directory().FindPerson("worker-2")->name));
  auto chains = engine_->audit().VerifyLog((*signer)->PublicKeyPem());
  ASSERT_TRUE(chains.ok()) << chains.status();
  uint64_t old_verified = 0;
  for (size_t i = 0; i < chains->size(); ++i) {
    const ChainCheck& c = (*chains)[i];
    EXPECT_EQ(c.first_bad_position, 0u) << c.problem;
    ASSERT_TRUE(c.origin.has_value());
    EXPECT_EQ(c.origin->old_records(), (*old_chains)[i].records);
    if (c.records > 0) {
      EXPECT_EQ(c.origin->old_head_hash(), (*old_chains)[i].head);
      EXPECT_NE(c.head, (*old_chains)[i].head);  // chained anew
    }
    old_verified += c.old_signed_heads_verified;
  }
  EXPECT_EQ(old_verified, old_heads);
  SubmitAll({testing::Fever("after-conversion", CaseId(1), 38.2, clock_.NowMicros())});
  // Now the clear part erases like the rest, and the chain still holds.
  auto erased = Erase(3);
  ASSERT_TRUE(erased.ok()) << erased.status();
  clock_.AdvanceMicros(1000000);
  ASSERT_TRUE(engine_->audit().SignHeads(**signer).ok());
  chains = engine_->audit().VerifyLog((*signer)->PublicKeyPem());
  ASSERT_TRUE(chains.ok());
  for (const ChainCheck& c : *chains) EXPECT_EQ(c.first_bad_position, 0u) << c.problem;
  RebuildEqualsLive("new");
  // After the erasure the old chain can no longer be re-derived where the
  // erased resident's records were: that is what erasure means.
  checks = VerifyConversion(dir_.Sub("new"), kMasterKey);
  ASSERT_TRUE(checks.ok()) << checks.status();
  size_t rederived = 0, unopenable = 0;
  for (const ConversionCheck& c : *checks) {
    rederived += c.old_chain_rederived;
    unopenable += c.unopenable;
  }
  EXPECT_EQ(rederived, checks->size() - 1);
  EXPECT_EQ(unopenable, 7u);

  // Refused: a target that exists; a damaged source (nothing made).
  auto again = SealDataDirectory(options);
  EXPECT_TRUE(absl::IsFailedPrecondition(again.status())) << again.status();
  {
    testing::RawPartition raw(dir_.Sub("old") + "/partition-001");
    std::string value = raw.Get(2);
    value[3] ^= 0x20;
    raw.Put(2, value);
  }
  options.to_dir = dir_.Sub("new2");
  auto damaged = SealDataDirectory(options);
  ASSERT_FALSE(damaged.ok());
  EXPECT_TRUE(absl::IsDataLoss(damaged.status())) << damaged.status();
  EXPECT_THAT(std::string(damaged.status().message()), HasSubstr("partition 1"));
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("new2")));
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("new2") + ".partial"));
}

TEST_F(ErasureTest, AnErasedCaseTakesNoEventAndASecondErasureIsADuplicate) {
  Open();
  testing::DeployShippedWorkflows(*engine_);
  Markers markers;
  MarkerMaker mk(&markers);
  SubmitAll(EventsOf(7, &mk, clock_.NowMicros()));
  auto first = Erase(7);
  ASSERT_TRUE(first.ok()) << first.status();
  auto again = Erase(7);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->position, first->position);

  // A late reading of the erased person: refused, naming the erasure.
  auto late = testing::SubmitSync(*engine_,
                                  Req(testing::Fever("late", CaseId(7), 38.1, clock_.NowMicros())));
  ASSERT_FALSE(late.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(late.status())) << late.status();
  EXPECT_THAT(std::string(late.status().message()),
              HasSubstr(absl::StrCat("erased at position ", first->position)));
  // A retry of an event recorded before the erasure cannot be compared
  // with what was erased: refused too, not answered as a duplicate.
  auto retry = testing::SubmitSync(*engine_, Req(EventsOf(7, &mk, clock_.NowMicros())[0]));
  ASSERT_FALSE(retry.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(retry.status())) << retry.status();

  // Bad requests, and a case that does not exist.
  ErasureRequest bad;
  bad.case_id = CaseId(8);
  bad.reason = "too short";
  bad.legal_basis = "PIPL art. 47(1)";
  EXPECT_TRUE(absl::IsInvalidArgument(engine_->erasures().Erase(bad).status()));
  bad.reason = "the resident asked for erasure after the case closed";
  bad.legal_basis = "";
  EXPECT_TRUE(absl::IsInvalidArgument(engine_->erasures().Erase(bad).status()));
  bad.legal_basis = "PIPL art. 47(1)";
  EXPECT_TRUE(absl::IsNotFound(engine_->erasures().Erase(bad).status()));
  bad.case_id = "~directory";
  EXPECT_TRUE(absl::IsInvalidArgument(engine_->erasures().Erase(bad).status()));

  // After a restart: still erased, and still a duplicate.
  Open();
  v1::GetTimelineRequest req;
  req.set_case_id(CaseId(7));
  EXPECT_TRUE(absl::IsNotFound(engine_->GetTimeline(req).status()));
  auto third = Erase(7);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_TRUE(third->duplicate);
}

// A key store put back from before an erasure (a restore with keys) holds
// the erased person's key again: opening destroys it, since the log says
// the person was erased.
// A key is given only to a case that has something to seal: an event
// without personal fields takes none (most of a day's screening checks),
// the first one with them takes a key slot, which its later records
// share; no key of the case's own name is made.
TEST_F(ErasureTest, AKeyIsGivenOnlyWhenThereIsSomethingToSeal) {
  Open();
  testing::DeployShippedWorkflows(*engine_);
  v1::Event plain = BaseEvent("plain-1", "resident-plain", clock_.NowMicros());
  plain.set_channel(v1::CHANNEL_VISIT);
  plain.mutable_screening_check()->set_category(v1::CATEGORY_NONE);
  v1::Event located = testing::Fever("located-1", "resident-located", 38.1, clock_.NowMicros());
  located.mutable_fever_reading()->set_location("compound gate");
  SubmitAll({plain, located});
  const std::string keys = dir_.Sub("data") + "/keys/subjects";
  auto has_key = [&](const std::string& case_id) {
    const std::string subject = testing::CaseKeySubject(*engine_, case_id);
    engine_->Stop();
    engine_.reset();
    auto store = privacy::KeyStore::Open(keys, kMasterKey);
    EXPECT_TRUE(store.ok()) << store.status();
    EXPECT_TRUE(store.ok() && absl::IsNotFound((*store)->Find("case:" + case_id).status()));
    const bool found = store.ok() && !subject.empty() && (*store)->Find(subject).ok();
    store->reset();
    Open();
    return found;
  };
  EXPECT_FALSE(has_key("resident-plain"));
  EXPECT_TRUE(has_key("resident-located"));
  const std::string located_key = testing::CaseKeySubject(*engine_, "resident-located");
  SubmitAll({testing::NoteEvent("note-1", "resident-plain", "lives alone, coughs at night",
                                clock_.NowMicros()),
             testing::NoteEvent("note-2", "resident-located", "moved to the compound's gate house",
                                clock_.NowMicros())});
  EXPECT_TRUE(has_key("resident-plain"));
  EXPECT_NE(testing::CaseKeySubject(*engine_, "resident-plain"), located_key);
  EXPECT_EQ(testing::CaseKeySubject(*engine_, "resident-located"), located_key);
  {
    // Both of the located case's sealed records, as stored, name its slot.
    const PartitionStore& store =
        engine_->partitions().store(engine_->partitions().PartitionOf("resident-located"));
    std::vector<v1::Record> stored;
    bool more = false;
    ASSERT_TRUE(store.ReadTimeline("resident-located", CaseVersion(0), 100, &stored, &more).ok());
    int sealed = 0;
    for (const v1::Record& r : stored) {
      if (!r.has_sealed()) continue;
      ++sealed;
      EXPECT_EQ(r.sealed().subject(), located_key) << r.position();
    }
    EXPECT_EQ(sealed, 2);
  }
  v1::GetTimelineRequest req;
  req.set_case_id("resident-plain");
  auto timeline = engine_->GetTimeline(req);
  ASSERT_TRUE(timeline.ok()) << timeline.status();
  int notes = 0;
  for (const auto& r : timeline->records()) {
    notes += r.event().note().text() == "lives alone, coughs at night";
  }
  EXPECT_EQ(notes, 1);
}

TEST_F(ErasureTest, AKeyStoreFromBeforeAnErasureIsErasedAgainAtOpen) {
  Open();
  testing::DeployShippedWorkflows(*engine_);
  Markers markers;
  MarkerMaker mk(&markers);
  SubmitAll(EventsOf(1, &mk, clock_.NowMicros()));
  SubmitAll(EventsOf(2, &mk, clock_.NowMicros()));
  const std::string first = testing::CaseKeySubject(*engine_, CaseId(1));
  const std::string second = testing::CaseKeySubject(*engine_, CaseId(2));
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  engine_.reset();
  const std::string keys = dir_.Sub("data") + "/keys/subjects";
  std::filesystem::copy(keys, dir_.Sub("keys-before"), std::filesystem::copy_options::recursive);
  Open();
  ASSERT_TRUE(Erase(1).ok());
  engine_.reset();
  {
    // The erasure destroyed the key of case 1's slot, and only that.
    auto now = privacy::KeyStore::Open(keys, kMasterKey);
    ASSERT_TRUE(now.ok()) << now.status();
    EXPECT_TRUE(absl::IsNotFound((*now)->Find(first).status()));
    EXPECT_TRUE((*now)->Find(second).ok());
  }
  std::filesystem::remove_all(keys);
  std::filesystem::copy(dir_.Sub("keys-before"), keys, std::filesystem::copy_options::recursive);
  {
    // The old key store does hold the key again.
    auto old = privacy::KeyStore::Open(keys, kMasterKey);
    ASSERT_TRUE(old.ok()) << old.status();
    EXPECT_TRUE((*old)->Find(first).ok());
  }
  Open();
  engine_.reset();
  auto reopened = privacy::KeyStore::Open(keys, kMasterKey);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_TRUE(absl::IsNotFound((*reopened)->Find(first).status()));
  EXPECT_TRUE((*reopened)->Find(second).ok());
}

// A key store made afresh beside a log whose records name key slots (a
// copy taken without keys, a lost keys directory) starts after the
// highest of them: a slot it made again would be another key under a
// name the log already uses, and erasing one case would destroy another's.
TEST_F(ErasureTest, AKeyStoreMadeAfreshBesideTheLogStartsAfterItsSlots) {
  Open();
  testing::DeployShippedWorkflows(*engine_);
  Markers markers;
  MarkerMaker mk(&markers);
  uint64_t highest = 0;
  for (int i = 1; i <= 3; ++i) {
    SubmitAll(EventsOf(i, &mk, clock_.NowMicros()));
    auto state = engine_->GetCase(CaseId(i));
    ASSERT_TRUE(state.ok()) << state.status();
    ASSERT_NE(state->key_slot(), 0u);
    highest = std::max(highest, state->key_slot());
  }
  engine_.reset();
  std::filesystem::remove_all(dir_.Sub("data") + "/keys/subjects");
  Open();
  SubmitAll(EventsOf(4, &mk, clock_.NowMicros()));
  auto fourth = engine_->GetCase(CaseId(4));
  ASSERT_TRUE(fourth.ok()) << fourth.status();
  EXPECT_GT(fourth->key_slot(), highest);
  // And again after a restart: the skip was durable.
  engine_.reset();
  Open();
  SubmitAll(EventsOf(5, &mk, clock_.NowMicros()));
  auto fifth = engine_->GetCase(CaseId(5));
  ASSERT_TRUE(fifth.ok()) << fifth.status();
  EXPECT_GT(fifth->key_slot(), fourth->key_slot());
}

// A checkpoint leaves the keys out unless asked: without them its personal
// fields stay sealed; with them they open, those of people erased after it
// was taken included (docs/privacy.md says so).
TEST_F(ErasureTest, ACheckpointLeavesTheKeysOutUnlessAsked) {
  Open();
  testing::DeployShippedWorkflows(*engine_);
  Markers markers;
  MarkerMaker mk(&markers);
  for (int i = 0; i < 2; ++i) SubmitAll(EventsOf(i, &mk, clock_.NowMicros()));
  ASSERT_TRUE(engine_->audit().Checkpoint("plain").ok());
  auto keyed = engine_->audit().Checkpoint("keyed", /*include_keys=*/true);
  ASSERT_TRUE(keyed.ok()) << keyed.status();
  EXPECT_TRUE(keyed->keys);
  ASSERT_TRUE(Erase(1).ok());
  engine_->Stop();
  engine_.reset();

  // Markers of case `i` that a timeline read of the copy in `sub` returns;
  // its status when the read fails.
  auto read_copy = [&](const std::string& sub, int i, absl::Status* status) {
    Open(true, sub);
    std::set<std::string> seen;
    v1::GetTimelineRequest req;
    req.set_case_id(CaseId(i));
    auto timeline = engine_->GetTimeline(req);
    *status = timeline.status();
    if (timeline.ok()) {
      for (const auto& r : timeline->records()) FindMarkers(r.SerializeAsString(), markers, &seen);
    }
    engine_->Stop();
    engine_.reset();
    return seen.size();
  };
  absl::Status st;
  EXPECT_EQ(read_copy("data/checkpoints/keyed", 0, &st), 10u);
  EXPECT_EQ(read_copy("data/checkpoints/keyed", 1, &st), 10u);
  EXPECT_EQ(read_copy("data/checkpoints/plain", 0, &st), 0u);
  EXPECT_TRUE(absl::IsNotFound(st));
  EXPECT_THAT(std::string(st.message()), HasSubstr("its key is not here"));

  // A server that seals nothing has no keys to copy.
  Open(false, "unsealed");
  EXPECT_TRUE(
      absl::IsFailedPrecondition(engine_->audit().Checkpoint("k", /*include_keys=*/true).status()));
}

TEST_F(ErasureTest, AnotherMasterKeyIsRefusedAtOpen) {
  Open();
  engine_.reset();
  EngineOptions options;
  options.data_dir = dir_.Sub("data");
  options.master_key = std::string(32, '\x11');
  auto engine = Engine::Open(options, &clock_);
  ASSERT_FALSE(engine.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(engine.status())) << engine.status();
  EXPECT_THAT(std::string(engine.status().message()), HasSubstr("master key is not the one"));
  EXPECT_THAT(std::string(engine.status().message()), ::testing::Not(HasSubstr("\x11\x11")));
}

}  // namespace
}  // namespace gridcase
