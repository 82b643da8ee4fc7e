#include "services/security/gate.h"

#include <algorithm>

#include "absl/functional/function_ref.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "services/security/tls.h"

namespace gridcase::security {
namespace {

constexpr char kSubjectPrefix[] = "gridcase:";

absl::Status Unauthenticated(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("who is calling is not known: ", why));
}

std::optional<Role> RoleOfPerson(v1::Role role) {
  switch (role) {
    case v1::ROLE_GRID_WORKER:
      return Role::kGridWorker;
    case v1::ROLE_CADRE:
      return Role::kCadre;
    case v1::ROLE_COMMUNITY_SECRETARY:
      return Role::kCommunitySecretary;
    case v1::ROLE_STREET_OFFICER:
      return Role::kStreetOfficer;
    case v1::ROLE_DISTRICT_OFFICER:
      return Role::kDistrictOfficer;
    default:
      return std::nullopt;
  }
}

// The host of a gRPC peer string ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000").
std::string PeerHost(const std::string& peer) {
  if (absl::StartsWith(peer, "unix:")) return "localhost";
  const size_t scheme = peer.find(':');
  const size_t port = peer.rfind(':');
  if (scheme == std::string::npos || port == scheme) return "";
  return peer.substr(scheme + 1, port - scheme - 1);
}

// gridcased --development: whoever calls without credentials.
Principal DevelopmentCaller() {
  Principal dev;
  dev.role = Role::kDevelopment;
  dev.id = "development";
  dev.units = {kEverywhere};
  return dev;
}

}  // namespace

bool Admission::Reaches(const std::string& unit_id) const {
  if (grant_.reach == Reach::kEverywhere || principal_.everywhere()) return true;
  if (grant_.reach == Reach::kNone) return false;
  for (const auto& unit : principal_.units) {
    if (directory_->IsAtOrUnder(unit_id, unit)) return true;
  }
  return false;
}

absl::StatusOr<std::string> Admission::Area(const std::string& asked) const {
  if (grant_.reach == Reach::kEverywhere || principal_.everywhere()) return asked;
  if (asked.empty()) {
    if (principal_.units.size() == 1) return principal_.units[0];
    return absl::InvalidArgumentError(
        absl::StrCat("area: required, since ", principal_.Describe(), " reaches several units"));
  }
  if (Reaches(asked)) return asked;
  return absl::PermissionDeniedError(absl::StrCat(
      principal_.Describe(), " may reach only ", principal_.ScopeText(), ", and not area ", asked));
}

absl::Status Admission::CheckSubmitGrid(const std::string& grid_id) const {
  if (grid_id.empty() || Reaches(grid_id)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      principal_.Describe(), " may submit only for cases of ", principal_.ScopeText()));
}

// A person's actor claims no role but theirs, and no kind but a person's.
absl::Status CheckClaims(const v1::Actor& actor, const Directory::RoleAndUnit& person,
                         absl::FunctionRef<std::string()> refusal) {
  if (actor.kind() != v1::ACTOR_KIND_UNSPECIFIED && actor.kind() != v1::ACTOR_KIND_PERSON) {
    return absl::PermissionDeniedError(absl::StrCat(refusal(), ": ", actor.id(), " is a person"));
  }
  if (!actor.role().empty() && Directory::RoleFromName(actor.role()) != person.role) {
    return absl::PermissionDeniedError(absl::StrCat(refusal(), ": it claims role \"", actor.role(),
                                                    "\", which the directory does not give ",
                                                    actor.id()));
  }
  return absl::OkStatus();
}

absl::Status Admission::CheckActor(const v1::Actor& actor) const {
  const Principal& p = principal_;
  if (p.role == Role::kDevelopment) return absl::OkStatus();
  // Made only for a refusal: most submissions are admitted.
  auto refusal = [&] {
    return absl::StrCat(p.Describe(), " may not submit as actor \"", actor.id(), "\"");
  };
  if (p.role == Role::kApplication && actor.id() == p.id) {
    if (actor.kind() != v1::ACTOR_KIND_UNSPECIFIED && actor.kind() != v1::ACTOR_KIND_APP) {
      return absl::PermissionDeniedError(
          absl::StrCat(refusal(), " of kind ", v1::ActorKind_Name(actor.kind())));
    }
    return absl::OkStatus();
  }
  const auto person = directory_->FindRoleAndUnit(actor.id());
  if (p.role != Role::kApplication) {
    if (actor.id() != p.id) {
      return absl::PermissionDeniedError(
          absl::StrCat(refusal(), ": a person submits as themselves"));
    }
    // Staff of the principals file are in no directory: no role to claim.
    if (!person) {
      return actor.role().empty() ? absl::OkStatus()
                                  : absl::PermissionDeniedError(absl::StrCat(
                                        refusal(), " claiming role \"", actor.role(), "\""));
    }
    return CheckClaims(actor, *person, refusal);
  }
  if (!p.acts_for_people) {
    return absl::PermissionDeniedError(
        absl::StrCat(refusal(), ": it is not allowed to act for people (principals file)"));
  }
  if (!person || !RoleOfPerson(person->role)) {
    return absl::PermissionDeniedError(
        absl::StrCat(refusal(), ": no person of the directory has that id"));
  }
  if (!Reaches(person->unit_id)) {
    return absl::PermissionDeniedError(
        absl::StrCat(refusal(), ": that person serves beyond ", p.ScopeText()));
  }
  return CheckClaims(actor, *person, refusal);
}

