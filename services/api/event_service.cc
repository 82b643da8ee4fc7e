#include "services/api/event_service.h"

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
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
    const int count = ok ? incoming_.submissions_size() : 0;
    if (!ok || count == 0 || static_cast<size_t>(count) > in_flight_max_) {
      // The client half-closed or the call is cancelled; or a message
      // without submissions, or with more than a stream may have in flight,
      // which is a client error: the stream ends once what is in flight is
      // answered, and nothing of that message is submitted.
      std::unique_lock<std::mutex> lock(mu_);
      reads_done_ = true;
      if (ok) {
        end_status_ = grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            count == 0 ? std::string("a SubmitStream message carries no submissions")
                       : absl::StrCat("a SubmitStream message carries ", count,
                                      " submissions; at most ", in_flight_max_));
      }
      Act(std::move(lock), /*read_more=*/false);
      return;
    }
    // The message is moved out first: incoming_ belongs to the next read.
    v1::StreamSubmitRequest request = std::move(incoming_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Every submission of the message counts until it is answered, so the
      // call cannot finish (and `this` cannot go) while the loop runs; and
      // no answer starts the next read before the loop is over, so the
      // submissions of one stream reach the engine in the order sent.
      in_flight_ += static_cast<size_t>(count);
      dispatching_ = true;
    }
    for (v1::StreamSubmission& s : *request.mutable_submissions()) {
      const uint64_t id = s.request_id();
      (*submit_)(std::move(*s.mutable_submit()),
                 [this, id](absl::StatusOr<v1::SubmitResponse> result) {
                   OnAnswer(id, std::move(result));
                 });
    }
    bool read_more;
    {
      std::lock_guard<std::mutex> lock(mu_);
      dispatching_ = false;
      read_more = !reads_done_ && in_flight_ < in_flight_max_;
      read_paused_ = !read_more;
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
  // Answers per written message at most (each a few hundred bytes at most).
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
    const bool resume =
        read_paused_ && !dispatching_ && !reads_done_ && in_flight_ < in_flight_max_;
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
  bool read_paused_ = false;  // no read outstanding, for want of room
  bool dispatching_ = false;  // OnReadDone is handing a message to the engine
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
