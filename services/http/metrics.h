// The server's metrics in Prometheus' data model, gathered when scraped
// from the counters the engine and the Kafka bridge already keep: nothing
// is added to the write path. Names, units and labels follow Prometheus'
// conventions (base units, _total for counters, no case or person ids as
// labels); docs/operations.md, "Metrics", lists them.
#ifndef GRIDCASE_SERVICES_HTTP_METRICS_H_
#define GRIDCASE_SERVICES_HTTP_METRICS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "gridcase/v1/service.pb.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace gridcase::http {

struct MetricsSources {
  Engine* engine = nullptr;  // required; must outlive the collector
  // The Kafka bridge's status; null when the server runs without Kafka.
  std::function<absl::StatusOr<v1::KafkaStatus>()> kafka_status;
};

// Why a partition refuses writes, as a label with few values: "disk_full",
// "clock_jumped", "storage" (a storage failure) or "" (it takes writes).
std::string RefusalKind(const absl::Status& refusing_writes);

class EngineMetrics : public prometheus::Collectable {
 public:
  explicit EngineMetrics(MetricsSources sources) : sources_(std::move(sources)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const MetricsSources sources_;
};

// The Prometheus text exposition format (version 0.0.4) of `families`.
std::string RenderText(const std::vector<prometheus::MetricFamily>& families);

}  // namespace gridcase::http

#endif  // GRIDCASE_SERVICES_HTTP_METRICS_H_
