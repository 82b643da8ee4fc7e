#include "services/cli/audit.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "engine/audit/rebuild.h"
#include "google/protobuf/util/time_util.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "services/cli/output.h"

namespace gridcase::cli {
namespace {

std::string Hex(const std::string& bytes) {
  std::string out;
  char buf[3];
  for (unsigned char c : bytes) {
    std::snprintf(buf, sizeof(buf), "%02x", c);
    out += buf;
  }
  return out;
}

void ParseTime(const std::string& text, google::protobuf::Timestamp* out) {
  if (!google::protobuf::util::TimeUtil::FromString(text, out)) {
    throw InputError("\"" + text + "\" is not an RFC 3339 time (2020-02-22T20:05:00+08:00)");
  }
}

gridcase::v1::ReadAccessRequest AccessRequestOf(const AccessQuery& query) {
  gridcase::v1::ReadAccessRequest request;
  request.set_case_id(query.case_id);
  request.set_person_id(query.person_id);
  const bool subject = query.caller.rfind("gridcase:", 0) == 0;
  request.set_caller(query.caller.empty() || subject ? query.caller
                                                     : "gridcase:person:" + query.caller);
  request.set_notified(query.notified);
  request.set_break_glass_only(query.break_glass_only);
  request.set_include_unlisted(query.include_unlisted);
  if (!query.from.empty()) ParseTime(query.from, request.mutable_from());
  if (!query.to.empty()) ParseTime(query.to, request.mutable_to());
  return request;
}

std::string Joined(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ",") + id;
  return out;
}

void AddAccessRow(const gridcase::v1::AccessEntry& entry, Table* table) {
  const auto& r = entry.record();
  const std::string cases =
      r.ids_listed() ? Joined(r.case_ids()) : std::to_string(r.case_count()) + " cases";
  const std::string people =
      r.ids_listed() ? Joined(r.person_ids()) : std::to_string(r.person_count()) + " people";
  table->AddRow(
      {std::to_string(r.position()), google::protobuf::util::TimeUtil::ToString(r.recorded_at()),
       r.caller(), r.call(), cases, people,
       r.has_break_glass()
           ? r.break_glass().reason() + " (told: " + Joined(r.break_glass().notified()) + ")"
           : ""});
}

}  // namespace

int RunAuditVerify(const GlobalOptions& options, const std::vector<std::string>& public_key_files) {
  gridcase::v1::VerifyLogRequest request;
  std::string keys;  // one PEM text, the keys one after the other
  for (const std::string& file : public_key_files) keys += ReadInput(file) + "\n";
  request.set_public_key_pem(keys);
  auto channel = Connect(options);
  auto stub = gridcase::v1::AuditService::NewStub(channel);
  grpc::ClientContext context;
  // Verifying reads the whole log: allow it far longer than one call.
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(static_cast<int64_t>(options.timeout_seconds * 60)));
  gridcase::v1::VerifyLogResponse response;
  const grpc::Status status = stub->VerifyLog(&context, request, &response);
  if (!status.ok()) return ReportRpcError(status, context, *channel);
  if (options.table) {
    Table table({"PARTITION", "RECORDS", "SIGNED_HEADS_OK", "HEAD", "RESULT"});
    for (const auto& p : response.partitions()) {
      table.AddRow({std::to_string(p.partition()), std::to_string(p.records()),
                    std::to_string(p.signed_heads_verified()), Hex(p.head()),
                    p.first_bad_position() == 0
                        ? "intact"
                        : "record " + std::to_string(p.first_bad_position()) + ": " + p.problem()});
    }
    const auto& a = response.access_log();
    table.AddRow({"access log", std::to_string(a.records()),
                  std::to_string(a.signed_heads_verified()), Hex(a.head()),
                  a.first_bad_position() == 0
                      ? "intact"
                      : "record " + std::to_string(a.first_bad_position()) + ": " + a.problem()});
    table.Print(std::cout);
  } else {
    std::cout << ToJson(response, /*compact=*/false) << "\n";
  }
  if (!response.intact()) {
    std::cerr << "error: the log has been altered (see the partitions above)\n";
    return kExitFailed;
  }
  return kExitOk;
}

