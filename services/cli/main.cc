// gridcase: the command-line client of a gridcase server. Submits events
// and reads cases, timelines and lists; see `gridcase --help`.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "gridcase/v1/case.pb.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/cli/audit.h"
#include "services/cli/backup.h"
#include "services/cli/common.h"
#include "services/cli/demo.h"
#include "services/cli/directory.h"
#include "services/cli/kafka.h"
#include "services/cli/output.h"
#include "services/cli/stats.h"
#include "services/cli/storage.h"
#include "services/cli/submit.h"
#include "services/cli/workflow.h"

namespace gridcase::cli {
namespace {

using gridcase::v1::CaseService;

constexpr char kVersion[] = "gridcase 0.1.0";

constexpr char kFooter[] =
    R"(Global options (--server, --table, --timeout, --ca, --cert, --key,
--server-name) may also follow the subcommand.
Output: protobuf JSON (lowerCamel field names, 64-bit numbers as strings,
zero values included) unless --table is given.
Exit codes: 0 ok; 1 the server refused or the call failed; 2 usage or input
error (nothing was sent); 3 the server could not be reached.
Errors are printed on stderr as "error: CODE: message".)";

constexpr char kSubmitFooter[] = R"(Input: one JSON object, either a bare Event
  {"caseId": "c1", "actor": {"id": "w1"}, "feverReading": {"celsius": 37.7}}
or a SubmitRequest (recognised by its top-level "event" key)
  {"event": {...}, "expectedVersion": "3"}
When the event has no eventId the client makes one up ("cli-" + 32 hex
digits), and a missing occurredAt is set to now; both are conveniences of
this client, the server requires them. Resending the same event (same
eventId and content, occurredAt included) is safe: the server answers
"duplicate": true and writes nothing. So give eventId and occurredAt
yourself when you may retry; the same eventId with other content is refused
with ALREADY_EXISTS.

--lines: one Event or SubmitRequest per non-empty line, all sent on one
SubmitStream without waiting for answers. Prints one JSON line per answer as
it arrives, in no particular order:
  {"line":3,"accepted":{...SubmitResponse...}}
  {"line":4,"caseId":"c1","refused":{"code":"FAILED_PRECONDITION","message":"...","currentVersion":5}}
With --table, one table sorted by line is printed at the end instead.
Lines that are not valid JSON are reported on stderr and not sent. A summary
goes to stderr. --timeout bounds how long the client waits without any
answer. Exit code 1 if anything was refused or unanswered, 2 if any line
was bad.)";

constexpr char kAllHelp[] =
    "Follow next_page_token to the end; JSON output is then one merged "
    "response object (all items, empty nextPageToken)";

struct PageOptions {
  uint32_t page_size = 0;  // 0: the server's default
  std::string page_token;
  bool all = false;
};

struct ListOptions {
  std::string stage;
  std::string category;
  std::string grid;
  std::string assignee;
  bool overdue = false;
  std::string area;
  PageOptions page;
};

// Accepts "fever", "close_contact", "close-contact" and "CATEGORY_FEVER".
gridcase::v1::Category ParseCategory(const std::string& text) {
  std::string upper = text;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) {
    return c == '-' ? '_' : static_cast<char>(std::toupper(c));
  });
  gridcase::v1::Category category = gridcase::v1::CATEGORY_UNSPECIFIED;
  if (!gridcase::v1::Category_Parse(upper, &category)) {
    gridcase::v1::Category_Parse("CATEGORY_" + upper, &category);
  }
  if (category == gridcase::v1::CATEGORY_UNSPECIFIED) {
    throw InputError("unknown category \"" + text +
                     "\": use confirmed, suspected, fever, close_contact or "
                     "none");
  }
  return category;
}

// Fetches one page, or with --all every page from the given token on,
// appending them to `merged`. `fetch(context, token, page)` makes one call.
template <typename Response, typename Fetch>
int FetchPages(const GlobalOptions& options, grpc::Channel& channel,
               const PageOptions& page_options, Fetch fetch, Response* merged) {
  std::string token = page_options.page_token;
  while (true) {
    grpc::ClientContext context;
    SetDeadline(context, options);
    Response page;
    const grpc::Status status = fetch(&context, token, &page);
    if (!status.ok()) return ReportRpcError(status, context, channel);
    const std::string next = page.next_page_token();
    merged->MergeFrom(page);
    merged->set_next_page_token(next);
    if (!page_options.all || next.empty()) return kExitOk;
    if (next == token) {
      // A server bug must not turn into an endless loop.
      std::cerr << "error: the server returned page token \"" << next << "\" twice\n";
      return kExitFailed;
    }
    token = next;
  }
}

