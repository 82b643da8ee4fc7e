// CaseService: reads of case state and timelines. These read RocksDB, so
// they never run on the callback completion threads that carry
// submissions: they run on a read pool of their own (callback API), and
// each call is finished once its access record is durable, from the access
// log's writer, so no thread waits for that disk write. GetTimeline answers with bytes
// assembled from the stored records (Engine::GetTimelineWire), so a page of
// a thousand records is neither parsed nor serialized on the way out.
#ifndef GRIDCASE_SERVICES_API_CASE_SERVICE_H_
#define GRIDCASE_SERVICES_API_CASE_SERVICE_H_

#include "engine/engine.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "services/api/read_audit.h"
#include "services/api/read_pool.h"
#include "services/security/gate.h"
#include "services/security/page_tokens.h"

namespace gridcase::api {

// The case `case_id` when the admitted caller reaches its grid; otherwise
// the very answer a case that does not exist gets.
absl::StatusOr<v1::CaseState> ReadCaseWithin(const Engine& engine,
                                             const security::Admission& admission,
                                             const std::string& case_id);
absl::Status CaseBeyondReach(absl::string_view case_id);
// OK when the caller reaches every case, or the case `case_id` exists and
// is within reach; otherwise ReadCaseWithin's refusal.
absl::Status CheckCaseWithin(const Engine& engine, const security::Admission& admission,
                             const std::string& case_id);
// Records (read_audit.h) a read of case `case_id` that `answered`; then
// the status to answer with: `answered`, or why it could not be recorded.
// A read that failed is recorded only when it broke glass.
absl::Status RecordCaseRead(const Engine& engine, const ReadAudit& reads,
                            const security::Admission& admission, absl::string_view method,
                            const std::string& case_id, const absl::Status& answered);
// The same, finishing `reactor` once the record is durable (no thread
// waits for the disk meanwhile).
void RecordCaseRead(const Engine& engine, const ReadAudit& reads,
                    const security::Admission& admission, absl::string_view method,
                    const std::string& case_id, const absl::Status& answered,
                    grpc::ServerUnaryReactor* reactor);

class CaseServiceImpl final
    : public v1::CaseService::WithCallbackMethod_GetCase<
          v1::CaseService::WithCallbackMethod_ListCases<
              v1::CaseService::WithRawCallbackMethod_GetTimeline<v1::CaseService::Service>>> {
 public:
  // `engine` and `gate` must outlive the service. At most
  // `timeline_readers` timeline reads run at once and 256 more wait;
  // beyond that a read is refused with RESOURCE_EXHAUSTED. A case beyond
  // the caller's reach answers exactly as one that does not exist;
  // listings cover the caller's units only.
  // Every answer is recorded by `reads` first (read_audit.h).
  // Page tokens are sealed and opened by `tokens` (which must outlive this).
  CaseServiceImpl(const Engine* engine, const security::Gate* gate, const ReadAudit* reads,
                  const security::PageTokens* tokens, size_t readers = 4)
      : engine_(engine), gate_(gate), reads_(reads), tokens_(tokens), read_pool_(readers, 256) {}

  grpc::ServerUnaryReactor* GetCase(grpc::CallbackServerContext* context,
                                    const v1::GetCaseRequest* request,
                                    v1::CaseState* response) override;
  grpc::ServerUnaryReactor* GetTimeline(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListCases(grpc::CallbackServerContext* context,
                                      const v1::ListCasesRequest* request,
                                      v1::ListCasesResponse* response) override;

 private:
  const Engine* const engine_;
  const security::Gate* const gate_;
  // Runs `read` on the read pool (which then finishes the call), or
  // finishes the call RESOURCE_EXHAUSTED when too many reads wait.
  void OnPool(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
              absl::AnyInvocable<void() &&> read);

  const ReadAudit* const reads_;
  const security::PageTokens* const tokens_;
  ReadPool read_pool_;  // last: joined first, before what its reads use
};

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_CASE_SERVICE_H_
