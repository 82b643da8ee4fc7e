// The simulation's seeded generators and steps (simulation_internal.h).
#include "tests/support/simulation_internal.h"

namespace gridcase::testing::sim {

// --- generators ------------------------------------------------------------

v1::Actor Simulation::GenerateActor() {
  v1::Actor a;
  if (Chance(20)) {
    a.set_id(absl::StrCat("tablet-", Below(3)));
    a.set_kind(v1::ACTOR_KIND_APP);
    return a;
  }
  a.set_id(OneOf(people_));
  a.set_kind(v1::ACTOR_KIND_PERSON);
  a.set_role(Chance(15) ? "designated_person"
                        : (absl::StartsWith(a.id(), "cadre") ? "cadre" : "grid_worker"));
  return a;
}

v1::Event Simulation::GenerateEvent(const std::string& event_id, const std::string& case_id,
                                    bool opener) {
  int64_t occurred = Wall();
  const uint64_t when = Below(100);
  if (when < 75) {
    occurred -= Between(0, 2 * kHourUs);
  } else if (when < 95) {
    occurred -= Between(2 * kHourUs, 3 * kDayUs);  // late: an offline phone
  } else {
    occurred += Between(0, 4 * kMinuteUs);  // a device clock slightly ahead
  }
  v1::Event e = BaseEvent(event_id, case_id, occurred);
  *e.mutable_actor() = GenerateActor();
  e.set_grid_id(GridOf(case_id));
  e.set_channel(static_cast<v1::Channel>(Between(1, 10)));
  const char kind = case_id[0];  // r(esident), h(elp), w(atch)
  const uint64_t pick = Below(100);
  if (kind == 'h') {
    if (opener ? pick < 90 : pick < 25) {
      e.mutable_help_request()->set_request_id(absl::StrCat("q", Below(3)));
      e.mutable_help_request()->set_kind(static_cast<v1::HelpKind>(Between(1, 5)));
    } else if (pick < 80) {
      e.mutable_help_fulfilled()->set_request_id(absl::StrCat("q", Below(3)));
    } else if (pick < 92) {
      e.mutable_help_cancelled()->set_request_id(absl::StrCat("q", Below(3)));
    } else {
      e.mutable_note()->set_text("asked again");
    }
    return e;
  }
  if (kind == 'w') {
    if (opener || pick < 50) {
      e.mutable_note()->set_text(absl::StrCat("seen at ", Below(24), "h"));
    } else {
      e.mutable_contact_attempt()->set_outcome(static_cast<v1::ContactOutcome>(Between(1, 3)));
    }
    return e;
  }
  static const double kCelsius[] = {36.4, 36.9, 37.2, 37.4, 37.9, 38.6};
  if (opener) {
    if (pick < 50) {
      e.mutable_fever_reading()->set_celsius(kCelsius[Below(6)]);
    } else if (pick < 80) {
      e.mutable_screening_check()->set_category(static_cast<v1::Category>(Below(5)));
    } else if (pick < 88) {
      e.mutable_clue_report()->set_description("coughing neighbour");
    } else if (pick < 95) {
      e.mutable_occupancy_evidence()->set_household_id("h-3-502");
      e.mutable_occupancy_evidence()->set_registered_empty(true);
      e.mutable_occupancy_evidence()->set_lights_on(Chance(70));
    } else {
      e.mutable_discharge()->set_hospital("hospital-1");  // opens nothing
    }
    return e;
  }
  if (pick < 28) {
    e.mutable_fever_reading()->set_celsius(kCelsius[Below(6)]);
  } else if (pick < 40) {
    e.mutable_screening_check()->set_category(static_cast<v1::Category>(Below(5)));
  } else if (pick < 45) {
    e.mutable_isolation_order()->set_kind(v1::ISOLATION_KIND_HOME);
  } else if (pick < 52) {
    e.mutable_test_ordered()->set_test_id(absl::StrCat("t", Below(3)));
  } else if (pick < 62) {
    e.mutable_test_result()->set_test_id(absl::StrCat("t", Below(3)));
    e.mutable_test_result()->set_outcome(Chance(60) ? v1::TEST_OUTCOME_NEGATIVE
                                                    : v1::TEST_OUTCOME_POSITIVE);
  } else if (pick < 66) {
    e.mutable_admission()->set_hospital("hospital-1");
  } else if (pick < 71) {
    e.mutable_discharge()->set_hospital("hospital-1");
  } else if (pick < 75) {
    e.mutable_isolation_released()->set_reason("fourteen days");
  } else if (pick < 85) {
    e.mutable_contact_attempt()->set_outcome(static_cast<v1::ContactOutcome>(Between(1, 3)));
  } else if (pick < 92) {
    e.mutable_reassignment()->set_to_assignee(OneOf(people_));
  } else {
    e.mutable_note()->set_text("called back");
  }
  return e;
}

v1::SubmitRequest Simulation::GenerateSubmission(std::string* what) {
  const std::string event_id = absl::StrCat("e", step_);
  const uint64_t pick = Below(100);
  if (pick < 10 && !sent_.empty()) {
    *what = "the same submission again";
    return OneOf(sent_);
  }
  if (pick < 14 && !ids_.empty()) {
    auto it = ids_.begin();
    std::advance(it, Below(ids_.size()));
    v1::SubmitRequest r;
    *r.mutable_event() = it->second.event;
    if (Chance(50)) {
      *what = "an event id again with other content";
      r.mutable_event()->set_channel(r.event().channel() == v1::CHANNEL_APP ? v1::CHANNEL_PHONE
                                                                            : v1::CHANNEL_APP);
    } else {
      *what = "an event id again for another case";
      r.mutable_event()->set_case_id(absl::StrCat("resident-", Below(9)));
      r.mutable_event()->set_grid_id(GridOf(r.event().case_id()));
    }
    return r;
  }
  static const char* kPools[] = {"resident-", "resident-", "help-", "watch-"};
  const std::string case_id = absl::StrCat(kPools[Below(4)], Below(pick < 60 ? 6 : 9));
  const bool exists = cases_.count(case_id) && cases_[case_id].state.has_value();
  v1::SubmitRequest r;
  *r.mutable_event() = GenerateEvent(event_id, case_id, !exists);
  if (pick >= 92) {
    *what = "input the engine must refuse";
    v1::Event* e = r.mutable_event();
    switch (Below(6)) {
      case 0:
        e->clear_payload();
        e->mutable_fever_reading()->set_celsius(377);
        break;
      case 1:
        e->clear_payload();
        break;
      case 2:
        e->set_case_id("~sim");
        break;
      case 3:
        e->set_event_id(event_id + "#1");
        break;
      case 4:
        e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
        break;
      default:
        *e->mutable_occurred_at() = FromMicros(Wall() + kDayUs);
        break;
    }
    return r;
  }
  *what = exists ? "an event of a case" : "an event for a new case";
  if (!exists && Chance(15)) {
    static const char* kNames[] = {"sim-watch", "help-request", "epidemic-case", "sim-none"};
    r.set_workflow(kNames[Below(4)]);
  }
  if (Chance(25)) {
    const uint64_t v = cases_.count(case_id) ? cases_[case_id].version() : 0;
    if (Chance(75)) {
      r.set_expected_version(v);
      absl::StrAppend(what, ", expecting its version");
    } else {
      r.set_expected_version(v + 1 + Below(3));
      absl::StrAppend(what, ", expecting a wrong version");
    }
  }
  return r;
}

Message Simulation::GenerateMessage(int source) {
  Message m;
  m.source = source;
  m.offset = static_cast<int64_t>(topic_[source].size());
  const uint64_t pick = Below(100);
  if (pick < 8) {
    m.bytes = "{\"eventId\": \"broken";
    return m;
  }
  if (pick < 16 && !ids_.empty()) {  // an event already recorded, sent again by Kafka
    auto it = ids_.begin();
    std::advance(it, Below(ids_.size()));
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(it->second.event, &json);
    m.bytes = json;
    return m;
  }
  const std::string case_id =
      absl::StrCat(Chance(50) ? "resident-" : (Chance(50) ? "help-" : "watch-"), Below(6));
  const bool exists = cases_.count(case_id) && cases_[case_id].state.has_value();
  v1::Event e = GenerateEvent(absl::StrCat("k", step_), case_id, !exists);
  if (pick < 24) e.clear_event_id();  // the ingest names it by topic, partition, offset
  if (pick >= 24 && pick < 30) {
    e.clear_payload();
    e.mutable_fever_reading()->set_celsius(377);
  }
  if (pick >= 30 && pick < 40) {
    m.bytes = e.SerializeAsString();  // protobuf
    if (!m.bytes.empty() && m.bytes[0] == '{') m.bytes.clear();
    if (!m.bytes.empty()) return m;
  }
  (void)google::protobuf::util::MessageToJsonString(e, &m.bytes);
  return m;
}

// --- steps -----------------------------------------------------------------

bool Simulation::AfterFault(Uncertain u) {
  uncertain_ = std::move(u);
  return Reopen(/*cut=*/false);
}

bool Simulation::DoSubmit(v1::SubmitRequest request, bool cutting, const std::string& what) {
  const Expected want = Predict(request, /*validate=*/true);
  op_ = absl::StrCat("submit ", Describe(request.event()), ": ", what);
  if (request.has_expected_version()) absl::StrAppend(&op_, " (", request.expected_version(), ")");
  sent_.push_back(request);
  if (sent_.size() > 64) sent_.erase(sent_.begin());
  ++stats_.submissions;
  Answer a = SubmitAndWait(request);
  std::string outcome = a.result.ok() ? (a.result->duplicate() ? "duplicate" : "accepted")
                                      : a.result.status().ToString();
  if (outcome.size() > 120) outcome = outcome.substr(0, 120);
  Trace(absl::StrCat(op_, " -> ", outcome, a.after_cut ? " (after the cut)" : ""));
  const bool decided = a.result.ok() || IsDecidedRefusal(a.result.status());
  if (a.after_cut && cutting) {
    uncertain_.kind = Uncertain::kSubmit;
    uncertain_.request = request;
    uncertain_.expected = want;
    return true;
  }
  if (!decided && fault_armed_ && guard_.jumped == 0) {
    Uncertain u;
    u.kind = Uncertain::kSubmit;
    u.request = request;
    u.expected = want;
    return AfterFault(std::move(u));
  }
  if (!a.result.ok()) {
    if (want.kind != Expected::kRefuse || want.code != a.result.status().code()) {
      return Fail(
          absl::StrCat("refused ", a.result.status().ToString(), "; the model expected ",
                       want.kind == Expected::kRefuse
                           ? absl::StatusCodeToString(want.code)
                           : (want.kind == Expected::kDuplicate ? "a duplicate" : "acceptance")));
    }
    ++(absl::IsUnavailable(a.result.status()) ? stats_.unavailable : stats_.refused);
    stats_.invalid += want.validation;
    if (want.version_conflict) {
      // The refusal carries the case's current version.
      auto payload = a.result.status().GetPayload(kCurrentVersionPayload);
      if (!payload || std::string(*payload) != std::to_string(want.current_version)) {
        return Fail(absl::StrCat("a version conflict without the case's current version ",
                                 want.current_version));
      }
      ++stats_.conflicts;
    }
    return true;
  }
  if (a.result->duplicate()) {
    if (want.kind != Expected::kDuplicate) {
      return Fail("answered as a duplicate; the model expected otherwise");
    }
    v1::SubmitResponse original = want.original;
    original.set_duplicate(true);
    if (!MessageDifferencer::Equals(original, *a.result)) {
      return Fail(
          absl::StrCat("a duplicate not answered as the original: ", Diff(original, *a.result)));
    }
    ++stats_.duplicates;
    return true;
  }
  if (want.kind != Expected::kAccept) {
    return Fail(
        absl::StrCat("accepted at position ", a.result->position(), "; the model expected ",
                     want.kind == Expected::kDuplicate
                         ? "a duplicate"
                         : absl::StrCat("a refusal ", absl::StatusCodeToString(want.code))));
  }
  if (!Accepted(request, *a.result)) return false;
  return CheckCase(request.event().case_id());
}

bool Simulation::StepSubmit(bool cutting) {
  std::string what;
  v1::SubmitRequest request = GenerateSubmission(&what);
  return DoSubmit(std::move(request), cutting, what);
}

bool Simulation::StepIngest(bool cutting) {
  const int s = static_cast<int>(Below(kSources));
  if (next_[s] >= topic_[s].size()) topic_[s].push_back(GenerateMessage(s));
  const Message m = topic_[s][next_[s]];
  const std::string source = absl::StrCat(kTopic, "/", s);
  absl::StatusOr<v1::SubmitRequest> request =
      kafka::ParseMessage(m.bytes, "auto", kTopic, s, m.offset);
  const PartitionId route = engine_->streams().RouteOf(request);
  const PartitionId model_route =
      request.ok() && IsValidId(request->event().case_id(), ValidationLimits{}.id_bytes_max)
          ? PartitionOf(request->event().case_id())
          : PartitionId(0);
  op_ =
      absl::StrCat("ingest ", source, " offset ", m.offset,
                   request.ok() ? absl::StrCat(": ", Describe(request->event())) : ": unreadable");
  if (route != model_route) return Fail("the ingest routes the message elsewhere");
  // The consumer skips what the message's partition has decided.
  auto& decided_here = decided_in_[route.value()];
  if (auto it = decided_here.find(source); it != decided_here.end() && m.offset <= it->second) {
    Trace(absl::StrCat(op_, " -> skipped, decided before"));
    auto mine = offsets_[route.value()].find(source);
    if (mine == offsets_[route.value()].end() || mine->second < m.offset) {
      return Fail("the consumer skips a message the model never saw decided");
    }
    ++next_[s];
    return true;
  }
  // What the engine must decide.
  Expected want;
  absl::Status refusal = request.status();
  if (refusal.ok()) refusal = ValidateEvent(request->event(), ValidationLimits{}, Wall());
  if (refusal.ok()) {
    want = Predict(*request, /*validate=*/false);
    if (want.kind == Expected::kRefuse) refusal = absl::Status(want.code, "");
  }
  if (guard_.jumped != 0) {
    want.kind = Expected::kRefuse;
    want.code = absl::StatusCode::kUnavailable;
    refusal = absl::UnavailableError("");
  } else if (!refusal.ok()) {
    want.kind = Expected::kRefuse;
    want.code = refusal.code();
  }
  ++stats_.submissions;
  Answer a = IngestAndWait(request, StreamOrigin{source, m.offset, m.bytes});
  Trace(absl::StrCat(op_, " -> ",
                     a.result.ok() ? (a.result->duplicate() ? "duplicate" : "accepted")
                                   : a.result.status().ToString().substr(0, 100),
                     a.after_cut ? " (after the cut)" : ""));
  Uncertain u;
  u.kind = Uncertain::kIngest;
  u.request = request.ok() ? *request : v1::SubmitRequest();
  u.expected = want;
  u.message = m;
  u.route = route;
  if (a.after_cut && cutting) {
    uncertain_ = std::move(u);
    return true;
  }
  const bool decided = a.result.ok() || IsDecidedRefusal(a.result.status());
  if (!decided && fault_armed_ && guard_.jumped == 0) return AfterFault(std::move(u));
  if (!a.result.ok() && !decided) {
    if (want.code != absl::StatusCode::kUnavailable || !absl::IsUnavailable(a.result.status())) {
      return Fail(absl::StrCat("not decided: ", a.result.status().ToString()));
    }
    ++stats_.unavailable;
    return true;  // read again later
  }
  if (!a.result.ok()) {
    if (want.kind != Expected::kRefuse || want.code != a.result.status().code()) {
      return Fail(absl::StrCat(
          "dead-lettered with ", a.result.status().ToString(), "; the model expected ",
          want.kind == Expected::kRefuse ? absl::StatusCodeToString(want.code) : "no refusal"));
    }
    dead_letters_[{route.value(), source, m.offset}] = {
        static_cast<int32_t>(a.result.status().code()), m.bytes};
    ++stats_.dead_letters;
  } else if (a.result->duplicate()) {
    if (want.kind != Expected::kDuplicate) return Fail("a duplicate the model did not expect");
    ++stats_.duplicates;
  } else {
    if (want.kind != Expected::kAccept) return Fail("accepted; the model expected otherwise");
    if (!Accepted(*request, *a.result)) return false;
    if (!CheckCase(request->event().case_id())) return false;
  }
  offsets_[route.value()][source] = m.offset;
  decided_here[source] = m.offset;
  ++next_[s];
  ++stats_.ingested;
  return true;
}

bool Simulation::StepClock(int kind) {
  ++stats_.clock_moves;
  const uint64_t pick = Below(100);
  int64_t d = 0;
  switch (kind) {
    case 0:  // time passes
      d = pick < 40 ? Between(kSecondUs, 10 * kMinuteUs)
                    : (pick < 80 ? Between(10 * kMinuteUs, 6 * kHourUs)
                                 : Between(6 * kHourUs, 30 * kHourUs));
      clock_.AdvanceMicros(d);
      op_ = absl::StrCat("time passes: ", d / kSecondUs, " s");
      break;
    case 1:  // time sync steps the wall clock back
      d = Between(kSecondUs, 10 * kMinuteUs);
      clock_.StepWallMicros(-d);
      ++stats_.steps_back;
      op_ = absl::StrCat("wall clock stepped back ", d / kSecondUs, " s");
      break;
    default:  // a jump forward, beyond the guard's limit
      d = Between(2 * kMinuteUs, 2 * kDayUs);
      clock_.StepWallMicros(d);
      ++stats_.jumps;
      op_ = absl::StrCat("wall clock jumps forward ", d / kSecondUs, " s");
      break;
  }
  Trace(op_);
  return Reading();
}

bool Simulation::StepFixJump() {
  if (Chance(50)) {
    op_ = "an operator accepts the clock";
    auto accepted = engine_->AcceptClock();
    const int64_t want = guard_.Accept(Wall(), clock_.MonotonicMicros());
    Trace(op_);
    if (!accepted.ok() || *accepted != want) {
      return Fail(
          absl::StrCat("accepting the clock: ",
                       accepted.ok() ? std::to_string(*accepted) : accepted.status().ToString(),
                       "; the model: ", want));
    } else {
      ++stats_.jumps_accepted;
      max_wall_ = std::max(max_wall_, Wall());
    }
    return CheckGuard(engine_->WriteRefusals());
  }
  // Time sync puts the wall clock back near where it should be.
  const int64_t back = guard_.jumped + Between(-kJumpLimitUs / 2, kJumpLimitUs / 2);
  clock_.StepWallMicros(-back);
  op_ = absl::StrCat("time sync puts the clock back ", back / kSecondUs, " s");
  Trace(op_);
  return Reading();
}

bool Simulation::StepRound() {
  const int64_t now = Wall();
  op_ = "a scheduler round";
  Plan plan;
  States states = Snapshot();
  std::set<std::string> ids = engine_ids_;
  if (guard_.jumped == 0) PlanFire(&states, now, &ids, &plan);
  std::vector<std::string> people;
  if (handon_first_) {
    for (const Person& p : directory_.UnavailablePeople(now)) people.push_back(p.id);
  } else {
    people = directory_.BecomingUnavailable(handon_checked_, now);
  }
  const size_t fired_planned = plan.fired;
  if (guard_.jumped == 0) {
    for (const std::string& p : people) {
      PlanMoves(&states, directory_, p, "unavailable from now", now, &ids, &plan);
    }
  } else {
    // Nothing is written; the hand-on fails if it had anything to submit.
    Plan none;
    States copy = Snapshot();
    std::set<std::string> scratch = engine_ids_;
    for (const std::string& p : people) {
      PlanMoves(&copy, directory_, p, "unavailable from now", now, &scratch, &none);
    }
    plan.move_requests = none.move_requests;
  }
  auto fired = engine_->timers().FireDueDeadlines();
  auto moved = engine_->staffing().HandOnFromNewlyUnavailable();
  Trace(absl::StrCat(op_, " -> fired ",
                     fired.ok() ? std::to_string(*fired) : fired.status().ToString(), ", moved ",
                     moved.ok() ? std::to_string(*moved) : moved.status().ToString(),
                     "; the model: ", fired_planned, ", ", plan.moved));
  if (!fired.ok()) return Fail(absl::StrCat("firing deadlines: ", fired.status().ToString()));
  if (*fired != fired_planned) {
    return Fail(absl::StrCat(*fired, " deadlines fired; the model expected ", fired_planned));
  }
  const bool handon_fails = guard_.jumped != 0 && plan.move_requests > 0;
  if (moved.ok() == handon_fails) {
    return Fail(absl::StrCat("handing on: ", moved.ok() ? "done" : moved.status().ToString(),
                             "; the model expected ", handon_fails ? "a refusal" : "it done"));
  }
  if (moved.ok()) {
    if (*moved != plan.moved) {
      return Fail(absl::StrCat(*moved, " cases handed on; the model expected ", plan.moved));
    }
    handon_first_ = false;
    handon_checked_ = now;
  }
  if (!ApplyPlan(plan)) return false;
  for (const auto& [id, c] : cases_) {
    if (!CheckCase(id)) return false;
  }
  return true;
}

bool Simulation::StepDeploy(bool cutting) {
  const auto latest = registry_.Latest(kWatch);
  const uint32_t last = latest ? latest->version() : 0;
  const uint64_t pick = Below(100);
  uint32_t version = last + 1;
  std::string source;
  std::string what;
  if (pick < 50) {
    source = WatchWorkflow(version, static_cast<int>(Between(1, 6)));
    what = "the next version";
  } else if (pick < 70) {
    version = static_cast<uint32_t>(Between(1, last));
    source = watch_sources_[version];
    what = "a version again";
  } else if (pick < 80) {
    version = static_cast<uint32_t>(Between(1, last));
    source = WatchWorkflow(version, 7);
    what = "a version again, changed";
  } else if (pick < 90) {
    version = last + 2;
    source = WatchWorkflow(version, 2);
    what = "a version too far";
  } else {
    source =
        absl::StrFormat("name: \"%s\" version: %d initial_stage: \"nowhere\"", kWatch, version);
    what = "a definition that does not validate";
  }
  op_ = absl::StrCat("deploy sim-watch v", version, ": ", what);
  // The model's answer.
  auto def = workflow::Definition::Parse(source, "sim-watch.textproto");
  absl::StatusCode code = absl::StatusCode::kOk;
  bool duplicate = false;
  if (!def.ok()) {
    code = def.status().code();
  } else if (auto existing = registry_.Get(kWatch, version)) {
    if (MessageDifferencer::Equals(existing->proto(), (*def)->proto())) {
      duplicate = true;
    } else {
      code = absl::StatusCode::kAlreadyExists;
    }
  } else if (guard_.jumped != 0) {
    code = absl::StatusCode::kUnavailable;
  } else if (version != last + 1) {
    code = absl::StatusCode::kFailedPrecondition;
  }
  std::promise<std::pair<absl::StatusOr<v1::DeployWorkflowResponse>, bool>> done;
  auto answer = done.get_future();
  engine_->workflows().DeployWorkflow(source, "sim-watch.textproto", Admin(),
                                      [this, &done](absl::StatusOr<v1::DeployWorkflowResponse> r) {
                                        done.set_value({std::move(r), power_->is_cut()});
                                      });
  auto [r, after_cut] = answer.get();
  Trace(absl::StrCat(
      op_, " -> ",
      r.ok() ? (r->duplicate() ? "duplicate" : "deployed") : r.status().ToString().substr(0, 100)));
  Uncertain u;
  u.kind = Uncertain::kDeploy;
  u.version = version;
  u.source = source;
  if (after_cut && cutting) {
    if (code == absl::StatusCode::kOk && !duplicate) uncertain_ = std::move(u);
    return true;
  }
  if (!r.ok() && !IsDecidedRefusal(r.status()) && fault_armed_ && guard_.jumped == 0) {
    if (code != absl::StatusCode::kOk || duplicate) u.kind = Uncertain::kNone;
    return AfterFault(std::move(u));
  }
  if (!r.ok()) {
    if (r.status().code() != code) {
      return Fail(absl::StrCat("deploying: ", r.status().ToString(), "; the model expected ",
                               absl::StatusCodeToString(code)));
    }
    return true;
  }
  if (code != absl::StatusCode::kOk || r->duplicate() != duplicate) {
    return Fail(absl::StrCat("deployed (duplicate: ", r->duplicate(), "); the model expected ",
                             absl::StatusCodeToString(code), ", duplicate ", duplicate));
  }
  if (duplicate) {
    if (r->position() != watch_positions_[version]) {
      return Fail("a deployment again answered with another position");
    }
    return true;
  }
  if (auto st = registry_.Add(*def); !st.ok()) return Fail(st.ToString());
  watch_sources_[version] = source;
  watch_positions_[version] = r->position();
  auto deployed = Timeline(workflow::WorkflowCaseId(kWatch));
  if (!deployed.ok() || deployed->empty() || deployed->back().position() != r->position()) {
    return Fail(absl::StrCat("the deployment's record at position ", r->position(),
                             " is not the last of its workflow's case"));
  }
  NoteRecord(deployed->back());
  ++stats_.deployments;
  return true;
}

bool Simulation::StepImport() {
  std::vector<v1::DirectoryEntry> entries;
  std::string import_id = absl::StrCat("import-", step_);
  const uint64_t pick = Below(100);
  std::string what;
  if (pick < 15 && !sent_imports_.empty()) {
    const auto& again = OneOf(sent_imports_);
    import_id = again.first;
    entries = again.second;
    what = "an import again";
  } else if (pick < 30) {
    v1::DirectoryEntry& e = entries.emplace_back();
    const bool cadre = Chance(30);
    const std::string id = absl::StrCat(cadre ? "cadre" : "worker", "-sim-", ++new_people_);
    e.mutable_person()->set_person_id(id);
    e.mutable_person()->set_name(absl::StrCat("Person ", new_people_));
    e.mutable_person()->set_role(cadre ? v1::ROLE_CADRE : v1::ROLE_GRID_WORKER);
    e.mutable_person()->set_unit_id(Chance(50) ? "jiangan-07-03" : "jiangan-07-04");
    what = "a new person";
  } else if (pick < 36) {
    v1::DirectoryEntry& e = entries.emplace_back();
    e.mutable_person()->set_person_id(absl::StrCat("worker-sim-x", step_));
    e.mutable_person()->set_role(v1::ROLE_GRID_WORKER);
    e.mutable_person()->set_unit_id("jiangan-99");
    what = "a person of a unit that does not exist";
  } else {
    const int n = static_cast<int>(Between(1, 2));
    what = "availability";
    for (int i = 0; i < n; ++i) {
      v1::DirectoryEntry& e = entries.emplace_back();
      auto* a = e.mutable_availability();
      a->set_person_id(OneOf(people_));
      const uint64_t k = Below(100);
      const int64_t now = Wall();
      if (k < 40) {
        a->set_availability(v1::AVAILABILITY_UNAVAILABLE);
      } else if (k < 55) {
        a->set_availability(v1::AVAILABILITY_UNAVAILABLE);
        *a->mutable_until() = WholeSeconds(now + Between(2 * kHourUs, 2 * kDayUs));
      } else if (k < 70) {
        a->set_availability(v1::AVAILABILITY_UNAVAILABLE);
        *a->mutable_from() = WholeSeconds(now + Between(kHourUs, kDayUs));
      } else if (k < 95) {
        a->set_availability(v1::AVAILABILITY_ON_DUTY);
      } else {
        a->set_availability(v1::AVAILABILITY_OFF_DUTY);
      }
      a->set_reason("sim");
    }
  }
  op_ = absl::StrCat("import ", import_id, ": ", what);
  // The model's answer (Staffing::ImportDirectory).
  const bool known = imports_.count(import_id) != 0;
  const int64_t moment = known ? imports_[import_id].first : Wall();
  auto scratch = directory_.Clone();
  absl::Status check;
  for (const auto& e : entries) {
    check = scratch->Check(e);
    if (!check.ok()) break;
    scratch->Apply(e, moment);
  }
  absl::StatusCode code = check.code();
  if (check.ok() && guard_.jumped != 0) code = absl::StatusCode::kUnavailable;
  const size_t before = known ? imports_[import_id].second : 0;
  auto result = engine_->staffing().ImportDirectory(entries, import_id, Admin());
  Trace(absl::StrCat(op_, " -> ",
                     result.ok()
                         ? absl::StrCat(result->written, " written, ", result->moved, " moved")
                         : result.status().ToString().substr(0, 100)));
  // The hand-overs it leads to, on the directory it leaves.
  auto plan_moves = [&](const Directory& dir) {
    Plan plan;
    States states = Snapshot();
    std::set<std::string> ids = engine_ids_;
    const int64_t now = Wall();
    for (const auto& e : entries) {
      if (!e.has_availability()) continue;
      auto person = dir.FindPerson(e.availability().person_id());
      if (!person || dir.IsAvailable(*person, now)) continue;
      PlanMoves(&states, dir, person->id, "unavailable", now, &ids, &plan);
    }
    return plan;
  };
  if (!result.ok()) {
    if (result.status().code() != code) {
      return Fail(absl::StrCat("importing: ", result.status().ToString(), "; the model expected ",
                               absl::StatusCodeToString(code)));
    }
    return true;
  }
  if (code != absl::StatusCode::kOk) {
    return Fail(absl::StrCat("imported; the model expected ", absl::StatusCodeToString(code)));
  }
  if (!known) sent_imports_.emplace_back(import_id, entries);
  if (!ReadDirectoryRecords(import_id, entries.size())) return false;
  if (result->written != entries.size() - std::min(before, entries.size())) {
    return Fail(absl::StrCat(result->written, " directory records written; the model expected ",
                             entries.size() - before));
  }
  const Plan plan = plan_moves(directory_);
  if (result->moved != plan.moved) {
    return Fail(absl::StrCat(result->moved, " cases handed on; the model expected ", plan.moved));
  }
  ++stats_.imports;
  if (!ApplyPlan(plan)) return false;
  for (const auto& [id, c] : cases_) {
    if (!CheckCase(id)) return false;
  }
  return true;
}

bool Simulation::StepFlush(bool cutting, int partition) {
  const uint32_t p =
      partition >= 0 ? static_cast<uint32_t>(partition) : static_cast<uint32_t>(Below(kPartitions));
  const bool compact = Chance(15);
  op_ = absl::StrCat(compact ? "compact" : "flush", " partition ", p);
  PartitionStore& store = engine_->partitions().store(PartitionId(p));
  absl::Status st = compact ? store.Compact() : store.Flush();
  Trace(absl::StrCat(op_, " -> ", st.ToString().substr(0, 100)));
  if (cutting) return true;
  if (!st.ok() && fault_armed_) return AfterFault(Uncertain{});
  if (!st.ok()) return Fail(absl::StrCat(op_, ": ", st.ToString()));
  return true;
}

// The power goes at a seeded moment: inside a submission, an ingest
// message or a deployment (at its write-ahead-log append, at its sync, or
// just after), inside a flush or a compaction (at any file operation), or
// right after a round or an import. Inside a single submission the moment
// is a function of the seed; what a flush does is durable already.
bool Simulation::StepCut() {
  ++stats_.cuts;
  const uint64_t pick = Below(100);
  const uint64_t ops = 1 + Below(pick < 75 ? 3 : 12);
  std::string where;
  bool ok = true;
  if (pick < 75) {
    wal_cut_->CutAtWalOperation(ops);
    where = absl::StrCat("at write-ahead-log operation ", ops, " of: ");
    if (pick < 50) {
      ok = StepSubmit(true);
    } else if (pick < 62) {
      ok = StepIngest(true);
    } else {
      ok = StepDeploy(true);
    }
    wal_cut_->CutAtWalOperation(0);
  } else if (pick < 85) {
    power_->CutAfter(ops);
    where = absl::StrCat("at file operation ", ops, " of: ");
    ok = StepFlush(true);
  } else {
    where = "right after: ";
    ok = Chance(60) ? StepRound() : StepImport();
  }
  if (!ok) return false;
  const std::string during = op_;
  op_ = absl::StrCat("power cut ", where, during);
  power_->Cut();
  Trace(op_);
  return Reopen(/*cut=*/true);
}

// A disk fault in one partition, for the operations that follow: for the
// write-ahead log's faults, one to four submissions, ingest messages or
// deployments (the first that meets it is uncertain, and the engine
// restarts on a sound disk; if none met it, it is taken away); for the
// faults of table files, the MANIFEST and the directory, a flush or a
// compaction of that partition, and then a restart on a sound disk
// whether or not it met the fault: RocksDB's background compactions may
// meet it first, when they will, and nothing that follows may depend on
// which. (Faults of reads are left to disk_fault_test for the same
// reason: a background compaction reading a table file would meet them
// at a moment no seed decides.)
bool Simulation::StepFault() {
  static const FaultTarget kTargets[] = {FaultTarget::kWalAppend, FaultTarget::kWalSync,
                                         FaultTarget::kTableWrite, FaultTarget::kManifestWrite,
                                         FaultTarget::kDirSync};
  FaultRule rule;
  rule.target = kTargets[Below(5)];
  rule.kind = Chance(50) ? FaultKind::kIoError : FaultKind::kNoSpace;
  rule.mode = Chance(60) ? FaultMode::kOnce : FaultMode::kFromNth;
  rule.nth = static_cast<uint64_t>(Between(2, 3));
  const uint32_t p = static_cast<uint32_t>(Below(kPartitions));
  rule.path_contains = fs::path(PartitionDir(Data(), p)).filename().string() + "/";
  std::ostringstream s;
  PrintTo(rule, &s);
  op_ = absl::StrCat("disk fault armed: ", s.str());
  Trace(op_);
  faults_->Arm(rule);
  fault_armed_ = true;
  ++stats_.faults_armed;
  if (rule.target != FaultTarget::kWalAppend && rule.target != FaultTarget::kWalSync) {
    if (!StepFlush(false, static_cast<int>(p))) return false;
    if (!fault_armed_) return true;  // the flush met it, and the engine restarted
    op_ = "restart after a disk fault";
    Trace(op_);
    return Reopen(/*cut=*/false);
  }
  const int ops = static_cast<int>(Between(1, 4));
  for (int i = 0; i < ops && fault_armed_ && !failed(); ++i) {
    const uint64_t pick = Below(100);
    if (pick < 70) {
      StepSubmit(false);
    } else if (pick < 85) {
      StepIngest(false);
    } else {
      StepDeploy(false);
    }
  }
  if (failed()) return false;
  if (!fault_armed_) return true;  // met, and the engine restarted
  if (faults_->injected() > 0) return Fail("a write-ahead-log fault was met and nothing showed it");
  faults_->Disarm();
  fault_armed_ = false;
  return true;
}

bool Simulation::ResolveUncertain() {
  Uncertain u = std::move(uncertain_);
  uncertain_ = Uncertain{};
  switch (u.kind) {
    case Uncertain::kNone:
      return true;
    case Uncertain::kSubmit: {
      if (u.expected.kind != Expected::kAccept) return true;
      bool taken = false;
      if (!Take(u.request.event().case_id(), u.request, /*must=*/false, &taken)) return false;
      ++(taken ? stats_.uncertain_kept : stats_.uncertain_lost);
      if (taken) ++stats_.accepted;
      return true;
    }
    case Uncertain::kIngest: {
      const std::string source = absl::StrCat(kTopic, "/", u.message.source);
      const auto& stored = decided_in_[u.route.value()];
      auto it = stored.find(source);
      const bool decided = it != stored.end() && it->second >= u.message.offset;
      bool taken = false;
      if (u.expected.kind == Expected::kAccept) {
        if (!Take(u.request.event().case_id(), u.request, /*must=*/false, &taken)) return false;
        if (taken != decided) {
          return Fail(absl::StrCat("after the restart the ingest message at offset ",
                                   u.message.offset, decided ? " is decided" : " is not decided",
                                   " but its event is ", taken ? "there" : "missing",
                                   ": the offset and the records are not written together"));
        }
      }
      if (decided) {
        if (u.expected.kind == Expected::kRefuse) {
          dead_letters_[{u.route.value(), source, u.message.offset}] = {
              static_cast<int32_t>(u.expected.code), u.message.bytes};
        }
        offsets_[u.route.value()][source] = u.message.offset;
        if (taken) ++stats_.accepted;
      }
      ++(decided ? stats_.uncertain_kept : stats_.uncertain_lost);
      return true;
    }
    case Uncertain::kDeploy: {
      auto got = engine_->workflows().GetWorkflow(kWatch, u.version);
      ++(got.ok() ? stats_.uncertain_kept : stats_.uncertain_lost);
      if (!got.ok()) return true;
      auto def = workflow::Definition::Parse(u.source, "sim-watch.textproto");
      if (!def.ok() || !MessageDifferencer::Equals((*def)->proto(), *got)) {
        return Fail("a deployment cut short came back with other content");
      }
      if (auto st = registry_.Add(*def); !st.ok()) return Fail(st.ToString());
      watch_sources_[u.version] = u.source;
      auto timeline = Timeline(workflow::WorkflowCaseId(kWatch));
      if (!timeline.ok() || timeline->size() < u.version) {
        return Fail("the deployment's record is missing");
      }
      watch_positions_[u.version] = (*timeline)[u.version - 1].position();
      ++stats_.deployments;
      return true;
    }
  }
  return true;
}

bool Simulation::Step() {
  // Time passes while the driver works, a little between any two steps
  // (a frozen clock would make instants repeat that never repeat).
  clock_.AdvanceMicros(Between(kMillisecondUs, kSecondUs / 2));
  if (!Reading()) return false;
  if (options_.sabotage == Sabotage::kUnsyncedDisk && step_ == 10) return StepCut();
  // While the clock stands jumped, an operator or time sync soon acts.
  if (guard_.jumped != 0 && Chance(35)) return StepFixJump();
  const uint64_t pick = Below(1000);
  if (pick < 400) return StepSubmit(false);
  if (pick < 480) return StepIngest(false);
  if (pick < 600) return StepClock(0);
  if (pick < 630) return StepClock(1);
  if (pick < 650) return StepClock(2);
  if (pick < 750) return StepRound();
  if (pick < 780) return StepDeploy(false);
  if (pick < 830) return StepImport();
  if (pick < 860) return StepFlush(false);
  if (pick < 900) return StepCut();
  if (pick < 930) return StepFault();
  if (pick < 950) {
    op_ = "restart";
    Trace(op_);
    return Reopen(/*cut=*/false);
  }
  if (Chance(50)) {
    op_ = "list cases";
    Trace(op_);
    return CheckListing();
  }
  if (cases_.empty()) return true;
  auto it = cases_.begin();
  std::advance(it, Below(cases_.size()));
  op_ = absl::StrCat("read ", it->first);
  Trace(op_);
  return CheckCase(it->first);
}

}  // namespace gridcase::testing::sim
