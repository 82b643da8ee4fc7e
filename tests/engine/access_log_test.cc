// The access log on its own: records chained and durable, found by every
// index, paged without loss or repetition, long answers kept as a count and
// a digest, a reopen continuing the chain, break-glass reads counted per
// caller and hour, a failed write failing every later append (fail
// closed), and an altered record caught by the chain and the signed heads.
#include "engine/access/access_log.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/audit/auditor.h"
#include "engine/common/clock.h"
#include "engine/common/time.h"
#include "engine/engine.h"
#include "engine/storage/chain.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/keys.h"
#include "engine/storage/signer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "tests/support/fault_fs.h"
#include "tests/support/temp_dir.h"

namespace gridcase {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kStartUs = int64_t{1582373100} * 1'000'000;  // 2020-02-22 12:05 UTC
constexpr int64_t kMinuteUs = int64_t{60} * 1'000'000;

v1::AccessRecord Read(const std::string& caller, const std::vector<std::string>& cases,
                      const std::vector<std::string>& people = {}) {
  v1::AccessRecord r;
  r.set_caller(caller);
  r.set_role("grid worker");
  r.set_call("CaseService/GetCase");
  for (const auto& c : cases) r.add_case_ids(c);
  for (const auto& p : people) r.add_person_ids(p);
  return r;
}

v1::AccessRecord BreakGlass(const std::string& caller, const std::string& case_id,
                            const std::string& officer) {
  v1::AccessRecord r = Read(caller, {case_id});
  r.mutable_break_glass()->set_reason("a fever call from the family, worker unreachable");
  r.mutable_break_glass()->add_notified(officer);
  return r;
}

class AccessLogTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(rocksdb::Env* env = nullptr) {
    log_.reset();
    auto log = AccessLog::Open(dir_.Sub("access"), env, &clock_);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = std::move(*log);
  }

  uint64_t Append(v1::AccessRecord r) {
    auto position = log_->AppendAndWait(std::move(r));
    EXPECT_TRUE(position.ok()) << position.status();
    return position.ok() ? *position : 0;
  }

  // Every record `q` matches, following page tokens; the positions in
  // order.
  std::vector<uint64_t> ReadAll(v1::ReadAccessRequest q, uint32_t page_size = 3) {
    q.set_page_size(page_size);
    std::vector<uint64_t> positions;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = log_->Read(q);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      EXPECT_LE(page->entries_size(), static_cast<int>(page_size));
      for (const auto& e : page->entries()) positions.push_back(e.record().position());
      if (page->next_page_token().empty()) break;
      q.set_page_token(page->next_page_token());
    }
    return positions;
  }

  testing::TempDir dir_;
  FakeClock clock_{kStartUs};
  std::unique_ptr<AccessLog> log_;
};

TEST_F(AccessLogTest, RecordsAreNumberedTimedChainedAndVerify) {
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Append(Read("gridcase:person:w1", {absl::StrCat("case-", i)})), uint64_t(i + 1));
    clock_.AdvanceMicros(1000);
  }
  std::vector<std::string> hashes;
  auto check = log_->VerifyChain([&](uint64_t, const std::string& h) { hashes.push_back(h); });
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->records, 20u);
  EXPECT_EQ(check->first_bad_position, 0u);
  EXPECT_EQ(log_->head().first, 20u);
  EXPECT_EQ(log_->head().second, check->head);
  EXPECT_EQ(std::set<std::string>(hashes.begin(), hashes.end()).size(), 20u);

  v1::ReadAccessRequest q;
  q.set_case_id("case-7");
  auto page = log_->Read(q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries_size(), 1);
  const v1::AccessRecord& r = page->entries(0).record();
  EXPECT_EQ(r.position(), 8u);
  EXPECT_EQ(Micros(r.recorded_at()), kStartUs + 7 * 1000);
  EXPECT_EQ(r.case_count(), 1u);
  EXPECT_TRUE(r.ids_listed());
  EXPECT_EQ(r.digest(), AccessDigest({"case-7"}, {}));
  EXPECT_EQ(page->entries(0).prev_hash(), hashes[6]);
  EXPECT_EQ(page->entries(0).hash(), hashes[7]);
}

