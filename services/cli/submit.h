// `gridcase submit`: one event over the unary Submit, or many JSON lines
// over SubmitStream.
#ifndef GRIDCASE_SERVICES_CLI_SUBMIT_H_
#define GRIDCASE_SERVICES_CLI_SUBMIT_H_

#include <cstdint>
#include <string>

#include "gridcase/v1/event.pb.h"
#include "gridcase/v1/service.pb.h"
#include "services/cli/common.h"

namespace gridcase::cli {

struct SubmitOptions {
  bool has_json = false;  // the positional argument was given
  std::string json;
  std::string file;  // -f; empty when not given; "-" is stdin
  bool has_expected_version = false;
  uint64_t expected_version = 0;
  bool lines = false;
};

// Runs the command and returns the exit code. Throws InputError for bad
// input that is found before anything is sent.
int RunSubmit(const GlobalOptions& options, const SubmitOptions& submit);

// Parses a SubmitRequest (when the top-level object has an "event" key) or a
// bare Event. Unknown fields are errors: a misspelt field name would
// otherwise silently drop data. On failure returns false and sets `error` to
// protobuf's description of where parsing failed.
bool ParseSubmission(const std::string& json, gridcase::v1::SubmitRequest* request,
                     std::string* error);

// The client-side conveniences: a fresh event_id when there is none, and
// occurred_at = now when it is unset. The server itself requires both.
void FillDefaults(gridcase::v1::Event* event);

// "cli-" followed by 32 random hex digits.
std::string NewEventId();

}  // namespace gridcase::cli

#endif  // GRIDCASE_SERVICES_CLI_SUBMIT_H_
