#include "services/api/event_service.h"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/check.h"
#include "services/api/status.h"

namespace gridcase::api {
namespace {

// One SubmitStream. Reads, engine answers and writes run concurrently;
// gRPC allows one read and one write outstanding at a time, so both are
// tracked under mu_, and every Start*/Finish call is made after mu_ is
// released (a reaction may run inline). Answers that come back while a
// write is outstanding wait, and the next write carries all of them.
//
// Messages arrive as bytes and are parsed here, with the same code gRPC
// would run (SerializationTraits), so that one that does not parse is told
// apart from the end of the client's messages (EventServiceImpl).
class SubmitStreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  SubmitStreamReactor(const Submitter* engine, security::Admission admission, size_t in_flight_max)
      : submit_(engine), admission_(std::move(admission)), in_flight_max_(in_flight_max) {
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed, or the call is cancelled
      EndReads("");
      return;
    }
    // One read is outstanding at a time, but the next may complete on
    // another thread: taking the lock first orders this read after
    // whatever started it (the last OnReadDone, or an answer's Act) by the
    // lock, not only by gRPC, for the count and for incoming_ alike.
    uint64_t message;
    {
      absl::MutexLock lock(&mu_);
      message = ++messages_read_;
    }
    v1::StreamSubmitRequest request;
    if (!grpc::SerializationTraits<v1::StreamSubmitRequest>::Deserialize(&incoming_, &request)
             .ok()) {
      EndReads(absl::StrCat("stream message ", message, " does not parse as ",
                            v1::StreamSubmitRequest::descriptor()->full_name()));
      return;
    }
    const int count = request.submissions_size();
    if (count == 0 || static_cast<size_t>(count) > in_flight_max_) {
      // Nothing of the message is submitted.
      EndReads(count == 0 ? absl::StrCat("stream message ", message, " carries no submissions")
                          : absl::StrCat("stream message ", message, " carries ", count,
                                         " submissions; at most ", in_flight_max_));
      return;
    }
    // Over the caller's submit limit, the message's submissions are each
    // refused RESOURCE_EXHAUSTED (nothing written) and the stream goes on.
    const absl::Status over_limit = admission_.ChargeSubmissions(count);
    {
      absl::MutexLock lock(&mu_);
      // Every submission of the message counts until it is answered, so the
      // call cannot finish (and `this` cannot go) while the loop runs; and
      // no answer starts the next read before the loop is over, so the
      // submissions of one stream reach the engine in the order sent.
      in_flight_ += static_cast<size_t>(count);
      dispatching_ = true;
    }
    for (v1::StreamSubmission& s : *request.mutable_submissions()) {
      const uint64_t id = s.request_id();
      absl::Status refused = over_limit;
      if (refused.ok()) refused = admission_.AdmitSubmission(s.mutable_submit());
      if (!refused.ok()) {
        OnAnswer(id, refused);  // nothing written; the stream goes on
        continue;
      }
      (*submit_)(std::move(*s.mutable_submit()),
                 [this, id](absl::StatusOr<v1::SubmitResponse> result) {
                   OnAnswer(id, std::move(result));
                 });
    }
    bool read_more;
    {
      absl::MutexLock lock(&mu_);
      dispatching_ = false;
      read_more = !reads_done_ && in_flight_ < in_flight_max_;
      read_paused_ = !read_more;
    }
    if (read_more) StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    mu_.Lock();
    writing_ = false;
    if (!ok) {  // the client is gone: nothing more can be delivered
      write_failed_ = true;
      pending_.clear();
    }
    Act(/*read_more=*/false);
  }

  void OnDone() override { delete this; }

 private:
  // Answers per written message at most (each a few hundred bytes at most).
  static constexpr size_t kAnswersPerWriteMax = 4096;

