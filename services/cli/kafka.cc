#include "services/cli/kafka.h"

#include <iostream>

#include "gridcase/v1/service.grpc.pb.h"
#include "services/cli/output.h"

namespace gridcase::cli {

int RunKafkaStatus(const GlobalOptions& options) {
  gridcase::v1::KafkaStatus status;
  if (int code = CallUnary<gridcase::v1::AdminService>(
          options, &gridcase::v1::AdminService::Stub::GetKafkaStatus,
          gridcase::v1::GetKafkaStatusRequest(), &status);
      code != kExitOk) {
    return code;
  }
  if (!options.table) {
    std::cout << ToJson(status, /*compact=*/false) << "\n";
    return kExitOk;
  }
  std::cout << "feed: " << status.feed_topic() << " on " << status.brokers() << "\n";
  Table feed({"PARTITION", "LOG", "PUBLISHED", "LAG", "IN_FLIGHT", "ERROR"});
  for (const auto& p : status.feed()) {
    feed.AddRow({std::to_string(p.partition()), std::to_string(p.log_position()),
                 std::to_string(p.published_position()), std::to_string(p.lag()),
                 std::to_string(p.in_flight()), p.error()});
  }
  feed.Print(std::cout);
  if (!status.ingest_topic().empty()) {
    std::cout << "\ningest: " << status.ingest_topic() << " (dead letters to "
              << status.dead_letter_topic() << ", " << status.dead_letters_pending()
              << " waiting)\n";
    Table ingest(
        {"KAFKA_PARTITION", "DECIDED_BEFORE", "APPLIED", "DUPLICATES", "DEAD_LETTERED", "SKIPPED"});
    for (const auto& p : status.ingest()) {
      ingest.AddRow({std::to_string(p.kafka_partition()), std::to_string(p.decided_before()),
                     std::to_string(p.applied()), std::to_string(p.duplicates()),
                     std::to_string(p.dead_lettered()), std::to_string(p.skipped())});
    }
    ingest.Print(std::cout);
  }
  if (!status.error().empty()) {
    std::cerr << "error: " << status.error() << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace gridcase::cli
