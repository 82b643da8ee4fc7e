#include "services/api/status.h"

#include "absl/strings/numbers.h"
#include "engine/partition/sequencer.h"

namespace gridcase::api {

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

std::optional<uint64_t> CurrentVersionOf(const absl::Status& status) {
  auto payload = status.GetPayload(kCurrentVersionPayload);
  uint64_t v = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &v)) return std::nullopt;
  return v;
}

}  // namespace gridcase::api