template <typename Response>
void PrintPaged(const GlobalOptions& options, const Response& response,
                void (*print_table)(const Response&, std::ostream&)) {
  if (!options.table) {
    std::cout << ToJson(response, /*compact=*/false) << "\n";
    return;
  }
  print_table(response, std::cout);
  if (!response.next_page_token().empty()) {
    std::cerr << "more: --page-token " << response.next_page_token() << " (or --all)\n";
  }
}

int RunGetCase(const GlobalOptions& options, const std::string& case_id) {
  auto channel = Connect(options);
  auto stub = CaseService::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(context, options);
  gridcase::v1::GetCaseRequest request;
  request.set_case_id(case_id);
  request.set_break_glass_reason(options.break_glass_reason);
  gridcase::v1::CaseState state;
  const grpc::Status status = stub->GetCase(&context, request, &state);
  if (!status.ok()) return ReportRpcError(status, context, *channel);
  if (options.table) {
    PrintKeyValueTable(state, /*with_zero=*/false, std::cout);
  } else {
    std::cout << ToJson(state, /*compact=*/false) << "\n";
  }
  return kExitOk;
}

// An erasure (a privacy officer's call), of a resident or of a person of
// the directory: the erasure record's place, or the first erasure's when
// they were erased before.
int RunErase(const GlobalOptions& options, const gridcase::v1::ErasePersonRequest& request) {
  gridcase::v1::ErasePersonResponse response;
  GlobalOptions slow = options;
  slow.timeout_seconds = options.timeout_seconds * 6;  // the key store flushes and compacts
  if (int code = CallUnary<gridcase::v1::AdminService>(
          slow, &gridcase::v1::AdminService::Stub::ErasePerson, request, &response);
      code != kExitOk) {
    return code;
  }
  if (options.table) {
    std::cout << (request.person_id().empty() ? "case " + request.case_id()
                                              : "person " + request.person_id())
              << (response.duplicate() ? " was" : " is") << " erased at partition "
              << response.partition() << " position " << response.position() << "\n";
  } else {
    std::cout << ToJson(response, /*compact=*/false) << "\n";
  }
  return kExitOk;
}

int RunTimeline(const GlobalOptions& options, const std::string& case_id, const PageOptions& page) {
  auto channel = Connect(options);
  auto stub = CaseService::NewStub(channel);
  gridcase::v1::GetTimelineResponse timeline;
  const int code = FetchPages(
      options, *channel, page,
      [&](grpc::ClientContext* context, const std::string& token,
          gridcase::v1::GetTimelineResponse* response) {
        gridcase::v1::GetTimelineRequest request;
        request.set_case_id(case_id);
        request.set_break_glass_reason(options.break_glass_reason);
        request.set_page_size(page.page_size);
        request.set_page_token(token);
        return stub->GetTimeline(context, request, response);
      },
      &timeline);
  if (code != kExitOk) return code;
  PrintPaged(options, timeline, &PrintTimelineTable);
  return kExitOk;
}

int RunList(const GlobalOptions& options, const ListOptions& list) {
  gridcase::v1::ListCasesRequest filter;
  filter.set_stage(list.stage);
  if (!list.category.empty()) filter.set_category(ParseCategory(list.category));
  filter.set_grid_id(list.grid);
  filter.set_assignee(list.assignee);
  filter.set_overdue(list.overdue);
  filter.set_area(list.area);
  filter.set_page_size(list.page.page_size);

  auto channel = Connect(options);
  auto stub = CaseService::NewStub(channel);
  gridcase::v1::ListCasesResponse cases;
  const int code = FetchPages(
      options, *channel, list.page,
      [&](grpc::ClientContext* context, const std::string& token,
          gridcase::v1::ListCasesResponse* response) {
        gridcase::v1::ListCasesRequest request = filter;
        request.set_page_token(token);
        return stub->ListCases(context, request, response);
      },
      &cases);
  if (code != kExitOk) return code;
  PrintPaged(options, cases, &PrintCaseListTable);
  return kExitOk;
}

int RunHealth(const GlobalOptions& options, const std::string& service) {
  using grpc::health::v1::HealthCheckResponse;
  auto channel = Connect(options);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(context, options);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return ReportRpcError(status, context, *channel);
  std::cout << HealthCheckResponse::ServingStatus_Name(response.status()) << "\n";
  return response.status() == HealthCheckResponse::SERVING ? kExitOk : kExitFailed;
}

