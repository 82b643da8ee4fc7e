#include "services/cli/submit.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "services/cli/output.h"

namespace gridcase::cli {
namespace {

using gridcase::v1::EventService;
using gridcase::v1::StreamAnswer;
using gridcase::v1::StreamSubmission;
using gridcase::v1::StreamSubmitRequest;
using gridcase::v1::StreamSubmitResponse;
using gridcase::v1::SubmitRequest;
using gridcase::v1::SubmitResponse;

std::string StatusMessage(const google::protobuf::util::Status& status) {
  std::string message(status.message().data(), status.message().size());
  // Root-level errors come as ": Root element must be a message.".
  if (message.rfind(": ", 0) == 0) message.erase(0, 2);
  while (!message.empty() && message.back() == '\n') message.pop_back();
  // Syntax errors end with the input and a caret under the failing spot;
  // indenting both keeps them apart from our "error:" lines.
  std::string indented;
  for (char c : message) {
    indented += c;
    if (c == '\n') indented += "  ";
  }
  return indented;
}

bool IsBlank(const std::string& text) {
  return std::all_of(text.begin(), text.end(),
                     [](unsigned char c) { return std::isspace(c) != 0; });
}

// Submits the JSON lines of one input over one SubmitStream. A writer thread
// reads, parses and sends lines as they come (so input can be piped from a
// producer that is still running), the calling thread reads the answers,
// and a watchdog cancels the call when the server stops answering.
class LineSubmitter {
 public:
  LineSubmitter(const GlobalOptions& options, std::istream& in) : options_(options), in_(in) {}

  int Run() {
    channel_ = Connect(options_);
    // Opening the stream blocks until the channel connects, before the
    // watchdog could help; a server that accepts TCP but never speaks would
    // hang us here.
    if (!AwaitConnection(*channel_, options_)) {
      std::cerr << "error: DEADLINE_EXCEEDED: could not connect to " << options_.server
                << " within " << options_.timeout_seconds << " s\n";
      return kExitUnreachable;
    }
    auto stub = EventService::NewStub(channel_);
    stream_ = stub->SubmitStream(&context_);
    {
      absl::MutexLock lock(&mu_);
      last_progress_ = std::chrono::steady_clock::now();
    }
    std::thread writer([this] { WriteAll(); });
    std::thread watchdog([this] { Watch(); });
    StreamSubmitResponse answer;
    while (stream_->Read(&answer)) {
      for (const StreamAnswer& a : answer.answers()) Handle(a);
    }
    writer.join();
    const grpc::Status status = stream_->Finish();
    {
      absl::MutexLock lock(&mu_);
      finished_ = true;
    }
    watchdog.join();
    return Conclude(status);
  }

 private:
  // Lines already read go out together, up to this many in a message: a
  // message costs the server about as much as the work of an event. A
  // line waits for no other: the input may be a producer still running.
  static constexpr int kLinesPerMessageMax = 64;

  void WriteAll() {
    std::string line;
    uint64_t number = 0;
    StreamSubmitRequest request;
    auto send = [&]() -> bool {
      if (request.submissions_size() == 0) return true;
      const bool sent = stream_->Write(request);
      request.Clear();
      if (!sent) {
        absl::MutexLock lock(&mu_);
        write_failed_after_ = number;
      }
      return sent;
    };
    while (std::getline(in_, line)) {
      ++number;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!IsBlank(line)) Add(line, number, &request);
      const bool more_ready = in_.rdbuf()->in_avail() > 0;
      if ((!more_ready || request.submissions_size() >= kLinesPerMessageMax) && !send()) break;
    }
    send();  // what is left; a failure is recorded for the summary
    stream_->WritesDone();
    absl::MutexLock lock(&mu_);
    writes_done_ = true;
  }

  // Adds line `number` to `request`, or counts it as bad.
  void Add(const std::string& line, uint64_t number, StreamSubmitRequest* request) {
    StreamSubmission submission;
    submission.set_request_id(number);
    std::string error;
    if (!ParseSubmission(line, submission.mutable_submit(), &error)) {
      absl::MutexLock lock(&mu_);
      ++bad_lines_;
      std::cerr << "error: line " << number << ": bad JSON: " << error << "\n";
      return;
    }
    FillDefaults(submission.mutable_submit()->mutable_event());
    absl::MutexLock lock(&mu_);
    // The silence the watchdog measures starts when the first answer
    // becomes due, not while we were only reading input.
    if (sent_ == answered_) last_progress_ = std::chrono::steady_clock::now();
    ++sent_;
    case_ids_[number] = submission.submit().event().case_id();
    *request->add_submissions() = std::move(submission);
  }

