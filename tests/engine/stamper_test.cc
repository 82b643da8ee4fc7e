// RecordStamper and the derived rows: the one owner of a record's stamp,
// and the one statement of which rows a record and a case produce.
#include "engine/domain/stamper.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/common/time.h"
#include "engine/storage/derived_rows.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gridcase {
namespace {

using keys::Cf;
using ::testing::ElementsAre;
using ::testing::Pair;

TEST(RecordStamperTest, StampsTheSubmittedRecordThenItsDerivedOnesDensely) {
  RecordStamper stamper(3, Position(41), 6, FromMicros(1582372800123456));
  v1::Record submitted, first, second;
  submitted.set_caused_by(99);  // whatever a caller left there
  stamper.StampSubmitted(&submitted);
  stamper.StampDerived(&first);
  stamper.StampDerived(&second);
  EXPECT_EQ(stamper.stamped(), 3u);
  EXPECT_EQ(stamper.first().value(), 41u);
  EXPECT_EQ(stamper.next().value(), 44u);
  int i = 0;
  for (const v1::Record* r : {&submitted, &first, &second}) {
    EXPECT_EQ(r->partition(), 3u);
    EXPECT_EQ(r->position(), 41u + i);
    EXPECT_EQ(r->case_version(), 7u + i);
    EXPECT_EQ(Micros(r->recorded_at()), 1582372800123456);
    EXPECT_EQ(r->record_version(), kRecordVersion);
    EXPECT_EQ(r->caused_by(), i == 0 ? 0u : 41u);
    ++i;
  }
}

TEST(RecordStamperDeathTest, ADerivedRecordBeforeItsCauseStopsLoudly) {
  RecordStamper stamper(0, Position(1), 0, FromMicros(0));
  v1::Record r;
  EXPECT_DEATH(stamper.StampDerived(&r), "derived record follows its submitted record");
}

TEST(RecordVersionOfTest, ZeroReadsAsOneAndNewerIsRefused) {
  v1::Record r;
  EXPECT_EQ(RecordVersionOf(r), 1u);
  EXPECT_TRUE(CheckRecordVersion(r).ok());
  r.set_record_version(kRecordVersion);
  EXPECT_TRUE(CheckRecordVersion(r).ok());
  r.set_record_version(kRecordVersion + 1);
  r.set_position(12);
  const absl::Status st = CheckRecordVersion(r);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("record 12"));
}

// Rows gathered in memory, by family.
class MemoryRows final : public RowSink {
 public:
  absl::Status Put(Cf cf, std::string key, absl::string_view value) override {
    rows[cf][std::move(key)] = std::string(value);
    return absl::OkStatus();
  }
  absl::Status Delete(Cf cf, std::string key) override {
    deleted[cf].push_back(std::move(key));
    return absl::OkStatus();
  }
  std::map<Cf, std::map<std::string, std::string>> rows;
  std::map<Cf, std::vector<std::string>> deleted;
};

v1::Record RecordAt(uint64_t position, uint64_t version, uint64_t caused_by) {
  v1::Record r;
  r.mutable_event()->set_event_id("e" + std::to_string(position));
  r.mutable_event()->set_case_id("c");
  r.set_position(position);
  r.set_case_version(version);
  r.set_caused_by(caused_by);
  return r;
}

TEST(DerivedRowsTest, ASubmittedRecordIsAnIdempotencyKeyAndADerivedOneIsNot) {
  MemoryRows sink;
  ASSERT_TRUE(PutRecordRows(RecordAt(7, 2, 0), "stored-7", &sink).ok());
  ASSERT_TRUE(PutRecordRows(RecordAt(8, 3, 7), "stored-8", &sink).ok());
  const std::string key7 = keys::EventKey(Position(7));
  const std::string key8 = keys::EventKey(Position(8));
  EXPECT_THAT(sink.rows[Cf::kEvents], ElementsAre(Pair(key7, "stored-7"), Pair(key8, "stored-8")));
  EXPECT_THAT(sink.rows[Cf::kCaseEvents],
              ElementsAre(Pair(keys::CaseEventKey("c", CaseVersion(2)), key7),
                          Pair(keys::CaseEventKey("c", CaseVersion(3)), key8)));
  EXPECT_THAT(sink.rows[Cf::kDedup], ElementsAre(Pair("e7", key7)));
}

TEST(DerivedRowsTest, TimerRowsFollowTheDeadlinesAPendingCaseGainsAndDrops) {
  v1::CaseState before;
  before.set_case_id("c");
  auto* kept = before.add_deadlines();
  kept->set_name("recheck");
  *kept->mutable_due_at() = FromMicros(2000000);
  auto* dropped = before.add_deadlines();
  dropped->set_name("visit");
  *dropped->mutable_due_at() = FromMicros(1000000);
  v1::CaseState after = before;
  after.mutable_deadlines()->DeleteSubrange(1, 1);
  auto* added = after.add_deadlines();
  added->set_name("retest");
  *added->mutable_due_at() = FromMicros(3000000);

  MemoryRows sink;
  ASSERT_TRUE(PutTimerRows(TimerKeysOf(before), after, &sink).ok());
  EXPECT_THAT(sink.deleted[Cf::kTimers],
              ElementsAre(keys::EncodeTimerKey({1000000, "c", "visit"})));
  EXPECT_THAT(sink.rows[Cf::kTimers],
              ElementsAre(Pair(keys::EncodeTimerKey({3000000, "c", "retest"}), "")));
  // A case written from nothing (a rebuild) puts all of them.
  MemoryRows fresh;
  ASSERT_TRUE(PutTimerRows({}, after, &fresh).ok());
  EXPECT_EQ(fresh.rows[Cf::kTimers].size(), 2u);
  EXPECT_TRUE(fresh.deleted.empty());
}

}  // namespace
}  // namespace gridcase