int RunAcceptClock(const GlobalOptions& options) {
  v1::AcceptClockResponse response;
  if (int code = CallUnary<v1::AdminService>(options, &v1::AdminService::Stub::AcceptClock,
                                             v1::AcceptClockRequest(), &response);
      code != kExitOk) {
    return code;
  }
  if (!options.table) {
    std::cout << ToJson(response, /*compact=*/false) << "\n";
    return kExitOk;
  }
  std::cout << absl::StrFormat("accepted a jump of %.0f s; %d partitions take writes again\n",
                               static_cast<double>(response.jump_us()) / 1e6,
                               response.partitions_size());
  return kExitOk;
}

void AddPageOptions(CLI::App* command, PageOptions* page) {
  command->add_option("--page-size", page->page_size,
                      "Items per page (server default 100, at most 1000)");
  command->add_option("--page-token", page->page_token,
                      "Continue from a previous response's nextPageToken");
  command->add_flag("--all", page->all, kAllHelp);
}

// What the command line asks for, set by the subcommand that was parsed and
// run once parsing is over (so that global options after the subcommand
// count too).
using Action = std::function<int()>;

// Runs `run` when `command` is the one parsed.
void OnParsed(CLI::App* command, Action* action, Action run) {
  command->callback([action, run = std::move(run)] { *action = run; });
}

std::string DefaultActor() { return std::getenv("USER") ? std::getenv("USER") : "admin"; }

void AddGlobalOptions(CLI::App& app, GlobalOptions* options) {
  app.add_option("-s,--server", options->server, "Server address, host:port")
      ->envname(kServerEnv)
      ->capture_default_str();
  app.add_flag("--table", options->table, "Print a readable table instead of JSON");
  app.add_option("--ca", options->tls.ca_path,
                 "CA bundle (PEM) the server's certificate must chain to: speak TLS")
      ->envname("GRIDCASE_CA");
  app.add_option("--cert", options->tls.cert_path, "Client certificate (PEM), for mutual TLS")
      ->envname("GRIDCASE_CERT");
  app.add_option("--key", options->tls.key_path, "The client certificate's private key (PEM)")
      ->envname("GRIDCASE_KEY");
  app.add_option("--token", options->tls.token,
                 "Bearer token (JWT) from single sign-on, sent with every call (TLS only)")
      ->envname("GRIDCASE_TOKEN");
  app.add_option("--server-name", options->tls.server_name,
                 "Name the server's certificate must carry, when not the host of --server")
      ->envname("GRIDCASE_SERVER_NAME");
  app.add_option("--break-glass-reason", options->break_glass_reason,
                 "Break-glass: why you must read this case or person beyond your units "
                 "(20 to 500 characters; recorded, and the district officer is told). For "
                 "case get/timeline, audit case, audit log --case, directory person/workload");
  app.add_option("--timeout", options->timeout_seconds, "Seconds to wait for an answer")
      ->type_name("SECONDS")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            char* end = nullptr;
            const double seconds = std::strtod(text.c_str(), &end);
            return *end == '\0' && seconds > 0 ? "" : "must be more than 0 seconds";
          },
          ""))
      ->capture_default_str();
}

// The rest of `gridcase case erase` and `gridcase directory erase`.
void AddErasure(CLI::App* cmd, const std::shared_ptr<gridcase::v1::ErasePersonRequest>& erase,
                const GlobalOptions& options, Action* action) {
  cmd->add_option("--reason", *erase->mutable_reason(),
                  "Why, 20 to 500 characters, without personal data (it is kept)")
      ->required();
  cmd->add_option("--legal-basis", *erase->mutable_legal_basis(),
                  "The legal basis, e.g. \"PIPL art. 47(1)\"")
      ->required();
  OnParsed(cmd, action, [&options, erase] { return RunErase(options, *erase); });
}

void AddSubmitCommand(CLI::App& app, const GlobalOptions& options, Action* action) {
  auto submit = std::make_shared<SubmitOptions>();
  CLI::App* cmd = app.add_subcommand("submit", "Submit an event (or JSON lines)");
  cmd->footer(std::string(kSubmitFooter) + "\n\n" + kFooter);
  CLI::Option* json_opt =
      cmd->add_option("json", submit->json, "The event as JSON (default: -f FILE, else stdin)");
  CLI::Option* file_opt =
      cmd->add_option("-f,--file", submit->file, "Read the JSON from FILE ('-': stdin)");
  json_opt->excludes(file_opt);
  CLI::Option* expected_opt =
      cmd->add_option("--expected-version", submit->expected_version,
                      "Append only if the case is at this version (0: must not exist)");
  cmd->add_flag("--lines", submit->lines, "Submit JSON lines over one stream (see below)");
  OnParsed(cmd, action, [&options, submit, json_opt, expected_opt] {
    submit->has_json = json_opt->count() > 0;
    submit->has_expected_version = expected_opt->count() > 0;
    return RunSubmit(options, *submit);
  });
}

