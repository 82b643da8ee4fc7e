// Backups of a real gridcased under load, through its gRPC API and the
// gridcase CLI: one backup completes while clients write, the server is
// killed (SIGKILL) in the middle of the next, a backup after the restart
// completes and clears what the killed one left, and the restore of it
// verifies (chains intact from position 1, positions contiguous, a rebuild
// identical) and serves every event acknowledged before that backup began,
// at the position it was acknowledged with.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/child_server.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

namespace fs = std::filesystem;
using ::gridcase::testing::ChildServer;
using ::gridcase::testing::TempDir;
using ::testing::HasSubstr;

struct Acked {
  v1::Event event;
  uint64_t position;
};

// Clients writing to their own cases, one call at a time, keeping every
// acknowledgement in order.
class Writers {
 public:
  void Start(const std::string& address, int threads) {
    stop_ = false;
    auto stub = std::shared_ptr<v1::EventService::Stub>(v1::EventService::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials())));
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, stub, t] {
        for (int i = 0; !stop_.load(); ++i) {
          const std::string case_id = "b-" + std::to_string(t) + "-" + std::to_string(i % 5);
          const std::string id = case_id + "-" + std::to_string(round_) + "-" + std::to_string(i);
          v1::Event e = i < 5 ? testing::Fever(id, case_id, 38.1)
                              : testing::NoteEvent(id, case_id, "checked on " + id);
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
          v1::SubmitRequest req;
          *req.mutable_event() = e;
          v1::SubmitResponse resp;
          if (!stub->Submit(&ctx, req, &resp).ok()) return;  // the server went away
          std::lock_guard<std::mutex> lock(mu_);
          acked_.push_back({e, resp.position()});
        }
      });
    }
  }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
    ++round_;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_.size();
  }
  std::vector<Acked> first(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    return std::vector<Acked>(acked_.begin(), acked_.begin() + static_cast<long>(n));
  }
  // Waits until `n` more acknowledgements than now.
  void AwaitMore(size_t n) {
    const size_t target = count() + n;
    while (count() < target) std::this_thread::yield();
  }

 private:
  std::atomic<bool> stop_{false};
  int round_ = 0;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::vector<Acked> acked_;  // guarded by mu_
};

class BackupServiceTest : public ::testing::Test {
 protected:
  std::vector<std::string> ServerArgs(const std::string& data) {
    return {"--development",
            "--data-dir",
            data,
            "--listen",
            "127.0.0.1:0",
            "--partitions",
            "4",
            "--no-huge-pages",
            "--workflows",
            testing::ShippedWorkflowDir()};
  }
  testing::ProgramRun Cli(const std::vector<std::string>& args) {
    return testing::RunProgram(GRIDCASE_CLI_PATH, args, "", dir_.path());
  }
  TempDir dir_;
};

