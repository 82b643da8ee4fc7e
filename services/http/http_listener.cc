#include "services/http/http_listener.h"

#include <arpa/inet.h>

#include <charconv>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace gridcase::http {
namespace {

constexpr char kTextPlain[] = "text/plain; charset=utf-8";
// The exposition format Prometheus scrapes.
constexpr char kPrometheusText[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

absl::Status Readiness(const Engine& engine) {
  const std::vector<absl::Status> refusals = engine.WriteRefusals();
  for (size_t p = 0; p < refusals.size(); ++p) {
    if (!refusals[p].ok()) {
      return absl::UnavailableError(
          absl::StrCat("partition ", p, " refuses writes (", RefusalKind(refusals[p]), ")"));
    }
  }
  const std::vector<PartitionStats> stats = engine.Stats();
  for (size_t p = 0; p < stats.size(); ++p) {
    const auto& index = stats[p].case_index;
    if (index && !index->ready) {
      return absl::UnavailableError(absl::StrCat(
          "partition ", p, index->filling ? " is filling its case index" : " has no case index"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<std::string, int>> ParseListenAddress(const std::string& listen) {
  std::string host = "127.0.0.1";
  std::string port_text = listen;
  if (const size_t colon = listen.rfind(':'); colon != std::string::npos) {
    if (colon > 0) host = listen.substr(0, colon);
    port_text = listen.substr(colon + 1);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = -1;
  if (!absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-listen ", listen, ": expected HOST:PORT, :PORT or PORT (0-65535)"));
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--http-listen ", listen, ": no host"));
  }
  return std::make_pair(host, port);
}

absl::StatusOr<std::unique_ptr<HttpListener>> HttpListener::Start(HttpOptions options) {
  auto address = ParseListenAddress(options.listen);
  if (!address.ok()) return address.status();
  if (options.sources.engine == nullptr) {
    return absl::InvalidArgumentError("the HTTP listener needs the engine");
  }
  std::unique_ptr<HttpListener> out(new HttpListener());
  out->options_ = std::move(options);
  out->metrics_ = std::make_unique<EngineMetrics>(out->options_.sources);
  out->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *out->server_;
  // Scrapes and probes are small and few: two threads answer them, and a
  // request is a line and headers, never a body.
  server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  server.set_payload_max_length(64 * 1024);
  server.set_read_timeout(std::chrono::seconds(10));
  server.set_write_timeout(std::chrono::seconds(10));
  server.set_default_headers(
      {{"X-Content-Type-Options", "nosniff"}, {"Cache-Control", "no-store"}});
  Engine* engine = out->options_.sources.engine;
  EngineMetrics* metrics = out->metrics_.get();
  server.Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderText(metrics->Collect()), kPrometheusText);
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", kTextPlain);
  });
  server.Get("/readyz", [engine](const httplib::Request&, httplib::Response& res) {
    const absl::Status ready = Readiness(*engine);
    res.status = ready.ok() ? 200 : 503;
    res.set_content(ready.ok() ? std::string("ready\n") : absl::StrCat(ready.message(), "\n"),
                    kTextPlain);
  });
  out->host_ = address->first;
  if (address->second == 0) {
    out->port_ = server.bind_to_any_port(out->host_);
  } else if (server.bind_to_port(out->host_, address->second)) {
    out->port_ = address->second;
  }
  if (out->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for HTTP on ", out->options_.listen, " (", out->host_, ")"));
  }
  out->thread_ = std::thread([s = out->server_.get()] { s->listen_after_bind(); });
  return out;
}

HttpListener::~HttpListener() { Stop(); }

void HttpListener::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string HttpListener::address() const {
  const bool v6 = host_.find(':') != std::string::npos;
  return absl::StrCat(v6 ? "[" : "", host_, v6 ? "]" : "", ":", port_);
}

bool HttpListener::loopback() const {
  in_addr v4{};
  if (inet_pton(AF_INET, host_.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host_.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return host_ == "localhost";
}

}  // namespace gridcase::http