void AddCaseCommands(CLI::App& app, const GlobalOptions& options, Action* action) {
  CLI::App* case_cmd = app.add_subcommand("case", "Read cases; erase a resident's personal data");
  case_cmd->require_subcommand(1);
  auto case_id = std::make_shared<std::string>();
  CLI::App* get_cmd = case_cmd->add_subcommand("get", "Show a case's state");
  get_cmd->add_option("id", *case_id, "Case id")->required();
  OnParsed(get_cmd, action, [&options, case_id] { return RunGetCase(options, *case_id); });

  auto page = std::make_shared<PageOptions>();
  CLI::App* timeline_cmd =
      case_cmd->add_subcommand("timeline", "Show a case's records in case order");
  timeline_cmd->add_option("id", *case_id, "Case id")->required();
  AddPageOptions(timeline_cmd, page.get());
  OnParsed(timeline_cmd, action,
           [&options, case_id, page] { return RunTimeline(options, *case_id, *page); });

  auto erase = std::make_shared<gridcase::v1::ErasePersonRequest>();
  CLI::App* erase_cmd = case_cmd->add_subcommand(
      "erase",
      "Erase the resident's personal data (privacy officers): every personal field the case "
      "ever held becomes unreadable; the log still verifies");
  erase_cmd->add_option("id", *erase->mutable_case_id(), "Case id")->required();
  AddErasure(erase_cmd, erase, options, action);

  auto list = std::make_shared<ListOptions>();
  CLI::App* list_cmd = case_cmd->add_subcommand(
      "list", "List cases (ordered by case id); every filter given must match");
  list_cmd->add_option("--stage", list->stage, "Stage, e.g. screening, isolation, testing");
  list_cmd->add_option("--category", list->category,
                       "confirmed|suspected|fever|close_contact|none, or CATEGORY_FEVER etc.");
  list_cmd->add_option("--grid", list->grid, "Grid id");
  list_cmd->add_option("--assignee", list->assignee, "Assignee (person id)");
  list_cmd->add_flag("--overdue", list->overdue,
                     "Only cases with an open task or a deadline past due");
  list_cmd->add_option("--area", list->area,
                       "Only cases of grids under this district, street, community or grid");
  AddPageOptions(list_cmd, &list->page);
  OnParsed(list_cmd, action, [&options, list] { return RunList(options, *list); });
}

void AddWorkflowCommands(CLI::App& app, const GlobalOptions& options, Action* action) {
  CLI::App* workflow_cmd = app.add_subcommand("workflow", "Deploy and read workflow definitions");
  workflow_cmd->require_subcommand(1);
  struct Args {
    std::string file, name, actor = DefaultActor();
    uint32_t version = 0;
  };
  auto args = std::make_shared<Args>();
  CLI::App* deploy_cmd = workflow_cmd->add_subcommand(
      "deploy",
      "Validate a definition (textproto) and deploy it; every problem is "
      "reported with its line");
  deploy_cmd->add_option("file", args->file, "The .textproto file ('-': stdin)")->required();
  deploy_cmd->add_option("--actor", args->actor, "Who deploys (default: $USER)")
      ->capture_default_str();
  OnParsed(deploy_cmd, action,
           [&options, args] { return RunWorkflowDeploy(options, args->file, args->actor); });
  CLI::App* list_cmd = workflow_cmd->add_subcommand("list", "List every deployed version");
  OnParsed(list_cmd, action, [&options] { return RunWorkflowList(options); });
  CLI::App* get_cmd = workflow_cmd->add_subcommand(
      "get", "Show a deployed definition (textproto with --table, else JSON)");
  get_cmd->add_option("name", args->name, "Workflow name")->required();
  get_cmd->add_option("--version", args->version, "Version (default: latest)");
  OnParsed(get_cmd, action,
           [&options, args] { return RunWorkflowGet(options, args->name, args->version); });
}