TEST_F(BackupServiceTest, ABackupKilledHalfwayLeavesNoSetAndTheNextRestoresWhatWasAcknowledged) {
  const std::string backups = dir_.Sub("backups");
  Writers writers;
  auto server = std::make_unique<ChildServer>(GRIDCASED_PATH, ServerArgs(dir_.Sub("data")));
  ASSERT_NE(server->port(), 0) << server->output();
  writers.Start(server->address(), 4);
  writers.AwaitMore(1500);

  // 1. A backup under load, through the CLI.
  auto first = Cli({"--server", server->address(), "admin", "backup", "--to", backups});
  ASSERT_EQ(first.exit_code, 0) << first.err << first.out;
  EXPECT_THAT(first.err, HasSubstr("backup set 1:"));
  EXPECT_EQ(nlohmann::json::parse(first.out)["set"], 1);
  writers.AwaitMore(1000);

  // 2. A slow backup (rate-limited), and the server killed in its middle:
  // once one database is copied and before the set is written.
  {
    auto stub = v1::AdminService::NewStub(
        grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    v1::BackupRequest req;
    req.set_to(backups);
    req.set_rate_limit_bytes_per_second(64 << 10);
    auto stream = stub->Backup(&ctx, req);
    v1::BackupProgress p;
    bool mid = false;
    while (stream->Read(&p)) {
      ASSERT_NE(p.phase(), "done") << "the backup ended before it could be killed";
      if (p.items_done() >= 1) {
        mid = true;
        break;
      }
    }
    ASSERT_TRUE(mid) << stream->Finish().error_message();
    server->KillAndWait(SIGKILL);
    ctx.TryCancel();
    writers.Stop();
  }
  auto after_kill = Cli({"admin", "backups", "--from", backups});
  ASSERT_EQ(after_kill.exit_code, 0) << after_kill.err;
  EXPECT_EQ(nlohmann::json::parse(after_kill.out).size(), 1u) << after_kill.out;
  EXPECT_TRUE(fs::exists(dir_.Sub("data/checkpoints/.backup")));  // what the kill left

  // 3. Restarted, written to again; a backup completes, clearing what the
  // killed one left, and copies only what is new.
  server = std::make_unique<ChildServer>(GRIDCASED_PATH, ServerArgs(dir_.Sub("data")));
  ASSERT_NE(server->port(), 0) << server->output();
  writers.Start(server->address(), 4);
  writers.AwaitMore(500);
  const size_t before_third = writers.count();
  auto third =
      Cli({"--server", server->address(), "admin", "backup", "--to", backups, "--keep", "5"});
  ASSERT_EQ(third.exit_code, 0) << third.err << third.out;
  const auto set = nlohmann::json::parse(third.out);
  EXPECT_EQ(set["set"], 2);
  EXPECT_LT(set["newBytes"].get<uint64_t>(), set["bytes"].get<uint64_t>());
  EXPECT_FALSE(fs::exists(dir_.Sub("data/checkpoints/.backup")));
  writers.AwaitMore(300);
  writers.Stop();
  server->KillAndWait(SIGTERM);

  auto listed = Cli({"--table", "admin", "backups", "--from", backups});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("SET  FINISHED"));
  EXPECT_THAT(listed.err, HasSubstr("2 backup sets"));

  // 4. The restore verifies every chain and rebuilds identically.
  const std::string restored = dir_.Sub("restored");
  // Backups never hold the master key: the operator gives the copy kept
  // apart (here, the one the server made in its data directory).
  auto restore = Cli({"admin", "restore", "--from", backups, "--to", restored, "--rebuild",
                      "--master-key", dir_.Sub("data/keys/master.key")});
  ASSERT_EQ(restore.exit_code, 0) << restore.err << restore.out;
  const auto report = nlohmann::json::parse(restore.out);
  EXPECT_EQ(report["set"], 2);
  EXPECT_EQ(report["chains"], "verified");
  EXPECT_EQ(report["rebuild"], "identical");
  EXPECT_EQ(report["masterKey"], "placed");
  uint64_t positions = 0;
  for (const auto& item : set["items"]) {
    if (item["name"].get<std::string>().rfind("partition-", 0) == 0) {
      positions += item["position"].get<uint64_t>();
    }
  }
  EXPECT_EQ(report["records"].get<uint64_t>(), positions);

  // 5. A server on the restored directory holds every event acknowledged
  // before the backup began, at its position: sent again, each is a
  // duplicate of what is stored.
  ChildServer again(GRIDCASED_PATH, ServerArgs(restored));
  ASSERT_NE(again.port(), 0) << again.output();
  auto stub = v1::EventService::NewStub(
      grpc::CreateChannel(again.address(), grpc::InsecureChannelCredentials()));
  size_t lost = 0, moved = 0;
  for (const Acked& a : writers.first(before_third)) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::SubmitRequest req;
    *req.mutable_event() = a.event;
    v1::SubmitResponse resp;
    ASSERT_TRUE(stub->Submit(&ctx, req, &resp).ok());
    if (!resp.duplicate()) ++lost;
    if (resp.position() != a.position) ++moved;
  }
  EXPECT_EQ(lost, 0u) << "of " << before_third << " acknowledged before the backup";
  EXPECT_EQ(moved, 0u);
  EXPECT_GE(before_third, 3000u);
}

}  // namespace
}  // namespace gridcase
