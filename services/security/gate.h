// The gate every RPC passes first: who is calling (authentication) and
// whether the permission table lets their role make this call, and over
// what (authorization). Handlers call Admit before doing anything and
// answer its refusal as it is; nothing is read or written for a refused
// call.
//
// Refusals: UNAUTHENTICATED naming why the caller is not known (no
// certificate, a certificate naming no gridcase identity, an unknown
// application or person); PERMISSION_DENIED naming the caller and the
// call. Scope: a case, person or unit beyond the caller's reach answers as
// if it did not exist (NOT_FOUND) for single reads; listings are filtered
// to the caller's units; submissions beyond them are refused naming the
// caller's units, never the case's grid.
#ifndef GRIDCASE_SERVICES_SECURITY_GATE_H_
#define GRIDCASE_SERVICES_SECURITY_GATE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/domain/directory.h"
#include "gridcase/v1/event.pb.h"
#include "gridcase/v1/service.pb.h"
#include "grpcpp/grpcpp.h"
#include "services/security/permissions.h"
#include "services/security/principal.h"
#include "services/security/rate_limit.h"
#include "services/security/token.h"

namespace gridcase::security {

struct GateOptions {
  PrincipalsFile principals;
  // Bearer tokens (token.h); null: only client certificates. `now_s`
  // gives Unix seconds for their validity.
  std::shared_ptr<const TokenVerifier> tokens;
  std::function<int64_t()> now_s;
  // Per-caller rate limits, timed by `clock`; null clock: no limits. The
  // development caller and the Kafka ingest are not limited.
  const Clock* clock = nullptr;
  RateLimits limits;
  // gridcased --development: a caller on loopback without a certificate
  // is the development caller, who may do everything.
  bool development = false;
  // Break-glass reads a caller may make in any hour, counted by
  // `break_glass_last_hour(caller subject)` (the access log's record of
  // them); an unset counter or 0 refuses every break-glass read.
  int break_glass_per_hour = 3;
  std::function<absl::StatusOr<size_t>(const std::string& caller)> break_glass_last_hour;
};

// A break-glass reason: 20 to 500 characters (UTF-8 code points).
inline constexpr size_t kBreakGlassReasonMin = 20;
inline constexpr size_t kBreakGlassReasonMax = 500;

// A caller's one break-glass call in flight. Released once: by
// ReadAudit as soon as the call's access record is durable (from then on
// the access log counts it), or at the latest with the last copy of the
// admission that holds it.
class BreakGlassHold {
 public:
  explicit BreakGlassHold(absl::AnyInvocable<void() &&> release) : release_(std::move(release)) {}
  BreakGlassHold(const BreakGlassHold&) = delete;
  BreakGlassHold& operator=(const BreakGlassHold&) = delete;
  ~BreakGlassHold() { Release(); }

  void Release() {
    if (!released_.exchange(true)) std::move(release_)();
  }

 private:
  std::atomic<bool> released_{false};
  absl::AnyInvocable<void() &&> release_;
};

// A call that may proceed: who makes it and over what.
class Admission {
 public:
  Admission(Principal principal, Grant grant, const Directory* directory,
            RateLimiter* limiter = nullptr)
      : principal_(std::move(principal)), grant_(grant), directory_(directory), limiter_(limiter) {}

  // A break-glass call: reaches everywhere for this one call, with
  // `reason`, while `hold` keeps the caller from breaking glass again.
  void BreakGlass(std::string reason, std::shared_ptr<BreakGlassHold> hold);
  // Lets the caller break glass again (its record is durable). Every copy
  // of this admission shares the hold; nothing happens when there is none.
  void EndBreakGlass() const {
    if (break_glass_hold_) break_glass_hold_->Release();
  }
  bool break_glass() const { return !break_glass_reason_.empty(); }
  const std::string& break_glass_reason() const { return break_glass_reason_; }

  // Charges `n` submissions of a stream to the caller's submit limit.
  absl::Status ChargeSubmissions(int n) const;

  const Principal& principal() const { return principal_; }

  // Whether the call reaches the whole city (no scope to check).
  bool everywhere() const { return grant_.reach == Reach::kEverywhere || principal_.everywhere(); }

  // Whether `unit_id` (a grid, or any unit) is within the caller's reach
  // for this call.
  bool Reaches(const std::string& unit_id) const;

