// A real gridcased whose wall clock jumps, under libfaketime: its wall
// clock reads the real time plus an offset taken from a file at every
// reading (FAKETIME_TIMESTAMP_FILE, FAKETIME_NO_CACHE), while its
// monotonic clocks stay real (FAKETIME_DONT_FAKE_MONOTONIC), as a machine
// whose time sync goes wrong. The story of one resident's daily check,
// due 24 h after a reading, across jumps of a day forward and an hour
// back, and kill -9s in between: the deadline fires once, never before its
// time, and only once the jump is accepted.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/clock.h"
#include "gmock/gmock.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/child_server.h"
#include "tests/integration/health_probe.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::AwaitWritesServing;
using ::gridcase::testing::ChildServer;
using ::testing::HasSubstr;

constexpr char kFakeTime[] = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
constexpr int64_t kHourUs = 3600LL * 1000000;

std::chrono::system_clock::time_point In10s() {
  return std::chrono::system_clock::now() + std::chrono::seconds(10);
}

class ClockJumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kFakeTime))
        << kFakeTime << " is missing: deploy/dev.sh setup installs libfaketime";
    SetOffset("+0");
  }

  // The wall clock offset gridcased reads from now on, e.g. "+1d", "-1h".
  void SetOffset(const std::string& offset) { testing::WriteFile(stamp_, offset + "\n"); }

  // Starts gridcased on the data directory under libfaketime.
  void Start() {
    server_.reset();
    setenv("LD_PRELOAD", kFakeTime, 1);
    setenv("FAKETIME_TIMESTAMP_FILE", stamp_.c_str(), 1);
    setenv("FAKETIME_NO_CACHE", "1", 1);
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    server_ = std::make_unique<ChildServer>(
        GRIDCASED_PATH,
        std::vector<std::string>{"--development", "--data-dir", dir_.Sub("data"), "--listen",
                                 "127.0.0.1:0", "--partitions", "2", "--clock-jump-limit", "60",
                                 "--no-huge-pages", "--workflows", testing::ShippedWorkflowDir()});
    for (const char* name : {"LD_PRELOAD", "FAKETIME_TIMESTAMP_FILE", "FAKETIME_NO_CACHE",
                             "FAKETIME_DONT_FAKE_MONOTONIC"}) {
      unsetenv(name);
    }
    ASSERT_NE(server_->port(), 0) << server_->output();
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  }

  void Kill() {
    server_->KillAndWait(SIGKILL);
    server_.reset();
  }

  // A reading of the resident, as happened two hours ago by the real clock
  // (never in the future of a server an hour behind).
  grpc::Status Reading(const std::string& event_id) {
    auto stub = v1::EventService::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(In10s());
    v1::SubmitResponse resp;
    const int64_t at = SystemClock().NowMicros() - 2 * kHourUs;
    return stub->Submit(&ctx, testing::Req(testing::Fever(event_id, "resident-1", 36.8, at)),
                        &resp);
  }

  // How many times the daily check has fired.
  int Expiries() {
    auto stub = v1::CaseService::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(In10s());
    v1::GetTimelineRequest req;
    req.set_case_id("resident-1");
    req.set_page_size(1000);
    v1::GetTimelineResponse page;
    const grpc::Status st = stub->GetTimeline(&ctx, req, &page);
    EXPECT_TRUE(st.ok()) << st.error_message();
    int n = 0;
    for (const v1::Record& r : page.records()) n += r.event().has_deadline_expired();
    return n;
  }

  testing::TempDir dir_;
  const std::string stamp_ = dir_.Sub("faketime");
  std::unique_ptr<ChildServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ClockJumpTest, DeadlinesFireOnceNeverEarlyAcrossJumpsAndKills) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(Reading("r1").ok());  // the daily check falls due 24 h from now

  // A day forward: the wall clock is past the due time, the real time is
  // not. Writes and deadlines stop within a second.
  SetOffset("+1d");
  auto took = AwaitWritesServing(channel_, false);
  ASSERT_TRUE(took.has_value()) << "still SERVING a day ahead";
  EXPECT_LE(took->count(), 1000);
  const grpc::Status refused = Reading("r2");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.error_message(), HasSubstr("wall clock jumped forward by 864"));
  EXPECT_EQ(Expiries(), 0) << "fired early";

  // Killed, and started again still a day ahead: the jump is still seen.
  Kill();
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(AwaitWritesServing(channel_, false).has_value()) << "a restart took the jump";
  EXPECT_EQ(Expiries(), 0) << "fired early after a restart";

  // Time sync puts it right: writes resume by themselves.
  SetOffset("+0");
  ASSERT_TRUE(AwaitWritesServing(channel_, true).has_value());
  EXPECT_TRUE(Reading("r2").ok());
  EXPECT_EQ(Expiries(), 0);

  // An hour back: taken, writes go on, across a kill too; nothing fires.
  SetOffset("-1h");
  EXPECT_TRUE(Reading("r3").ok());
  Kill();
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(AwaitWritesServing(channel_, true).has_value());
  EXPECT_TRUE(Reading("r4").ok());
  EXPECT_EQ(Expiries(), 0);

  // A day forward again, and this time the operator accepts it: the check,
  // due by the accepted time, fires, once.
  SetOffset("+1d");
  ASSERT_TRUE(AwaitWritesServing(channel_, false).has_value());
  {
    auto admin = v1::AdminService::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(In10s());
    v1::AcceptClockResponse accepted;
    const grpc::Status st = admin->AcceptClock(&ctx, v1::AcceptClockRequest(), &accepted);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_GT(accepted.jump_us(), 24 * kHourUs);
  }
  ASSERT_TRUE(AwaitWritesServing(channel_, true).has_value());
  const auto start = std::chrono::steady_clock::now();
  while (Expiries() == 0 && std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(Expiries(), 1) << "the accepted time's due deadline did not fire";

  // Killed and started again on the accepted time: nothing fires twice.
  Kill();
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(AwaitWritesServing(channel_, true).has_value()) << "the accepted time was forgotten";
  EXPECT_TRUE(Reading("r5").ok());
  EXPECT_EQ(Expiries(), 1);
}

}  // namespace
}  // namespace gridcase
