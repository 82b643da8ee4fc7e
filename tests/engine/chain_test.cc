// The hash chain: every stored record chains to the one before it, and
// tampering with the store while the server is down is found at exactly the
// record tampered with.
#include "engine/storage/chain.h"

#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "engine/engine.h"
#include "engine/storage/keys.h"
#include "engine/storage/signer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"
#include "tests/support/raw_partition.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::Fever;
using ::gridcase::testing::NoteEvent;
using ::gridcase::testing::Req;
using ::testing::HasSubstr;

using ::gridcase::testing::RawPartition;

// The chain's definition is the format: a record's hash is SHA-256 over
// the previous hash and the record's bytes. Expected values from another
// implementation (Python's hashlib).
TEST(ChainHashTest, IsSha256OfThePreviousHashAndTheRecord) {
  EXPECT_EQ(absl::BytesToHexString(ChainHash(GenesisHash(), "abc")),
            "365aa7d8f7f9402c4b9434502b4cc89ddb09fe50d7cd95b493b834c62d5a5370");
  const std::string prev =
      absl::HexStringToBytes("d949311b01aeda1f00bdfec8ca70d3064a71741822520b696a44b9a83eb40e9e");
  std::string record;
  for (int i = 0; i < 4 * 256; ++i) record.push_back(static_cast<char>(i % 256));
  EXPECT_EQ(absl::BytesToHexString(ChainHash(prev, record)),
            "da2911baf4be9a37c695a8de0b570360d63be35d20b7468a3a23e9949eb2672e");
}

