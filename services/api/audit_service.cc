#include "services/api/audit_service.h"

#include <chrono>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
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

void FillChain(const ChainCheck& c, v1::PartitionChain* out) {
  out->set_records(c.records);
  out->set_head(c.head);
  out->set_first_bad_position(c.first_bad_position);
  out->set_problem(c.problem);
  out->set_signed_heads_verified(c.signed_heads_verified);
  if (c.origin.has_value()) *out->mutable_origin() = *c.origin;
  out->set_old_signed_heads_verified(c.old_signed_heads_verified);
}

}  // namespace

namespace {

// The access record of a batch of log entries about to be sent.
ReadReturned LogBatchRead(const v1::ReadLogRequest& request,
                          const std::vector<v1::LogEntry>& batch) {
  ReadReturned read;
  std::string types;
  for (const auto& t : request.event_types()) absl::StrAppend(&types, types.empty() ? "" : ",", t);
  read.filters = {{"case_id", request.case_id()},
                  {"area", request.area()},
                  {"event_types", types},
                  {"partition", request.has_partition() ? absl::StrCat(request.partition()) : ""},
                  {"follow", request.follow() ? "true" : ""}};
  absl::flat_hash_set<std::string> seen;
  for (const auto& entry : batch) {
    const std::string& id = entry.record().event().case_id();
    if (!id.empty() && seen.insert(id).second) read.case_ids.push_back(id);
  }
  return read;
}

}  // namespace

grpc::Status AuditServiceImpl::ReadLog(grpc::ServerContext* context,
                                       const v1::ReadLogRequest* request,
                                       grpc::ServerWriter<v1::LogEntry>* writer) {
  const std::string method = security::MethodOf<v1::AuditService>("ReadLog");
  auto admitted = gate_->Admit(*context, method, request->break_glass_reason());
  if (!admitted.ok()) return ToGrpc(admitted.status());
  if (admitted->break_glass() && (request->case_id().empty() || request->follow())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "break_glass_reason: a break-glass read of the log reads one case "
                        "(case_id), without follow");
  }
  // One case: only when it is within reach (else as if absent); otherwise
  // the records of the caller's units.
  v1::ReadLogRequest within = *request;
  if (!request->case_id().empty()) {
    absl::Status st = CheckCaseWithin(*engine_, *admitted, request->case_id());
    if (admitted->break_glass() && !st.ok()) {
      st = RecordCaseRead(*engine_, *reads_, *admitted, method, request->case_id(), st);
    }
    if (!st.ok()) return ToGrpc(st);
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
    // Each batch is recorded before it is sent (read_audit.h).
    if (!batch.empty()) {
      ReadReturned read = LogBatchRead(within, batch);
      if (admitted->break_glass()) {
        if (auto state = engine_->GetCase(within.case_id()); state.ok()) {
          read.units = {state->grid_id()};
        }
      }
      if (auto st = reads_->RecordAndWait(*admitted, method, std::move(read)); !st.ok()) {
        return ToGrpc(st);
      }
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
  return OffThread(
      context, response,
      [this, name = request->name(),
       include_keys = request->include_keys()]() -> absl::StatusOr<v1::CheckpointResponse> {
        auto info = engine_->audit().Checkpoint(name, include_keys);
        if (!info.ok()) return info.status();
        v1::CheckpointResponse out;
        out.set_dir(info->dir);
        out.set_keys(info->keys);
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
        auto access = engine_->audit().VerifyAccessLog(key);
        if (!access.ok()) return access.status();
        FillChain(*access, out.mutable_access_log());
        out.set_intact(access->first_bad_position == 0);
        for (size_t i = 0; i < checks->size(); ++i) {
          auto* p = out.add_partitions();
          FillChain((*checks)[i], p);
          p->set_partition(static_cast<uint32_t>(i));
          if ((*checks)[i].first_bad_position != 0) out.set_intact(false);
        }
        return out;
      });
}

grpc::ServerUnaryReactor* AuditServiceImpl::GetCaseAsOf(grpc::CallbackServerContext* context,
                                                        const v1::GetCaseAsOfRequest* request,
                                                        v1::GetCaseAsOfResponse* response) {
  const std::string method = security::MethodOf<v1::AuditService>("GetCaseAsOf");
  auto admitted = gate_->Admit(*context, method, request->break_glass_reason());
  if (!admitted.ok()) return Refuse(context, admitted.status());
  return OffThread(context, response,
                   [this, method, admission = std::move(*admitted),
                    request = *request]() -> absl::StatusOr<v1::GetCaseAsOfResponse> {
                     // A case is within reach when its grid is now.
                     absl::Status within = CheckCaseWithin(*engine_, admission, request.case_id());
                     auto view = within.ok() ? engine_->audit().GetCaseAsOf(request)
                                             : absl::StatusOr<v1::GetCaseAsOfResponse>(within);
                     if (auto st = RecordCaseRead(*engine_, *reads_, admission, method,
                                                  request.case_id(), view.status());
                         !st.ok()) {
                       return st;
                     }
                     return view;
                   });
}

grpc::ServerUnaryReactor* AuditServiceImpl::ReadAccess(grpc::CallbackServerContext* context,
                                                       const v1::ReadAccessRequest* request,
                                                       v1::ReadAccessResponse* response) {
  const std::string method = security::MethodOf<v1::AuditService>("ReadAccess");
  auto admitted = gate_->Admit(*context, method);
  if (!admitted.ok()) return Refuse(context, admitted.status());
  v1::ReadAccessRequest query = *request;
  if (!admitted->everywhere()) {
    // District officers: the break-glass reads they were told of, only.
    const std::string& self = admitted->principal().id;
    if (!query.notified().empty() && query.notified() != self) {
      return Refuse(context, absl::PermissionDeniedError(absl::StrCat(
                                 admitted->principal().Describe(),
                                 " may read only the break-glass reads they were told of "
                                 "(notified = ",
                                 self, ")")));
    }
    query.set_notified(self);
  }
  auto cursor = tokens_->Open(admitted->principal().Subject(), method, query);
  if (!cursor.ok()) return Refuse(context, cursor.status());
  query.set_page_token(*cursor);
  return OffThread(
      context, response,
      [this, method, query = std::move(query),
       admission = std::move(*admitted)]() -> absl::StatusOr<v1::ReadAccessResponse> {
        auto page = access_->Read(query);
        if (!page.ok()) return page.status();
        page->set_next_page_token(
            tokens_->Seal(admission.principal().Subject(), method, query, page->next_page_token()));
        // Reading who read is itself a read, recorded with its
        // filters (the records it returned name cases).
        ReadReturned read;
        read.filters = {{"case_id", query.case_id()},
                        {"person_id", query.person_id()},
                        {"caller", query.caller()},
                        {"notified", query.notified()},
                        {"break_glass_only", query.break_glass_only() ? "true" : ""},
                        {"page_token", query.page_token()}};
        if (auto st = reads_->RecordAndWait(admission, method, std::move(read)); !st.ok()) {
          return st;
        }
        return page;
      });
}

}  // namespace gridcase::api
