// The one place where engine statuses become gRPC statuses.
#ifndef GRIDCASE_SERVICES_API_STATUS_H_
#define GRIDCASE_SERVICES_API_STATUS_H_

#include <optional>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"

namespace gridcase::api {

// Trailing metadata carrying a case's current version on a version conflict.
inline constexpr char kCurrentVersionTrailer[] = "gridcase-current-version";

// absl and gRPC share code numbers; the message is kept as is.
grpc::Status ToGrpc(const absl::Status& status);

// The current version carried by a version-conflict refusal, if any.
std::optional<uint64_t> CurrentVersionOf(const absl::Status& status);

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_STATUS_H_