// Each thread hashes with its own context: threads hashing at once (the
// partitions' sequencers, audits) get the same answers as one alone.
TEST(ChainHashTest, ThreadsHashingAtOnceAgree) {
  std::vector<std::string> alone;
  for (int i = 0; i < 200; ++i) alone.push_back(ChainHash(GenesisHash(), std::to_string(i)));
  std::vector<std::vector<std::string>> seen(4);
  std::vector<std::thread> threads;
  for (auto& out : seen) {
    threads.emplace_back([&out] {
      for (int i = 0; i < 200; ++i) out.push_back(ChainHash(GenesisHash(), std::to_string(i)));
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& out : seen) EXPECT_EQ(out, alone);
}

class ChainTest : public ::testing::Test {
 protected:
  ChainTest() : clock_(testing::kFeb22EveningUs + 60 * 1000000LL) {}

  void SetUp() override {
    Open();
    testing::DeployShippedWorkflows(*engine_);
    for (int i = 0; i < 40; ++i) {
      const std::string c = "c" + std::to_string(i % 5);
      Submit(i < 5 ? Fever("f" + std::to_string(i), c, 36.6)  // opens c0..c4
                   : NoteEvent("n" + std::to_string(i), c, "visit"));
    }
  }

  void Open() {
    EngineOptions options;
    options.data_dir = dir_.Sub("data");
    options.partitions = 1;  // one chain, easy to point into
    auto engine = Engine::Open(options, &clock_);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }

  void Submit(const v1::Event& e) {
    auto r = testing::SubmitSync(*engine_, Req(e));
    ASSERT_TRUE(r.ok()) << r.status();
  }

  ChainCheck Verify() {
    auto checks = engine_->audit().VerifyLog();
    EXPECT_TRUE(checks.ok()) << checks.status();
    EXPECT_EQ(checks->size(), 1u);
    return checks->front();
  }

  std::string PartitionDir() { return dir_.Sub("data") + "/partition-000"; }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(ChainTest, AnUntouchedLogVerifiesAndItsHeadIsTheLastHash) {
  const ChainCheck check = Verify();
  EXPECT_EQ(check.first_bad_position, 0u);
  EXPECT_GT(check.records, 40u);  // submitted, derived and the deployments
  EXPECT_EQ(check.head.size(), kHashBytes);
  // The chain continues across a restart.
  engine_.reset();
  Open();
  Submit(NoteEvent("after", "c1", "after the restart"));
  const ChainCheck again = Verify();
  EXPECT_EQ(again.first_bad_position, 0u);
  EXPECT_EQ(again.records, check.records + 1);
}

TEST_F(ChainTest, OneChangedByteIsFoundAtItsRecord) {
  const uint64_t records = Verify().records;
  engine_.reset();
  {
    RawPartition raw(PartitionDir());
    std::string value = raw.Get(17);
    value[value.size() / 3] ^= 0x01;  // inside the record's bytes
    raw.Put(17, value);
  }
  Open();
  const ChainCheck check = Verify();
  EXPECT_EQ(check.first_bad_position, 17u);
  EXPECT_THAT(check.problem, HasSubstr("do not match its hash"));
  EXPECT_EQ(check.records, 16u);
  EXPECT_LT(check.records, records);
}

TEST_F(ChainTest, ADeletedRecordIsFound) {
  engine_.reset();
  {
    RawPartition raw(PartitionDir());
    raw.Delete(23);
  }
  Open();
  const ChainCheck check = Verify();
  EXPECT_EQ(check.first_bad_position, 23u);
  EXPECT_THAT(check.problem, HasSubstr("record 23 is missing"));
}

TEST_F(ChainTest, ARecordRehashedOnItsOwnBreaksTheNextLink) {
  // Someone changes record 9 and recomputes its hash, but not the chain
  // after it: record 10 no longer follows.
  engine_.reset();
  {
    RawPartition raw(PartitionDir());
    StoredRecord stored;
    const std::string old_value = raw.Get(9);
    ASSERT_TRUE(DecodeStoredRecord(old_value, &stored).ok());
    v1::Record record;
    ASSERT_TRUE(record.ParseFromArray(stored.record_bytes.data(),
                                      static_cast<int>(stored.record_bytes.size())));
    record.mutable_event()->mutable_actor()->set_id("someone-else");
    const std::string bytes = record.SerializeAsString();
    const std::string prev(stored.prev_hash);
    raw.Put(9, EncodeStoredRecord(bytes, prev, ChainHash(prev, bytes)));
  }
  Open();
  const ChainCheck check = Verify();
  EXPECT_EQ(check.first_bad_position, 10u);
  EXPECT_THAT(check.problem, HasSubstr("previous-hash does not match"));
}

TEST_F(ChainTest, ARewriteThatRecomputesEveryHashIsCaughtBySignedHeads) {
  auto signer = HeadSigner::LoadOrCreate(dir_.Sub("head.key"));
  ASSERT_TRUE(signer.ok()) << signer.status();
  ASSERT_TRUE(engine_->audit().SignHeads(**signer).ok());
  const std::string public_key = (*signer)->PublicKeyPem();
  const ChainCheck before = engine_->audit().VerifyLog(public_key)->front();
  EXPECT_EQ(before.first_bad_position, 0u);
  EXPECT_EQ(before.signed_heads_verified, 1u);
  const uint64_t signed_position = before.records;
  // A second signature only when the head moved.
  EXPECT_EQ(*engine_->audit().SignHeads(**signer), 0u);

  engine_.reset();
  {
    // Someone with the disk changes record 12 and recomputes every hash
    // after it: the chain alone cannot tell.
    RawPartition raw(PartitionDir());
    testing::RewriteConsistently(raw, 12, signed_position, [](v1::Record* record) {
      record->mutable_event()->mutable_actor()->set_id("someone-else");
    });
  }
  Open();
  EXPECT_EQ(engine_->audit().VerifyLog()->front().first_bad_position,
            0u);                                                             // the chain holds...
  const ChainCheck check = engine_->audit().VerifyLog(public_key)->front();  // ...the signature not
  EXPECT_EQ(check.first_bad_position, signed_position);
  EXPECT_THAT(check.problem, HasSubstr("rewritten"));

  // Another key cannot vouch for the heads.
  auto other = HeadSigner::LoadOrCreate(dir_.Sub("other.key"));
  ASSERT_TRUE(other.ok());
  EXPECT_THAT(engine_->audit().VerifyLog((*other)->PublicKeyPem())->front().problem,
              HasSubstr("signature"));
}

}  // namespace
}  // namespace gridcase
