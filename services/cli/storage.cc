#include "services/cli/storage.h"

#include <ctime>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_format.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/store.h"
#include "nlohmann/json.hpp"
#include "services/cli/common.h"

namespace gridcase::cli {
namespace {

nlohmann::ordered_json MarkJson(const DurableMark& m) {
  nlohmann::ordered_json out;
  out["position"] = m.position;
  out["sequence"] = m.sequence;
  return out;
}

}  // namespace

int RunStorageAcceptLoss(const std::string& data_dir_given, uint32_t partition) {
  const std::string data_dir = std::filesystem::absolute(data_dir_given).string();
  auto count = ReadPartitionCount(data_dir);
  if (!count.ok()) {
    std::cerr << "error: " << count.status().message() << "\n";
    return kExitFailed;
  }
  if (partition >= *count) {
    std::cerr << "error: " << data_dir << " has partitions 0 to " << *count - 1 << "\n";
    return kExitUsage;
  }
  const std::time_t now = std::time(nullptr);
  std::tm utc;
  gmtime_r(&now, &utc);
  const std::string keep =
      (std::filesystem::path(data_dir) / "lost" /
       absl::StrFormat("partition-%03d-%04d%02d%02dT%02d%02d%02dZ", partition, utc.tm_year + 1900,
                       utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec))
          .string();
  auto accepted =
      PartitionStore::AcceptLoss(PartitionDir(data_dir, partition), PartitionId(partition), keep);
  if (!accepted.ok()) {
    std::cerr << "error: " << absl::StatusCodeToString(accepted.status().code()) << ": "
              << accepted.status().message() << "\n";
    return kExitFailed;
  }
  nlohmann::ordered_json out;
  out["partition"] = partition;
  out["holdsNow"] = MarkJson(accepted->recovered);
  out["wasDurable"] = accepted->mark ? MarkJson(*accepted->mark) : nlohmann::ordered_json(nullptr);
  out["keptIn"] = accepted->kept_in;
  std::cout << out.dump(2) << "\n";
  return kExitOk;
}

}  // namespace gridcase::cli
