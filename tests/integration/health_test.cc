// gRPC health tells the truth about writes, asked over loopback like an
// orchestrator would: a partition that stops taking writes (a storage
// failure, a jumped clock, a full disk) turns the server and EventService
// NOT_SERVING within a second, while the read services stay SERVING and
// answer; stats say which partition and why; and health comes back when
// writes do.
//
// The storage failure and the clock jump run in process (a fault-injecting
// file system, a fake clock); the full disk is a real one: gridcased on a
// small tmpfs filled by a ballast file.
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/api/server.h"
#include "tests/integration/child_server.h"
#include "tests/integration/health_probe.h"
#include "tests/support/events.h"
#include "tests/support/fault_fs.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::Fever;
using ::gridcase::testing::Req;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;
using Steady = std::chrono::steady_clock;

constexpr int64_t kStartUs = 1582372800LL * 1000000;
using ::gridcase::testing::HealthOf;
using ::gridcase::testing::kCaseService;
using ::gridcase::testing::kEventService;

std::chrono::system_clock::time_point In10s() {
  return std::chrono::system_clock::now() + std::chrono::seconds(10);
}

v1::ServerStats Stats(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::AdminService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(In10s());
  v1::ServerStats stats;
  EXPECT_TRUE(stub->GetServerStats(&ctx, v1::GetServerStatsRequest(), &stats).ok());
  return stats;
}

// An engine of two partitions on `env` (null: the real disk) and `clock`,
// and the real server in front of it on a loopback port.
class HealthTest : public ::testing::Test {
 protected:
  void Start(rocksdb::Env* env, const Clock* clock, int64_t clock_jump_limit_us = 0) {
    EngineOptions options;
    options.data_dir = dir_.Sub("data");
    options.partitions = 2;
    options.env = env;
    options.clock_jump_limit_us = clock_jump_limit_us;
    auto engine = Engine::Open(options, clock);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    testing::DeployShippedWorkflows(*engine_);
    api::ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.access.development = true;
    auto server = api::Server::Start(engine_.get(), clock, server_options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    events_ = v1::EventService::NewStub(channel_);
    cases_ = v1::CaseService::NewStub(channel_);
    for (const char* service : {"", kEventService, kCaseService}) {
      EXPECT_EQ(HealthOf(channel_, service), HealthCheckResponse::SERVING) << service;
    }
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    engine_.reset();
  }

  // A case id of partition `p`.
  std::string CaseIn(uint32_t p) {
    for (int n = 0;; ++n) {
      std::string id = absl::StrCat("resident-", n);
      if (engine_->PartitionOf(id).value() == p) return id;
    }
  }

  grpc::Status Submit(const std::string& event_id, const std::string& case_id, int64_t at_us) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In10s());
    v1::SubmitResponse resp;
    return events_->Submit(&ctx, Req(Fever(event_id, case_id, 37.1, at_us)), &resp);
  }

  grpc::Status GetCase(const std::string& case_id) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In10s());
    v1::GetCaseRequest req;
    req.set_case_id(case_id);
    v1::CaseState state;
    return cases_->GetCase(&ctx, req, &state);
  }

  testing::TempDir dir_;
  // Outlive the engine and the server.
  SystemClock system_clock_;
  FakeClock fake_clock_{kStartUs};
  std::shared_ptr<testing::FaultFs> fs_ = std::make_shared<testing::FaultFs>();
  std::unique_ptr<rocksdb::Env> env_ = testing::EnvOver(fs_);
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<api::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::EventService::Stub> events_;
  std::unique_ptr<v1::CaseService::Stub> cases_;
};

TEST_F(HealthTest, AStorageFailureTurnsWritesNotServingWithinASecond) {
  SystemClock& clock = system_clock_;
  ASSERT_NO_FATAL_FAILURE(Start(env_.get(), &clock));
  const std::string failing = CaseIn(1), sound = CaseIn(0);
  ASSERT_TRUE(Submit("before", failing, clock.NowMicros()).ok());

  fs_->Arm(testing::FaultRule{.kind = testing::FaultKind::kIoError,
                              .target = testing::FaultTarget::kWalSync,
                              .mode = testing::FaultMode::kOnce,
                              .path_contains = "partition-001/"});
  const grpc::Status refused = Submit("during", failing, clock.NowMicros());
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  ASSERT_EQ(fs_->injected(), 1u);
  const auto since_fault = Steady::now() - *fs_->first_injected_at();
  auto took = testing::AwaitWritesServing(channel_, false);
  ASSERT_TRUE(took.has_value()) << "health still SERVING 5 s after the storage failure";
  const auto total =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_fault + *took).count();
  EXPECT_LE(total, 1000) << "NOT_SERVING " << total << " ms after the fault";
  std::cout << "health NOT_SERVING " << total << " ms after the fault\n";

  // Reads are answered and say so; the other partition takes writes.
  EXPECT_EQ(HealthOf(channel_, kCaseService), HealthCheckResponse::SERVING);
  EXPECT_TRUE(GetCase(failing).ok());
  EXPECT_TRUE(Submit("elsewhere", sound, clock.NowMicros()).ok());
  const grpc::Status after = Submit("after", failing, clock.NowMicros());
  EXPECT_EQ(after.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(after.error_message(), HasSubstr("restart the server"));
  const v1::ServerStats stats = Stats(channel_);
  ASSERT_EQ(stats.partitions_size(), 2);
  EXPECT_TRUE(stats.partitions(0).accepting_writes());
  EXPECT_FALSE(stats.partitions(1).accepting_writes());
  EXPECT_THAT(stats.partitions(1).refusing_writes(), HasSubstr("injected fault (wal-sync)"));
}