absl::StatusOr<Principal> Gate::Resolve(absl::string_view subject) const {
  absl::string_view rest = subject;
  if (!absl::ConsumePrefix(&rest, kSubjectPrefix)) {
    return Unauthenticated(absl::StrCat("\"", subject, "\" is not a gridcase identity"));
  }
  Principal p;
  if (absl::ConsumePrefix(&rest, "app:")) {
    p.id = std::string(rest);
    auto app = options_.principals.applications.find(p.id);
    if (app == options_.principals.applications.end()) {
      return Unauthenticated(
          absl::StrCat("application \"", p.id, "\" is not in the principals file"));
    }
    p.role = Role::kApplication;
    p.units = app->second.units;
    p.acts_for_people = app->second.acts_for_people;
    p.submits_per_s = app->second.submits_per_s;
    return p;
  }
  if (!absl::ConsumePrefix(&rest, "person:")) {
    return Unauthenticated(absl::StrCat("\"", subject,
                                        "\" names neither gridcase:app:<id> nor "
                                        "gridcase:person:<id>"));
  }
  p.id = std::string(rest);
  if (auto staff = options_.principals.staff.find(p.id); staff != options_.principals.staff.end()) {
    p.role = staff->second;
    p.units = {kEverywhere};
    return p;
  }
  const auto person = directory_->FindRoleAndUnit(p.id);
  const auto role = person ? RoleOfPerson(person->role) : std::nullopt;
  if (!role) {
    return Unauthenticated(absl::StrCat("person \"", p.id,
                                        "\" is neither in the principals file nor a person "
                                        "with a role in the directory"));
  }
  p.role = *role;
  p.units = {person->unit_id};
  return p;
}

absl::StatusOr<Principal> Gate::Authenticate(const grpc::ServerContextBase& context) const {
  const auto auth = context.auth_context();
  std::vector<std::string> subjects;
  bool has_certificate = false;
  if (auth != nullptr) {
    has_certificate = !auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME).empty();
    for (const auto& uri : auth->FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME)) {
      const std::string value(uri.data(), uri.size());
      if (absl::StartsWith(value, kSubjectPrefix)) subjects.push_back(value);
    }
  }
  if (subjects.size() > 1) {
    return Unauthenticated("the client certificate names more than one gridcase identity");
  }
  if (has_certificate && subjects.empty()) {
    return Unauthenticated(
        "the client certificate names no gridcase identity (a URI SAN gridcase:app:<id> or "
        "gridcase:person:<id>)");
  }
  auto token = TokenSubject(context);
  if (!token.ok()) return token.status();
  if (!token->empty()) {
    if (!subjects.empty() && subjects[0] != *token) {
      return Unauthenticated("the client certificate and the bearer token name different callers");
    }
    return Resolve(*token);
  }
  if (subjects.size() == 1) return Resolve(subjects[0]);
  if (options_.development && IsLoopbackHost(PeerHost(context.peer()))) {
    return DevelopmentCaller();
  }
  return Unauthenticated(options_.tokens ? "no client certificate (mutual TLS) or bearer token"
                                         : "no client certificate (mutual TLS)");
}

absl::StatusOr<std::string> Gate::TokenSubject(const grpc::ServerContextBase& context) const {
  const auto& metadata = context.client_metadata();
  auto found = metadata.find("authorization");
  if (found == metadata.end()) return std::string();
  if (metadata.count("authorization") > 1) return Unauthenticated("more than one authorization");
  absl::string_view value(found->second.data(), found->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer ")) {
    return Unauthenticated("authorization: only \"Bearer <token>\" is understood");
  }
  if (!options_.tokens) {
    return Unauthenticated("bearer tokens are not accepted by this server (no --token-issuers)");
  }
  const int64_t now = options_.now_s ? options_.now_s() : 0;
  auto subject = options_.tokens->Verify(value, now);
  if (!subject.ok()) return Unauthenticated(subject.status().message());
  return *subject;
}

absl::Status Admission::AdmitSubmission(v1::SubmitRequest* request) const {
  if (auto st = CheckActor(request->event().actor()); !st.ok()) return st;
  if (auto st = CheckSubmitGrid(request->event().grid_id()); !st.ok()) return st;
  request->set_submitted_by(principal_.Subject());
  request->clear_submitter_units();
  if (!everywhere()) {
    for (const auto& unit : principal_.units) request->add_submitter_units(unit);
  }
  return absl::OkStatus();
}

