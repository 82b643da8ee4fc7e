// Record versions: every record carries the version of the appliers that
// fold it. Logs written before the field (version 0) replay through version
// 1; a log a newer build extended is refused with a status, never folded
// by rules that do not know it.
#include <memory>
#include <string>

#include "engine/audit/rebuild.h"
#include "engine/domain/stamper.h"
#include "engine/engine.h"
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

class RecordVersionTest : public ::testing::Test {
 protected:
  RecordVersionTest() : clock_(testing::kFeb22EveningUs + 60 * 1000000LL) {}

  void SetUp() override {
    ASSERT_TRUE(Open().ok());
    testing::DeployShippedWorkflows(*engine_);
    for (int i = 0; i < 12; ++i) {
      const std::string c = "c" + std::to_string(i % 3);
      auto r = testing::SubmitSync(*engine_,
                                   Req(i < 3 ? Fever("f" + std::to_string(i), c, 38.4)
                                             : NoteEvent("n" + std::to_string(i), c, "visit")));
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }

  absl::Status Open() {
    EngineOptions options;
    options.data_dir = dir_.Sub("data");
    options.partitions = 1;
    auto engine = Engine::Open(options, &clock_);
    if (!engine.ok()) return engine.status();
    engine_ = std::move(*engine);
    return absl::OkStatus();
  }

  uint64_t LastPosition() {
    return engine_->partitions().sequencer(PartitionId(0)).last_position().value();
  }

  absl::StatusOr<RebuildReport> Rebuild() {
    RebuildOptions options;
    options.data_dir = dir_.Sub("data");
    options.scratch_dir = dir_.Sub("scratch-" + std::to_string(++rebuilds_));
    return RebuildAndCompare(options);
  }

  std::string PartitionDir() { return dir_.Sub("data") + "/partition-000"; }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Engine> engine_;
  int rebuilds_ = 0;
};

TEST_F(RecordVersionTest, EveryNewRecordCarriesThisBuildsVersion) {
  auto timeline = engine_->GetTimeline([] {
    v1::GetTimelineRequest r;
    r.set_case_id("c0");
    return r;
  }());
  ASSERT_TRUE(timeline.ok()) << timeline.status();
  ASSERT_GT(timeline->records_size(), 1);
  for (const auto& r : timeline->records()) EXPECT_EQ(r.record_version(), kRecordVersion);
}

TEST_F(RecordVersionTest, ALogWrittenBeforeTheFieldReplaysThroughVersionOne) {
  auto before = engine_->GetCase("c0");
  ASSERT_TRUE(before.ok());
  const uint64_t last = LastPosition();
  engine_.reset();
  {
    testing::RawPartition raw(PartitionDir());
    testing::RewriteConsistently(raw, 1, last, [](v1::Record* r) { r->clear_record_version(); });
  }
  // The rebuild folds every record again from the log: version 0 is read
  // as 1, and the result equals the case states the live path wrote.
  auto report = Rebuild();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->records, last);
  EXPECT_FALSE(report->difference.has_value())
      << report->difference->family << " " << report->difference->key;
  ASSERT_TRUE(Open().ok());
  auto after = engine_->GetCase("c0");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->SerializeAsString(), before->SerializeAsString());
  auto more = testing::SubmitSync(*engine_, Req(NoteEvent("later", "c0", "still works")));
  EXPECT_TRUE(more.ok()) << more.status();
}

TEST_F(RecordVersionTest, ALogANewerBuildExtendedIsRefusedAtOpenAndByARebuild) {
  const uint64_t last = LastPosition();
  engine_.reset();
  {
    testing::RawPartition raw(PartitionDir());
    testing::RewriteConsistently(raw, last, last,
                                 [](v1::Record* r) { r->set_record_version(kRecordVersion + 1); });
  }
  const absl::Status opened = Open();
  EXPECT_EQ(opened.code(), absl::StatusCode::kFailedPrecondition) << opened;
  EXPECT_THAT(std::string(opened.message()), HasSubstr("written by a newer build"));
  auto report = Rebuild();
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition) << report.status();
  EXPECT_THAT(std::string(report.status().message()),
              HasSubstr(absl::StrCat("record ", last, " of partition 0")));
}

}  // namespace
}  // namespace gridcase
