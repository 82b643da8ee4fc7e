// CaseService: reads of case state and timelines. These read RocksDB, so
// they never run on the callback completion threads that carry
// submissions: GetCase and ListCases on gRPC's synchronous handler threads,
// GetTimeline on a read pool of its own. GetTimeline answers with bytes
// assembled from the stored records (Engine::GetTimelineWire), so a page of
// a thousand records is neither parsed nor serialized on the way out.
#ifndef GRIDCASE_SERVICES_API_CASE_SERVICE_H_
#define GRIDCASE_SERVICES_API_CASE_SERVICE_H_

#include "engine/engine.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "services/api/read_pool.h"

namespace gridcase::api {

class CaseServiceImpl final
    : public v1::CaseService::WithRawCallbackMethod_GetTimeline<v1::CaseService::Service> {
 public:
  // `engine` must outlive the service. At most `timeline_readers` timeline
  // reads run at once and 256 more wait; beyond that a read is refused
  // with RESOURCE_EXHAUSTED.
  explicit CaseServiceImpl(const Engine* engine, size_t timeline_readers = 4)
      : engine_(engine), timeline_pool_(timeline_readers, 256) {}

  grpc::Status GetCase(grpc::ServerContext* context, const v1::GetCaseRequest* request,
                       v1::CaseState* response) override;
  grpc::ServerUnaryReactor* GetTimeline(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::Status ListCases(grpc::ServerContext* context, const v1::ListCasesRequest* request,
                         v1::ListCasesResponse* response) override;

 private:
  const Engine* const engine_;
  ReadPool timeline_pool_;  // last: joined first, before what its reads use
};

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_CASE_SERVICE_H_
