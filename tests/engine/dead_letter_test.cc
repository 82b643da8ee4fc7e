// Dead letters under sealing, over real RocksDB stores: a stream message
// that could not take effect is kept, until handed on, with its bytes
// sealed under a key of its own; the key is destroyed when the letter is
// handed on or its case is erased, and a message about a case already
// erased keeps no bytes at all. A byte scan of the data directory finds no
// marker a message carried; the control run without sealing finds them.
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/audit/seal_conversion.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"
#include "tests/support/markers.h"
#include "tests/support/sealed_engine.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::BaseEvent;
using ::gridcase::testing::MarkerMaker;
using ::gridcase::testing::Markers;
using ::gridcase::testing::Req;
using ::gridcase::testing::ScanTree;
using ::gridcase::testing::SubmitFromStreamSync;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string& kMasterKey = testing::TestMasterKey();
constexpr char kSource[] = "events/0";

class DeadLetterTest : public testing::SealedEngineTest {
 protected:
  DeadLetterTest() : mk_(&markers_) {}

  // A fever reading of `case_id` with a marker as its place.
  v1::Event FeverWithMarker(const std::string& event_id, const std::string& case_id,
                            double celsius) {
    v1::Event e = BaseEvent(event_id, case_id, clock_.NowMicros());
    e.mutable_fever_reading()->set_celsius(celsius);
    e.mutable_fever_reading()->set_location(mk_.For(0));
    return e;
  }

  // Three poison messages, each carrying a marker, at offsets 1-3: bytes
  // that do not parse; a reading out of range for a new case; a reading
  // of the existing case `existing` with a version it is not at.
  void SendPoison(const std::string& existing) {
    auto unreadable = SubmitFromStreamSync(*engine_, absl::InvalidArgumentError("not JSON"),
                                           {kSource, 1, "{\"notes\": \"" + mk_.For(0)});
    EXPECT_TRUE(absl::IsInvalidArgument(unreadable.status())) << unreadable.status();
    const v1::Event hot = FeverWithMarker("p-2", "new-case", 55.0);
    auto range = SubmitFromStreamSync(*engine_, Req(hot), {kSource, 2, hot.SerializeAsString()});
    EXPECT_TRUE(absl::IsInvalidArgument(range.status())) << range.status();
    v1::SubmitRequest stale = Req(FeverWithMarker("p-3", existing, 37.0));
    stale.set_expected_version(99);
    auto version = SubmitFromStreamSync(*engine_, stale, {kSource, 3, stale.SerializeAsString()});
    EXPECT_TRUE(absl::IsFailedPrecondition(version.status())) << version.status();
  }

  // Every dead letter the engine holds, by offset, as stored, with its
  // partition and key.
  struct Stored {
    PartitionId partition;
    std::string key;
    v1::DeadLetter letter;
  };
  std::map<int64_t, Stored> Letters() {
    std::map<int64_t, Stored> out;
    for (uint32_t p = 0; p < engine_->partition_count(); ++p) {
      std::vector<std::pair<std::string, v1::DeadLetter>> rows;
      EXPECT_TRUE(engine_->streams().DeadLetters(PartitionId(p), 100, &rows).ok());
      for (auto& [key, letter] : rows) {
        const int64_t offset = letter.offset();
        out[offset] = Stored{PartitionId(p), key, std::move(letter)};
      }
    }
    return out;
  }

  absl::Status Erase(const std::string& case_id) {
    return engine_->erasures().Erase(testing::OfficersErasure(case_id)).status();
  }

  // Opens a letter as the hand-off does.
  absl::StatusOr<std::string> OpenLetter(Stored stored) {
    if (auto st = engine_->streams().OpenDeadLetter(stored.partition, &stored.letter); !st.ok()) {
      return st;
    }
    return stored.letter.original();
  }

  Markers markers_;
  MarkerMaker mk_;
};