  void Watch() {
    const auto timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(options_.timeout_seconds));
    absl::MutexLock lock(&mu_);
    while (!finished_) {
      const auto left = last_progress_ + timeout - std::chrono::steady_clock::now();
      if (mu_.AwaitWithTimeout(absl::Condition(&finished_), absl::FromChrono(left))) break;
      const bool waiting = sent_ > answered_ || writes_done_;
      const auto now = std::chrono::steady_clock::now();
      if (!waiting) {
        last_progress_ = now;
      } else if (now >= last_progress_ + timeout) {
        timed_out_ = true;
        context_.TryCancel();
        break;
      }
    }
  }

  void Handle(const StreamAnswer& answer) {
    absl::MutexLock lock(&mu_);
    ++answered_;
    last_progress_ = std::chrono::steady_clock::now();
    const uint64_t line = answer.request_id();
    std::string case_id;
    if (auto it = case_ids_.find(line); it != case_ids_.end()) {
      case_id = std::move(it->second);
      case_ids_.erase(it);
    }
    if (answer.has_accepted()) {
      const SubmitResponse& accepted = answer.accepted();
      ++accepted_;
      if (accepted.duplicate()) ++duplicates_;
      if (options_.table) {
        rows_.emplace(line,
                      std::vector<std::string>{
                          std::to_string(line), accepted.duplicate() ? "duplicate" : "accepted",
                          accepted.case_id(), std::to_string(accepted.case_version()),
                          std::to_string(accepted.position()), accepted.event_id()});
      } else {
        std::cout << "{\"line\":" << line << ",\"accepted\":" << ToJson(accepted, /*compact=*/true)
                  << "}\n"
                  << std::flush;
      }
      return;
    }
    ++refused_;
    const auto& refusal = answer.refused();
    const std::string code = answer.has_refused() ? StatusCodeName(refusal.code()) : "UNKNOWN";
    const std::string message =
        answer.has_refused() ? refusal.message() : "answer without a result";
    if (options_.table) {
      std::string detail = code + ": " + message;
      if (refusal.has_current_version()) {
        detail += " (current version " + std::to_string(refusal.current_version()) + ")";
      }
      rows_.emplace(
          line, std::vector<std::string>{std::to_string(line), "refused", case_id, "", "", detail});
      return;
    }
    std::cout << "{\"line\":" << line << ",\"caseId\":" << JsonQuote(case_id)
              << ",\"refused\":{\"code\":" << JsonQuote(code)
              << ",\"message\":" << JsonQuote(message);
    if (refusal.has_current_version()) {
      std::cout << ",\"currentVersion\":" << refusal.current_version();
    }
    std::cout << "}}\n" << std::flush;
  }

  // Once the stream has finished and the other threads are joined.
  int Conclude(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    int code = kExitOk;
    if (options_.table) {
      Table table({"LINE", "RESULT", "CASE_ID", "VERSION", "POSITION", "EVENT_ID / REFUSAL"});
      for (auto& [line, row] : rows_) table.AddRow(std::move(row));
      table.Print(std::cout);
    }
    if (timed_out_) {
      std::cerr << "error: DEADLINE_EXCEEDED: no answer from the server for "
                << options_.timeout_seconds << " s\n";
      code = answered_ == 0
                 ? ExitCodeFor(grpc::Status(grpc::StatusCode::UNAVAILABLE, ""), *channel_)
                 : kExitFailed;
    } else if (!status.ok()) {
      code = ReportRpcError(status, context_, *channel_);
    }
    if (write_failed_after_ > 0) {
      std::cerr << "the stream broke at line " << write_failed_after_
                << "; later lines were not sent\n";
    }
    const uint64_t unanswered = sent_ - answered_;
    std::cerr << accepted_ << " accepted (" << duplicates_ << " duplicates), " << refused_
              << " refused";
    if (unanswered > 0) std::cerr << ", " << unanswered << " unanswered";
    if (bad_lines_ > 0) std::cerr << ", " << bad_lines_ << " bad lines";
    std::cerr << "\n";
    if (refused_ > 0 || unanswered > 0) code = std::max(code, kExitFailed);
    if (bad_lines_ > 0) code = std::max(code, kExitUsage);
    return code;
  }

