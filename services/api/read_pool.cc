#include "services/api/read_pool.h"

#include <algorithm>
#include <utility>

namespace gridcase::api {

ReadPool::ReadPool(size_t threads, size_t queue_max) : queue_max_(queue_max) {
  for (size_t i = 0; i < std::max<size_t>(1, threads); ++i) {
    threads_.emplace_back([this] { Loop(); });
  }
}

ReadPool::~ReadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool ReadPool::Run(absl::AnyInvocable<void() &&> work) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= queue_max_) return false;
    queue_.push_back(std::move(work));
  }
  cv_.notify_one();
  return true;
}

void ReadPool::Loop() {
  for (;;) {
    absl::AnyInvocable<void() &&> work;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to run
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(work)();
  }
}

}  // namespace gridcase::api
