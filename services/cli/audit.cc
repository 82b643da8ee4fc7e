#include "services/cli/audit.h"

#include <cstdio>
#include <iostream>

#include "google/protobuf/util/time_util.h"
#include "gridcase/v1/service.grpc.pb.h"
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

}  // namespace

int RunAuditVerify(const GlobalOptions& options, const std::string& public_key_file) {
  gridcase::v1::VerifyLogRequest request;
  if (!public_key_file.empty()) request.set_public_key_pem(ReadInput(public_key_file));
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
  const int given = (as_of.position > 0) + !as_of.known_at.empty() + !as_of.happened_by.empty();
  if (given != 1) throw InputError("give exactly one of --position, --known-at, --happened-by");
  auto parse = [](const std::string& text, google::protobuf::Timestamp* out) {
    if (!google::protobuf::util::TimeUtil::FromString(text, out)) {
      throw InputError("\"" + text + "\" is not an RFC 3339 time (2020-02-22T20:05:00+08:00)");
    }
  };
  if (as_of.position > 0) request.set_position(as_of.position);
  if (!as_of.known_at.empty()) parse(as_of.known_at, request.mutable_known_at());
  if (!as_of.happened_by.empty()) parse(as_of.happened_by, request.mutable_happened_by());
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
  } else {
    std::cout << ToJson(response, /*compact=*/false) << "\n";
  }
  return kExitOk;
}

}  // namespace gridcase::cli
