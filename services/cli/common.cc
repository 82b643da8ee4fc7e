#include "services/cli/common.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace gridcase::cli {

std::shared_ptr<grpc::Channel> Connect(const GlobalOptions& options) {
  security::ClientTlsOptions tls = options.tls;
  security::ClientTlsFromEnvironment(&tls);
  auto credentials = security::ClientCredentials(tls);
  if (!credentials.ok()) throw InputError(std::string(credentials.status().message()));
  return grpc::CreateCustomChannel(options.server, *credentials,
                                   security::ClientChannelArguments(tls));
}

bool AwaitConnection(grpc::Channel& channel, const GlobalOptions& options) {
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(
                            std::chrono::duration<double>(options.timeout_seconds));
  grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
      return true;
    }
    if (!channel.WaitForStateChange(state, deadline)) return false;
    state = channel.GetState(/*try_to_connect=*/true);
  }
  return true;
}

void SetDeadline(grpc::ClientContext& context, const GlobalOptions& options) {
  const auto timeout = std::chrono::duration<double>(options.timeout_seconds);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(timeout));
}

std::string StatusCodeName(int code) {
  static constexpr const char* kNames[] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  if (code >= 0 && code < static_cast<int>(std::size(kNames))) {
    return kNames[code];
  }
  return "CODE_" + std::to_string(code);
}

int ExitCodeFor(const grpc::Status& status, grpc::Channel& channel) {
  const grpc::StatusCode code = status.error_code();
  if (code != grpc::StatusCode::UNAVAILABLE && code != grpc::StatusCode::DEADLINE_EXCEEDED &&
      code != grpc::StatusCode::CANCELLED) {
    return kExitFailed;
  }
  // The same codes can come from a server that was reached (a slow query, a
  // server shutting down); only a channel that never connected means the
  // server is unreachable, which is worth a different exit code because
  // retrying later may help.
  return channel.GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY ? kExitFailed
                                                                          : kExitUnreachable;
}

int ReportRpcError(const grpc::Status& status, const grpc::ClientContext& context,
                   grpc::Channel& channel) {
  std::cerr << "error: " << StatusCodeName(status.error_code()) << ": " << status.error_message()
            << "\n";
  const auto& trailers = context.GetServerTrailingMetadata();
  if (auto it = trailers.find(kCurrentVersionTrailer); it != trailers.end()) {
    std::cerr << "current version: " << std::string(it->second.data(), it->second.size()) << "\n";
  }
  return ExitCodeFor(status, channel);
}

std::string ReadInput(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError("cannot open " + path + ": " + std::strerror(errno));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    throw InputError("cannot read " + path + ": " + std::strerror(errno));
  }
  return contents.str();
}

}  // namespace gridcase::cli
