// Shared plumbing of the gridcase client: global options, exit codes,
// connecting, deadlines and how failed calls are reported.
#ifndef GRIDCASE_SERVICES_CLI_COMMON_H_
#define GRIDCASE_SERVICES_CLI_COMMON_H_

#include <memory>
#include <stdexcept>
#include <string>

#include "grpcpp/grpcpp.h"
#include "services/security/tls.h"

namespace gridcase::cli {

// Exit codes are part of the interface: scripts tell a refusal (retrying
// will not help) from bad input (fix the command) from an unreachable server
// (retry later).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;

inline constexpr char kDefaultServer[] = "127.0.0.1:7070";
inline constexpr char kServerEnv[] = "GRIDCASE_SERVER";
// The trailer the server adds to version conflicts.
inline constexpr char kCurrentVersionTrailer[] = "gridcase-current-version";

struct GlobalOptions {
  std::string server = kDefaultServer;
  bool table = false;
  double timeout_seconds = 10;
  // TLS when a CA bundle is given (--ca or GRIDCASE_CA); a client
  // certificate for mutual TLS (--cert, --key).
  security::ClientTlsOptions tls;
  // Break-glass (docs/security.md): a stated reason for reading one case
  // or person beyond the caller's reach; used by the reads that offer it.
  std::string break_glass_reason;
};

// Bad input or a bad combination of flags: reported as "error: ..." and
// exit code 2, before anything is sent.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The channel to the server: TLS when options.tls names a CA. Throws
// InputError when a TLS file cannot be read.
std::shared_ptr<grpc::Channel> Connect(const GlobalOptions& options);

// Waits up to --timeout for the channel to connect. Returns false when it
// timed out; a connection that fails outright returns true, because the call
// itself then fails at once with the more telling UNAVAILABLE message.
bool AwaitConnection(grpc::Channel& channel, const GlobalOptions& options);

// Bounds one unary call by --timeout.
void SetDeadline(grpc::ClientContext& context, const GlobalOptions& options);

// "FAILED_PRECONDITION" for 9; "CODE_<n>" for codes gRPC does not define.
std::string StatusCodeName(int code);

// The exit code for a failed call: kExitUnreachable when the server was never
// reached (the channel is not connected), kExitFailed when it answered.
int ExitCodeFor(const grpc::Status& status, grpc::Channel& channel);

// Prints "error: CODE: message" (and the current version trailer, when the
// server sent one) on stderr and returns the exit code for it.
int ReportRpcError(const grpc::Status& status, const grpc::ClientContext& context,
                   grpc::Channel& channel);

// One unary call of `Service` bounded by --timeout. On failure it reports
// the error (as ReportRpcError) and returns the exit code to use; on
// success kExitOk. Usage:
//   CallUnary<AdminService>(options, &AdminService::Stub::GetPerson, request, &view)
template <typename Service, typename Method, typename Request, typename Response>
int CallUnary(const GlobalOptions& options, Method method, const Request& request,
              Response* response) {
  auto channel = Connect(options);
  auto stub = Service::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(context, options);
  const grpc::Status status = ((*stub).*method)(&context, request, response);
  if (!status.ok()) return ReportRpcError(status, context, *channel);
  return kExitOk;
}

// Reads a whole file; "-" is stdin. Throws InputError when it cannot.
std::string ReadInput(const std::string& path);

}  // namespace gridcase::cli

#endif  // GRIDCASE_SERVICES_CLI_COMMON_H_
