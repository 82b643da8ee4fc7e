// gridcase-deadline-bench: how the durable deadlines scale, in process, on
// real RocksDB with real fsync. Not a test: it prints figures.
//
//   1. hold: N cases with one pending deadline each; RSS afterwards.
//   2. burst: B deadlines fall due at once (a fake clock jumps); they drain
//      while a client keeps submitting; drain rate, and the submission rate
//      during the burst against the rate just before it.
//   3. lateness: on the real clock, cases whose deadline falls due 1 s
//      after they open, under a steady submission load; the scheduler
//      fires them; p50/p99 of (recorded time of the expiry - due time).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/time.h"
#include "engine/engine.h"
#include "engine/timers/scheduler.h"

namespace {

using gridcase::Engine;
using gridcase::Micros;
using gridcase::WholeSeconds;
using gridcase::v1::SubmitRequest;
using gridcase::v1::SubmitResponse;
using Steady = std::chrono::steady_clock;

// The definition as written, not as clang-format would lay it out.
// clang-format off
constexpr char kBenchWorkflow[] = R"pb(
name: "bench"
version: 1
opens_on { event: "fever_reading" }
initial_stage: "waiting"
stages {
  name: "waiting"
  on_enter { set_deadline { name: "tick" after: "1h" } }
  rules { name: "late" on: "deadline:tick" then { move_to: "done" } }
  rules { name: "rearm" on: "contact_attempt" then { move_to: "soon" } }
}
stages {
  name: "soon"
  on_enter { set_deadline { name: "tick" after: "1s" } }
  rules { name: "fired" on: "deadline:tick" then { move_to: "done" } }
  rules { name: "back" on: "contact_attempt" then { move_to: "waiting" } }
}
stages { name: "done" terminal: true }
)pb";
// clang-format on

// Version 2: new cases start in "soon" (a deadline 1 s away).
std::string SoonWorkflow() {
  std::string s = kBenchWorkflow;
  s.replace(s.find("version: 1"), 10, "version: 2");
  s.replace(s.find("initial_stage: \"waiting\""), 24, "initial_stage: \"soon\"");
  return s;
}

long RssMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6)) / 1024;
  }
  return -1;
}