int RunAuditCase(const GlobalOptions& options, const std::string& case_id, const AsOf& as_of) {
  gridcase::v1::GetCaseAsOfRequest request;
  request.set_case_id(case_id);
  request.set_break_glass_reason(options.break_glass_reason);
  const int given = (as_of.position > 0) + !as_of.known_at.empty() + !as_of.happened_by.empty();
  if (given != 1) throw InputError("give exactly one of --position, --known-at, --happened-by");
  if (as_of.position > 0) request.set_position(as_of.position);
  if (!as_of.known_at.empty()) ParseTime(as_of.known_at, request.mutable_known_at());
  if (!as_of.happened_by.empty()) ParseTime(as_of.happened_by, request.mutable_happened_by());
  gridcase::v1::GetCaseAsOfResponse response;
  if (int code = CallUnary<gridcase::v1::AuditService>(
          options, &gridcase::v1::AuditService::Stub::GetCaseAsOf, request, &response);
      code != kExitOk) {
    return code;
  }
  if (options.table) {
    PrintKeyValueTable(response.state(), /*with_zero=*/false, std::cout);
    std::cout << "\n";
    gridcase::v1::GetTimelineResponse timeline;
    *timeline.mutable_records() = response.records();
    PrintTimelineTable(timeline, std::cout);
    // Events the workflow would have refused had they arrived on time.
    for (const auto& r : response.refused()) {
      std::cout << "\nwould have been refused then: " << r.event_id() << ": "
                << StatusCodeName(r.code()) << ": " << r.message() << "\n";
    }
  } else {
    std::cout << ToJson(response, /*compact=*/false) << "\n";
  }
  return kExitOk;
}

int RunAuditLog(const GlobalOptions& options, const LogQuery& query) {
  gridcase::v1::ReadLogRequest request;
  if (query.partition >= 0) request.set_partition(static_cast<uint32_t>(query.partition));
  request.set_from_position(query.from);
  request.set_case_id(query.case_id);
  request.set_break_glass_reason(options.break_glass_reason);
  for (const auto& t : query.types) request.add_event_types(t);
  request.set_area(query.area);
  request.set_follow(query.follow);
  auto channel = Connect(options);
  if (!AwaitConnection(*channel, options)) {
    std::cerr << "error: UNAVAILABLE: no connection to " << options.server << " within "
              << options.timeout_seconds << " s\n";
    return kExitUnreachable;
  }
  auto stub = gridcase::v1::AuditService::NewStub(channel);
  // No deadline: a dump of a large log takes as long as it takes, and a
  // follower runs until interrupted.
  grpc::ClientContext context;
  auto stream = stub->ReadLog(&context, request);
  gridcase::v1::LogEntry entry;
  uint64_t printed = 0;
  while (stream->Read(&entry)) {
    std::cout << ToJson(entry, /*compact=*/true) << "\n";
    // A follower's reader (a pipe, jq) sees each record as it comes.
    if (query.follow) std::cout.flush();
    ++printed;
  }
  const grpc::Status status = stream->Finish();
  if (!status.ok()) return ReportRpcError(status, context, *channel);
  std::cerr << printed << " records\n";
  return kExitOk;
}

int RunAuditAccess(const GlobalOptions& options, const AccessQuery& query) {
  gridcase::v1::ReadAccessRequest request = AccessRequestOf(query);
  auto channel = Connect(options);
  auto stub = gridcase::v1::AuditService::NewStub(channel);
  Table table({"POSITION", "RECORDED_AT", "CALLER", "CALL", "CASES", "PEOPLE", "BREAK_GLASS"});
  uint64_t printed = 0;
  for (;;) {
    grpc::ClientContext context;
    SetDeadline(context, options);
    gridcase::v1::ReadAccessResponse page;
    const grpc::Status status = stub->ReadAccess(&context, request, &page);
    if (!status.ok()) return ReportRpcError(status, context, *channel);
    for (const auto& entry : page.entries()) {
      if (query.limit != 0 && printed == query.limit) break;
      if (options.table) {
        AddAccessRow(entry, &table);
      } else {
        std::cout << ToJson(entry, /*compact=*/true) << "\n";
      }
      ++printed;
    }
    if (page.next_page_token().empty() || (query.limit != 0 && printed == query.limit)) break;
    request.set_page_token(page.next_page_token());
  }
  if (options.table) table.Print(std::cout);
  std::cerr << printed << " access records\n";
  return kExitOk;
}

