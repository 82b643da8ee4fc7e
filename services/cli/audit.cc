#include "services/cli/audit.h"

#include <cstdio>
#include <iostream>

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

int RunAuditVerify(const GlobalOptions& options) {
  auto channel = Connect(options);
  auto stub = gridcase::v1::AuditService::NewStub(channel);
  grpc::ClientContext context;
  // Verifying reads the whole log: allow it far longer than one call.
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(static_cast<int64_t>(options.timeout_seconds * 60)));
  gridcase::v1::VerifyLogResponse response;
  const grpc::Status status =
      stub->VerifyLog(&context, gridcase::v1::VerifyLogRequest(), &response);
  if (!status.ok()) return ReportRpcError(status, context, *channel);
  if (options.table) {
    Table table({"PARTITION", "RECORDS", "HEAD", "RESULT"});
    for (const auto& p : response.partitions()) {
      table.AddRow({std::to_string(p.partition()), std::to_string(p.records()), Hex(p.head()),
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

}  // namespace gridcase::cli