double Seconds(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

SubmitRequest Reading(const std::string& case_id, int64_t now_us) {
  SubmitRequest r;
  auto* e = r.mutable_event();
  e->set_event_id(case_id + "-open");
  e->set_case_id(case_id);
  *e->mutable_occurred_at() = WholeSeconds(now_us);
  e->mutable_actor()->set_id("bench");
  e->mutable_actor()->set_kind(gridcase::v1::ACTOR_KIND_APP);
  e->set_grid_id("g-1");
  e->mutable_fever_reading()->set_celsius(36.6);
  return r;
}

// Submits `count` new cases named prefix+i with at most `window` in flight;
// returns the wall time it took.
Steady::duration OpenCases(Engine& engine, const std::string& prefix, size_t count, int64_t now_us,
                           size_t window = 8192) {
  absl::Mutex mu;
  absl::CondVar cv;
  size_t in_flight = 0, failed = 0;
  const auto start = Steady::now();
  for (size_t i = 0; i < count; ++i) {
    {
      absl::MutexLock lock(&mu);
      while (!(in_flight < window)) cv.Wait(&mu);
      ++in_flight;
    }
    engine.Submit(Reading(prefix + std::to_string(i), now_us),
                  [&](absl::StatusOr<SubmitResponse> r) {
                    absl::MutexLock lock(&mu);
                    failed += !r.ok();
                    --in_flight;
                    cv.SignalAll();
                  });
  }
  absl::MutexLock lock(&mu);
  while (!(in_flight == 0)) cv.Wait(&mu);
  if (failed > 0) std::fprintf(stderr, "warning: %zu submissions failed\n", failed);
  return Steady::now() - start;
}

// A client that keeps submitting notes to its own cases until stopped,
// counting acknowledgements.
class Load {
 public:
  Load(Engine& engine, int64_t now_us) : engine_(engine), now_us_(now_us) {
    OpenCases(engine_, "load-", kCases, now_us_);
    thread_ = std::thread([this] { Run(); });
  }
  ~Load() {
    stop_ = true;
    thread_.join();
  }
  uint64_t acked() const { return acked_; }

 private:
  static constexpr size_t kCases = 64;
  void Run() {
    absl::Mutex mu;
    absl::CondVar cv;
    size_t in_flight = 0;
    for (uint64_t n = 0; !stop_; ++n) {
      {
        absl::MutexLock lock(&mu);
        while (!(in_flight < 512)) cv.Wait(&mu);
        ++in_flight;
      }
      SubmitRequest r;
      auto* e = r.mutable_event();
      const std::string case_id = "load-" + std::to_string(n % kCases);
      e->set_event_id(case_id + "-n" + std::to_string(n));
      e->set_case_id(case_id);
      *e->mutable_occurred_at() = WholeSeconds(now_us_);
      e->mutable_actor()->set_id("bench");
      e->mutable_note()->set_text("load");
      engine_.Submit(std::move(r), [&](absl::StatusOr<SubmitResponse> res) {
        absl::MutexLock lock(&mu);
        acked_ += res.ok();
        --in_flight;
        cv.SignalAll();
      });
    }
    absl::MutexLock lock(&mu);
    while (!(in_flight == 0)) cv.Wait(&mu);
  }

  Engine& engine_;
  const int64_t now_us_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> acked_{0};
  std::thread thread_;
};

double RateOver(const Load& load, double seconds) {
  const uint64_t before = load.acked();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  return (load.acked() - before) / seconds;
}

void Deploy(Engine& engine, const std::string& source) {
  std::promise<absl::StatusOr<gridcase::v1::DeployWorkflowResponse>> done;
  auto answer = done.get_future();
  gridcase::v1::Actor actor;
  actor.set_id("bench");
  engine.workflows().DeployWorkflow(source, "bench.textproto", actor,
                                    [&done](auto r) { done.set_value(std::move(r)); });
  auto r = answer.get();
  if (!r.ok()) {
    std::fprintf(stderr, "deploy: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
}

std::unique_ptr<Engine> OpenEngine(const std::string& dir, const gridcase::Clock* clock,
                                   uint32_t partitions) {
  gridcase::EngineOptions options;
  options.data_dir = dir;
  options.partitions = partitions;
  options.limits.future_skew_us_max = INT64_MAX / 2;  // the fake clock jumps ahead
  auto engine = Engine::Open(options, clock);
  if (!engine.ok()) {
    std::fprintf(stderr, "open: %s\n", engine.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*engine);
}

struct Options {
  size_t hold = 1000000, burst = 100000, lateness_cases = 5000;
  uint32_t partitions = 2;
  size_t round = 512;
  std::string dir = "/tmp/gridcase-deadline-bench";
};

// 1 + 2: hold many pending deadlines, then let a burst fall due at once.
// A fake clock, so that every deadline of the burst is due at the same
// microsecond.
int HoldAndBurst(const Options& o) {
  gridcase::FakeClock fake(1700000000LL * 1000000);
  auto engine = OpenEngine(o.dir + "/fake", &fake, o.partitions);
  Deploy(*engine, kBenchWorkflow);
  const long rss_before = RssMiB();
  // The burst's cases first, all due at the same instant (T + 1 h); the
  // held ones half an hour later, so they are due after the burst.
  OpenCases(*engine, "burst-", o.burst, fake.NowMicros());
  fake.AdvanceMicros(1800LL * 1000000);
  const auto took = OpenCases(*engine, "hold-", o.hold, fake.NowMicros());
  std::printf(
      "hold: %zu pending deadlines (%zu cases opened in %.1f s, %.0f cases/s); "
      "RSS %ld MiB (before: %ld MiB)\n",
      o.hold + o.burst, o.hold, Seconds(took), o.hold / Seconds(took), RssMiB(), rss_before);
  Load load(*engine, fake.NowMicros());
  const double baseline = RateOver(load, 3.0);
  fake.AdvanceMicros(1800LL * 1000000);  // T + 1 h: the burst is due, the held ones not yet
  const uint64_t acked_before = load.acked();
  const auto start = Steady::now();
  size_t fired = 0;
  while (fired < o.burst) {  // rounds as the scheduler runs them
    auto n = engine->timers().FireDueDeadlines(o.round);
    if (!n.ok()) {
      std::fprintf(stderr, "fire: %s\n", n.status().ToString().c_str());
      return 1;
    }
    fired += *n;
  }
  const double drain_s = Seconds(Steady::now() - start);
  const double during = (load.acked() - acked_before) / drain_s;
  std::printf(
      "burst: %zu deadlines due at once drained in %.2f s (%.0f fired/s); "
      "submissions %.0f/s during the burst vs %.0f/s before it (%.2fx)\n",
      fired, drain_s, fired / drain_s, during, baseline, during / baseline);
  return 0;
}

// How late each of the deadline_expired records of the cases "late-I-J"
// was recorded after its due time, sorted.
std::vector<int64_t> LatenessOf(const Engine& engine, size_t cases, size_t per_tick) {
  std::vector<int64_t> lateness_us;
  for (size_t i = 0; i < cases; i += per_tick) {
    for (size_t j = 0; j < per_tick; ++j) {
      gridcase::v1::GetTimelineRequest req;
      req.set_case_id("late-" + std::to_string(i) + "-" + std::to_string(j));
      auto page = engine.GetTimeline(req);
      if (!page.ok()) continue;
      for (const auto& r : page->records()) {
        if (!r.event().has_deadline_expired()) continue;
        lateness_us.push_back(Micros(r.recorded_at()) -
                              Micros(r.event().deadline_expired().due_at()));
      }
    }
  }
  std::sort(lateness_us.begin(), lateness_us.end());
  return lateness_us;
}

// 3: the real clock and the real scheduler, under load.
void Lateness(const Options& o) {
  gridcase::SystemClock real;
  auto engine = OpenEngine(o.dir + "/real", &real, o.partitions);
  Deploy(*engine, kBenchWorkflow);
  Load load(*engine, real.NowMicros());  // its cases run v1: no deadline soon
  Deploy(*engine, SoonWorkflow());
  gridcase::DeadlineScheduler scheduler(
      &engine->timers(), [e = engine.get()] { return e->staffing().HandOnFromNewlyUnavailable(); },
      &real, 200 * 1000, nullptr);
  scheduler.Start();
  // Open cases steadily for about five seconds: each falls due 1 s later.
  const size_t per_tick = std::max<size_t>(1, o.lateness_cases / 50);
  const uint64_t acked_before = load.acked();
  const auto start = Steady::now();
  for (size_t i = 0; i < o.lateness_cases; i += per_tick) {
    OpenCases(*engine, "late-" + std::to_string(i) + "-", per_tick, real.NowMicros());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double load_rate = (load.acked() - acked_before) / Seconds(Steady::now() - start);
  scheduler.AwaitFired(o.lateness_cases / per_tick * per_tick);
  scheduler.Stop();
  const std::vector<int64_t> lateness_us = LatenessOf(*engine, o.lateness_cases, per_tick);
  auto pct = [&](double p) {
    return lateness_us.empty()
               ? 0.0
               : lateness_us[static_cast<size_t>(p * (lateness_us.size() - 1))] / 1000.0;
  };
  std::printf(
      "lateness: %zu deadlines fired by the scheduler under load (%.0f submissions/s); "
      "p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
      lateness_us.size(), load_rate, pct(0.5), pct(0.99), pct(1.0));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"gridcase-deadline-bench: how durable deadlines scale"};
  app.add_option("--hold", o.hold, "pending deadlines to hold")->capture_default_str();
  app.add_option("--burst", o.burst, "deadlines falling due at once")->capture_default_str();
  app.add_option("--lateness-cases", o.lateness_cases, "deadlines fired on the real clock")
      ->capture_default_str();
  app.add_option("--partitions", o.partitions)->capture_default_str();
  app.add_option("--round", o.round, "deadlines fired per scheduler round")->capture_default_str();
  app.add_option("--dir", o.dir, "scratch directory (emptied)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::filesystem::remove_all(o.dir);
  if (int rc = HoldAndBurst(o); rc != 0) return rc;
  Lateness(o);
  std::filesystem::remove_all(o.dir);
  return 0;
}