int RunAuditCheckpoint(const GlobalOptions& options, const std::string& name, bool include_keys) {
  gridcase::v1::CheckpointRequest request;
  request.set_name(name);
  request.set_include_keys(include_keys);
  gridcase::v1::CheckpointResponse response;
  GlobalOptions slow = options;
  slow.timeout_seconds = options.timeout_seconds * 6;  // flushes every partition
  if (int code = CallUnary<gridcase::v1::AuditService>(
          slow, &gridcase::v1::AuditService::Stub::Checkpoint, request, &response);
      code != kExitOk) {
    return code;
  }
  if (options.table) {
    Table table({"PARTITION", "LAST_POSITION"});
    for (int i = 0; i < response.positions_size(); ++i) {
      table.AddRow({std::to_string(i), std::to_string(response.positions(i))});
    }
    std::cout << response.dir() << "\n";
    table.Print(std::cout);
  } else {
    std::cout << ToJson(response, /*compact=*/false) << "\n";
  }
  return kExitOk;
}

std::function<void(const RebuildProgress&)> ProgressLines(const std::string& last_phase) {
  const bool tty = isatty(STDERR_FILENO);
  const auto start = std::chrono::steady_clock::now();
  auto last_line = std::make_shared<std::chrono::steady_clock::time_point>(start);
  return [=](const RebuildProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - start).count();
    // A terminal gets one line rewritten in place; a log file a line every 5 s.
    if (!tty && now - *last_line < std::chrono::seconds(5) && p.phase != last_phase) return;
    *last_line = now;
    const double pct = p.total == 0
                           ? 100.0
                           : 100.0 * static_cast<double>(p.replayed) / static_cast<double>(p.total);
    std::fprintf(stderr, "%s%s: %llu / %llu records (%.1f%%), %.0f records/s%s", tty ? "\r" : "",
                 p.phase, static_cast<unsigned long long>(p.replayed),
                 static_cast<unsigned long long>(p.total), pct,
                 seconds > 0 ? static_cast<double>(p.replayed) / seconds : 0.0, tty ? "   " : "\n");
    if (tty && p.phase == last_phase) std::fprintf(stderr, "\n");
  };
}

int RunAuditRebuild(const GlobalOptions& options, const std::string& data_dir,
                    const std::string& scratch) {
  RebuildOptions rebuild;
  rebuild.data_dir = data_dir;
  rebuild.scratch_dir = scratch;
  rebuild.progress = ProgressLines("comparing");
  auto report = RebuildAndCompare(rebuild);
  if (!report.ok()) {
    std::cerr << "error: " << absl::StatusCodeToString(report.status().code()) << ": "
              << report.status().message() << "\n";
    return report.status().code() == absl::StatusCode::kDataLoss ? kExitFailed : kExitUsage;
  }
  const double rate = report->replay_seconds > 0
                          ? static_cast<double>(report->records) / report->replay_seconds
                          : 0.0;
  nlohmann::ordered_json out;
  out["result"] = report->difference ? "different" : "identical";
  out["partitions"] = report->partitions;
  out["records"] = report->records;
  out["cases"] = report->cases;
  out["replaySeconds"] = report->replay_seconds;
  out["recordsPerSecond"] = static_cast<uint64_t>(rate);
  out["compareSeconds"] = report->compare_seconds;
  out["rebuiltInto"] = scratch;
  if (report->difference) {
    const RebuildDifference& d = *report->difference;
    nlohmann::ordered_json diff;
    diff["partition"] = d.partition;
    diff["family"] = d.family;
    diff["key"] = d.key;
    diff["caseId"] = d.case_id;
    diff["live"] = d.live ? nlohmann::json(*d.live) : nlohmann::json(nullptr);
    diff["rebuilt"] = d.rebuilt ? nlohmann::json(*d.rebuilt) : nlohmann::json(nullptr);
    out["firstDifference"] = diff;
  }
  if (options.table) {
    std::cout << (report->difference ? "DIFFERENT" : "IDENTICAL") << ": " << report->records
              << " records of " << report->partitions << " partitions replayed in "
              << report->replay_seconds << " s (" << static_cast<uint64_t>(rate)
              << " records/s); compared in " << report->compare_seconds << " s\n";
    if (report->difference) {
      const RebuildDifference& d = *report->difference;
      std::cout << "first difference: partition " << d.partition << ", " << d.family << ", "
                << d.key << (d.case_id.empty() ? "" : " (case " + d.case_id + ")") << "\n"
                << "  live:    " << d.live.value_or("(absent)") << "\n"
                << "  rebuilt: " << d.rebuilt.value_or("(absent)") << "\n";
    }
  } else {
    std::cout << out.dump(2) << "\n";
  }
  if (report->difference) {
    std::cerr << "error: the derived state differs from a replay of the log\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace gridcase::cli
