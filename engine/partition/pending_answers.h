// Waits for the answers of many submissions the engine makes itself
// (deadline expiries, directory entries, hand-overs).
#ifndef GRIDCASE_ENGINE_PARTITION_PENDING_ANSWERS_H_
#define GRIDCASE_ENGINE_PARTITION_PENDING_ANSWERS_H_

#include <cstddef>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/partition/sequencer.h"
#include "gridcase/v1/service.pb.h"

namespace gridcase {

class PendingAnswers {
 public:
  // Classifies one answer; runs under the lock, so it may update counters
  // without one of its own. It returns an error to report, or OK.
  using Classify = std::function<absl::Status(const absl::StatusOr<v1::SubmitResponse>&)>;

  explicit PendingAnswers(Classify classify) : classify_(std::move(classify)) {}

  // A callback for one more submission.
  SubmitCallback Track() {
    {
      absl::MutexLock lock(&mu_);
      ++pending_;
    }
    return [this](absl::StatusOr<v1::SubmitResponse> r) {
      absl::MutexLock lock(&mu_);
      if (absl::Status st = classify_(r); !st.ok() && error_.ok()) error_ = st;
      --pending_;
    };
  }

  // Waits for every tracked answer; the first error classified, or OK.
  absl::Status Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &PendingAnswers::Done));
    return error_;
  }

 private:
  bool Done() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pending_ == 0; }

  const Classify classify_;
  absl::Mutex mu_;
  size_t pending_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_PARTITION_PENDING_ANSWERS_H_
