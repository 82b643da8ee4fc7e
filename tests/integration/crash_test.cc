// Kills a real gridcased with SIGKILL under concurrent load, several times,
// and checks after every restart that each acknowledged event is there
// exactly once, at the version it was acknowledged with, and that no case
// has a gap in its versions.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/child_server.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::ChildServer;
using ::gridcase::testing::Fever;
using ::gridcase::testing::NoteEvent;
using ::gridcase::testing::TempDir;

constexpr int kThreads = 8;
constexpr int kCasesPerThread = 4;
// Kill rounds; the soak build (crash_soak_test) runs many more.
#ifndef GRIDCASE_CRASH_ROUNDS
#define GRIDCASE_CRASH_ROUNDS 5
#endif
constexpr int kRounds = GRIDCASE_CRASH_ROUNDS;

struct Acked {
  std::string event_id;
  uint64_t version;
  uint64_t position;
};

// What the clients know: per case, the events acknowledged, and the event
// whose answer was lost in the crash (it may or may not be stored).
struct Ledger {
  std::map<std::string, std::vector<Acked>> acked;        // case -> in ack order
  std::map<std::string, std::optional<v1::Event>> maybe;  // case -> in doubt
};

v1::Event EventFor(const std::string& case_id, int seq) {
  const std::string id = case_id + "-e" + std::to_string(seq);
  return seq % 3 == 0 ? Fever(id, case_id, 36.0 + (seq % 30) * 0.1)
                      : NoteEvent(id, case_id, "door-to-door check " + std::to_string(seq));
}

grpc::Status Submit(v1::EventService::Stub& stub, const v1::Event& e, v1::SubmitResponse* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::SubmitRequest req;
  *req.mutable_event() = e;
  return stub.Submit(&ctx, req, resp);
}

std::vector<v1::Record> ReadTimeline(v1::CaseService::Stub& stub, const std::string& id) {
  std::vector<v1::Record> out;
  v1::GetTimelineRequest req;
  req.set_case_id(id);
  req.set_page_size(1000);
  do {
    grpc::ClientContext ctx;
    v1::GetTimelineResponse page;
    grpc::Status st = stub.GetTimeline(&ctx, req, &page);
    if (st.error_code() == grpc::StatusCode::NOT_FOUND) return out;
    EXPECT_TRUE(st.ok()) << st.error_message();
    if (!st.ok()) return out;
    out.insert(out.end(), page.records().begin(), page.records().end());
    req.set_page_token(page.next_page_token());
  } while (!req.page_token().empty());
  return out;
}

// Every acknowledged event present once at its version; versions dense;
// nothing stored that no client sent.
// Every acknowledged event present once at its version; versions dense;
// nothing submitted that no client sent, and every derived record follows
// the submitted record that caused it.
void Verify(const Ledger& ledger, v1::CaseService::Stub& cases, size_t* total) {
  for (const auto& [case_id, acked] : ledger.acked) {
    const auto records = ReadTimeline(cases, case_id);
    std::map<std::string, uint64_t> version_of;  // submitted events only
    uint64_t last_submitted_position = 0;
    for (size_t i = 0; i < records.size(); ++i) {
      const v1::Record& r = records[i];
      ASSERT_EQ(r.case_version(), i + 1) << case_id << ": gap or reorder";
      if (r.caused_by() != 0) {
        ASSERT_EQ(r.caused_by(), last_submitted_position) << case_id << ": orphan derived record";
        continue;
      }
      last_submitted_position = r.position();
      // The engine's own commands: the events are dated Feb 22, 2020, so
      // the deadlines they set are long past and fire at once.
      if (r.event().actor().kind() == v1::ACTOR_KIND_SYSTEM) {
        ASSERT_TRUE(r.event().has_deadline_expired()) << case_id << ": " << r.event().event_id();
        continue;
      }
      ASSERT_TRUE(version_of.emplace(r.event().event_id(), i + 1).second)
          << case_id << ": " << r.event().event_id() << " stored twice";
    }
    for (const Acked& a : acked) {
      auto it = version_of.find(a.event_id);
      ASSERT_NE(it, version_of.end()) << "acknowledged " << a.event_id << " is lost";
      EXPECT_EQ(it->second, a.version) << a.event_id;
      EXPECT_EQ(records[it->second - 1].position(), a.position) << a.event_id;
    }
    const auto& maybe = ledger.maybe.at(case_id);
    const size_t accounted = acked.size() + (maybe && version_of.count(maybe->event_id()));
    EXPECT_EQ(version_of.size(), accounted) << case_id << ": an event nobody sent";
    *total += version_of.size();
  }
}

// Eight clients, each submitting to its own four cases one call at a time,
// recording what was acknowledged and what is in doubt, across server lives.
class Load {
 public:
  Load() {
    for (int t = 0; t < kThreads; ++t) {
      for (int c = 0; c < kCasesPerThread; ++c) {
        ledger_.acked[CaseId(t, c)];
        ledger_.maybe[CaseId(t, c)];
      }
    }
  }