TEST_F(AccessLogTest, EveryIndexFindsItsRecordsAndPagesNeitherLoseNorRepeat) {
  // 60 reads by three callers over ten cases and ten people; every fifth
  // a break-glass read told to one of two officers.
  std::map<std::string, std::vector<uint64_t>> by_case, by_person, by_caller, by_notified;
  std::vector<uint64_t> glass;
  for (int i = 0; i < 60; ++i) {
    const std::string caller = absl::StrCat("gridcase:person:w", i % 3);
    const std::string case_id = absl::StrCat("case-", i % 10);
    const std::string person = absl::StrCat("p-", i % 7);
    v1::AccessRecord r = i % 5 == 0 ? BreakGlass(caller, case_id, absl::StrCat("off-", i % 2))
                                    : Read(caller, {case_id});
    r.add_person_ids(person);
    const uint64_t position = Append(std::move(r));
    by_case[case_id].push_back(position);
    by_person[person].push_back(position);
    by_caller[caller].push_back(position);
    if (i % 5 == 0) {
      glass.push_back(position);
      by_notified[absl::StrCat("off-", i % 2)].push_back(position);
    }
  }
  for (const auto& [id, want] : by_case) {
    v1::ReadAccessRequest q;
    q.set_case_id(id);
    EXPECT_EQ(ReadAll(q), want) << id;
  }
  for (const auto& [id, want] : by_person) {
    v1::ReadAccessRequest q;
    q.set_person_id(id);
    EXPECT_EQ(ReadAll(q), want) << id;
  }
  for (const auto& [id, want] : by_caller) {
    v1::ReadAccessRequest q;
    q.set_caller(id);
    EXPECT_EQ(ReadAll(q, 7), want) << id;
  }
  for (const auto& [id, want] : by_notified) {
    v1::ReadAccessRequest q;
    q.set_notified(id);
    EXPECT_EQ(ReadAll(q), want) << id;
  }
  v1::ReadAccessRequest only_glass;
  only_glass.set_break_glass_only(true);
  EXPECT_EQ(ReadAll(only_glass), glass);
  // Filters combine: one caller's reads of one case.
  v1::ReadAccessRequest both;
  both.set_caller("gridcase:person:w1");
  both.set_case_id("case-1");
  std::vector<uint64_t> want;
  for (uint64_t p : by_case["case-1"]) {
    if (std::count(by_caller["gridcase:person:w1"].begin(), by_caller["gridcase:person:w1"].end(),
                   p)) {
      want.push_back(p);
    }
  }
  EXPECT_EQ(ReadAll(both), want);
  ASSERT_FALSE(want.empty());
  v1::ReadAccessRequest all;
  EXPECT_EQ(ReadAll(all, 1000).size(), 60u);
}

