#include "engine/audit/scrubber.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace gridcase {
namespace {

// Ahead of the budget by less than this, a pass reads on: waits shorter
// than a scheduler's tick cost more than they save.
constexpr int64_t kWaitAtLeastUs = 10000;
constexpr int64_t kFirstPassAfterUs = 3600LL * 1000000;

}  // namespace

Scrubber::Scrubber(const PartitionSet* partitions, const Clock* clock, ScrubOptions options,
                   Wait wait)
    : partitions_(partitions),
      clock_(clock),
      options_(std::move(options)),
      wait_(std::move(wait)),
      stats_(partitions->count()) {}

Scrubber::~Scrubber() { Stop(); }

void Scrubber::Start() {
  if (options_.every_us <= 0 || thread_.joinable()) return;
  thread_ = std::thread([this] {
    // A server restarted more often than every_us would otherwise never
    // scrub: the first pass comes an hour after the start at the latest.
    int64_t wait_us = std::min(options_.every_us, kFirstPassAfterUs);
    while (WaitOrStop(std::chrono::microseconds(wait_us)) && ScrubPass()) {
      wait_us = options_.every_us;
    }
  });
}

void Scrubber::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  waiter_.Notify();
  if (thread_.joinable()) thread_.join();
}

bool Scrubber::WaitOrStop(std::chrono::microseconds how_long) {
  if (wait_) return wait_(how_long);
  absl::MutexLock lock(&mu_);
  return !waiter_.WaitFor(&mu_, how_long,
                          [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; });
}

bool Scrubber::Pace(uint64_t bytes) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return false;
  }
  pass_bytes_ += bytes;
  if (options_.bytes_per_s == 0) return true;
  const int64_t due_us =
      pass_started_us_ + static_cast<int64_t>(static_cast<double>(pass_bytes_) * 1e6 /
                                              static_cast<double>(options_.bytes_per_s));
  const int64_t ahead_us = due_us - clock_->MonotonicMicros();
  if (ahead_us < kWaitAtLeastUs) return true;
  return WaitOrStop(std::chrono::microseconds(ahead_us));
}

bool Scrubber::ScrubPass() {
  absl::MutexLock pass(&pass_mu_);
  pass_started_us_ = clock_->MonotonicMicros();
  pass_bytes_ = 0;
  for (uint32_t i = 0; i < partitions_->count(); ++i) {
    if (!ScrubPartition(i)) return false;
  }
  return true;
}

bool Scrubber::ScrubPartition(uint32_t index) {
  const PartitionStore& store = partitions_->store(PartitionId(index));
  {
    absl::MutexLock lock(&mu_);
    stats_[index].running = true;
    stats_[index].running_bytes = 0;
  }
  uint64_t read = 0;  // by this partition's walks so far
  // The walks report bytes so far; the budget is charged the difference.
  auto paced = [this, index, &read](uint64_t base) {
    return [this, index, &read, base, last = uint64_t{0}](uint64_t so_far) mutable {
      pass_mu_.AssertHeld();  // called back within ScrubPartition
      const uint64_t delta = so_far - last;
      last = so_far;
      read = base + so_far;
      {
        absl::MutexLock lock(&mu_);
        stats_[index].running_bytes = read;
      }
      return Pace(delta);
    };
  };
  std::string problem;
  uint64_t files = 0;
  uint64_t records = 0;
  bool stopped = false;
  auto tables = store.ScrubTableFiles(paced(0));
  if (!tables.ok()) {
    problem = absl::StrCat("reading table files: ", tables.status().ToString());
  } else {
    files = tables->files;
    problem = tables->problem;
    stopped = tables->stopped;
  }
  if (!stopped) {
    auto chain = store.ScrubChain(paced(read));
    if (!chain.ok()) {
      if (problem.empty()) problem = absl::StrCat("walking the log: ", chain.status().ToString());
    } else {
      records = chain->records;
      stopped = chain->stopped;
      if (problem.empty() && chain->first_bad_position != 0) {
        problem = absl::StrCat("the hash chain breaks at position ", chain->first_bad_position,
                               ": ", chain->problem);
      }
    }
  }
  if (!problem.empty()) problem = absl::StrCat("partition ", index, ": ", problem);
  {
    absl::MutexLock lock(&mu_);
    ScrubStats& s = stats_[index];
    s.running = false;
    s.running_bytes = 0;
    if (stopped) return false;
    ++s.passes;
    if (!problem.empty()) ++s.passes_with_problems;
    s.last_finished_us = clock_->NowMicros();
    s.records = records;
    s.table_files = files;
    s.bytes = read;
    s.problem = problem;
  }
  if (!problem.empty() && options_.on_problem) options_.on_problem(problem);
  return true;
}

ScrubStats Scrubber::stats(PartitionId partition) const {
  absl::MutexLock lock(&mu_);
  return stats_[partition.value()];
}

}  // namespace gridcase