TEST_F(DeadLetterTest, ALetterIsSealedUnderAKeyOfItsOwnDestroyedWhenHandedOn) {
  Open();
  testing::DeployShippedWorkflows(*engine_);
  ASSERT_TRUE(testing::SubmitSync(*engine_, Req(FeverWithMarker("e-1", "existing", 37.0))).ok());
  const size_t before = markers_.size();
  SendPoison("existing");
  ASSERT_EQ(markers_.size(), before + 3);

  engine_.reset();
  Open();  // durable, and still sealed after a restart
  auto letters = Letters();
  ASSERT_EQ(letters.size(), 3u);
  std::set<std::string> subjects;
  for (const auto& [offset, stored] : letters) {
    SCOPED_TRACE(offset);
    const v1::DeadLetter& l = stored.letter;
    EXPECT_TRUE(l.original().empty());
    ASSERT_TRUE(l.has_sealed());
    EXPECT_EQ(l.sealed().subject(),
              privacy::RecordSealer::LetterSubject(stored.partition.value(), kSource, offset));
    subjects.insert(l.sealed().subject());
    std::set<std::string> found;
    testing::FindMarkers(l.SerializeAsString(), markers_, &found);
    EXPECT_THAT(found, IsEmpty());
    auto original = OpenLetter(stored);
    ASSERT_TRUE(original.ok()) << original.status();
    found.clear();
    testing::FindMarkers(*original, markers_, &found);
    EXPECT_EQ(found.size(), 1u);  // the marker it came with, opened for the hand-off
  }
  EXPECT_EQ(subjects.size(), 3u);
  EXPECT_EQ(letters[1].letter.case_id(), "");
  EXPECT_EQ(letters[2].letter.case_id(), "new-case");
  EXPECT_EQ(letters[3].letter.case_id(), "existing");
  EXPECT_THAT(letters[3].letter.reason(), HasSubstr("expected_version 99"));

  // No byte of the data directory holds a message's marker (the reading
  // that was applied is sealed too).
  FlushAndCompact();
  EXPECT_THAT(ScanTree(dir_.Sub("data"), markers_), IsEmpty());

  // A sealed letter moved to another place does not open.
  Stored moved = letters[1];
  moved.letter.set_offset(7);
  EXPECT_TRUE(absl::IsDataLoss(OpenLetter(moved).status()));

  // Handed on: each key goes before its row.
  for (const auto& [offset, stored] : letters) {
    ASSERT_TRUE(engine_->streams().RemoveDeadLetters(stored.partition, {stored.key}).ok());
  }
  EXPECT_THAT(Letters(), IsEmpty());
  const std::string existing = testing::CaseKeySubject(*engine_, "existing");
  ASSERT_FALSE(existing.empty());
  engine_.reset();
  auto keys = privacy::KeyStore::Open(dir_.Sub("data") + "/keys/subjects", kMasterKey);
  ASSERT_TRUE(keys.ok()) << keys.status();
  for (const std::string& subject : subjects) {
    EXPECT_TRUE(absl::IsNotFound((*keys)->Find(subject).status())) << subject;
  }
  EXPECT_TRUE((*keys)->Find(existing).ok());
}

TEST_F(DeadLetterTest, ControlWithoutSealingTheScanFindsTheMarkers) {
  Open(/*sealed=*/false);
  testing::DeployShippedWorkflows(*engine_);
  ASSERT_TRUE(testing::SubmitSync(*engine_, Req(FeverWithMarker("e-1", "existing", 37.0))).ok());
  SendPoison("existing");
  auto letters = Letters();
  ASSERT_EQ(letters.size(), 3u);
  for (const auto& [offset, stored] : letters) EXPECT_FALSE(stored.letter.has_sealed());
  FlushAndCompact();
  EXPECT_EQ(ScanTree(dir_.Sub("data"), markers_).size(), markers_.size());
}

