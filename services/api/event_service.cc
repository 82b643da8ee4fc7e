#include "services/api/event_service.h"

#include <deque>
#include <mutex>
#include <string>
#include <utility>

#include "services/api/status.h"

namespace gridcase::api {
namespace {

// One SubmitStream. Reads, engine answers and writes run concurrently;
// gRPC allows one read and one write outstanding at a time, so both are
// tracked under mu_, and every Start*/Finish call is made after mu_ is
// released (a reaction may run inline).
class SubmitStreamReactor final
    : public grpc::ServerBidiReactor<v1::StreamSubmitRequest,
                                     v1::StreamSubmitResponse> {
 public:
  SubmitStreamReactor(const Submitter* engine, size_t in_flight_max)
      : submit_(engine), in_flight_max_(in_flight_max) {
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed, or the call is cancelled
      std::unique_lock<std::mutex> lock(mu_);
      reads_done_ = true;
      Act(std::move(lock), /*read_more=*/false);
      return;
    }
    v1::StreamSubmitRequest request = std::move(incoming_);
    bool read_more;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++in_flight_;
      read_more = in_flight_ < in_flight_max_;
      read_paused_ = !read_more;
    }
    const uint64_t id = request.request_id();
    (*submit_)(std::move(*request.mutable_submit()),
                    [this, id](absl::StatusOr<v1::SubmitResponse> result) {
                      OnAnswer(id, std::move(result));
                    });
    if (read_more) StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    writing_ = false;
    outgoing_.pop_front();
    if (!ok) {  // the client is gone: nothing more can be delivered
      write_failed_ = true;
      outgoing_.clear();
    }
    Act(std::move(lock), /*read_more=*/false);
  }

  void OnDone() override { delete this; }

 private:
  void OnAnswer(uint64_t id, absl::StatusOr<v1::SubmitResponse> result) {
    v1::StreamSubmitResponse answer;
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
    if (!write_failed_) outgoing_.push_back(std::move(answer));
    const bool resume = read_paused_ && !reads_done_ && in_flight_ < in_flight_max_;
    if (resume) read_paused_ = false;
    Act(std::move(lock), resume);
  }

  // Decides, under the lock, what to start next; starts it after unlocking.
  void Act(std::unique_lock<std::mutex> lock, bool read_more) {
    const v1::StreamSubmitResponse* write = nullptr;
    if (!writing_ && !outgoing_.empty()) {
      writing_ = true;
      write = &outgoing_.front();  // stays put: deque front is only popped in OnWriteDone
    }
    const bool finish = !finished_ && reads_done_ && in_flight_ == 0 && !writing_ &&
                        outgoing_.empty();
    if (finish) finished_ = true;
    lock.unlock();
    if (read_more) StartRead(&incoming_);
    if (write != nullptr) StartWrite(write);
    if (finish) Finish(grpc::Status::OK);
  }

  const Submitter* const submit_;
  const size_t in_flight_max_;
  v1::StreamSubmitRequest incoming_;  // owned by the one outstanding read

  std::mutex mu_;
  std::deque<v1::StreamSubmitResponse> outgoing_;  // front is being written
  size_t in_flight_ = 0;
  bool writing_ = false;
  bool reads_done_ = false;
  bool read_paused_ = false;
  bool write_failed_ = false;
  bool finished_ = false;
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
