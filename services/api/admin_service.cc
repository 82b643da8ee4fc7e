#include "services/api/admin_service.h"

#include <sys/resource.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/time.h"
#include "engine/storage/disk_space.h"
#include "services/api/admit.h"
#include "services/api/backup_call.h"
#include "services/api/off_thread.h"
#include "services/api/status.h"
#include "services/logging/logging.h"

namespace gridcase::api {
namespace {

// The actor an administrative request names: a client's (the engine's own
// is not theirs to give), and the caller's own.
absl::Status ValidateAdminActor(const security::Admission& admission, const v1::Actor& actor) {
  if (auto st = ValidateClientActor(actor, "actor"); !st.ok()) return st;
  return admission.CheckActor(actor);
}

}  // namespace

grpc::ServerUnaryReactor* AdminServiceImpl::DeployWorkflow(grpc::CallbackServerContext* context,
                                                           const v1::DeployWorkflowRequest* request,
                                                           v1::DeployWorkflowResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto admitted = AdmitOrFinish<v1::AdminService>(*gate_, context, reactor, "DeployWorkflow");
  if (!admitted) return reactor;
  // Who deploys is a client: the engine's own actor is not theirs to give.
  // (gridcased deploys --workflows as itself, through the engine directly.)
  if (auto st = ValidateAdminActor(*admitted, request->actor()); !st.ok()) {
    reactor->Finish(ToGrpc(st));
    return reactor;
  }
  engine_->workflows().DeployWorkflow(
      request->source(), request->file_name(), request->actor(),
      [reactor, response](absl::StatusOr<v1::DeployWorkflowResponse> result) {
        if (result.ok()) *response = std::move(*result);
        reactor->Finish(ToGrpc(result.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListWorkflows(grpc::CallbackServerContext* context,
                                                          const v1::ListWorkflowsRequest* request,
                                                          v1::ListWorkflowsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!AdmitOrFinish<v1::AdminService>(*gate_, context, reactor, "ListWorkflows")) return reactor;
  *response = engine_->workflows().ListWorkflows();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetWorkflow(grpc::CallbackServerContext* context,
                                                        const v1::GetWorkflowRequest* request,
                                                        v1::WorkflowDefinition* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!AdmitOrFinish<v1::AdminService>(*gate_, context, reactor, "GetWorkflow")) return reactor;
  auto result = engine_->workflows().GetWorkflow(request->name(), request->version());
  if (result.ok()) *response = std::move(*result);
  reactor->Finish(ToGrpc(result.status()));
  return reactor;
}

namespace {

v1::PersonView ViewOf(const Person& p, const Directory& directory, int64_t now_us) {
  v1::PersonView v;
  auto* r = v.mutable_person();
  r->set_person_id(p.id);
  r->set_name(p.name);
  r->set_role(p.role);
  r->set_unit_id(p.unit_id);
  r->set_phone(p.phone);
  v.set_paired_with(p.paired_with);
  v.set_availability(p.availability);
  if (p.availability == v1::AVAILABILITY_UNAVAILABLE) {
    *v.mutable_unavailable_from() = FromMicros(p.unavailable_from_us);
    if (p.unavailable_until_us != 0)
      *v.mutable_unavailable_until() = FromMicros(p.unavailable_until_us);
  }
  v.set_available_now(directory.IsAvailable(p, now_us));
  v.set_erased_at(p.erased_at);
  return v;
}

// User + system CPU time of the whole process (every thread).
uint64_t ProcessCpuMicros() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;  // cannot fail for RUSAGE_SELF
  auto micros = [](const timeval& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1000000 + static_cast<uint64_t>(t.tv_usec);
  };
  return micros(usage.ru_utime) + micros(usage.ru_stime);
}

}  // namespace

grpc::ServerUnaryReactor* AdminServiceImpl::ImportDirectory(
    grpc::CallbackServerContext* context, const v1::ImportDirectoryRequest* request,
    v1::ImportDirectoryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto admitted = AdmitOrFinish<v1::AdminService>(*gate_, context, reactor, "ImportDirectory");
  if (!admitted) return reactor;
  if (auto st = ValidateAdminActor(*admitted, request->actor()); !st.ok()) {
    reactor->Finish(ToGrpc(st));
    return reactor;
  }
  // An import waits for its writes: run it off the completion thread.
  std::thread([this, reactor, request, response] {
    std::vector<v1::DirectoryEntry> entries(request->entries().begin(), request->entries().end());
    auto result =
        engine_->staffing().ImportDirectory(entries, request->import_id(), request->actor());
    if (result.ok()) {
      response->set_entries(entries.size());
      response->set_written(result->written);
      response->set_moved(result->moved);
    }
    reactor->Finish(ToGrpc(result.status()));
  }).detach();
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::ErasePerson(grpc::CallbackServerContext* context,
                                                        const v1::ErasePersonRequest* request,
                                                        v1::ErasePersonResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto admitted = AdmitOrFinish<v1::AdminService>(*gate_, context, reactor, "ErasePerson");
  if (!admitted) return reactor;
  ErasureRequest erasure;
  erasure.case_id = request->case_id();
  erasure.person_id = request->person_id();
  erasure.reason = request->reason();
  erasure.legal_basis = request->legal_basis();
  erasure.actor.set_id(admitted->principal().id);
  erasure.actor.set_kind(v1::ACTOR_KIND_PERSON);
  erasure.actor.set_role("privacy_officer");
  erasure.requested_by = admitted->principal().Subject();
  // An erasure waits for its record and for the key's destruction (a
  // flush and a compaction of the key store): off the completion thread.
  std::thread([this, reactor, response, erasure = std::move(erasure)] {
    auto result = engine_->erasures().Erase(erasure);
    if (result.ok()) {
      response->set_partition(result->partition);
      response->set_position(result->position);
      response->set_duplicate(result->duplicate);
      logging::Component("api").info("erasure by {}: partition {} position {}{}",
                                     erasure.requested_by, result->partition, result->position,
                                     result->duplicate ? " (again)" : "");
    }
    reactor->Finish(ToGrpc(result.status()));
  }).detach();
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::AcceptClock(grpc::CallbackServerContext* context,
                                                        const v1::AcceptClockRequest* request,
                                                        v1::AcceptClockResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto admitted = AdmitOrFinish<v1::AdminService>(*gate_, context, reactor, "AcceptClock");
  if (!admitted) return reactor;
  std::vector<uint32_t> stopped;
  const auto refusals = engine_->WriteRefusals();
  const absl::Status jumped =
      engine_->clock_guard() ? engine_->clock_guard()->state() : absl::OkStatus();
  auto accepted = engine_->AcceptClock();
  if (accepted.ok()) {
    for (size_t i = 0; i < refusals.size(); ++i) {
      if (!jumped.ok() && refusals[i] == jumped) response->add_partitions(static_cast<uint32_t>(i));
    }
    response->set_jump_us(*accepted);
    logging::Component("api").warn(
        "wall clock jump of {:.0f} s accepted by {}: writes and deadlines resume", *accepted / 1e6,
        admitted->principal().Subject());
  }
  reactor->Finish(ToGrpc(accepted.status()));
  return reactor;
}

grpc::ServerWriteReactor<v1::BackupProgress>* AdminServiceImpl::Backup(
    grpc::CallbackServerContext* context, const v1::BackupRequest* request) {
  return StartBackupCall(context, request, engine_, gate_);
}

namespace {

absl::Status NoPerson(const std::string& person_id) {
  return absl::NotFoundError(absl::StrCat("no person ", person_id, " in the directory"));
}

}  // namespace

grpc::ServerUnaryReactor* AdminServiceImpl::GetPerson(grpc::CallbackServerContext* context,
                                                      const v1::GetPersonRequest* request,
                                                      v1::PersonView* response) {
  const std::string method = security::MethodOf<v1::AdminService>("GetPerson");
  auto admitted = gate_->Admit(*context, method, request->break_glass_reason());
  if (!admitted.ok()) return Refuse(context, admitted.status());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const Directory& directory = engine_->staffing().directory();
  auto person = directory.FindPerson(request->person_id());
  ReadReturned read;
  read.filters = {{"person_id", request->person_id()}};
  if (!person || !admitted->Reaches(person->unit_id)) {  // beyond reach: as if absent
    if (!admitted->break_glass()) {
      reactor->Finish(ToGrpc(NoPerson(request->person_id())));
    } else {  // a break-glass search leaves its trace even when it finds nobody
      reads_->Record(*admitted, method, std::move(read),
                     FinishOnceRecorded(reactor, NoPerson(request->person_id())));
    }
    return reactor;
  }
  *response = ViewOf(*person, directory, clock_->NowMicros());
  read.person_ids = {person->id};
  read.units = {person->unit_id};
  reads_->Record(*admitted, method, std::move(read), FinishOnceRecorded(reactor));
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetUnit(grpc::CallbackServerContext* context,
                                                    const v1::GetUnitRequest* request,
                                                    v1::UnitView* response) {
  const std::string method = security::MethodOf<v1::AdminService>("GetUnit");
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto admitted = AdmitOrFinish<v1::AdminService>(*gate_, context, reactor, "GetUnit");
  if (!admitted) return reactor;
  const Directory& directory = engine_->staffing().directory();
  auto unit = directory.FindUnit(request->unit_id());
  if (!unit || !admitted->Reaches(unit->id)) {  // beyond reach: as if absent
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 "no unit " + request->unit_id() + " in the directory"));
    return reactor;
  }
  auto* u = response->mutable_unit();
  u->set_unit_id(unit->id);
  u->set_level(unit->level);
  u->set_parent_id(unit->parent_id);
  u->set_name(unit->name);
  for (const auto& c : unit->children) response->add_children(c);
  const int64_t now_us = clock_->NowMicros();
  ReadReturned read;
  read.filters = {{"unit_id", unit->id}};
  for (const auto& p : directory.PeopleOf(unit->id)) {
    *response->add_people() = ViewOf(p, directory, now_us);
    read.person_ids.push_back(p.id);
  }
  reads_->Record(*admitted, method, std::move(read), FinishOnceRecorded(reactor));
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetWorkload(grpc::CallbackServerContext* context,
                                                        const v1::GetWorkloadRequest* request,
                                                        v1::Workload* response) {
  const std::string method = security::MethodOf<v1::AdminService>("GetWorkload");
  auto admitted = gate_->Admit(*context, method, request->break_glass_reason());
  if (!admitted.ok()) return Refuse(context, admitted.status());
  const auto person = engine_->staffing().directory().FindPerson(request->person_id());
  const bool within = !person || admitted->Reaches(person->unit_id);
  return OffThread(
      context, response,
      [this, method, within, admission = std::move(*admitted), id = request->person_id(),
       unit = person ? person->unit_id : ""]() -> absl::StatusOr<v1::Workload> {
        // Beyond reach: as if absent.
        auto workload = within ? engine_->staffing().Workload(id) : NoPerson(id);
        if (!workload.ok() && !admission.break_glass()) return workload.status();
        ReadReturned read;
        read.filters = {{"person_id", id}};
        if (workload.ok()) {
          read.person_ids = {id};
          read.case_ids.assign(workload->case_ids().begin(), workload->case_ids().end());
        }
        if (!unit.empty()) read.units = {unit};
        if (auto st = reads_->RecordAndWait(admission, method, std::move(read)); !st.ok()) {
          return st;
        }
        return workload;
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetStaffingReport(
    grpc::CallbackServerContext* context, const v1::StaffingReportRequest* request,
    v1::StaffingReport* response) {
  const std::string method = security::MethodOf<v1::AdminService>("GetStaffingReport");
  auto admitted = gate_->Admit(*context, method);
  auto area = admitted.ok() ? admitted->Area(request->area()) : admitted.status();
  if (!area.ok()) return Refuse(context, area.status());
  return OffThread(context, response,
                   [this, method, area = *area,
                    admission = std::move(*admitted)]() -> absl::StatusOr<v1::StaffingReport> {
                     auto report = engine_->staffing().StaffingReport(area);
                     if (!report.ok()) return report.status();
                     ReadReturned read;
                     read.filters = {{"area", area}};
                     for (const auto& s : report->stranded()) {
                       read.case_ids.push_back(s.case_id());
                       read.person_ids.push_back(s.holder());
                     }
                     if (auto st = reads_->RecordAndWait(admission, method, std::move(read));
                         !st.ok()) {
                       return st;
                     }
                     return report;
                   });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetServerStats(grpc::CallbackServerContext* context,
                                                           const v1::GetServerStatsRequest* request,
                                                           v1::ServerStats* response) {
  if (auto admitted =
          gate_->Admit(*context, security::MethodOf<v1::AdminService>("GetServerStats"));
      !admitted.ok()) {
    return Refuse(context, admitted.status());
  }
  const auto stats = engine_->Stats();
  for (size_t i = 0; i < stats.size(); ++i) {
    auto* p = response->add_partitions();
    p->set_partition(static_cast<uint32_t>(i));
    p->set_groups(stats[i].groups);
    p->set_records(stats[i].records);
    p->set_submissions(stats[i].submissions);
    p->set_batch_bytes(stats[i].batch_bytes);
    p->set_submissions_deferred(stats[i].deferred);
    p->set_accepting_writes(stats[i].refusing_writes.ok());
    p->set_refusing_writes(std::string(stats[i].refusing_writes.message()));
    if (const auto& index = stats[i].case_index) {
      p->set_case_index_ready(index->ready);
      p->set_indexed_cases(index->cases);
      p->set_case_index_bytes(index->bytes);
      p->set_case_index_filling(index->filling);
      p->set_case_index_problem(index->problem);
    }
    const ScrubStats& scrub = stats[i].scrub;
    v1::ScrubStats* s = p->mutable_scrub();
    s->set_passes(scrub.passes);
    s->set_passes_with_problems(scrub.passes_with_problems);
    s->set_last_finished_at_us(scrub.last_finished_us);
    s->set_last_records(scrub.records);
    s->set_last_table_files(scrub.table_files);
    s->set_last_bytes(scrub.bytes);
    s->set_problem(scrub.problem);
    s->set_running(scrub.running);
    s->set_running_bytes(scrub.running_bytes);
    for (auto [out, in] : {std::pair{p->mutable_queued(), &stats[i].queued},
                           std::pair{p->mutable_write(), &stats[i].write},
                           std::pair{p->mutable_answered(), &stats[i].answered}}) {
      for (size_t b = 0; b < LatencyHistogram::kBuckets; ++b) {
        out->add_upper_bound_us(LatencyHistogram::UpperBoundMicros(b));
        out->add_count(in->buckets()[b]);
      }
    }
  }
  response->set_cpu_micros(ProcessCpuMicros());
  if (const DiskSpaceGuard* disk = engine_->disk_space()) {
    response->set_disk_free_bytes(disk->free_bytes());
    response->set_disk_reserve_bytes(disk->reserve_bytes());
  } else if (auto free = FreeBytesAt(engine_->data_dir()); free.ok()) {
    response->set_disk_free_bytes(*free);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetKafkaStatus(grpc::CallbackServerContext* context,
                                                           const v1::GetKafkaStatusRequest* request,
                                                           v1::KafkaStatus* response) {
  if (auto admitted =
          gate_->Admit(*context, security::MethodOf<v1::AdminService>("GetKafkaStatus"));
      !admitted.ok()) {
    return Refuse(context, admitted.status());
  }
  if (!kafka_status_) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                 "this server runs without Kafka (no --kafka-brokers)"));
    return reactor;
  }
  return OffThread(context, response, [this] { return kafka_status_(); });
}

}  // namespace gridcase::api