  // The `area` a listing or log read may cover: `asked` when it is within
  // reach ("" when everywhere is), the caller's one unit when nothing was
  // asked; PERMISSION_DENIED naming the caller's units when `asked` lies
  // beyond them, INVALID_ARGUMENT when the caller has several units and
  // asked for none.
  absl::StatusOr<std::string> Area(const std::string& asked) const;

  // PERMISSION_DENIED, naming the caller's units, unless `grid_id` is
  // within reach: what a submission beyond the caller's area is told.
  absl::Status CheckSubmitGrid(const std::string& grid_id) const;

  // Whether `actor` is one the caller may submit as: a person only as
  // themselves; an application as itself or, when the principals file
  // lets it act for people, as a person of the directory within its
  // units. PERMISSION_DENIED naming both otherwise.
  absl::Status CheckActor(const v1::Actor& actor) const;

  // Whether the caller may submit `request` (CheckActor, CheckSubmitGrid);
  // if so, sets its submitted_by and submitter_units from the caller,
  // replacing whatever the client sent, so that the engine records who
  // submitted and refuses touching a case that stands beyond the caller's
  // units.
  absl::Status AdmitSubmission(v1::SubmitRequest* request) const;

 private:
  Principal principal_;
  Grant grant_;
  const Directory* directory_;
  RateLimiter* limiter_;  // null: no limits
  std::string break_glass_reason_;
  std::shared_ptr<BreakGlassHold> break_glass_hold_;
};

class Gate {
 public:
  // `directory` must outlive the gate.
  Gate(const Directory* directory, GateOptions options);

  bool development() const { return options_.development; }

  // Who is calling `method` on `context`, and whether they may. A
  // non-empty `break_glass_reason` asks for a break-glass call (reaching
  // beyond the caller's units): PERMISSION_DENIED for a role the table
  // does not let, INVALID_ARGUMENT for a reason of the wrong length,
  // RESOURCE_EXHAUSTED while the caller has one in flight or has used its
  // hourly allowance.
  absl::StatusOr<Admission> Admit(const grpc::ServerContextBase& context, absl::string_view method,
                                  absl::string_view break_glass_reason = {}) const;

  // The admission of `subject` (as Resolve) for `method`, for callers that
  // are not gRPC calls: the Kafka ingest runs as a configured principal.
  absl::StatusOr<Admission> AdmitSubject(absl::string_view subject, absl::string_view method,
                                         absl::string_view break_glass_reason = {}) const;

  // Who is calling: from the client certificate the handshake verified,
  // or the bearer token of the call ("authorization: Bearer ..."); when
  // both are present they must name the same caller.
  absl::StatusOr<Principal> Authenticate(const grpc::ServerContextBase& context) const;

  // The principal a verified subject ("gridcase:person:w1") names.
  absl::StatusOr<Principal> Resolve(absl::string_view subject) const;

 private:
  // The subject of the call's bearer token; "" when it has none.
  absl::StatusOr<std::string> TokenSubject(const grpc::ServerContextBase& context) const;
  absl::StatusOr<Admission> AdmitPrincipal(absl::StatusOr<Principal> principal,
                                           absl::string_view method, bool limited,
                                           absl::string_view break_glass_reason = {}) const;
  // Turns `admission` into a break-glass one, or says why not.
  absl::Status BreakGlass(absl::string_view method, absl::string_view reason,
                          Admission* admission) const;

  // Callers with a break-glass call in flight; shared with the holds
  // admissions keep, which may outlive the gate.
  struct BreakGlassCalls {
    absl::Mutex mu;
    std::set<std::string> in_flight ABSL_GUARDED_BY(mu);
  };

  const Directory* directory_;
  const GateOptions options_;
  std::unique_ptr<RateLimiter> limiter_;
  const std::shared_ptr<BreakGlassCalls> break_glass_ = std::make_shared<BreakGlassCalls>();
};

// "/gridcase.v1.CaseService/GetCase" for (CaseService, "GetCase").
template <typename Service>
std::string MethodOf(absl::string_view name) {
  return std::string("/") + Service::service_full_name() + "/" + std::string(name);
}

}  // namespace gridcase::security

#endif  // GRIDCASE_SERVICES_SECURITY_GATE_H_
