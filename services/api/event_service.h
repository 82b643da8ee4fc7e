// EventService over gRPC's callback API: no handler thread ever waits for a
// disk write. Each submission is handed to the engine, and the RPC finishes
// from the engine's callback once the record is durable.
#ifndef GRIDCASE_SERVICES_API_EVENT_SERVICE_H_
#define GRIDCASE_SERVICES_API_EVENT_SERVICE_H_

#include <cstddef>
#include <functional>

#include "engine/engine.h"
#include "gridcase/v1/service.grpc.pb.h"

namespace gridcase::api {

// Where submissions go: the engine's Submit, or (for gridcase-bench's echo
// baseline) anything with the same contract.
using Submitter = std::function<void(v1::SubmitRequest, SubmitCallback)>;

class EventServiceImpl final : public v1::EventService::CallbackService {
 public:
  // `engine` must outlive the service. At most `stream_in_flight_max`
  // submissions of one stream wait for the engine at a time; beyond that the
  // stream stops reading (flow control pushes back on the client).
  explicit EventServiceImpl(Engine* engine, size_t stream_in_flight_max = 1024)
      : EventServiceImpl(
            [engine](v1::SubmitRequest r, SubmitCallback done) {
              engine->Submit(std::move(r), std::move(done));
            },
            stream_in_flight_max) {}
  EventServiceImpl(Submitter submit, size_t stream_in_flight_max)
      : submit_(std::move(submit)), stream_in_flight_max_(stream_in_flight_max) {}

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const v1::SubmitRequest* request,
                                   v1::SubmitResponse* response) override;

  grpc::ServerBidiReactor<v1::StreamSubmitRequest, v1::StreamSubmitResponse>*
  SubmitStream(grpc::CallbackServerContext* context) override;

 private:
  const Submitter submit_;
  const size_t stream_in_flight_max_;
};

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_EVENT_SERVICE_H_