  // No more reads: the client half-closed (`problem` empty), or `problem`
  // ends the stream with INVALID_ARGUMENT. Either way the stream ends once
  // what is in flight is answered.
  void EndReads(std::string problem) {
    mu_.Lock();
    reads_done_ = true;
    problem_ = std::move(problem);
    Act(/*read_more=*/false);
  }

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
    mu_.Lock();
    --in_flight_;
    if (!write_failed_) pending_.push_back(std::move(answer));
    const bool resume =
        read_paused_ && !dispatching_ && !reads_done_ && in_flight_ < in_flight_max_;
    if (resume) read_paused_ = false;
    Act(resume);
  }

  // Decides, under the lock (which it lets go), what to start next; starts
  // it after unlocking.
  void Act(bool read_more) ABSL_UNLOCK_FUNCTION(mu_) {
    bool write = false;
    v1::StreamSubmitResponse outgoing;
    if (!writing_ && !pending_.empty()) {
      writing_ = true;
      write = true;
      const size_t n = std::min(pending_.size(), kAnswersPerWriteMax);
      for (size_t i = 0; i < n; ++i) *outgoing.add_answers() = std::move(pending_[i]);
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(n));
      answers_written_ += n;
      last_written_id_ = outgoing.answers(static_cast<int>(n) - 1).request_id();
    }
    const bool finish =
        !finished_ && reads_done_ && in_flight_ == 0 && !writing_ && pending_.empty();
    grpc::Status end;
    if (finish) {
      finished_ = true;
      end = EndStatus();
    }
    mu_.Unlock();
    if (read_more) StartRead(&incoming_);
    if (write) {
      // Serialized outside the lock; the bytes then take the place of the
      // last write's under it, so that the next write (whichever thread
      // makes it) is ordered after this one by the lock, not only by gRPC.
      bool own_buffer = false;
      grpc::ByteBuffer bytes;
      const grpc::Status serialized =
          grpc::SerializationTraits<v1::StreamSubmitResponse>::Serialize(outgoing, &bytes,
                                                                         &own_buffer);
      // Answers are messages this process built: failing to serialize one
      // is a bug, not something a client could cause.
      GC_CHECK(serialized.ok(), "serializing stream answers: ", serialized.error_message());
      grpc::ByteBuffer* written;
      {
        absl::MutexLock lock(&mu_);
        outgoing_bytes_.Swap(&bytes);
        written = &outgoing_bytes_;
      }
      // Belongs to this write until OnWriteDone.
      StartWrite(written);
    }
    if (finish) Finish(end);
  }

  // How the stream ends, once every submission read is answered: OK after
  // the client's half-close, else INVALID_ARGUMENT saying what was wrong
  // and where the client can resume. Called under mu_.
  grpc::Status EndStatus() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (problem_.empty()) return grpc::Status::OK;
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat(problem_, "; ", answers_written_,
                     answers_written_ == 1 ? " submission" : " submissions", " answered before it",
                     answers_written_ == 0
                         ? std::string()
                         : absl::StrCat(" (the last request_id ", last_written_id_, ")"),
                     "; nothing of it or after it was read"));
  }

  const Submitter* const submit_;
  const security::Admission admission_;
  const size_t in_flight_max_;
  grpc::ByteBuffer incoming_;  // owned by the one outstanding read

  absl::Mutex mu_;
  uint64_t messages_read_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<v1::StreamAnswer> pending_ ABSL_GUARDED_BY(mu_);  // answers waiting for a write
  // The answers of the write in flight (read by gRPC outside the lock until
  // OnWriteDone), or of the last one.
  grpc::ByteBuffer outgoing_bytes_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // submissions not answered yet
  uint64_t answers_written_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_written_id_ ABSL_GUARDED_BY(mu_) = 0;  // request_id of the last answer written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;  // no read outstanding, for want of room
  bool dispatching_ ABSL_GUARDED_BY(mu_) = false;  // OnReadDone hands a message to the engine
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::string problem_ ABSL_GUARDED_BY(mu_);  // why reads ended early; empty after a half-close
};

// A stream its caller may not open: ends at once with why.
class RefusedStream final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit RefusedStream(const absl::Status& why) { Finish(ToGrpc(why)); }
  void OnDone() override { delete this; }
};

}  // namespace

EventServiceImpl::EventServiceImpl(Submitter submit, const security::Gate* gate,
                                   size_t stream_in_flight_max)
    : submit_(std::move(submit)), gate_(gate), stream_in_flight_max_(stream_in_flight_max) {
  GC_CHECK(gate_ != nullptr, "EventService without a gate");
}

grpc::ServerUnaryReactor* EventServiceImpl::Submit(grpc::CallbackServerContext* context,
                                                   const v1::SubmitRequest* request,
                                                   v1::SubmitResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto admitted = gate_->Admit(*context, security::MethodOf<v1::EventService>("Submit"));
  v1::SubmitRequest admitted_request = *request;
  absl::Status refused =
      admitted.ok() ? admitted->AdmitSubmission(&admitted_request) : admitted.status();
  if (!refused.ok()) {
    reactor->Finish(ToGrpc(refused));
    return reactor;
  }
  submit_(std::move(admitted_request),
          [context, reactor, response](absl::StatusOr<v1::SubmitResponse> result) {
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

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* EventServiceImpl::SubmitStream(
    grpc::CallbackServerContext* context) {
  auto admitted = gate_->Admit(*context, security::MethodOf<v1::EventService>("SubmitStream"));
  if (!admitted.ok()) return new RefusedStream(admitted.status());
  return new SubmitStreamReactor(&submit_, std::move(*admitted), stream_in_flight_max_);
}

}  // namespace gridcase::api