// What a stream sent about a case goes with the case: its letters' keys
// are destroyed by the erasure, and a message that names the case once it
// is erased keeps nothing of its bytes.
TEST_F(DeadLetterTest, AnErasedCasesLettersCannotBeOpened) {
  Open();
  testing::DeployShippedWorkflows(*engine_);
  ASSERT_TRUE(testing::SubmitSync(*engine_, Req(FeverWithMarker("e-1", "existing", 37.0))).ok());
  SendPoison("existing");
  ASSERT_TRUE(Erase("existing").ok());
  auto letters = Letters();
  ASSERT_EQ(letters.size(), 3u);
  auto erased = OpenLetter(letters[3]);
  EXPECT_TRUE(absl::IsNotFound(erased.status())) << erased.status();
  // The others are no one's but their own.
  EXPECT_TRUE(OpenLetter(letters[1]).ok());
  EXPECT_TRUE(OpenLetter(letters[2]).ok());

  // Sent after the erasure: refused, and kept without its bytes.
  const v1::Event late = FeverWithMarker("p-4", "existing", 37.1);
  auto refused = SubmitFromStreamSync(*engine_, Req(late), {kSource, 4, late.SerializeAsString()});
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  letters = Letters();
  ASSERT_EQ(letters.count(4), 1u);
  EXPECT_FALSE(letters[4].letter.has_sealed());
  EXPECT_TRUE(letters[4].letter.original().empty());
  EXPECT_THAT(letters[4].letter.reason(), HasSubstr("erased"));

  // What was sent about the erased case is nowhere in clear; the two
  // other letters still hold theirs, sealed.
  FlushAndCompact();
  EXPECT_THAT(ScanTree(dir_.Sub("data"), markers_), IsEmpty());
}

// An erasure whose letter keys outlived a crash (the key store from before
// it put back) destroys them at the next open.
TEST_F(DeadLetterTest, LetterKeysOutlivingAnErasureAreDestroyedAtOpen) {
  Open();
  testing::DeployShippedWorkflows(*engine_);
  ASSERT_TRUE(testing::SubmitSync(*engine_, Req(FeverWithMarker("e-1", "existing", 37.0))).ok());
  SendPoison("existing");
  auto letters = Letters();
  const std::string subject = letters[3].letter.sealed().subject();
  engine_.reset();
  const std::string keys = dir_.Sub("data") + "/keys/subjects";
  std::filesystem::copy(keys, dir_.Sub("keys-before"), std::filesystem::copy_options::recursive);
  Open();
  ASSERT_TRUE(Erase("existing").ok());
  engine_.reset();
  std::filesystem::remove_all(keys);
  std::filesystem::copy(dir_.Sub("keys-before"), keys, std::filesystem::copy_options::recursive);
  {
    auto old = privacy::KeyStore::Open(keys, kMasterKey);
    ASSERT_TRUE(old.ok()) << old.status();
    EXPECT_TRUE((*old)->Find(subject).ok());
  }
  Open();
  letters = Letters();
  EXPECT_TRUE(absl::IsNotFound(OpenLetter(letters[3]).status()));
  EXPECT_TRUE(OpenLetter(letters[1]).ok());
}

// A data directory written before sealing, with letters not yet handed
// on, has them sealed by the conversion, and they open afterwards.
TEST_F(DeadLetterTest, AConversionSealsLettersNotYetHandedOn) {
  Open(/*sealed=*/false, "old");
  testing::DeployShippedWorkflows(*engine_);
  ASSERT_TRUE(testing::SubmitSync(*engine_, Req(FeverWithMarker("e-1", "existing", 37.0))).ok());
  SendPoison("existing");
  std::map<int64_t, std::string> originals;
  for (const auto& [offset, stored] : Letters()) originals[offset] = stored.letter.original();
  engine_.reset();

  SealConversionOptions options;
  options.from_dir = dir_.Sub("old");
  options.to_dir = dir_.Sub("new");
  options.master_key = kMasterKey;
  options.converted_at_us = clock_.NowMicros();
  auto report = SealDataDirectory(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->letters_sealed, 3u);
  EXPECT_EQ(report->records_sealed, 1u);

  Open(/*sealed=*/true, "new");
  auto letters = Letters();
  ASSERT_EQ(letters.size(), 3u);
  for (const auto& [offset, stored] : letters) {
    EXPECT_TRUE(stored.letter.has_sealed());
    auto original = OpenLetter(stored);
    ASSERT_TRUE(original.ok()) << original.status();
    EXPECT_EQ(*original, originals[offset]);
  }
  FlushAndCompact();
  EXPECT_THAT(ScanTree(dir_.Sub("new"), markers_), IsEmpty());
}

}  // namespace
}  // namespace gridcase
