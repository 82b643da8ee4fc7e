// gridcased's HTTP listener (--http-listen): /metrics for Prometheus,
// /healthz (the process is alive and answers) and /readyz (it is open,
// every partition's case index is filled and every partition takes
// writes) for orchestrators. It serves no personal data: counts, states
// and reasons in the engine's own words only. The console will share it.
#ifndef GRIDCASE_SERVICES_HTTP_HTTP_LISTENER_H_
#define GRIDCASE_SERVICES_HTTP_HTTP_LISTENER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "services/http/metrics.h"

namespace httplib {
class Server;
}

namespace gridcase::http {

struct HttpOptions {
  // "HOST:PORT", or ":PORT" / "PORT" for loopback (127.0.0.1); port 0: any
  // free port. An address beyond loopback is taken (a kubelet probes the
  // pod's address), and said in the log by the caller.
  std::string listen;
  MetricsSources sources;
};

// Ready when every partition takes writes and has its case index filled;
// otherwise why not, naming the partition and the reason's kind.
absl::Status Readiness(const Engine& engine);

// Splits `listen` as HttpOptions says. INVALID_ARGUMENT names what is wrong.
absl::StatusOr<std::pair<std::string, int>> ParseListenAddress(const std::string& listen);

class HttpListener {
 public:
  // Binds and starts serving on a thread of its own. UNAVAILABLE when the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpListener>> Start(HttpOptions options);
  ~HttpListener();  // Stop()

  int port() const { return port_; }
  std::string address() const;
  bool loopback() const;
  // Stops accepting and waits for the requests being answered. Idempotent.
  void Stop();

 private:
  HttpListener() = default;

  HttpOptions options_;
  std::unique_ptr<EngineMetrics> metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::string host_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace gridcase::http

#endif  // GRIDCASE_SERVICES_HTTP_HTTP_LISTENER_H_