TEST_F(AccessLogTest, ABadPageTokenOrIdIsRefused) {
  Append(Read("gridcase:person:w1", {"case-1"}));
  v1::ReadAccessRequest q;
  q.set_page_token("not-a-token");
  EXPECT_EQ(log_->Read(q).status().code(), absl::StatusCode::kInvalidArgument);
  v1::ReadAccessRequest zero;
  zero.set_case_id(std::string("case\0x", 6));
  EXPECT_EQ(log_->Read(zero).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AccessLogTest, ALongAnswerKeepsItsCountAndDigestAndIsFoundWithUnlisted) {
  std::vector<std::string> cases;
  for (int i = 0; i < 1500; ++i) cases.push_back(absl::StrCat("case-", i));
  const uint64_t position = Append(Read("gridcase:app:triage", cases));
  Append(Read("gridcase:person:w1", {"case-9"}));
  v1::ReadAccessRequest q;
  q.set_caller("gridcase:app:triage");
  auto page = log_->Read(q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries_size(), 1);
  const v1::AccessRecord& r = page->entries(0).record();
  EXPECT_FALSE(r.ids_listed());
  EXPECT_EQ(r.case_count(), 1500u);
  EXPECT_EQ(r.case_ids_size(), static_cast<int>(kAccessIdsListedMax));
  EXPECT_EQ(r.digest(), AccessDigest(cases, {}));
  // Asked for case-9: the listed read, and with include_unlisted the long
  // one too (its answer may have held it).
  v1::ReadAccessRequest nine;
  nine.set_case_id("case-9");
  EXPECT_EQ(ReadAll(nine), std::vector<uint64_t>{2});
  nine.set_include_unlisted(true);
  EXPECT_EQ(ReadAll(nine), (std::vector<uint64_t>{position, 2}));
}

TEST_F(AccessLogTest, AReopenContinuesTheChainAndTimeNeverGoesBack) {
  for (int i = 0; i < 5; ++i) Append(Read("gridcase:person:w1", {"case-1"}));
  const auto head = log_->head();
  Open();
  EXPECT_EQ(log_->head(), head);
  clock_.AdvanceMicros(-kMinuteUs);  // the clock stepped back
  EXPECT_EQ(Append(Read("gridcase:person:w1", {"case-1"})), 6u);
  auto check = log_->VerifyChain(nullptr);
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->records, 6u);
  EXPECT_EQ(check->first_bad_position, 0u);
  v1::ReadAccessRequest q;
  q.set_page_size(10);
  auto page = log_->Read(q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries_size(), 6);
  EXPECT_GE(Micros(page->entries(5).record().recorded_at()),
            Micros(page->entries(4).record().recorded_at()));
}

TEST_F(AccessLogTest, BreakGlassReadsAreCountedPerCallerSinceATime) {
  Append(BreakGlass("gridcase:person:sec-1", "case-1", "off-1"));
  clock_.AdvanceMicros(30 * kMinuteUs);
  Append(Read("gridcase:person:sec-1", {"case-2"}));  // an ordinary read
  Append(BreakGlass("gridcase:person:sec-1", "case-3", "off-1"));
  Append(BreakGlass("gridcase:person:sec-2", "case-4", "off-1"));
  clock_.AdvanceMicros(40 * kMinuteUs);
  const int64_t hour_ago = clock_.NowMicros() - 60 * kMinuteUs;
  EXPECT_EQ(*log_->CountBreakGlass("gridcase:person:sec-1", hour_ago), 1u);
  EXPECT_EQ(*log_->CountBreakGlass("gridcase:person:sec-1", kStartUs), 2u);
  EXPECT_EQ(*log_->CountBreakGlass("gridcase:person:sec-2", hour_ago), 1u);
  EXPECT_EQ(*log_->CountBreakGlass("gridcase:person:nobody", kStartUs), 0u);
}

TEST_F(AccessLogTest, AFailedWriteFailsEveryLaterAppendUntilReopened) {
  auto fs = std::make_shared<testing::FaultFs>();
  auto env = testing::EnvOver(fs);
  Open(env.get());
  EXPECT_EQ(Append(Read("gridcase:person:w1", {"case-1"})), 1u);
  fs->Arm();
  auto failed = log_->AppendAndWait(Read("gridcase:person:w1", {"case-2"}));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  fs->Disarm();
  // The disk works again, but the log no longer trusts its head: still no.
  auto still = log_->AppendAndWait(Read("gridcase:person:w1", {"case-3"}));
  EXPECT_EQ(still.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(log_->stats().failure, HasSubstr("injected fault"));
  EXPECT_GT(fs->failures(), 0);
  Open(env.get());
  EXPECT_EQ(Append(Read("gridcase:person:w1", {"case-4"})), 2u);
  auto check = log_->VerifyChain(nullptr);
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->records, 2u);
  EXPECT_EQ(check->first_bad_position, 0u);
  log_.reset();  // before the environment it runs on
}

