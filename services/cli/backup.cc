#include "services/cli/backup.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "engine/audit/backup.h"
#include "engine/audit/rebuild.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "services/cli/audit.h"
#include "services/cli/output.h"

namespace gridcase::cli {
namespace {

std::string Mib(uint64_t bytes) {
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
}

std::string UtcTime(int64_t us) {
  if (us == 0) return "";
  const time_t t = static_cast<time_t>(us / 1000000);
  struct tm utc;
  gmtime_r(&t, &utc);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                         utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

int Fail(const absl::Status& st) {
  std::cerr << "error: " << absl::StatusCodeToString(st.code()) << ": " << st.message() << "\n";
  return st.code() == absl::StatusCode::kDataLoss ? kExitFailed : kExitUsage;
}

nlohmann::ordered_json SetJson(const v1::BackupSet& set) {
  nlohmann::ordered_json out;
  out["set"] = set.id();
  out["started"] = UtcTime(set.started_us());
  out["finished"] = UtcTime(set.finished_us());
  out["partitions"] = set.partitions();
  out["keys"] = set.keys();
  out["bytes"] = set.bytes();
  out["newBytes"] = set.new_bytes();
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  for (const auto& item : set.items()) {
    nlohmann::ordered_json i;
    i["name"] = item.name();
    i["position"] = item.position();
    i["head"] = absl::BytesToHexString(item.head());
    i["files"] = item.files();
    i["bytes"] = item.bytes();
    i["newBytes"] = item.new_bytes();
    items.push_back(std::move(i));
  }
  out["items"] = std::move(items);
  return out;
}

}  // namespace

int RunAdminBackup(const GlobalOptions& options, const std::string& to, uint32_t keep,
                   double rate_mib) {
  v1::BackupRequest request;
  request.set_to(std::filesystem::absolute(to).lexically_normal().string());
  request.set_keep(keep);
  request.set_rate_limit_bytes_per_second(static_cast<uint64_t>(rate_mib * (1 << 20)));
  auto channel = Connect(options);
  if (!AwaitConnection(*channel, options)) {
    std::cerr << "error: UNAVAILABLE: no connection to " << options.server << " within "
              << options.timeout_seconds << " s\n";
    return kExitUnreachable;
  }
  auto stub = v1::AdminService::NewStub(channel);
  // No deadline: a first backup of a large directory takes as long as its
  // bytes take to copy. Interrupting the command stops the backup.
  grpc::ClientContext context;
  auto stream = stub->Backup(&context, request);
  const bool tty = isatty(STDERR_FILENO);
  auto last_line = std::chrono::steady_clock::now() - std::chrono::hours(1);
  std::string last_phase;
  v1::BackupProgress p;
  v1::BackupProgress final;
  while (stream->Read(&p)) {
    if (p.phase() == "done") {
      final = p;
      break;
    }
    const auto now = std::chrono::steady_clock::now();
    // A terminal gets one line rewritten in place; a log a line every 5 s
    // and one at each new phase.
    const std::string phase = p.phase() + p.item();
    if (!tty && phase == last_phase && now - last_line < std::chrono::seconds(5)) continue;
    last_line = now;
    last_phase = phase;
    if (p.phase() == "checkpoint") {
      std::fprintf(stderr, "taking a checkpoint of every partition%s", tty ? "" : "\n");
      continue;
    }
    const double rate = p.seconds() > 0 ? static_cast<double>(p.bytes_copied()) / p.seconds() : 0;
    std::fprintf(stderr, "%s%s %s (%u of %u done): %s of %s, %s/s copied, %.0f s%s",
                 tty ? "\r" : "", p.phase().c_str(), p.item().c_str(), p.items_done(),
                 p.items_total(), Mib(p.bytes_done()).c_str(), Mib(p.bytes_total()).c_str(),
                 Mib(static_cast<uint64_t>(rate)).c_str(), p.seconds(), tty ? "   " : "\n");
  }
  while (stream->Read(&p)) {
  }
  if (tty) std::fprintf(stderr, "\n");
  const grpc::Status status = stream->Finish();
  if (!status.ok()) return ReportRpcError(status, context, *channel);
  if (!final.has_set()) {
    std::cerr << "error: the server ended the backup without naming the set it wrote\n";
    return kExitFailed;
  }
  const v1::BackupSet& set = final.set();
  const double seconds = final.seconds();
  std::cerr << absl::StrFormat(
      "backup set %u: %d items, %s of which %s copied, in %.1f s (%s/s)\n", set.id(),
      set.items_size(), Mib(set.bytes()), Mib(set.new_bytes()), seconds,
      Mib(seconds > 0 ? static_cast<uint64_t>(static_cast<double>(set.new_bytes()) / seconds) : 0));
  for (uint32_t removed : final.removed_sets()) {
    std::cerr << "set " << removed << " removed (retention: the newest " << keep << " kept)\n";
  }
  if (options.table) {
    Table table({"ITEM", "POSITION", "FILES", "BYTES", "NEW_BYTES"});
    for (const auto& item : set.items()) {
      table.AddRow({item.name(), std::to_string(item.position()), std::to_string(item.files()),
                    std::to_string(item.bytes()), std::to_string(item.new_bytes())});
    }
    std::cout << "set " << set.id() << " in " << request.to() << "\n";
    table.Print(std::cout);
  } else {
    nlohmann::ordered_json out = SetJson(set);
    out["dir"] = request.to();
    out["seconds"] = seconds;
    nlohmann::ordered_json removed = nlohmann::ordered_json::array();
    for (uint32_t id : final.removed_sets()) removed.push_back(id);
    out["removedSets"] = std::move(removed);
    std::cout << out.dump(2) << "\n";
  }
  return kExitOk;
}

int RunAdminBackups(const GlobalOptions& options, const std::string& from) {
  auto sets = ListBackupSets(from);
  if (!sets.ok()) return Fail(sets.status());
  if (options.table) {
    Table table({"SET", "FINISHED", "PARTITIONS", "RECORDS", "BYTES", "NEW_BYTES", "KEYS"});
    for (const auto& set : *sets) {
      uint64_t records = 0;
      for (const auto& item : set.items()) {
        if (absl::StartsWith(item.name(), "partition-")) records += item.position();
      }
      table.AddRow({std::to_string(set.id()), UtcTime(set.finished_us()),
                    std::to_string(set.partitions()), std::to_string(records),
                    std::to_string(set.bytes()), std::to_string(set.new_bytes()),
                    set.keys() ? "yes" : "no"});
    }
    table.Print(std::cout);
  } else {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& set : *sets) out.push_back(SetJson(set));
    std::cout << out.dump(2) << "\n";
  }
  std::cerr << sets->size() << " backup sets in " << from << "\n";
  return kExitOk;
}

int RunAdminRestore(const GlobalOptions& options, const std::string& from, const std::string& to,
                    uint32_t set, bool rebuild, const std::string& master_key) {
  RestoreOptions restore;
  restore.set = set;
  restore.master_key_file = master_key;
  restore.progress = [](const std::string& phase, const std::string& item, uint32_t done,
                        uint32_t total) {
    if (phase == "done") return;
    std::fprintf(stderr, "%s %s (%u of %u)\n", phase.c_str(), item.c_str(), done + 1, total);
  };
  auto report = RestoreBackupSet(from, to, restore);
  if (!report.ok()) return Fail(report.status());
  nlohmann::ordered_json out;
  out["set"] = report->set.id();
  out["restoredInto"] = to;
  out["records"] = report->records;
  out["accessRecords"] = report->access_records;
  out["chains"] = "verified";
  out["copySeconds"] = report->copy_seconds;
  out["verifySeconds"] = report->verify_seconds;
  out["masterKey"] = report->master_key_placed ? "placed" : report->set.keys() ? "missing" : "none";
  std::cerr << "set " << report->set.id() << " restored into " << to << ": " << report->records
            << " records, every chain verified to the head the set names\n";
  if (report->set.keys() && !report->master_key_placed) {
    std::cerr << "note: backups never hold the master key; personal fields stay sealed until "
                 "gridcased is given the key the server used (--master-key, or a copy at "
              << to << "/keys/master.key)\n";
  }
  int code = kExitOk;
  if (rebuild) {
    // Beside the restore, so on the same disk, and removed afterwards.
    const std::string scratch =
        (std::filesystem::path(to).lexically_normal().parent_path() /
         ("." + std::filesystem::path(to).lexically_normal().filename().string() + ".rebuild"))
            .string();
    std::error_code ec;
    std::filesystem::remove_all(scratch, ec);
    RebuildOptions options_rebuild;
    options_rebuild.data_dir = to;
    options_rebuild.scratch_dir = scratch;
    options_rebuild.progress = ProgressLines("comparing");
    auto rebuilt = RebuildAndCompare(options_rebuild);
    std::filesystem::remove_all(scratch, ec);
    if (!rebuilt.ok()) return Fail(rebuilt.status());
    out["rebuild"] = rebuilt->difference ? "different" : "identical";
    out["rebuildSeconds"] = rebuilt->replay_seconds + rebuilt->compare_seconds;
    if (rebuilt->difference) {
      const RebuildDifference& d = *rebuilt->difference;
      std::cerr << "error: the restored derived state differs from a replay of its log: partition "
                << d.partition << ", " << d.family << ", " << d.key << "\n";
      code = kExitFailed;
    }
  }
  if (options.table) {
    for (const auto& [key, value] : out.items()) std::cout << key << ": " << value << "\n";
  } else {
    std::cout << out.dump(2) << "\n";
  }
  return code;
}

}  // namespace gridcase::cli
