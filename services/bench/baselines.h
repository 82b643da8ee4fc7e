// The baselines of gridcase-bench, measured in the same run on the same
// machine: an echo EventService (gRPC alone) and synced RocksDB batches
// (the disk alone).
#ifndef GRIDCASE_SERVICES_BENCH_BASELINES_H_
#define GRIDCASE_SERVICES_BENCH_BASELINES_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "services/api/event_service.h"
#include "services/security/tls.h"

namespace gridcase::bench {

// The echo baseline's server: gridcased's own EventService code on a
// loopback port, answering every submission at once.
class EchoServer {
 public:
  explicit EchoServer(size_t stream_in_flight_max);
  ~EchoServer();
  std::string address() const;

 private:
  std::atomic<uint64_t> position_{0};
  // The gate of a development server, as `deploy/wuhan-day.sh` runs
  // gridcased: the echo pays what a submission's admission costs too.
  Directory directory_;
  security::Gate gate_{&directory_, security::GateOptions{.development = true}};
  api::EventServiceImpl service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// What the server at `target` reports of its sequencers (GetServerStats).
absl::StatusOr<v1::ServerStats> ServerStats(const std::string& target,
                                            const security::ClientTlsOptions& tls);

struct RawResult {
  double rate = 0;  // submissions/s
  size_t group = 0;
  size_t bytes = 0;
};

// RocksDB alone: `partitions` databases, a thread each writing WriteBatches
// of `group` values of `bytes` with sync=true, for `seconds`.
RawResult RawBaseline(const std::string& dir, uint32_t partitions, size_t group, size_t bytes,
                      double seconds);

}  // namespace gridcase::bench

#endif  // GRIDCASE_SERVICES_BENCH_BASELINES_H_
