// A few threads for the blocking reads of callback methods (timelines): the
// read runs here, never on a gRPC completion thread, which carries
// submissions, and the call is finished from here. Bounded: when
// `queue_max` reads are waiting, another is refused.
#ifndef GRIDCASE_SERVICES_API_READ_POOL_H_
#define GRIDCASE_SERVICES_API_READ_POOL_H_

#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

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
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_READ_POOL_H_