void AddDirectoryCommands(CLI::App& app, const GlobalOptions& options, Action* action) {
  CLI::App* directory_cmd =
      app.add_subcommand("directory", "Import and read the directory of units and people");
  directory_cmd->require_subcommand(1);
  struct Args {
    std::string file, id, area, actor = DefaultActor();
    size_t batch = 5000;
  };
  auto args = std::make_shared<Args>();
  CLI::App* import_cmd = directory_cmd->add_subcommand(
      "import",
      "Import JSON lines of gridcase.v1.DirectoryEntry: {\"unit\": {...}}, "
      "{\"person\": {...}}, {\"pairing\": {...}}, {\"availability\": {...}}. "
      "Each batch is checked whole before it is written; importing a file again "
      "writes nothing it already wrote");
  import_cmd->add_option("file", args->file, "The file ('-': stdin)")->required();
  import_cmd->add_option("--actor", args->actor, "Who imports (default: $USER)");
  import_cmd->add_option("--batch", args->batch, "Entries per request")->capture_default_str();
  OnParsed(import_cmd, action, [&options, args] {
    return RunDirectoryImport(options, args->file, args->actor, std::max<size_t>(1, args->batch));
  });
  CLI::App* person_cmd = directory_cmd->add_subcommand("person", "Show a person");
  person_cmd->add_option("id", args->id, "Person id")->required();
  OnParsed(person_cmd, action, [&options, args] { return RunDirectoryPerson(options, args->id); });
  auto erase = std::make_shared<gridcase::v1::ErasePersonRequest>();
  CLI::App* erase_cmd = directory_cmd->add_subcommand(
      "erase",
      "Erase a person's personal data (privacy officers): their name, phone and the reasons "
      "given for their absences become unreadable; their id, role and unit stay");
  erase_cmd->add_option("id", *erase->mutable_person_id(), "Person id")->required();
  AddErasure(erase_cmd, erase, options, action);
  CLI::App* unit_cmd =
      directory_cmd->add_subcommand("unit", "Show a unit, what it contains and its people");
  unit_cmd->add_option("id", args->id, "Unit id")->required();
  OnParsed(unit_cmd, action, [&options, args] { return RunDirectoryUnit(options, args->id); });
  CLI::App* workload_cmd =
      directory_cmd->add_subcommand("workload", "What a person holds: cases, tasks, overdue");
  workload_cmd->add_option("person", args->id, "Person id")->required();
  OnParsed(workload_cmd, action,
           [&options, args] { return RunDirectoryWorkload(options, args->id); });
  CLI::App* staffing_cmd = directory_cmd->add_subcommand(
      "staffing", "Grids without an available worker; cases held by someone unavailable");
  staffing_cmd->add_option("--area", args->area, "A district, street, community or grid");
  OnParsed(staffing_cmd, action,
           [&options, args] { return RunDirectoryStaffing(options, args->area); });
}

void AddAuditAccessCommands(CLI::App* audit_cmd, const GlobalOptions& options, Action* action) {
  auto query = std::make_shared<AccessQuery>();
  CLI::App* access_cmd = audit_cmd->add_subcommand(
      "access",
      "The access log: who read which case or person, and when (one JSON AccessEntry per "
      "line, oldest first); every filter given must match");
  CLI::App* glass_cmd = audit_cmd->add_subcommand(
      "break-glass", "Break-glass reads: who read beyond their units, why, and who was told");
  for (CLI::App* cmd : {access_cmd, glass_cmd}) {
    cmd->add_option("--case", query->case_id, "Reads that returned this case");
    cmd->add_option("--person", query->person_id, "Reads that returned this person");
    cmd->add_option("--caller", query->caller,
                    "Reads made by this caller (a person id, or gridcase:app:<id>)");
    cmd->add_option("--notified", query->notified,
                    "Break-glass reads this district officer was told of");
    cmd->add_option("--from", query->from, "RFC 3339 time: recorded at or after");
    cmd->add_option("--to", query->to, "RFC 3339 time: recorded before");
    cmd->add_flag("--include-unlisted", query->include_unlisted,
                  "With --case/--person: also reads too long to list their ids");
    cmd->add_option("--limit", query->limit, "Print at most this many (0: all)");
  }
  OnParsed(access_cmd, action, [&options, query] { return RunAuditAccess(options, *query); });
  OnParsed(glass_cmd, action, [&options, query] {
    AccessQuery glass = *query;
    glass.break_glass_only = true;
    return RunAuditAccess(options, glass);
  });
}