  const GlobalOptions& options_;
  std::istream& in_;
  std::shared_ptr<grpc::Channel> channel_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<StreamSubmitRequest, StreamSubmitResponse>> stream_;

  // Guards everything below, and stdout/stderr so that lines from the two
  // threads do not interleave.
  absl::Mutex mu_;
  std::chrono::steady_clock::time_point last_progress_ ABSL_GUARDED_BY(mu_);
  uint64_t sent_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t answered_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t accepted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t duplicates_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bad_lines_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t write_failed_after_ ABSL_GUARDED_BY(mu_) = 0;
  bool writes_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool timed_out_ ABSL_GUARDED_BY(mu_) = false;
  // In flight: line number -> case id, so that refusals can name the case.
  std::map<uint64_t, std::string> case_ids_ ABSL_GUARDED_BY(mu_);
  // --table rows by line number: answers arrive out of order.
  std::map<uint64_t, std::vector<std::string>> rows_ ABSL_GUARDED_BY(mu_);
};

void HintIfTerminal() {
  if (isatty(STDIN_FILENO)) {
    std::cerr << "(reading JSON from stdin; end with Ctrl-D)\n";
  }
}

int SubmitOne(const GlobalOptions& options, const SubmitOptions& submit) {
  std::string json;
  if (submit.has_json) {
    json = submit.json;
  } else {
    if (submit.file.empty() || submit.file == "-") HintIfTerminal();
    json = ReadInput(submit.file.empty() ? "-" : submit.file);
  }
  if (IsBlank(json)) throw InputError("no input: expected an event as JSON");
  SubmitRequest request;
  std::string error;
  if (!ParseSubmission(json, &request, &error)) {
    throw InputError("bad JSON: " + error);
  }
  if (submit.has_expected_version) {
    request.set_expected_version(submit.expected_version);
  }
  FillDefaults(request.mutable_event());

  auto channel = Connect(options);
  auto stub = EventService::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(context, options);
  SubmitResponse response;
  const grpc::Status status = stub->Submit(&context, request, &response);
  if (!status.ok()) return ReportRpcError(status, context, *channel);
  if (options.table) {
    PrintKeyValueTable(response, /*with_zero=*/true, std::cout);
  } else {
    std::cout << ToJson(response, /*compact=*/false) << "\n";
  }
  return kExitOk;
}

}  // namespace

bool ParseSubmission(const std::string& json, SubmitRequest* request, std::string* error) {
  // A first, schema-free parse finds the shape (and reports syntax errors
  // with their position); the second parse is against the real type.
  google::protobuf::Struct shape;
  auto status = google::protobuf::util::JsonStringToMessage(json, &shape);
  if (status.ok()) {
    google::protobuf::util::JsonParseOptions strict;
    strict.ignore_unknown_fields = false;
    if (shape.fields().count("event") > 0) {
      status = google::protobuf::util::JsonStringToMessage(json, request, strict);
    } else {
      status = google::protobuf::util::JsonStringToMessage(json, request->mutable_event(), strict);
    }
  }
  if (status.ok()) return true;
  *error = StatusMessage(status);
  return false;
}

void FillDefaults(gridcase::v1::Event* event) {
  if (event->event_id().empty()) event->set_event_id(NewEventId());
  if (!event->has_occurred_at()) {
    // Microseconds, the resolution the server keeps; TimeUtil's current time
    // has only whole seconds here.
    const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    *event->mutable_occurred_at() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(now.count());
  }
}

std::string NewEventId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device random;
  std::string id = "cli-";
  for (int i = 0; i < 16; ++i) {
    const unsigned byte = random() & 0xFF;
    id += kHex[byte >> 4];
    id += kHex[byte & 0xF];
  }
  return id;
}

int RunSubmit(const GlobalOptions& options, const SubmitOptions& submit) {
  if (!submit.lines) return SubmitOne(options, submit);
  if (submit.has_json) {
    throw InputError("--lines reads -f FILE or stdin, not an argument");
  }
  if (submit.has_expected_version) {
    throw InputError(
        "--expected-version does not apply to --lines; put expectedVersion "
        "in each line's SubmitRequest");
  }
  if (submit.file.empty() || submit.file == "-") {
    HintIfTerminal();
    return LineSubmitter(options, std::cin).Run();
  }
  std::ifstream in(submit.file);
  if (!in) throw InputError("cannot open " + submit.file);
  return LineSubmitter(options, in).Run();
}

}  // namespace gridcase::cli
