#include "services/cli/storage.h"

#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "engine/audit/seal_conversion.h"
#include "engine/common/time.h"
#include "engine/privacy/master_key.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/store.h"
#include "nlohmann/json.hpp"
#include "services/cli/audit.h"
#include "services/cli/common.h"

namespace gridcase::cli {
namespace {

nlohmann::ordered_json MarkJson(const DurableMark& m) {
  nlohmann::ordered_json out;
  out["position"] = m.position;
  out["sequence"] = m.sequence;
  return out;
}

int Fail(const absl::Status& st) {
  std::cerr << "error: " << absl::StatusCodeToString(st.code()) << ": " << st.message() << "\n";
  return st.code() == absl::StatusCode::kDataLoss ? kExitFailed : kExitUsage;
}

// The given key file, else the one the data directory keeps; never made
// here (a conversion's key must be the one the server will be given).
absl::StatusOr<std::string> MasterKeyFor(const std::string& file, const std::string& data_dir) {
  const std::string path = file.empty() ? data_dir + "/keys/master.key" : file;
  if (file.empty() && !std::filesystem::exists(path)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no --master-key given and ", path,
        " does not exist: make one (openssl rand -hex 32 > master.key; chmod 600 master.key) "
        "and give it here and to gridcased"));
  }
  return privacy::LoadMasterKey(path, "");
}

}  // namespace

int RunStorageSeal(const std::string& from, const std::string& to,
                   const std::string& master_key_file, const std::string& public_key_file) {
  SealConversionOptions options;
  options.from_dir = std::filesystem::absolute(from).string();
  options.to_dir = std::filesystem::absolute(to).string();
  auto key = MasterKeyFor(master_key_file, options.from_dir);
  if (!key.ok()) return Fail(key.status());
  options.master_key = *std::move(key);
  if (!public_key_file.empty()) {
    std::ifstream in(public_key_file);
    if (!in) return Fail(absl::NotFoundError(absl::StrCat(public_key_file, ": cannot read it")));
    std::stringstream pem;
    pem << in.rdbuf();
    options.public_key_pem = pem.str();
  }
  options.converted_at_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  options.progress = ProgressLines("done");
  ::umask(077);  // the new directory holds keys: its owner's alone
  auto report = SealDataDirectory(options);
  if (!report.ok()) return Fail(report.status());
  nlohmann::ordered_json out;
  out["result"] = "converted";
  out["into"] = options.to_dir;
  out["partitions"] = report->partitions;
  out["records"] = report->records;
  out["recordsSealed"] = report->records_sealed;
  out["deadLettersSealed"] = report->letters_sealed;
  out["oldSignedHeads"] = report->old_signed_heads;
  out["seconds"] = report->seconds;
  out["next"] =
      "start gridcased on the new directory with the same master key; then destroy "
      "the old directory and its checkpoints and backups, which hold personal data in "
      "clear";
  std::cout << out.dump(2) << "\n";
  return kExitOk;
}

int RunStorageVerifyConversion(const std::string& data_dir_given,
                               const std::string& master_key_file) {
  const std::string data_dir = std::filesystem::absolute(data_dir_given).string();
  auto key = MasterKeyFor(master_key_file, data_dir);
  if (!key.ok()) return Fail(key.status());
  auto checks = VerifyConversion(data_dir, *key);
  if (!checks.ok()) return Fail(checks.status());
  bool all = true;
  nlohmann::ordered_json partitions = nlohmann::ordered_json::array();
  for (const ConversionCheck& c : *checks) {
    nlohmann::ordered_json p;
    p["partition"] = c.partition;
    p["converted"] = c.converted;
    if (c.converted) {
      p["oldRecords"] = c.old_records;
      p["oldChainRederived"] = c.old_chain_rederived;
      p["unopenable"] = c.unopenable;
      if (!c.problem.empty()) p["problem"] = c.problem;
      all = all && c.old_chain_rederived;
    }
    partitions.push_back(std::move(p));
  }
  nlohmann::ordered_json out;
  out["result"] = all ? "verified" : "not verified";
  out["partitions"] = std::move(partitions);
  std::cout << out.dump(2) << "\n";
  return all ? kExitOk : kExitFailed;
}

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
