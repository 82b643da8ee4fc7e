// A data directory of an earlier storage format has its case states folded
// again from the log when it opens: what the server decides next and what
// an audit rebuild finds are the fold of the log under this build's code.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/audit/rebuild.h"
#include "engine/engine.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/keys.h"
#include "engine/storage/store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/write_batch.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::BaseEvent;
using ::gridcase::testing::Fever;
using ::gridcase::testing::Req;
using ::testing::HasSubstr;

constexpr int64_t kStartUs = testing::kFeb22EveningUs;
constexpr int64_t kHourUs = 3600LL * 1000000;

class RefoldTest : public ::testing::Test {
 protected:
  RefoldTest() : clock_(kStartUs) {}

  std::string Data() { return dir_.Sub("data"); }

  // A few cases with counters and facts, then the engine closed.
  void Fill() {
    auto engine = testing::OpenWithShippedWorkflows(Data(), 2, &clock_);
    ASSERT_NE(engine, nullptr);
    for (int c = 0; c < 6; ++c) {
      const std::string id = absl::StrCat("person-", c);
      auto submit = [&](v1::Event e) {
        ASSERT_TRUE(testing::SubmitSync(*engine, Req(e)).ok()) << e.event_id();
      };
      submit(Fever(absl::StrCat(id, "-f1"), id, 37.0 + c * 0.2, clock_.NowMicros()));
      for (int a = 0; a < 2; ++a) {
        auto e = BaseEvent(absl::StrCat(id, "-a", a), id, clock_.NowMicros());
        e.mutable_contact_attempt()->set_outcome(v1::CONTACT_OUTCOME_NO_ANSWER);
        submit(e);
        clock_.AdvanceMicros(kHourUs);
      }
      submit(Fever(absl::StrCat(id, "-f2"), id, 37.5, clock_.NowMicros() - 3 * kHourUs));
      clock_.AdvanceMicros(kHourUs);
    }
    for (int c = 0; c < 6; ++c) {
      auto state = engine->GetCase(absl::StrCat("person-", c));
      ASSERT_TRUE(state.ok());
      live_.push_back(state->SerializeAsString());
    }
  }

  // What an earlier build would have left: every case state as something
  // else (here: only its id and version), at storage `format`.
  void Regress(uint32_t format) {
    for (uint32_t p = 0; p < 2; ++p) {
      auto store = PartitionStore::Open(PartitionDir(Data(), p), PartitionId(p));
      ASSERT_TRUE(store.ok()) << store.status();
      rocksdb::WriteBatch b;
      auto it = (*store)->NewIterator(keys::Cf::kCases);
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        v1::CaseState stored, older;
        ASSERT_TRUE(
            stored.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())));
        older.set_case_id(stored.case_id());
        older.set_version(stored.version());
        older.set_stage(stored.stage());
        b.Put((*store)->cf(keys::Cf::kCases), it->key(), older.SerializeAsString());
      }
      b.Put((*store)->cf(keys::Cf::kMeta), std::string(keys::kMetaFormat),
            keys::EncodeFixed32Be(format));
      ASSERT_TRUE((*store)->Write(&b).ok());
    }
  }

  absl::StatusOr<RebuildReport> Rebuild(const std::string& into) {
    return RebuildAndCompare(
        {.data_dir = Data(), .scratch_dir = dir_.Sub(into), .progress = nullptr});
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::vector<std::string> live_;
};

TEST_F(RefoldTest, AnEarlierFormatIsFoldedAgainWhenItOpens) {
  Fill();
  Regress(keys::kFormatInMemoryIndex);
  // The audit refuses to compare what an earlier build folded.
  auto refused = Rebuild("too-early");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("storage format 2"));

  std::vector<std::string> said;
  EngineOptions options;
  options.data_dir = Data();
  options.on_upgrade = [&said](const std::string& m) { said.push_back(m); };
  {
    auto engine = Engine::Open(options, &clock_);
    ASSERT_TRUE(engine.ok()) << engine.status();
    for (int c = 0; c < 6; ++c) {
      auto state = (*engine)->GetCase(absl::StrCat("person-", c));
      ASSERT_TRUE(state.ok());
      EXPECT_EQ(state->SerializeAsString(), live_[c]) << c;
    }
  }
  ASSERT_EQ(said.size(), 4u);  // two partitions, each begun and done
  EXPECT_THAT(said[0], HasSubstr("partition 0: storage format 2 to 3"));
  EXPECT_THAT(said[1], HasSubstr("cases folded again"));
  for (uint32_t p = 0; p < 2; ++p) {
    auto store = PartitionStore::Open(PartitionDir(Data(), p), PartitionId(p),
                                      {.mode = OpenMode::kReadOnly});
    ASSERT_TRUE(store.ok());
    EXPECT_EQ((*store)->stored_format(), keys::kFormatVersion);
  }
  auto report = Rebuild("rebuilt");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->difference.has_value()) << report->difference->case_id;

  // Opening again finds nothing to upgrade.
  said.clear();
  ASSERT_TRUE(Engine::Open(options, &clock_).ok());
  EXPECT_TRUE(said.empty());
}

TEST_F(RefoldTest, StatesNotFoldedAgainAreWhatTheRebuildCatches) {
  // The same damage at the current format: nothing upgrades it, and the
  // rebuild names it, so the test above shows the fold, not a blind spot.
  Fill();
  Regress(keys::kFormatVersion);
  auto report = Rebuild("rebuilt");
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_TRUE(report->difference.has_value());
  EXPECT_EQ(report->difference->family, "cases");
}

}  // namespace
}  // namespace gridcase
