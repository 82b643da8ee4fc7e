// A case as it happened: what the workflow would have decided had every
// event arrived on time.
//
// Devices go offline for hours, so a case's records are in the order the
// engine learnt of its events, and every decision was taken on what was
// known when it was taken. "What had happened by T" is another question:
// the state the case would have had if every event that happened by T had
// arrived the moment it happened. DecideAsHappened answers it by running
// the case's own workflow (CaseLogic::Process, the code that decides live)
// over the case's submitted events in occurred order, each recorded when
// it happened, with every deadline falling due in between fired at its due
// time. The answer is a state some real case could have had, and the
// records that lead to it.
//
// Left out of the events replayed: deadline expiries (those that order
// leads to are fired instead) and records of events that happened after T.
// People named by decisions (escalations, tasks) are found in the
// directory the logic holds now, at the simulated moment.
#ifndef GRIDCASE_ENGINE_AUDIT_AS_HAPPENED_H_
#define GRIDCASE_ENGINE_AUDIT_AS_HAPPENED_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/domain/case_logic.h"
#include "gridcase/v1/service.pb.h"

namespace gridcase {

// At most this many deadline expiries are decided in one answer: a rule
// that sets its own deadline again a minute later would otherwise fire for
// every minute of the years before T.
inline constexpr int kAsHappenedFiringsMax = 100000;

// `stored` is the case's records in case order (as the log holds them);
// `until_us` the moment T. The answer's records are numbered from 1 (case
// version == position) in the case's partition. RESOURCE_EXHAUSTED past
// kAsHappenedFiringsMax firings; NOT_FOUND when nothing had happened by T
// that opens the case.
absl::StatusOr<v1::GetCaseAsOfResponse> DecideAsHappened(const CaseLogic& logic,
                                                         const std::vector<v1::Record>& stored,
                                                         int64_t until_us);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_AUDIT_AS_HAPPENED_H_
