#include "engine/partition/submit_router.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace gridcase {

SubmitRouter::SubmitRouter(PartitionSet* partitions, size_t workers, size_t queue_capacity)
    : partitions_(partitions),
      queue_capacity_(queue_capacity),
      deferred_(partitions->count()),
      queues_(std::max<size_t>(1, workers)) {
  for (size_t i = 0; i < std::max<size_t>(1, workers); ++i) {
    threads_.emplace_back([this, i] { Run(i); });
  }
}

SubmitRouter::~SubmitRouter() { Stop(); }

uint64_t SubmitRouter::deferred() const {
  uint64_t all = 0;
  for (const auto& d : deferred_) all += d.load(std::memory_order_relaxed);
  return all;
}

void SubmitRouter::Submit(v1::SubmitRequest request, PartitionId home, SubmitCallback done) {
  if (partitions_->count() == 1) {
    partitions_->sequencer(home).Submit(std::move(request), std::move(done));
    return;
  }
  const bool must_read = partitions_->MayHaveEventIdElsewhere(request.event().event_id(), home);
  if (!must_read && held_.load(std::memory_order_acquire) == 0) {
    partitions_->sequencer(home).Submit(std::move(request), std::move(done));
    return;
  }
  const std::string& case_id = request.event().case_id();
  absl::ReleasableMutexLock lock(&mu_);
  if (!must_read && !cases_.contains(case_id)) {
    // Whatever this case had with a worker is with its sequencer already.
    lock.Release();
    partitions_->sequencer(home).Submit(std::move(request), std::move(done));
    return;
  }
  if (stopping_) {
    lock.Release();
    std::move(done)(
        absl::UnavailableError(absl::StrCat("partition ", home.value(), " is shutting down")));
    return;
  }
  std::deque<Job>& queue = queues_[Fnv1a64(case_id) % queues_.size()];
  if (queue.size() >= queue_capacity_) {
    lock.Release();
    std::move(done)(absl::ResourceExhaustedError(
        absl::StrCat("partition ", home.value(), ": ", queue_capacity_,
                     " submissions are waiting for their event id to be "
                     "checked; try again")));
    return;
  }
  ++cases_[case_id];
  held_.fetch_add(1, std::memory_order_acq_rel);
  deferred_[home.value()].fetch_add(1, std::memory_order_relaxed);
  queue.push_back(Job{std::move(request), home, std::move(done)});
  lock.Release();
}

void SubmitRouter::Check(Job job) const {
  if (auto st = partitions_->CheckEventIdElsewhere(job.request.event(), job.home); !st.ok()) {
    std::move(job.done)(st);
    return;
  }
  partitions_->sequencer(job.home).Submit(std::move(job.request), std::move(job.done));
}

void SubmitRouter::Run(size_t worker) {
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queues_[worker].empty();
  };
  mu_.Lock();
  for (;;) {
    mu_.Await(absl::Condition(&ready));
    std::deque<Job>& queue = queues_[worker];
    if (queue.empty()) break;  // stopping, and everything is submitted
    Job job = std::move(queue.front());
    queue.pop_front();
    const std::string case_id = job.request.event().case_id();
    mu_.Unlock();
    Check(std::move(job));
    mu_.Lock();
    // Only now, with the submission in its sequencer's queue, may the
    // case's later submissions pass the worker by.
    if (auto it = cases_.find(case_id); --it->second == 0) cases_.erase(it);
    held_.fetch_sub(1, std::memory_order_acq_rel);
  }
  mu_.Unlock();
}

void SubmitRouter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

}  // namespace gridcase
