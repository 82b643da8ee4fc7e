// A few threads for the blocking reads of callback methods (timelines): the
// read runs here, never on a gRPC completion thread, which carries
// submissions, and the call is finished from here. Bounded: when
// `queue_max` reads are waiting, another is refused.
#ifndef GRIDCASE_SERVICES_API_READ_POOL_H_
#define GRIDCASE_SERVICES_API_READ_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace gridcase::api {

class ReadPool {
 public:
  // At least one thread.
  ReadPool(size_t threads, size_t queue_max);
  // Runs everything already queued, then joins the threads.
  ~ReadPool();

  ReadPool(const ReadPool&) = delete;
  ReadPool& operator=(const ReadPool&) = delete;

  // Queues `work`; false (and `work` is dropped unrun) when the queue is
  // full.
  bool Run(absl::AnyInvocable<void() &&> work);

 private:
  void Loop();

  const size_t queue_max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<absl::AnyInvocable<void() &&>> queue_;  // guarded by mu_
  bool stopping_ = false;                             // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_READ_POOL_H_