  // Runs the clients against `address` until `acks` submissions have been
  // acknowledged, then calls `stop` (which ends the server) and waits for
  // every client to see its call fail. Returns the acknowledgements made.
  size_t RunUntil(const std::string& address, size_t acks, const std::function<void()>& stop) {
    auto events =
        v1::EventService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    size_t round_acks = 0;
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = 0;; ++i) {
          if (!SubmitOne(*events, t, i % kCasesPerThread, &round_acks)) return;
        }
      });
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return round_acks >= acks; });
    }
    stop();
    for (auto& w : workers) w.join();
    return round_acks;
  }

  const Ledger& ledger() const { return ledger_; }
  int retried_duplicates() const { return retried_duplicates_; }

 private:
  static std::string CaseId(int t, int c) {
    return "crash-" + std::to_string(t) + "-" + std::to_string(c);
  }

  // One submission; false once the server is gone.
  bool SubmitOne(v1::EventService::Stub& events, int t, int c, size_t* round_acks) {
    const std::string case_id = CaseId(t, c);
    // A submission in doubt (its answer was lost when the server went away)
    // is retried first, with identical content; a new one is marked in
    // doubt before it is sent.
    v1::Event e;
    bool retry;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto& maybe = ledger_.maybe[case_id];
      retry = maybe.has_value();
      if (!retry) maybe = EventFor(case_id, next_seq_[case_id]++);
      e = *maybe;
    }
    v1::SubmitResponse resp;
    grpc::Status st = Submit(events, e, &resp);
    if (!st.ok()) {
      // Only the server going away may fail a call here; the event stays
      // in doubt.
      EXPECT_TRUE(st.error_code() == grpc::StatusCode::UNAVAILABLE ||
                  st.error_code() == grpc::StatusCode::CANCELLED)
          << st.error_code() << " " << st.error_message();
      return false;
    }
    std::lock_guard<std::mutex> lock(mu_);
    // A retried event comes back as a duplicate (stored before the crash,
    // with its original version) or is written now: either way it is
    // acknowledged exactly once.
    EXPECT_TRUE(retry || !resp.duplicate()) << e.event_id();
    ledger_.maybe[case_id].reset();
    ledger_.acked[case_id].push_back({e.event_id(), resp.case_version(), resp.position()});
    retried_duplicates_ += retry && resp.duplicate();
    ++*round_acks;
    cv_.notify_all();
    return true;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  Ledger ledger_;                        // guarded by mu_
  std::map<std::string, int> next_seq_;  // guarded by mu_
  int retried_duplicates_ = 0;           // guarded by mu_
};

std::vector<std::string> ServerArgs(const TempDir& dir) {
  return {"--development",
          "--data-dir",
          dir.Sub("data"),
          "--listen",
          "127.0.0.1:0",
          "--partitions",
          "4",
          "--shutdown-grace",
          "2",
          "--workflows",
          gridcase::testing::ShippedWorkflowDir()};
}

size_t VerifyAgainstFreshServer(const std::vector<std::string>& args, const Load& load) {
  ChildServer server(GRIDCASED_PATH, args);
  EXPECT_NE(server.port(), 0) << server.output();
  auto cases = v1::CaseService::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
  size_t stored = 0;
  Verify(load.ledger(), *cases, &stored);
  const int status = server.KillAndWait(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server.output();
  return stored;
}

TEST(CrashTest, KilledUnderLoadLosesNoAcknowledgedEvent) {
  TempDir dir;
  const auto args = ServerArgs(dir);
  Load load;
  std::mt19937 rng(20200222);
  size_t acked_total = 0;
  for (int round = 0; round < kRounds; ++round) {
    ChildServer server(GRIDCASED_PATH, args);
    ASSERT_NE(server.port(), 0) << server.output();
    {
      auto cases = v1::CaseService::NewStub(
          grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
      size_t stored = 0;
      Verify(load.ledger(), *cases, &stored);
      ASSERT_FALSE(::testing::Test::HasFatalFailure());
    }
    acked_total += load.RunUntil(server.address(), 150 + rng() % 400, [&] {
      const int status = server.KillAndWait(SIGKILL);
      EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    });
  }
  const size_t stored = VerifyAgainstFreshServer(args, load);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  EXPECT_GE(stored, acked_total);
  RecordProperty("acknowledged", static_cast<int>(acked_total));
  RecordProperty("stored", static_cast<int>(stored));
  RecordProperty("retried_duplicates", load.retried_duplicates());
}

TEST(CrashTest, SigtermUnderLoadDrainsAndExitsCleanly) {
  TempDir dir;
  const auto args = ServerArgs(dir);
  Load load;
  ChildServer server(GRIDCASED_PATH, args);
  ASSERT_NE(server.port(), 0) << server.output();
  int status = 0;
  load.RunUntil(server.address(), 300, [&] { status = server.KillAndWait(SIGTERM); });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server.output();
  EXPECT_THAT(server.output(), ::testing::HasSubstr("stopped cleanly"));
  VerifyAgainstFreshServer(args, load);
}

}  // namespace
}  // namespace gridcase