TEST_F(AccessLogTest, AnAlteredRecordBreaksTheChain) {
  for (int i = 0; i < 10; ++i) Append(Read("gridcase:person:w1", {absl::StrCat("case-", i)}));
  log_.reset();
  {
    // Someone with the disk changes who read at position 4.
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir_.Sub("access"), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::string key(1, 'r');
    keys::PutFixed64Be(&key, 4);
    std::string value;
    ASSERT_TRUE(db->Get({}, key, &value).ok());
    StoredRecord stored;
    ASSERT_TRUE(DecodeStoredRecord(value, &stored).ok());
    v1::AccessRecord r;
    ASSERT_TRUE(r.ParseFromArray(stored.record_bytes.data(), stored.record_bytes.size()));
    r.set_caller("gridcase:person:someone-else");
    const std::string bytes = r.SerializeAsString();
    const std::string prev(stored.prev_hash);
    ASSERT_TRUE(db->Put({}, key, EncodeStoredRecord(bytes, prev, ChainHash(prev, bytes))).ok());
  }
  Open();
  auto check = log_->VerifyChain(nullptr);
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->first_bad_position, 5u);
  EXPECT_EQ(check->records, 4u);
  EXPECT_THAT(check->problem, HasSubstr("previous-hash does not match"));
}

// An engine of two partitions in `dir`, its access log holding `reads`
// reads of case-1.
absl::StatusOr<std::unique_ptr<Engine>> EngineWithReads(const testing::TempDir& dir,
                                                        const Clock* clock, int reads) {
  EngineOptions options;
  options.data_dir = dir.Sub("data");
  options.partitions = 2;
  auto engine = Engine::Open(options, clock);
  for (int i = 0; engine.ok() && i < reads; ++i) {
    auto appended = (*engine)->access().AppendAndWait(Read("gridcase:person:w1", {"case-1"}));
    if (!appended.ok()) return appended.status();
  }
  return engine;
}

TEST(AccessLogAuditTest, TheEnginesSignedHeadsCoverTheAccessLog) {
  testing::TempDir dir;
  SystemClock clock;
  auto engine = EngineWithReads(dir, &clock, 3);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto signer = HeadSigner::LoadOrCreate(dir.Sub("head.key"));
  ASSERT_TRUE(signer.ok()) << signer.status();
  ASSERT_TRUE((*engine)->audit().SignHeads(**signer).ok());
  auto check = (*engine)->audit().VerifyAccessLog((*signer)->PublicKeyPem());
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->records, 3u);
  EXPECT_EQ(check->signed_heads_verified, 1u);
  EXPECT_EQ(check->first_bad_position, 0u);
  // Another key cannot vouch for them.
  auto other = HeadSigner::LoadOrCreate(dir.Sub("other.key"));
  ASSERT_TRUE(other.ok());
  EXPECT_THAT((*engine)->audit().VerifyAccessLog((*other)->PublicKeyPem())->problem,
              HasSubstr("signature"));
  (*engine)->Stop();
}

TEST(AccessLogAuditTest, ACheckpointHoldsTheAccessLogAsItWas) {
  testing::TempDir dir;
  SystemClock clock;
  auto engine = EngineWithReads(dir, &clock, 5);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto info = (*engine)->audit().Checkpoint("c1");
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_TRUE((*engine)->access().AppendAndWait(Read("gridcase:person:w1", {"case-2"})).ok());
  (*engine)->Stop();

  auto copy = AccessLog::Open(AccessLogDir(info->dir), nullptr, &clock);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ((*copy)->head().first, 5u) << "the reads before the checkpoint, and no later one";
  auto check = (*copy)->VerifyChain(nullptr);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->records, 5u);
  EXPECT_EQ(check->first_bad_position, 0u);
}

}  // namespace
}  // namespace gridcase