void AddAuditCommands(CLI::App& app, const GlobalOptions& options, Action* action) {
  CLI::App* audit_cmd = app.add_subcommand("audit", "Proofs about the log");
  audit_cmd->require_subcommand(1);
  auto public_key_files = std::make_shared<std::vector<std::string>>();
  CLI::App* verify_cmd = audit_cmd->add_subcommand(
      "verify", "Recompute every partition's hash chain; exit 1 naming the first altered record");
  verify_cmd->add_option("--public-key", *public_key_files,
                         "The server's public key (PEM): check the signed chain heads too; "
                         "repeat it for every key the server has signed with (after a change of "
                         "key, a head verifies with any of them)");
  OnParsed(verify_cmd, action,
           [&options, public_key_files] { return RunAuditVerify(options, *public_key_files); });

  auto as_of = std::make_shared<AsOf>();
  auto case_id = std::make_shared<std::string>();
  CLI::App* as_of_cmd = audit_cmd->add_subcommand(
      "case",
      "A case as it stood: at a log position, as known at a time, or as it had "
      "happened by a time (late readings counted at their own time)");
  as_of_cmd->add_option("id", *case_id, "Case id")->required();
  as_of_cmd->add_option("--position", as_of->position, "A position of the case's partition");
  as_of_cmd->add_option("--known-at", as_of->known_at, "RFC 3339 time: what was recorded by then");
  as_of_cmd->add_option("--happened-by", as_of->happened_by,
                        "RFC 3339 time: what had occurred by then");
  OnParsed(as_of_cmd, action,
           [&options, case_id, as_of] { return RunAuditCase(options, *case_id, *as_of); });

  auto log_query = std::make_shared<LogQuery>();
  CLI::App* log_cmd = audit_cmd->add_subcommand(
      "log",
      "Print the log as stored, one JSON LogEntry per line (record, prevHash, hash), "
      "from a position, filtered; --follow keeps printing new records");
  log_cmd
      ->add_option("--partition", log_query->partition,
                   "Only this partition (default: every partition, one after another)")
      ->check(CLI::NonNegativeNumber);
  log_cmd->add_option("--from", log_query->from, "First position, in each partition read");
  log_cmd->add_option("--case", log_query->case_id, "Only this case's records");
  log_cmd->add_option("--type", log_query->types,
                      "Only these event types (payload names: fever_reading, escalated...); "
                      "repeatable");
  log_cmd->add_option("--area", log_query->area, "Only events in grids at or under this unit");
  log_cmd->add_flag("--follow", log_query->follow,
                    "Keep the stream open and print records as they become durable");
  OnParsed(log_cmd, action, [&options, log_query] { return RunAuditLog(options, *log_query); });

  AddAuditAccessCommands(audit_cmd, options, action);

  auto checkpoint_name = std::make_shared<std::string>();
  CLI::App* checkpoint_cmd = audit_cmd->add_subcommand(
      "checkpoint",
      "Have the server copy its data directory consistently, without stopping, "
      "into DATA_DIR/checkpoints/NAME (for audit rebuild)");
  checkpoint_cmd->add_option("name", *checkpoint_name, "Name (default: the UTC time)");
  auto include_keys = std::make_shared<bool>(false);
  checkpoint_cmd->add_flag("--include-keys", *include_keys,
                           "Copy the key store too (wrapped by the master key): personal fields "
                           "of the copy then open, including those of people erased later");
  OnParsed(checkpoint_cmd, action, [&options, checkpoint_name, include_keys] {
    return RunAuditCheckpoint(options, *checkpoint_name, *include_keys);
  });

  auto dirs = std::make_shared<std::pair<std::string, std::string>>();
  CLI::App* rebuild_cmd = audit_cmd->add_subcommand(
      "rebuild",
      "Replay a data directory's log into an empty one through the engine's "
      "appliers and compare every derived column family; exit 1 naming the first "
      "difference. Works without a server, on a stopped server's data directory "
      "or a checkpoint; never writes to --data-dir");
  rebuild_cmd->add_option("--data-dir", dirs->first, "The data directory to check")->required();
  rebuild_cmd
      ->add_option("--into", dirs->second,
                   "An empty (or new) directory to rebuild into; it ends a complete "
                   "data directory")
      ->required();
  OnParsed(rebuild_cmd, action,
           [&options, dirs] { return RunAuditRebuild(options, dirs->first, dirs->second); });
}

