#include "services/bench/read_bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/common/time.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "services/bench/load.h"
#include "services/bench/wuhan_day.h"

namespace gridcase::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Opens `n` cases "<run>-<i>" in grid 0 through one stream; 0 when every
// one was accepted.
int OpenCases(const std::shared_ptr<grpc::Channel>& channel, const std::string& server,
              const std::string& run, int n) {
  auto stub = v1::EventService::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = stub->SubmitStream(&ctx);
  for (int i = 0; i < n; ++i) {
    v1::StreamSubmitRequest r;
    v1::StreamSubmission* s = r.add_submissions();
    s->set_request_id(static_cast<uint64_t>(i + 1));
    v1::Event* e = s->mutable_submit()->mutable_event();
    e->set_event_id(absl::StrCat(run, "-open-", i));
    e->set_case_id(absl::StrCat(run, "-", i));
    *e->mutable_occurred_at() = WholeSeconds(WallMicros());
    e->mutable_actor()->set_id(WorkerId(0));
    e->set_grid_id(GridId(0));
    e->mutable_screening_check()->set_category(v1::CATEGORY_CLOSE_CONTACT);
    if (!stream->Write(r)) break;
  }
  stream->WritesDone();
  v1::StreamSubmitResponse response;
  int refused = 0;
  std::string first;
  while (stream->Read(&response)) {
    for (const auto& answer : response.answers()) {
      if (answer.has_refused() && refused++ == 0) first = answer.refused().message();
    }
  }
  if (const grpc::Status st = stream->Finish(); !st.ok()) {
    std::fprintf(stderr, "error: opening the cases at %s: %s\n", server.c_str(),
                 st.error_message().c_str());
    return st.error_code() == grpc::StatusCode::UNAVAILABLE ? 3 : 1;
  }
  if (refused > 0) {
    std::fprintf(stderr, "error: %d cases refused, the first: %s\n", refused, first.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int GetCaseAtRate(const ReadBenchOptions& o) {
  auto channel = BenchChannel(o.server, o.tls, /*own_connection=*/false);
  const std::string run = absl::StrFormat("r%x", static_cast<uint64_t>(WallMicros()));
  if (int status = OpenCases(channel, o.server, run, o.cases); status != 0) return status;

  const auto warmup = static_cast<int64_t>(o.rate * o.warmup_s);
  const auto total = warmup + static_cast<int64_t>(o.rate * o.duration_s);
  const auto interval = std::chrono::duration<double>(1.0 / o.rate);
  std::vector<std::vector<double>> ms(o.threads);
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> late_starts{0};
  std::string first_error;
  std::atomic<bool> have_error{false};
  const auto start = Clock::now() + std::chrono::milliseconds(100);
  std::vector<std::thread> readers;
  for (int t = 0; t < o.threads; ++t) {
    readers.emplace_back([&, t] {
      auto stub = v1::CaseService::NewStub(channel);
      std::mt19937 rng(static_cast<uint32_t>(t) + 1);
      // Read i is due at start + i × interval; thread t takes every
      // threads-th one.
      for (int64_t i = t; i < total; i += o.threads) {
        const auto due =
            start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
        const bool measured = i >= warmup;
        if (Clock::now() < due) {
          std::this_thread::sleep_until(due);
        } else if (measured) {
          ++late_starts;
        }
        v1::GetCaseRequest request;
        request.set_case_id(absl::StrCat(run, "-", rng() % static_cast<uint32_t>(o.cases)));
        v1::CaseState state;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        const grpc::Status st = stub->GetCase(&ctx, request, &state);
        if (measured) {
          ms[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - due).count());
        }
        if (!st.ok()) {
          ++failed;
          if (!have_error.exchange(true)) first_error = st.error_message();
        }
      }
    });
  }
  for (auto& r : readers) r.join();
  std::vector<double> all;
  for (auto& v : ms) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto q = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count() - o.warmup_s;
  std::printf(
      "GetCase at %.0f/s for %.1f s (after %.1f s unmeasured) over %d cases (%d readers): %zu "
      "reads in %.2f s, failed %lld, started late %lld\n"
      "latency from when due: p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n",
      o.rate, o.duration_s, o.warmup_s, o.cases, o.threads, all.size(), elapsed,
      static_cast<long long>(failed.load()), static_cast<long long>(late_starts.load()), q(0.5),
      q(0.9), q(0.99), q(0.999), all.empty() ? 0.0 : all.back());
  if (failed > 0) {
    std::fprintf(stderr, "error: %lld reads failed, the first: %s\n",
                 static_cast<long long>(failed.load()), first_error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace gridcase::bench
