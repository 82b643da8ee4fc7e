#include "services/api/audit_service.h"

#include <chrono>
#include <utility>
#include <vector>

#include "engine/audit/log_reader.h"
#include "services/api/admit.h"
#include "services/api/case_service.h"
#include "services/api/off_thread.h"
#include "services/api/status.h"

namespace gridcase::api {
namespace {

// Records sent per read of the store, and records looked at per read when
// filters drop most of them (so cancellation is noticed promptly).
constexpr size_t kReadBatch = 256;
constexpr size_t kScanMax = 4096;
// How long a follower waits for a commit before checking on its client.
constexpr std::chrono::milliseconds kFollowPoll(250);

}  // namespace

grpc::Status AuditServiceImpl::ReadLog(grpc::ServerContext* context,
                                       const v1::ReadLogRequest* request,
                                       grpc::ServerWriter<v1::LogEntry>* writer) {
  auto admitted = gate_->Admit(*context, security::MethodOf<v1::AuditService>("ReadLog"));
  if (!admitted.ok()) return ToGrpc(admitted.status());
  // One case: only when it is within reach (else as if absent); otherwise
  // the records of the caller's units.
  v1::ReadLogRequest within = *request;
  if (!request->case_id().empty()) {
    if (auto st = CheckCaseWithin(*engine_, *admitted, request->case_id()); !st.ok()) {
      return ToGrpc(st);
    }
  }
  auto area = admitted->Area(request->area());
  if (!area.ok()) return ToGrpc(area.status());
  within.set_area(*area);
  if (readers_.fetch_add(1) >= kReadersMax) {
    readers_.fetch_sub(1);
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        "too many log readers at once (" + std::to_string(kReadersMax) + "); retry later");
  }
  struct Release {
    std::atomic<int>* n;
    ~Release() { n->fetch_sub(1); }
  } release{&readers_};

  auto reader = engine_->audit().NewLogReader(within);
  if (!reader.ok()) return ToGrpc(reader.status());
  std::vector<v1::LogEntry> batch;
  for (;;) {
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the reader cancelled");
    }
    // Read the generation first: a commit after it wakes the wait below.
    const uint64_t seen = engine_->commit_generation();
    batch.clear();
    bool caught_up = false;
    if (auto st = (*reader)->Next(kReadBatch, kScanMax, &batch, &caught_up); !st.ok()) {
      return ToGrpc(st);
    }
    for (const v1::LogEntry& entry : batch) {
      if (!writer->Write(entry)) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "the reader went away");
      }
    }
    if (!caught_up) continue;
    if (!within.follow()) return grpc::Status::OK;
    engine_->AwaitCommit(seen, kFollowPoll);
  }
}

grpc::ServerUnaryReactor* AuditServiceImpl::Checkpoint(grpc::CallbackServerContext* context,
                                                       const v1::CheckpointRequest* request,
                                                       v1::CheckpointResponse* response) {
  if (auto admitted = gate_->Admit(*context, security::MethodOf<v1::AuditService>("Checkpoint"));
      !admitted.ok()) {
    return Refuse(context, admitted.status());
  }
  return OffThread(context, response,
                   [this, name = request->name()]() -> absl::StatusOr<v1::CheckpointResponse> {
                     auto info = engine_->audit().Checkpoint(name);
                     if (!info.ok()) return info.status();
                     v1::CheckpointResponse out;
                     out.set_dir(info->dir);
                     for (uint64_t p : info->positions) out.add_positions(p);
                     return out;
                   });
}

grpc::ServerUnaryReactor* AuditServiceImpl::VerifyLog(grpc::CallbackServerContext* context,
                                                      const v1::VerifyLogRequest* request,
                                                      v1::VerifyLogResponse* response) {
  if (auto admitted = gate_->Admit(*context, security::MethodOf<v1::AuditService>("VerifyLog"));
      !admitted.ok()) {
    return Refuse(context, admitted.status());
  }
  return OffThread(
      context, response,
      [this, key = request->public_key_pem()]() -> absl::StatusOr<v1::VerifyLogResponse> {
        auto checks = engine_->audit().VerifyLog(key);
        if (!checks.ok()) return checks.status();
        v1::VerifyLogResponse out;
        out.set_intact(true);
        for (size_t i = 0; i < checks->size(); ++i) {
          const ChainCheck& c = (*checks)[i];
          auto* p = out.add_partitions();
          p->set_partition(static_cast<uint32_t>(i));
          p->set_records(c.records);
          p->set_head(c.head);
          p->set_first_bad_position(c.first_bad_position);
          p->set_problem(c.problem);
          p->set_signed_heads_verified(c.signed_heads_verified);
          if (c.first_bad_position != 0) out.set_intact(false);
        }
        return out;
      });
}

grpc::ServerUnaryReactor* AuditServiceImpl::GetCaseAsOf(grpc::CallbackServerContext* context,
                                                        const v1::GetCaseAsOfRequest* request,
                                                        v1::GetCaseAsOfResponse* response) {
  auto admitted = gate_->Admit(*context, security::MethodOf<v1::AuditService>("GetCaseAsOf"));
  if (!admitted.ok()) return Refuse(context, admitted.status());
  return OffThread(context, response,
                   [this, admission = std::move(*admitted),
                    request = *request]() -> absl::StatusOr<v1::GetCaseAsOfResponse> {
                     // A case is within reach when its grid is now.
                     if (auto st = CheckCaseWithin(*engine_, admission, request.case_id());
                         !st.ok()) {
                       return st;
                     }
                     return engine_->audit().GetCaseAsOf(request);
                   });
}

}  // namespace gridcase::api
