#include "services/api/event_service.h"

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "services/api/status.h"

namespace gridcase::api {
namespace {

// One SubmitStream. Reads, engine answers and writes run concurrently;
// gRPC allows one read and one write outstanding at a time, so both are
// tracked under mu_, and every Start*/Finish call is made after mu_ is
// released (a reaction may run inline). Answers that come back while a
// write is outstanding wait, and the next write carries all of them.
class SubmitStreamReactor final
    : public grpc::ServerBidiReactor<v1::StreamSubmitRequest,
                                     v1::StreamSubmitResponse> {
 public:
  SubmitStreamReactor(const Submitter* engine, size_t in_flight_max)
      : submit_(engine), in_flight_max_(in_flight_max) {
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok || incoming_.submissions().empty()) {
      // The client half-closed or the call is cancelled; or a message
      // without submissions, which is a client error, ends the stream once
      // what is in flight is answered.
      std::unique_lock<std::mutex> lock(mu_);
      reads_done_ = true;
      if (ok) {
        end_status_ = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "a SubmitStream message carries no submissions");
      }
      Act(std::move(lock), /*read_more=*/false);
      return;
    }
    // The message is moved out first: an answer may resume reading into
    // incoming_ before this loop is over.
    v1::StreamSubmitRequest request = std::move(incoming_);
    bool read_more;
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_ += static_cast<size_t>(request.submissions_size());
      read_more = in_flight_ < in_flight_max_;
      read_paused_ = !read_more;
    }
    // in_flight_ counts every submission of the message until it is
    // answered, so the call cannot finish (and `this` cannot go) while the
    // loop runs.
    for (v1::StreamSubmission& s : *request.mutable_submissions()) {
      const uint64_t id = s.request_id();
      (*submit_)(std::move(*s.mutable_submit()),
                 [this, id](absl::StatusOr<v1::SubmitResponse> result) {
                   OnAnswer(id, std::move(result));
                 });
    }
    if (read_more) StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    writing_ = false;
    outgoing_.Clear();
    if (!ok) {  // the client is gone: nothing more can be delivered
      write_failed_ = true;
      pending_.clear();
    }
    Act(std::move(lock), /*read_more=*/false);
  }

  void OnDone() override { delete this; }

 private:
  // Answers per written message at most (about 60 bytes each).
  static constexpr size_t kAnswersPerWriteMax = 4096;

  void OnAnswer(uint64_t id, absl::StatusOr<v1::SubmitResponse> result) {
    v1::StreamAnswer answer;
    answer.set_request_id(id);
    if (result.ok()) {
      *answer.mutable_accepted() = std::move(*result);
    } else {
      auto* refused = answer.mutable_refused();
      refused->set_code(static_cast<int>(result.status().code()));
      refused->set_message(std::string(result.status().message()));
      if (auto v = CurrentVersionOf(result.status())) refused->set_current_version(*v);
    }
    std::unique_lock<std::mutex> lock(mu_);
    --in_flight_;
    if (!write_failed_) pending_.push_back(std::move(answer));
    const bool resume = read_paused_ && !reads_done_ && in_flight_ < in_flight_max_;
    if (resume) read_paused_ = false;
    Act(std::move(lock), resume);
  }

  // Decides, under the lock, what to start next; starts it after unlocking.
  void Act(std::unique_lock<std::mutex> lock, bool read_more) {
    bool write = false;
    if (!writing_ && !pending_.empty()) {
      writing_ = true;
      write = true;
      const size_t n = std::min(pending_.size(), kAnswersPerWriteMax);
      for (size_t i = 0; i < n; ++i) *outgoing_.add_answers() = std::move(pending_[i]);
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(n));
    }
    const bool finish =
        !finished_ && reads_done_ && in_flight_ == 0 && !writing_ && pending_.empty();
    if (finish) finished_ = true;
    lock.unlock();
    if (read_more) StartRead(&incoming_);
    // outgoing_ is left alone until OnWriteDone.
    if (write) StartWrite(&outgoing_);
    if (finish) Finish(end_status_);
  }

  const Submitter* const submit_;
  const size_t in_flight_max_;
  v1::StreamSubmitRequest incoming_;  // owned by the one outstanding read

  std::mutex mu_;
  std::vector<v1::StreamAnswer> pending_;  // answers waiting for a write
  v1::StreamSubmitResponse outgoing_;      // being written while writing_
  size_t in_flight_ = 0;                   // submissions not answered yet
  bool writing_ = false;
  bool reads_done_ = false;
  bool read_paused_ = false;
  bool write_failed_ = false;
  bool finished_ = false;
  grpc::Status end_status_;  // OK unless the client sent a bad message
};

}  // namespace

grpc::ServerUnaryReactor* EventServiceImpl::Submit(
    grpc::CallbackServerContext* context, const v1::SubmitRequest* request,
    v1::SubmitResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  submit_(*request, [context, reactor, response](
                                absl::StatusOr<v1::SubmitResponse> result) {
    if (result.ok()) {
      *response = std::move(*result);
      reactor->Finish(grpc::Status::OK);
      return;
    }
    if (auto v = CurrentVersionOf(result.status())) {
      context->AddTrailingMetadata(kCurrentVersionTrailer, std::to_string(*v));
    }
    reactor->Finish(ToGrpc(result.status()));
  });
  return reactor;
}

grpc::ServerBidiReactor<v1::StreamSubmitRequest, v1::StreamSubmitResponse>*
EventServiceImpl::SubmitStream(grpc::CallbackServerContext* context) {
  return new SubmitStreamReactor(&submit_, stream_in_flight_max_);
}

}  // namespace gridcase::api
