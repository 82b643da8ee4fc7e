// CaseService: reads of case state and timelines. These read RocksDB, so
// they run on gRPC's synchronous handler threads, never on the callback
// completion threads that carry submissions.
#ifndef GRIDCASE_SERVICES_API_CASE_SERVICE_H_
#define GRIDCASE_SERVICES_API_CASE_SERVICE_H_

#include "engine/engine.h"
#include "gridcase/v1/service.grpc.pb.h"

namespace gridcase::api {

class CaseServiceImpl final : public v1::CaseService::Service {
 public:
  // `engine` must outlive the service.
  explicit CaseServiceImpl(const Engine* engine) : engine_(engine) {}

  grpc::Status GetCase(grpc::ServerContext* context,
                       const v1::GetCaseRequest* request,
                       v1::CaseState* response) override;
  grpc::Status GetTimeline(grpc::ServerContext* context,
                           const v1::GetTimelineRequest* request,
                           v1::GetTimelineResponse* response) override;
  grpc::Status ListCases(grpc::ServerContext* context,
                         const v1::ListCasesRequest* request,
                         v1::ListCasesResponse* response) override;

 private:
  const Engine* const engine_;
};

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_CASE_SERVICE_H_
