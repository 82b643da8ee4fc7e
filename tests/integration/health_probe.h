// Asking gRPC health over a channel, as an orchestrator would.
#ifndef GRIDCASE_TESTS_INTEGRATION_HEALTH_PROBE_H_
#define GRIDCASE_TESTS_INTEGRATION_HEALTH_PROBE_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace gridcase::testing {

inline constexpr char kEventService[] = "gridcase.v1.EventService";
inline constexpr char kCaseService[] = "gridcase.v1.CaseService";

// The status health gives `service` ("" : the server); fails the test when
// the call fails.
inline grpc::health::v1::HealthCheckResponse::ServingStatus HealthOf(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  const grpc::Status st = stub->Check(&ctx, req, &resp);
  EXPECT_TRUE(st.ok()) << service << ": " << st.error_message();
  return resp.status();
}

// Asks every 10 ms until the server and EventService both say `serving`
// (writes taken or not); how long that took, or nullopt after `limit`.
inline std::optional<std::chrono::milliseconds> AwaitWritesServing(
    const std::shared_ptr<grpc::Channel>& channel, bool serving,
    std::chrono::seconds limit = std::chrono::seconds(5)) {
  using grpc::health::v1::HealthCheckResponse;
  const auto want = serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < limit) {
    if (HealthOf(channel, "") == want && HealthOf(channel, kEventService) == want) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_INTEGRATION_HEALTH_PROBE_H_
