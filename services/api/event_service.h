// EventService over gRPC's callback API: no handler thread ever waits for a
// disk write. Each submission is handed to the engine, and the RPC finishes
// from the engine's callback once the record is durable.
#ifndef GRIDCASE_SERVICES_API_EVENT_SERVICE_H_
#define GRIDCASE_SERVICES_API_EVENT_SERVICE_H_

#include <cstddef>
#include <functional>

#include "engine/engine.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "services/security/gate.h"

namespace gridcase::api {

// Where submissions go: the engine's Submit, or (for gridcase-bench's echo
// baseline) anything with the same contract.
using Submitter = std::function<void(v1::SubmitRequest, SubmitCallback)>;

// SubmitStream is served raw (bytes in and out, parsed and serialized here
// as gRPC would): gRPC reports a message that does not parse to a typed
// reactor exactly as it reports the end of the client's messages, and a
// stream that then ended OK would hide that what followed was never read.
//
// The stream's contract, for client authors: every submission of every
// message read is answered, accepted or refused, before the stream ends.
// It ends OK only when the client half-closed and everything it sent was
// answered. A message that does not parse, that carries no submissions or
// more than stream_in_flight_max ends it with INVALID_ARGUMENT once what
// came before is answered: nothing of that message or after it is read,
// and the status says which message it was, how many submissions were
// answered and the request_id of the last answer sent.
class EventServiceImpl final
    : public v1::EventService::WithCallbackMethod_Submit<
          v1::EventService::WithRawCallbackMethod_SubmitStream<v1::EventService::Service>> {
 public:
  // `engine` and `gate` must outlive the service. At most
  // `stream_in_flight_max` submissions of one stream wait for the engine at
  // a time; beyond that the stream stops reading (flow control pushes back
  // on the client). Every call passes `gate`: a stream is admitted once,
  // and each submission's actor and grid are checked against the caller.
  EventServiceImpl(Engine* engine, const security::Gate* gate, size_t stream_in_flight_max = 1024)
      : EventServiceImpl(
            [engine](v1::SubmitRequest r, SubmitCallback done) {
              engine->Submit(std::move(r), std::move(done));
            },
            gate, stream_in_flight_max) {}
  EventServiceImpl(Submitter submit, const security::Gate* gate, size_t stream_in_flight_max);

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const v1::SubmitRequest* request,
                                   v1::SubmitResponse* response) override;

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* SubmitStream(
      grpc::CallbackServerContext* context) override;

 private:
  const Submitter submit_;
  const security::Gate* const gate_;
  const size_t stream_in_flight_max_;
};

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_EVENT_SERVICE_H_
