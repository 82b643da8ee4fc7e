#include "services/cli/directory.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "services/cli/output.h"

namespace gridcase::cli {
namespace {

using gridcase::v1::AdminService;

// Stable across runs and machines: names a batch of a file for idempotency.
std::string Fnv1a64Hex(const std::string& s) {
  uint64_t h = 14695981039346656037ULL;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string RoleName(gridcase::v1::Role role) {
  return ShortEnumName(gridcase::v1::Role_Name(role), "ROLE_");
}

}  // namespace

int RunDirectoryImport(const GlobalOptions& options, const std::string& file,
                       const std::string& actor, size_t batch) {
  const std::string content = ReadInput(file);
  std::vector<gridcase::v1::DirectoryEntry> entries;
  std::vector<size_t> lines;  // the file line of each entry
  std::istringstream in(content);
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    gridcase::v1::DirectoryEntry entry;
    const auto status = google::protobuf::util::JsonStringToMessage(line, &entry);
    if (!status.ok() || entry.entry_case() == gridcase::v1::DirectoryEntry::ENTRY_NOT_SET) {
      throw InputError("line " + std::to_string(n) + ": " +
                       (status.ok() ? std::string("give one of unit, person, pairing, availability")
                                    : std::string(status.message())));
    }
    entries.push_back(std::move(entry));
    lines.push_back(n);
  }
  const std::string file_id = Fnv1a64Hex(content);
  auto channel = Connect(options);
  auto stub = AdminService::NewStub(channel);
  uint64_t written = 0;
  uint64_t moved = 0;
  const bool tty = isatty(STDERR_FILENO);
  for (size_t start = 0; start < entries.size(); start += batch) {
    const size_t end = std::min(entries.size(), start + batch);
    gridcase::v1::ImportDirectoryRequest request;
    for (size_t i = start; i < end; ++i) *request.add_entries() = entries[i];
    request.set_import_id(file_id + "-" + std::to_string(start / batch));
    request.mutable_actor()->set_id(actor);
    request.mutable_actor()->set_kind(gridcase::v1::ACTOR_KIND_PERSON);
    grpc::ClientContext context;
    context.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(options.timeout_seconds * 1000 * 6)));
    gridcase::v1::ImportDirectoryResponse response;
    grpc::Status status = stub->ImportDirectory(&context, request, &response);
    if (!status.ok()) {
      // "entry N: ..." counts within the batch; say the file line instead.
      std::string message = status.error_message();
      size_t index = 0;
      if (std::sscanf(message.c_str(), "entry %zu:", &index) == 1 && index >= 1 &&
          start + index - 1 < lines.size()) {
        message =
            "line " + std::to_string(lines[start + index - 1]) + message.substr(message.find(':'));
      }
      std::cerr << "error: " << StatusCodeName(status.error_code()) << ": " << message << "\n";
      if (start > 0) {
        std::cerr << "the " << start << " entries before this batch were imported; after a fix, "
                  << "import the whole file again (what is already there is skipped)\n";
      }
      return ExitCodeFor(status, *channel);
    }
    written += response.written();
    moved += response.moved();
    // A terminal sees one line rewritten; a log a line per batch.
    std::cerr << (tty ? "\r" : "") << "imported " << end << " / " << entries.size() << " entries"
              << (tty ? "" : "\n") << std::flush;
  }
  std::cerr << (tty ? "\n" : "") << written << " new, " << entries.size() - written
            << " already in the directory\n";
  if (moved > 0) std::cerr << "handed on from people now unavailable: " << moved << " case(s)\n";
  return kExitOk;
}

int RunDirectoryPerson(const GlobalOptions& options, const std::string& id) {
  gridcase::v1::GetPersonRequest request;
  request.set_person_id(id);
  request.set_break_glass_reason(options.break_glass_reason);
  gridcase::v1::PersonView view;
  if (int code = CallUnary<AdminService>(options, &AdminService::Stub::GetPerson, request, &view);
      code != kExitOk) {
    return code;
  }
  if (options.table) {
    PrintKeyValueTable(view, /*with_zero=*/true, std::cout);
  } else {
    std::cout << ToJson(view, /*compact=*/false) << "\n";
  }
  return kExitOk;
}

int RunDirectoryUnit(const GlobalOptions& options, const std::string& id) {
  gridcase::v1::GetUnitRequest request;
  request.set_unit_id(id);
  gridcase::v1::UnitView view;
  if (int code = CallUnary<AdminService>(options, &AdminService::Stub::GetUnit, request, &view);
      code != kExitOk) {
    return code;
  }
  if (!options.table) {
    std::cout << ToJson(view, /*compact=*/false) << "\n";
    return kExitOk;
  }
  std::cout << ShortEnumName(gridcase::v1::UnitLevel_Name(view.unit().level()), "UNIT_LEVEL_")
            << " " << view.unit().unit_id() << " (" << view.unit().name() << ")"
            << (view.unit().parent_id().empty() ? "" : ", in " + view.unit().parent_id()) << "\n";
  if (view.children_size() > 0) {
    std::cout << "contains:";
    for (const auto& c : view.children()) std::cout << " " << c;
    std::cout << "\n";
  }
  Table table({"PERSON", "NAME", "ROLE", "PAIRED_WITH", "AVAILABLE"});
  for (const auto& p : view.people()) {
    table.AddRow({p.person().person_id(), p.person().name(), RoleName(p.person().role()),
                  p.paired_with(), p.available_now() ? "yes" : "no"});
  }
  table.Print(std::cout);
  return kExitOk;
}

int RunDirectoryWorkload(const GlobalOptions& options, const std::string& person) {
  gridcase::v1::GetWorkloadRequest request;
  request.set_person_id(person);
  request.set_break_glass_reason(options.break_glass_reason);
  gridcase::v1::Workload workload;
  if (int code =
          CallUnary<AdminService>(options, &AdminService::Stub::GetWorkload, request, &workload);
      code != kExitOk) {
    return code;
  }
  if (options.table) {
    PrintKeyValueTable(workload, /*with_zero=*/true, std::cout);
  } else {
    std::cout << ToJson(workload, /*compact=*/false) << "\n";
  }
  return kExitOk;
}

int RunDirectoryStaffing(const GlobalOptions& options, const std::string& area) {
  gridcase::v1::StaffingReportRequest request;
  request.set_area(area);
  gridcase::v1::StaffingReport report;
  if (int code = CallUnary<AdminService>(options, &AdminService::Stub::GetStaffingReport, request,
                                         &report);
      code != kExitOk) {
    return code;
  }
  if (!options.table) {
    std::cout << ToJson(report, /*compact=*/false) << "\n";
    return kExitOk;
  }
  std::cout << "grids without an available worker: " << report.grids_without_available_worker_size()
            << "\n";
  for (const auto& g : report.grids_without_available_worker()) std::cout << "  " << g << "\n";
  std::cout << "cases held by someone unavailable: " << report.stranded_size() << "\n";
  Table table({"CASE_ID", "HOLDER", "GRID"});
  for (const auto& c : report.stranded()) table.AddRow({c.case_id(), c.holder(), c.grid_id()});
  if (report.stranded_size() > 0) table.Print(std::cout);
  return kExitOk;
}

}  // namespace gridcase::cli