void AddStorageCommands(CLI::App& app, Action* action) {
  CLI::App* storage_cmd =
      app.add_subcommand("storage", "Acts on a stopped server's data directory, with no server");
  storage_cmd->require_subcommand(1);
  auto data_dir = std::make_shared<std::string>();
  auto partition = std::make_shared<uint32_t>(0);
  CLI::App* accept_cmd = storage_cmd->add_subcommand(
      "accept-loss",
      "Accept, for good, the loss of acknowledged writes that makes a partition refuse to "
      "open (gridcased names it): its write-ahead logs and durable mark as they were are "
      "copied to DATA_DIR/lost/ first, then the partition holds what its log recovers");
  accept_cmd->add_option("--data-dir", *data_dir, "The stopped server's data directory")
      ->required();
  accept_cmd->add_option("--partition", *partition, "The partition that refused")->required();
  OnParsed(accept_cmd, action,
           [data_dir, partition] { return RunStorageAcceptLoss(*data_dir, *partition); });

  struct SealArgs {
    std::string from, to, master_key, public_key;
  };
  auto seal = std::make_shared<SealArgs>();
  CLI::App* seal_cmd = storage_cmd->add_subcommand(
      "seal",
      "Convert a data directory written before personal fields were sealed: every record keeps "
      "its position with its personal fields sealed under its person's key, the log is chained "
      "anew from its old head (kept, with the old signed heads, as each partition's origin), "
      "and the result is verified before it is named; the source is only read");
  seal_cmd->add_option("--from", seal->from, "The stopped server's data directory")->required();
  seal_cmd->add_option("--to", seal->to, "Where the converted directory goes (must not exist)")
      ->required();
  seal_cmd->add_option("--master-key", seal->master_key,
                       "The master key file gridcased will be given (default: FROM/keys/"
                       "master.key)");
  seal_cmd->add_option("--public-key", seal->public_key,
                       "Also check the old signed heads' signatures with this public key");
  OnParsed(seal_cmd, action, [seal] {
    return RunStorageSeal(seal->from, seal->to, seal->master_key, seal->public_key);
  });
  CLI::App* verify_cmd = storage_cmd->add_subcommand(
      "verify-conversion",
      "Re-derive the old chain of a converted data directory from its sealed log with the "
      "keys, and check it ends at the head each partition's origin names (possible until "
      "someone in the old log is erased)");
  verify_cmd->add_option("--data-dir", *data_dir, "The stopped server's data directory")
      ->required();
  verify_cmd->add_option("--master-key", seal->master_key,
                         "The master key file (default: DATA_DIR/keys/master.key)");
  OnParsed(verify_cmd, action,
           [data_dir, seal] { return RunStorageVerifyConversion(*data_dir, seal->master_key); });
}

// admin backup (through the server), admin backups and admin restore (with
// no server).
void AddBackupCommands(CLI::App& admin_cmd, const GlobalOptions& options, Action* action) {
  struct BackupArgs {
    std::string to, from;
    uint32_t keep = 0, set = 0;
    double rate_mib = 0;
    bool rebuild = false;
    std::string master_key;
  };
  auto args = std::make_shared<BackupArgs>();
  CLI::App* backup_cmd = admin_cmd.add_subcommand(
      "backup",
      "Back up every partition, the access log and the key store while the server runs: a "
      "consistent checkpoint copied by RocksDB's BackupEngine into DIR on the server's machine, "
      "incrementally (table files already there are not copied again), verified, with progress "
      "on stderr; the set it wrote on stdout. Interrupting it stops the backup (no set is "
      "written)");
  backup_cmd
      ->add_option("--to", args->to,
                   "The backup directory, on the server's machine: new, empty, or holding "
                   "earlier backups; never inside the data directory")
      ->required();
  backup_cmd->add_option("--keep", args->keep,
                         "Once this backup succeeds, keep the newest N sets and delete the "
                         "older ones (default: keep every set)");
  backup_cmd
      ->add_option("--rate-limit", args->rate_mib,
                   "MiB a second the copy may write, to spare the disks the server serves "
                   "from (default: unlimited)")
      ->check(CLI::Range(0.0, 1e6));
  OnParsed(backup_cmd, action, [&options, args] {
    return RunAdminBackup(options, args->to, args->keep, args->rate_mib);
  });
  CLI::App* backups_cmd = admin_cmd.add_subcommand(
      "backups", "List the backup sets in a backup directory (read here, with no server)");
  backups_cmd->add_option("--from", args->from, "The backup directory")->required();
  OnParsed(backups_cmd, action, [&options, args] { return RunAdminBackups(options, args->from); });
  CLI::App* restore_cmd = admin_cmd.add_subcommand(
      "restore",
      "Restore a backup set into a new data directory, with no server: every database copied "
      "back and checked against its checksums, each partition's and the access log's chain "
      "verified from position 1 to the head the set names; then start gridcased on it. Exit 1 "
      "when a check fails");
  restore_cmd->add_option("--from", args->from, "The backup directory")->required();
  restore_cmd->add_option("--to", args->to, "The new data directory (missing or empty)")
      ->required();
  restore_cmd->add_option("--set", args->set, "The set to restore (default: the newest)");
  restore_cmd->add_flag("--rebuild", args->rebuild,
                        "Also replay the restored log into a scratch directory beside it and "
                        "compare every derived row (as `audit rebuild`)");
  restore_cmd->add_option("--master-key", args->master_key,
                          "The master key file the server used (backups never hold it): "
                          "checked against the restored key store and placed in TO/keys/");
  OnParsed(restore_cmd, action, [&options, args] {
    return RunAdminRestore(options, args->from, args->to, args->set, args->rebuild,
                           args->master_key);
  });
}