Gate::Gate(const Directory* directory, GateOptions options)
    : directory_(directory), options_(std::move(options)) {
  if (options_.clock != nullptr) {
    limiter_ = std::make_unique<RateLimiter>(options_.clock, options_.limits);
  }
}

absl::Status Admission::ChargeSubmissions(int n) const {
  if (limiter_ == nullptr || principal_.role == Role::kDevelopment) return absl::OkStatus();
  return limiter_->Take(principal_.Subject(), CallKind::kSubmit, n, principal_.submits_per_s);
}

absl::StatusOr<Admission> Gate::Admit(const grpc::ServerContextBase& context,
                                      absl::string_view method,
                                      absl::string_view break_glass_reason) const {
  return AdmitPrincipal(Authenticate(context), method, /*limited=*/true, break_glass_reason);
}

void Admission::BreakGlass(std::string reason, std::shared_ptr<BreakGlassHold> hold) {
  grant_.reach = Reach::kEverywhere;
  break_glass_reason_ = std::move(reason);
  break_glass_hold_ = std::move(hold);
}

absl::Status Gate::BreakGlass(absl::string_view method, absl::string_view reason,
                              Admission* admission) const {
  const Principal& caller = admission->principal();
  if (!GrantOf(caller.role, method)->break_glass) {
    return absl::PermissionDeniedError(
        absl::StrCat(caller.Describe(), " may not break glass for ", method));
  }
  size_t characters = 0;  // UTF-8 code points (proto3 strings are UTF-8)
  for (char c : reason) characters += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  if (characters < kBreakGlassReasonMin || characters > kBreakGlassReasonMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("break_glass_reason: ", kBreakGlassReasonMin, " to ", kBreakGlassReasonMax,
                     " characters saying why (this one has ", characters, ")"));
  }
  const std::string subject = caller.Subject();
  {
    absl::MutexLock lock(&break_glass_->mu);
    if (!break_glass_->in_flight.insert(subject).second) {
      return absl::ResourceExhaustedError(absl::StrCat("break-glass: one call at a time, and ",
                                                       caller.Describe(), " has one in flight"));
    }
  }
  // Held until the read's record is durable, so a second read cannot slip
  // past the count while the first is being recorded.
  auto hold = std::make_shared<BreakGlassHold>([calls = break_glass_, subject] {
    absl::MutexLock lock(&calls->mu);
    calls->in_flight.erase(subject);
  });
  const auto used = options_.break_glass_last_hour
                        ? options_.break_glass_last_hour(subject)
                        : absl::StatusOr<size_t>(absl::FailedPreconditionError(
                              "break-glass is not offered by this server (no access log)"));
  if (!used.ok()) return used.status();
  if (*used >= static_cast<size_t>(std::max(options_.break_glass_per_hour, 0))) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "break-glass: ", caller.Describe(), " has made ", *used,
        " break-glass reads in the last hour, the most allowed (--break-glass-per-hour ",
        options_.break_glass_per_hour, ")"));
  }
  admission->BreakGlass(std::string(reason), std::move(hold));
  return absl::OkStatus();
}

absl::StatusOr<Admission> Gate::AdmitSubject(absl::string_view subject, absl::string_view method,
                                             absl::string_view break_glass_reason) const {
  if (subject.empty() && options_.development) {
    return AdmitPrincipal(DevelopmentCaller(), method, /*limited=*/false, break_glass_reason);
  }
  return AdmitPrincipal(Resolve(subject), method, /*limited=*/false, break_glass_reason);
}

absl::StatusOr<Admission> Gate::AdmitPrincipal(absl::StatusOr<Principal> principal,
                                               absl::string_view method, bool limited,
                                               absl::string_view break_glass_reason) const {
  if (!principal.ok()) return principal.status();
  const std::optional<Grant> grant = GrantOf(principal->role, method);
  if (!grant) {
    return absl::PermissionDeniedError(absl::StrCat(method, " is in no permission table row"));
  }
  if (grant->reach == Reach::kNone && break_glass_reason.empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat(principal->Describe(), " may not call ", method,
                     grant->break_glass ? " except by break-glass (a break_glass_reason)" : ""));
  }
  // A stream's submissions are charged one by one as they come
  // (Admission::ChargeSubmissions); its opening costs nothing.
  const CallKind kind = KindOf(method);
  if (limited && limiter_ != nullptr && principal->role != Role::kDevelopment &&
      method != "/gridcase.v1.EventService/SubmitStream") {
    const double rate = kind == CallKind::kSubmit ? principal->submits_per_s : -1;
    if (auto st = limiter_->Take(principal->Subject(), kind, 1, rate); !st.ok()) return st;
  }
  Admission admission(std::move(*principal), *grant, directory_,
                      limited && principal->role != Role::kDevelopment ? limiter_.get() : nullptr);
  if (!break_glass_reason.empty()) {
    if (auto st = BreakGlass(method, break_glass_reason, &admission); !st.ok()) return st;
  }
  return admission;
}

}  // namespace gridcase::security
