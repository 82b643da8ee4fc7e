// Every read of personal data is recorded in the access log
// (engine/access/access_log.h) before it is answered: who read, by which
// call, what the answer carried (cases and people), the request's filters,
// and for a break-glass read its reason and the district officers told of
// it. A read whose record cannot be written is not answered: the caller
// gets UNAVAILABLE and no data.
//
// Only answers that carry personal data are recorded; a refusal or a
// NOT_FOUND carries none, except for break-glass reads, which are recorded
// whatever they found (so a search beyond one's reach leaves a trace and
// counts against the hourly allowance).
#ifndef GRIDCASE_SERVICES_API_READ_AUDIT_H_
#define GRIDCASE_SERVICES_API_READ_AUDIT_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/access/access_log.h"
#include "engine/domain/directory.h"
#include "grpcpp/grpcpp.h"
#include "services/security/gate.h"

namespace gridcase::api {

// What one read returned, for its access record.
struct ReadReturned {
  std::vector<std::string> case_ids;
  std::vector<std::string> person_ids;
  // The request's filters by field name; empty values are left out.
  std::map<std::string, std::string> filters;
  // The units (grids, or a person's unit) of what was returned: a
  // break-glass read tells the district officers over them.
  std::vector<std::string> units;
};

class ReadAudit {
 public:
  // `log` null: nothing is recorded (tests of the gate alone); otherwise
  // `log` and `directory` must outlive this.
  ReadAudit(AccessLog* log, const Directory* directory) : log_(log), directory_(directory) {}

  // The access record of `admission`'s call of `method`
  // ("/gridcase.v1.CaseService/GetCase") that returned `read`.
  v1::AccessRecord RecordOf(const security::Admission& admission, absl::string_view method,
                            ReadReturned read) const;

  // Both record calls end a break-glass admission's hold once the record
  // is durable (it is counted from then on), before the caller is told.
  // Records the read and waits until it is durable. Not on a callback
  // completion thread.
  absl::Status RecordAndWait(const security::Admission& admission, absl::string_view method,
                             ReadReturned read) const;
  // Records the read; `done` runs once it is durable (or failed), on the
  // access log's writer thread, and must not block.
  void Record(const security::Admission& admission, absl::string_view method, ReadReturned read,
              std::function<void(absl::Status)> done) const;

  // District officers over `unit_id` (itself a district, or under one).
  std::vector<std::string> DistrictOfficersOver(const std::string& unit_id) const;

 private:
  AccessLog* const log_;
  const Directory* const directory_;
};

// The refusal a read gets when its access record could not be written.
absl::Status NotRecorded(const absl::Status& why);

// A `done` for ReadAudit::Record that finishes `reactor` with `answer`
// once the record is durable, or with why it could not be written.
std::function<void(absl::Status)> FinishOnceRecorded(grpc::ServerUnaryReactor* reactor,
                                                     absl::Status answer = absl::OkStatus());

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_READ_AUDIT_H_