// The commands about the server itself: its feed, stats, health, a demo.
void AddServerCommands(CLI::App& app, const GlobalOptions& options, Action* action) {
  CLI::App* kafka_cmd = app.add_subcommand("kafka", "The Kafka change feed and ingest");
  kafka_cmd->require_subcommand(1);
  CLI::App* kafka_status_cmd = kafka_cmd->add_subcommand(
      "status", "Published position and lag per partition; what the ingest decided");
  OnParsed(kafka_status_cmd, action, [&options] { return RunKafkaStatus(options); });

  CLI::App* demo_cmd =
      app.add_subcommand("demo",
                         "Play the seed's stories (the guard's readings, a medicine request, a "
                         "recovered patient) against the server and print what the engine decided");
  OnParsed(demo_cmd, action, [&options] { return RunDemo(options); });

  auto interval = std::make_shared<double>(0);
  CLI::App* stats_cmd = app.add_subcommand(
      "stats",
      "What each partition wrote (submissions, synced groups, records, bytes) and how long "
      "its queue, synced writes and answers took; the server's CPU time");
  stats_cmd
      ->add_option("--interval", *interval,
                   "Seconds to watch: the figures over that span from now, with rates "
                   "(default: since the server started)")
      ->check(CLI::Range(0.0, 3600.0));
  OnParsed(stats_cmd, action, [&options, interval] { return RunStats(options, *interval); });

  CLI::App* admin_cmd =
      app.add_subcommand("admin", "Operators' actions: on a running server, and on its backups");
  admin_cmd->require_subcommand(1);
  AddBackupCommands(*admin_cmd, options, action);
  CLI::App* accept_clock_cmd = admin_cmd->add_subcommand(
      "accept-clock",
      "After the wall clock jumped forward beyond the server's limit, accept the time it "
      "reads now: writes and deadlines resume, counting from it (docs/operations.md)");
  OnParsed(accept_clock_cmd, action, [&options] { return RunAcceptClock(options); });

  auto service = std::make_shared<std::string>();
  CLI::App* health_cmd =
      app.add_subcommand("health",
                         "Ask the standard gRPC health service; prints SERVING, NOT_SERVING... "
                         "and exits 0 only for SERVING");
  health_cmd->add_option("--service", *service,
                         "Service name to check (default: the whole server)");
  OnParsed(health_cmd, action, [&options, service] { return RunHealth(options, *service); });
}

int Main(int argc, char** argv) {
  CLI::App app("gridcase: submit events to a gridcase server, read cases", "gridcase");
  app.footer(kFooter);
  app.fallthrough();  // global options may also follow the subcommand
  app.require_subcommand(1);
  app.set_version_flag("--version", kVersion);

  GlobalOptions options;
  Action action;
  AddGlobalOptions(app, &options);
  AddSubmitCommand(app, options, &action);
  AddCaseCommands(app, options, &action);
  AddWorkflowCommands(app, options, &action);
  AddDirectoryCommands(app, options, &action);
  AddAuditCommands(app, options, &action);
  AddStorageCommands(app, &action);
  AddServerCommands(app, options, &action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11's own exit codes are not ours: any usage error is 2.
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (!action) {
    std::cerr << app.help();
    return kExitUsage;
  }
  try {
    return action();
  } catch (const InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitUsage;
  }
}

}  // namespace
}  // namespace gridcase::cli

int main(int argc, char** argv) { return gridcase::cli::Main(argc, argv); }