TEST_F(HealthTest, AClockJumpIsNotServingUntilAccepted) {
  FakeClock& clock = fake_clock_;
  ASSERT_NO_FATAL_FAILURE(Start(nullptr, &clock, 60'000'000));
  const std::string c = CaseIn(0);
  ASSERT_TRUE(Submit("before", c, clock.NowMicros()).ok());
  clock.StepWallMicros(3600LL * 1000000);  // an hour ahead, no time passed
  auto took = testing::AwaitWritesServing(channel_, false);
  ASSERT_TRUE(took.has_value()) << "health still SERVING 5 s after the jump";
  EXPECT_LE(took->count(), 1000);
  const grpc::Status refused = Submit("during", c, clock.NowMicros());
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.error_message(), HasSubstr("wall clock jumped forward by 3600 s"));
  EXPECT_EQ(HealthOf(channel_, kCaseService), HealthCheckResponse::SERVING);
  EXPECT_TRUE(GetCase(c).ok());

  auto admin = v1::AdminService::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(In10s());
  v1::AcceptClockResponse accepted;
  ASSERT_TRUE(admin->AcceptClock(&ctx, v1::AcceptClockRequest(), &accepted).ok());
  EXPECT_EQ(accepted.jump_us(), 3600LL * 1000000);
  EXPECT_EQ(accepted.partitions_size(), 2);
  ASSERT_TRUE(testing::AwaitWritesServing(channel_, true).has_value());
  EXPECT_TRUE(Submit("after", c, clock.NowMicros()).ok());
  // Nothing to accept any more.
  grpc::ClientContext again;
  again.set_deadline(In10s());
  EXPECT_EQ(admin->AcceptClock(&again, v1::AcceptClockRequest(), &accepted).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

// gridcased on a 256 MiB tmpfs with a 64 MiB reserve, filled by a ballast
// file until less than the reserve is free, then emptied again. (RocksDB
// preallocates each write-ahead log: four databases take about 53 MiB of
// a tmpfs before anything is written, which the reserve must cover.)
TEST(DiskFullTest, WritesAreRefusedBeforeTheDiskIsFullAndResumeOnceFreed) {
  testing::TempDir dir;
  const std::string mount_point = dir.Sub("small-disk");
  std::filesystem::create_directories(mount_point);
  if (geteuid() != 0 ||
      mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=256m,mode=0700") != 0) {
    GTEST_SKIP() << "needs root to mount a small tmpfs (CI runs as root)";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};
  const std::string data = mount_point + "/data";
  std::vector<std::string> args = {"--development",
                                   "--data-dir",
                                   data,
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--partitions",
                                   "2",
                                   "--disk-reserve-mb",
                                   "64",
                                   "--no-huge-pages",
                                   "--workflows",
                                   testing::ShippedWorkflowDir()};
  testing::ChildServer server(GRIDCASED_PATH, args);
  ASSERT_NE(server.port(), 0) << server.output();
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  auto events = v1::EventService::NewStub(channel);
  auto submit = [&](const std::string& id) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In10s());
    v1::SubmitResponse resp;
    return events->Submit(&ctx, Req(Fever(id, "resident-1", 37.0, SystemClock().NowMicros())),
                          &resp);
  };
  ASSERT_TRUE(submit("before").ok());

  // Ballast until less than 64 MiB is free.
  const std::string ballast = mount_point + "/ballast";
  {
    std::ofstream out(ballast, std::ios::binary);
    const std::string mib(1 << 20, 'x');
    for (uint64_t free = std::filesystem::space(mount_point).available; free >= (48u << 20);
         free = std::filesystem::space(mount_point).available) {
      out.write(mib.data(), mib.size());
      out.flush();
    }
  }
  ASSERT_TRUE(testing::AwaitWritesServing(channel, false).has_value())
      << "still SERVING with the disk full";
  const grpc::Status refused = submit("while-full");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_THAT(refused.error_message(),
              ::testing::MatchesRegex("disk full: [0-9]+ MiB free, need 64 MiB.*"));

  std::filesystem::remove(ballast);
  const auto freed = Steady::now();
  auto took = testing::AwaitWritesServing(channel, true);
  ASSERT_TRUE(took.has_value()) << "still NOT_SERVING after space was freed";
  std::cout << "writes resumed " << took->count() << " ms after space was freed\n";
  EXPECT_LE(std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - freed).count(),
            1000);
  const grpc::Status after = submit("after");
  EXPECT_TRUE(after.ok()) << after.error_message();
  // Nothing refused was written, and nothing acknowledged is missing.
  auto cases = v1::CaseService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(In10s());
  v1::GetTimelineRequest req;
  req.set_case_id("resident-1");
  v1::GetTimelineResponse timeline;
  ASSERT_TRUE(cases->GetTimeline(&ctx, req, &timeline).ok());
  std::vector<std::string> ids;
  for (const auto& r : timeline.records()) ids.push_back(r.event().event_id());
  EXPECT_THAT(ids, ::testing::Contains("before"));
  EXPECT_THAT(ids, ::testing::Contains("after"));
  EXPECT_THAT(ids, ::testing::Not(::testing::Contains("while-full")));
}

}  // namespace
}  // namespace gridcase
