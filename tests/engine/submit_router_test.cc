// The submit router over real partitions whose id filters are not filled
// (no scan at open): every event id must be looked up in the other
// partitions, so every submission goes through a worker.
#include "engine/partition/submit_router.h"

#include <future>
#include <string>
#include <vector>

#include "engine/partition/partition_set.h"
#include "engine/storage/data_dir.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"

namespace gridcase {
namespace {

using ::gridcase::testing::NoteEvent;
using ::gridcase::testing::Req;

constexpr int64_t kNowUs = 1582372800LL * 1000000;

// Every event opens or continues its case; nothing else.
class PlainLogic final : public CaseLogic {
 public:
  absl::Status Process(v1::Record record, RecordStamper*, std::optional<v1::CaseState>* state,
                       std::vector<v1::Record>* out) const override {
    if (!state->has_value()) state->emplace();
    Apply(record, &**state);
    out->push_back(std::move(record));
    return absl::OkStatus();
  }
  void Apply(const v1::Record& r, v1::CaseState* s) const override {
    s->set_case_id(r.event().case_id());
    s->set_version(r.case_version());
  }
};

class SubmitRouterTest : public ::testing::Test {
 protected:
  SubmitRouterTest() : clock_(kNowUs) {}
  void SetUp() override {
    const std::string data = dir_.Sub("data");
    ASSERT_TRUE(ResolvePartitions(data, 4).ok());
    auto set = PartitionSet::Open(data, 4, {});
    ASSERT_TRUE(set.ok()) << set.status();
    partitions_ = std::move(*set);
    ASSERT_TRUE(partitions_->StartSequencers(&clock_, &logic_, nullptr, {}).ok());
    router_ = std::make_unique<SubmitRouter>(partitions_.get(), 2, 1000);
  }
  void TearDown() override {
    router_->Stop();
    partitions_->Stop();
  }
  // Two cases in different partitions.
  std::pair<std::string, std::string> TwoPartitions() {
    for (int i = 1;; ++i) {
      const std::string c = "case-" + std::to_string(i);
      if (partitions_->PartitionOf(c) != partitions_->PartitionOf("case-0")) return {"case-0", c};
    }
  }
  std::future<absl::StatusOr<v1::SubmitResponse>> Submit(const v1::Event& e) {
    auto promise = std::make_shared<std::promise<absl::StatusOr<v1::SubmitResponse>>>();
    auto answer = promise->get_future();
    router_->Submit(
        Req(e), partitions_->PartitionOf(e.case_id()),
        [promise](absl::StatusOr<v1::SubmitResponse> r) { promise->set_value(std::move(r)); });
    return answer;
  }

  FakeClock clock_;
  testing::TempDir dir_;
  PlainLogic logic_;
  std::unique_ptr<PartitionSet> partitions_;
  std::unique_ptr<SubmitRouter> router_;
};

TEST_F(SubmitRouterTest, AnIdUsedInAnotherPartitionIsRefusedByTheWorker) {
  auto [a, b] = TwoPartitions();
  ASSERT_TRUE(Submit(NoteEvent("e1", a, "first")).get().ok());
  auto again = Submit(NoteEvent("e1", b, "elsewhere")).get();
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  // Both needed a read (the filters are not filled): neither on this thread.
  EXPECT_EQ(router_->deferred(), 2u);
  // Counted by the partition each went to.
  EXPECT_EQ(router_->deferred(partitions_->PartitionOf(a)), 1u);
  EXPECT_EQ(router_->deferred(partitions_->PartitionOf(b)), 1u);
}

TEST_F(SubmitRouterTest, SubmissionsOfACaseKeepTheirOrderThroughTheWorkers) {
  auto [a, b] = TwoPartitions();
  std::vector<std::future<absl::StatusOr<v1::SubmitResponse>>> answers;
  constexpr int kEach = 300;
  for (int i = 0; i < kEach; ++i) {
    answers.push_back(Submit(NoteEvent("a" + std::to_string(i), a, "n")));
    answers.push_back(Submit(NoteEvent("b" + std::to_string(i), b, "n")));
  }
  for (int i = 0; i < kEach; ++i) {
    auto ra = answers[2 * i].get();
    auto rb = answers[2 * i + 1].get();
    ASSERT_TRUE(ra.ok() && rb.ok()) << ra.status() << rb.status();
    EXPECT_EQ(ra->case_version(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(rb->case_version(), static_cast<uint64_t>(i + 1));
  }
}

TEST_F(SubmitRouterTest, StoppingSubmitsWhatTheWorkersHoldThenRefuses) {
  auto [a, b] = TwoPartitions();
  std::vector<std::future<absl::StatusOr<v1::SubmitResponse>>> answers;
  for (int i = 0; i < 100; ++i) answers.push_back(Submit(NoteEvent(std::to_string(i), a, "n")));
  router_->Stop();
  for (auto& answer : answers) {
    auto r = answer.get();
    EXPECT_TRUE(r.ok()) << r.status();
  }
  EXPECT_EQ(Submit(NoteEvent("late", b, "n")).get().status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace gridcase
