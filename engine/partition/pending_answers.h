// Waits for the answers of many submissions the engine makes itself
// (deadline expiries, directory entries, hand-overs).
#ifndef GRIDCASE_ENGINE_PARTITION_PENDING_ANSWERS_H_
#define GRIDCASE_ENGINE_PARTITION_PENDING_ANSWERS_H_

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>

#include "absl/status/statusor.h"
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
      std::lock_guard<std::mutex> lock(mu_);
      ++pending_;
    }
    return [this](absl::StatusOr<v1::SubmitResponse> r) {
      std::lock_guard<std::mutex> lock(mu_);
      if (absl::Status st = classify_(r); !st.ok() && error_.ok()) error_ = st;
      if (--pending_ == 0) cv_.notify_all();
    };
  }

  // Waits for every tracked answer; the first error classified, or OK.
  absl::Status Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return pending_ == 0; });
    return error_;
  }

 private:
  const Classify classify_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t pending_ = 0;
  absl::Status error_;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_PARTITION_PENDING_ANSWERS_H_
