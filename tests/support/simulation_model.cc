// The simulation's reference model and the checks against it (simulation_internal.h).
#include "tests/support/simulation_internal.h"

namespace gridcase::testing::sim {

// --- the model -------------------------------------------------------------

absl::Status Simulation::Fold(ModelCase* c, const v1::SubmitRequest& request, uint64_t position,
                              const google::protobuf::Timestamp& recorded_at,
                              std::vector<v1::Record>* out) {
  v1::Record record;
  *record.mutable_event() = request.event();
  record.set_submitted_by(request.submitted_by());
  RecordStamper stamper(c->partition.value(), Position(position), c->version(), recorded_at);
  stamper.StampSubmitted(&record);
  if (!c->state && !request.workflow().empty()) {
    record.mutable_workflow()->set_name(request.workflow());
  }
  return logic_.Process(std::move(record), &stamper, &c->state, out);
}

// The engine's order of checks: validation, the event id in another
// partition (the router), the clock guard (the sequencer's gate), the
// event id in the case's partition, the expected version, the case logic.
Expected Simulation::Predict(const v1::SubmitRequest& request, bool validate) {
  Expected out;
  const v1::Event& e = request.event();
  auto refuse = [&out](absl::StatusCode code) {
    out.kind = Expected::kRefuse;
    out.code = code;
    return out;
  };
  if (validate) {
    if (auto st = ValidateEvent(e, ValidationLimits{}, Wall()); !st.ok()) {
      out.validation = true;
      return refuse(st.code());
    }
  }
  auto known = ids_.find(e.event_id());
  if (known != ids_.end() &&
      PartitionOf(known->second.event.case_id()) != PartitionOf(e.case_id())) {
    return refuse(absl::StatusCode::kAlreadyExists);
  }
  if (guard_.jumped != 0) return refuse(absl::StatusCode::kUnavailable);
  if (known != ids_.end()) {
    if (!MessageDifferencer::Equals(known->second.event, e)) {
      return refuse(absl::StatusCode::kAlreadyExists);
    }
    out.kind = Expected::kDuplicate;
    out.original = known->second.response;
    return out;
  }
  const ModelCase& c = Case(e.case_id());
  if (request.has_expected_version() && request.expected_version() != c.version()) {
    out.version_conflict = true;
    out.current_version = c.version();
    return refuse(absl::StatusCode::kFailedPrecondition);
  }
  ModelCase copy{c.partition, c.state, {}};
  std::vector<v1::Record> records;
  const uint32_t p = c.partition.value();
  const int64_t recorded = std::max(last_recorded_[p], Wall());
  if (auto st = Fold(&copy, request, last_position_[p] + 1, FromMicros(recorded), &records);
      !st.ok()) {
    return refuse(st.code());
  }
  return out;
}

bool Simulation::Accepted(const v1::SubmitRequest& request, const v1::SubmitResponse& r) {
  const v1::Event& e = request.event();
  ModelCase& c = Case(e.case_id());
  const uint32_t p = c.partition.value();
  const int64_t recorded = Micros(r.recorded_at());
  if (r.case_id() != e.case_id() || r.event_id() != e.event_id() || r.partition() != p ||
      r.case_version() != c.version() + 1 || r.position() <= last_position_[p]) {
    return Fail(absl::StrCat("accepted ", Describe(e), " at partition ", r.partition(),
                             " position ", r.position(), " version ", r.case_version(),
                             "; the model expected partition ", p, ", version ", c.version() + 1,
                             ", a position after ", last_position_[p]));
  }
  // Recorded time: the clock's reading, held at the partition's last
  // record's time while the clock is behind it (never back within the
  // partition); never ahead of any reading the engine took.
  if (recorded != std::max(Wall(), last_recorded_[p]) || recorded > max_wall_) {
    return Fail(absl::StrCat("accepted ", Describe(e), " recorded at ", recorded,
                             ": the clock read ", Wall(), ", at most ", max_wall_,
                             ", and the partition's last record was recorded at ",
                             last_recorded_[p]));
  }
  if (options_.sabotage == Sabotage::kModelForgetsAnAck && !forgot_) {
    forgot_ = true;  // the mistake under test: this acknowledgement is not folded
    return true;
  }
  std::vector<v1::Record> out;
  if (auto st = Fold(&c, request, r.position(), r.recorded_at(), &out); !st.ok()) {
    return Fail(absl::StrCat("the engine accepted ", Describe(e),
                             "; the model refuses it: ", st.ToString()));
  }
  last_position_[p] = out.back().position();
  last_recorded_[p] = recorded;
  for (v1::Record& rec : out) c.records.push_back(std::move(rec));
  ids_[e.event_id()] = Sent{e, r};
  ++stats_.accepted;
  return true;
}

bool Simulation::Take(const std::string& case_id, const v1::SubmitRequest& request, bool must,
                      bool* taken) {
  *taken = false;
  ModelCase& c = Case(case_id);
  auto timeline = Timeline(case_id);
  if (!timeline.ok())
    return Fail(absl::StrCat("reading ", case_id, ": ", timeline.status().ToString()));
  const size_t have = c.records.size();
  if (timeline->size() <= have) {
    if (must) {
      return Fail(absl::StrCat("the engine never recorded ", Describe(request.event()),
                               " (the case stands at version ", timeline->size(), ")"));
    }
    return true;
  }
  const v1::Record& first = (*timeline)[have];
  if (first.caused_by() != 0 || !MessageDifferencer::Equals(first.event(), request.event())) {
    if (must) {
      return Fail(absl::StrCat("at version ", have + 1, " of ", case_id, " the model expected ",
                               Describe(request.event()), ", the engine has ",
                               Describe(first.event()), ": ",
                               Diff(request.event(), first.event())));
    }
    return true;
  }
  std::vector<v1::Record> out;
  if (auto st = Fold(&c, request, first.position(), first.recorded_at(), &out); !st.ok()) {
    return Fail(absl::StrCat("the engine recorded ", Describe(request.event()),
                             "; the model refuses it: ", st.ToString()));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (have + i >= timeline->size()) {
      return Fail(absl::StrCat(case_id, ": the engine recorded ", Describe(request.event()),
                               " without all it leads to: version ", out[i].case_version(),
                               " is missing"));
    }
    if (!MessageDifferencer::Equals(out[i], (*timeline)[have + i])) {
      return Fail(absl::StrCat(
          case_id, " version ", out[i].case_version(),
          ": the engine's record differs from the model's: ", Diff(out[i], (*timeline)[have + i])));
    }
  }
  const uint32_t p = c.partition.value();
  last_position_[p] = std::max(last_position_[p], out.back().position());
  last_recorded_[p] = std::max(last_recorded_[p], Micros(out.back().recorded_at()));
  for (v1::Record& r : out) c.records.push_back(std::move(r));
  const v1::Event& e = request.event();
  if (e.has_deadline_expired()) {
    ++stats_.fired;
    if (Micros(first.recorded_at()) < Micros(e.deadline_expired().due_at())) {
      return Fail(
          absl::StrCat(Describe(e), " fired early: recorded at ", Micros(first.recorded_at())));
    }
  }
  if (e.has_holder_replaced()) ++stats_.handovers;
  if (e.actor().kind() == v1::ACTOR_KIND_SYSTEM) {
    engine_ids_.insert(e.event_id());
  } else {
    v1::SubmitResponse r;
    r.set_event_id(e.event_id());
    r.set_case_id(e.case_id());
    r.set_partition(first.partition());
    r.set_position(first.position());
    r.set_case_version(first.case_version());
    *r.mutable_recorded_at() = first.recorded_at();
    ids_[e.event_id()] = Sent{e, r};
  }
  *taken = true;
  return true;
}

bool Simulation::ApplyPlan(const Plan& plan) {
  for (const auto& [case_id, requests] : plan.by_case) {
    for (const v1::SubmitRequest& request : requests) {
      bool taken = false;
      if (!Take(case_id, request, /*must=*/true, &taken)) return false;
    }
  }
  return true;
}

Simulation::States Simulation::Snapshot() const {
  States out;
  for (const auto& [id, c] : cases_) out.emplace(id, ModelCase{c.partition, c.state, {}});
  return out;
}

void Simulation::PlanOne(States* states, v1::SubmitRequest request, std::set<std::string>* ids,
                         Plan* plan, bool expiry) {
  const std::string& id = request.event().event_id();
  if (ids->count(id) != 0) return;  // a duplicate: nothing written
  ModelCase& c = (*states)[request.event().case_id()];
  std::vector<v1::Record> out;
  const uint32_t p = c.partition.value();
  const int64_t recorded = std::max(last_recorded_[p], Wall());
  if (!Fold(&c, request, last_position_[p] + 1, FromMicros(recorded), &out).ok()) return;
  ids->insert(id);
  (expiry ? plan->fired : plan->moved) += 1;
  plan->by_case[request.event().case_id()].push_back(std::move(request));
}

// DeadlineTimers::FireDueDeadlines: the timer rows due by `now`, read per
// partition in key order (due, case, name), then stably sorted by due.
void Simulation::PlanFire(States* states, int64_t now, std::set<std::string>* ids, Plan* plan) {
  // The mistake under test: the model believes deadlines fall due a day later.
  const int64_t late = options_.sabotage == Sabotage::kModelDeadlinesLate ? kDayUs : 0;
  std::vector<std::tuple<int64_t, uint32_t, std::string, std::string>> due;
  for (const auto& [id, c] : *states) {
    if (!c.state) continue;
    for (const auto& d : c.state->deadlines()) {
      if (Micros(d.due_at()) + late <= now) {
        due.emplace_back(Micros(d.due_at()), c.partition.value(), id, d.name());
      }
    }
  }
  std::sort(due.begin(), due.end());
  for (const auto& [due_us, partition, case_id, name] : due) {
    // Fired only while still pending with that due time.
    const ModelCase& c = (*states)[case_id];
    const bool pending = std::any_of(c.state->deadlines().begin(), c.state->deadlines().end(),
                                     [&name = name, due = due_us](const auto& d) {
                                       return d.name() == name && Micros(d.due_at()) == due;
                                     });
    v1::SubmitRequest request;
    v1::Event* e = request.mutable_event();
    e->set_event_id(absl::StrCat(std::string(1, kReservedCasePrefix), "deadline~", case_id, "~",
                                 name, "~", due_us));
    e->set_case_id(case_id);
    *e->mutable_occurred_at() = FromMicros(due_us);
    e->mutable_actor()->set_id(kEngineActorId);
    e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
    e->set_channel(v1::CHANNEL_SYSTEM);
    e->mutable_deadline_expired()->set_deadline(name);
    *e->mutable_deadline_expired()->mutable_due_at() = e->occurred_at();
    if (pending) PlanOne(states, std::move(request), ids, plan, /*expiry=*/true);
  }
}

// Staffing::ReassignHolder.
void Simulation::PlanMoves(States* states, const Directory& directory, const std::string& person_id,
                           const std::string& reason, int64_t now, std::set<std::string>* ids,
                           Plan* plan) {
  auto person = directory.FindPerson(person_id);
  if (!person) return;
  auto holds = [](const v1::CaseState& s, const std::string& who) {
    if (s.assignee() == who) return true;
    return std::any_of(s.open_tasks().begin(), s.open_tasks().end(),
                       [&](const auto& t) { return t.assignee() == who; });
  };
  std::vector<std::vector<std::pair<std::string, std::string>>> held(kPartitions);
  for (const auto& [id, c] : *states) {
    if (c.state && holds(*c.state, person_id)) {
      held[c.partition.value()].emplace_back(id, c.state->grid_id());
    }
  }
  std::map<std::string, size_t> load;
  if (std::any_of(held.begin(), held.end(), [](const auto& h) { return !h.empty(); })) {
    for (const std::string& w : WorkersToWeigh(directory, *person, now)) {
      size_t n = 0;
      for (const auto& [id, c] : *states) n += c.state && holds(*c.state, w);
      load[w] = n;
    }
  }
  std::vector<v1::SubmitRequest> moves;
  for (const auto& in_partition : held) {
    for (const auto& [case_id, grid] : in_partition) {
      auto to = ChooseSuccessor(directory, *person, grid, now, &load);
      if (!to) continue;
      v1::SubmitRequest request;
      v1::Event* e = request.mutable_event();
      e->set_event_id(absl::StrCat(std::string(1, kReservedCasePrefix), "move~", person_id, "~",
                                   case_id, "~", now));
      e->set_case_id(case_id);
      *e->mutable_occurred_at() = WholeSeconds(now);
      e->mutable_actor()->set_id(kEngineActorId);
      e->mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
      e->set_grid_id(grid);
      e->set_channel(v1::CHANNEL_SYSTEM);
      auto* h = e->mutable_holder_replaced();
      h->set_from_person(person_id);
      h->set_to_person(to->person_id);
      h->set_to_role(to->role);
      h->set_reason(reason);
      moves.push_back(std::move(request));
    }
  }
  plan->move_requests += moves.size();
  for (auto& m : moves) PlanOne(states, std::move(m), ids, plan, /*expiry=*/false);
}

// The records of the directory case after those the model holds: each one
// of the import `import_id` (of `entries` entries), in order; folded into
// the model's directory.
bool Simulation::ReadDirectoryRecords(const std::string& import_id, size_t entries) {
  auto timeline = Timeline(kDirectoryCaseId);
  if (!timeline.ok())
    return Fail(absl::StrCat("reading the directory: ", timeline.status().ToString()));
  const size_t before = imports_.count(import_id) ? imports_[import_id].second : 0;
  size_t n = before;
  for (size_t i = directory_records_; i < timeline->size(); ++i) {
    const v1::Record& r = (*timeline)[i];
    ++n;
    const std::string want = absl::StrCat(kDirectoryCaseId, "~", import_id, "~", n);
    if (r.event().event_id() != want || n > entries) {
      return Fail(absl::StrCat("directory record ", i + 1, " is ", r.event().event_id(),
                               "; the model expected ", n > entries ? "none" : want));
    }
    ApplyDirectoryRecord(r, &directory_);
    NoteRecord(r);
    if (auto entry = EntryOf(r.event()); entry && entry->has_person()) {
      people_.push_back(entry->person().person_id());
    }
    if (n == 1) imports_[import_id].first = Micros(r.event().occurred_at());
  }
  if (n != entries && n != before) {
    return Fail(absl::StrCat("import ", import_id, ": ", n - before, " directory records of ",
                             entries - before, " new entries"));
  }
  directory_records_ = timeline->size();
  if (n > before || !imports_.count(import_id)) imports_[import_id].second = n;
  return true;
}

void Simulation::NoteRecord(const v1::Record& record) {
  const uint32_t p = record.partition();
  last_position_[p] = std::max(last_position_[p], record.position());
  last_recorded_[p] = std::max(last_recorded_[p], Micros(record.recorded_at()));
}

// --- checks ----------------------------------------------------------------

bool Simulation::CheckCase(const std::string& id) {
  const ModelCase& c = Case(id);
  auto timeline = Timeline(id);
  if (!timeline.ok()) {
    return Fail(absl::StrCat("reading the timeline of ", id, ": ", timeline.status().ToString()));
  }
  const size_t n = std::min(timeline->size(), c.records.size());
  for (size_t i = 0; i < n; ++i) {
    if (!MessageDifferencer::Equals(c.records[i], (*timeline)[i])) {
      return Fail(absl::StrCat(id, " version ", i + 1,
                               ": the engine's record differs from the model's (lost, doubled "
                               "or out of place): ",
                               Diff(c.records[i], (*timeline)[i])));
    }
  }
  if (timeline->size() < c.records.size()) {
    const v1::Record& lost = c.records[timeline->size()];
    return Fail(absl::StrCat(id, ": lost: the timeline ends at version ", timeline->size(),
                             "; the model holds ", c.records.size(), ", the first missing is ",
                             Describe(lost.event()), " at position ", lost.position()));
  }
  if (timeline->size() > c.records.size()) {
    const v1::Record& extra = (*timeline)[c.records.size()];
    std::string why = "never acknowledged, or doubled";
    for (const auto& r : c.records) {
      if (r.event().event_id() == extra.event().event_id()) why = "doubled";
    }
    if (extra.event().has_deadline_expired()) {
      const int64_t due = Micros(extra.event().deadline_expired().due_at());
      bool pending = false;
      if (c.state) {
        for (const auto& d : c.state->deadlines()) {
          pending = pending || (d.name() == extra.event().deadline_expired().deadline() &&
                                Micros(d.due_at()) == due);
        }
      }
      why = pending ? absl::StrCat("a deadline fired before the model's due time (fired early)")
                    : "a deadline that was not pending fired (twice, or cancelled)";
    }
    return Fail(absl::StrCat(id, ": the engine has version ", c.records.size() + 1, ", ",
                             Describe(extra.event()), " at position ", extra.position(),
                             ", which the model does not: ", why));
  }
  auto state = engine_->GetCase(id);
  if (!c.state) {
    if (!absl::IsNotFound(state.status())) {
      return Fail(absl::StrCat(id, ": the model has no such case; the engine answers ",
                               state.ok() ? "a case" : state.status().ToString()));
    }
    return true;
  }
  if (!state.ok()) {
    return Fail(absl::StrCat("reading case ", id, ": ", state.status().ToString()));
  }
  if (!MessageDifferencer::Equals(*c.state, *state)) {
    return Fail(absl::StrCat(
        id, ": the engine's case state differs from the model's: ", Diff(*c.state, *state)));
  }
  return true;
}

bool Simulation::CheckGuard(const std::vector<absl::Status>& refusals) {
  for (uint32_t p = 0; p < refusals.size(); ++p) {
    const absl::Status& st = refusals[p];
    const bool jumped = !st.ok() && absl::StrContains(st.message(), "wall clock jumped");
    if (!st.ok() && !jumped) {
      return Fail(absl::StrCat("partition ", p, " refuses writes: ", st.ToString()));
    }
    if (jumped != (guard_.jumped != 0)) {
      return Fail(absl::StrCat("partition ", p, ": ", st.ok() ? "takes writes" : st.ToString(),
                               "; the model's clock guard says ",
                               guard_.jumped != 0 ? "jumped" : "good"));
    }
  }
  const ClockGuardStats g = engine_->clock_guard()->stats();
  if (g.jumped_us != guard_.jumped || g.steps_back != guard_.steps_back) {
    return Fail(absl::StrCat("clock guard: jumped ", g.jumped_us, " µs, ", g.steps_back,
                             " steps back; the model: ", guard_.jumped, " µs, ",
                             guard_.steps_back));
  }
  return true;
}

bool Simulation::CheckListing() {
  v1::ListCasesRequest req;
  static const char* kStages[] = {"screening", "isolation", "testing",
                                  "closed",    "watch",     "assigned"};
  const uint64_t pick = Below(100);
  if (pick < 20) {
    req.set_stage(kStages[Below(6)]);
  } else if (pick < 35) {
    req.set_assignee(OneOf(people_));
  } else if (pick < 50) {
    req.set_grid_id(Chance(50) ? "jiangan-07-03" : "jiangan-07-04");
  } else if (pick < 60) {
    req.set_category(static_cast<v1::Category>(Below(5)));
  } else if (pick < 75) {
    req.set_overdue(true);
  } else if (pick < 85) {
    req.set_area(Chance(50) ? "jiangan-07-c2" : "jiangan-07-04");
  }
  req.set_page_size(static_cast<uint32_t>(Between(1, 8)));
  const int64_t now = Wall();
  std::vector<std::string> want;
  for (const auto& [id, c] : cases_) {
    if (!c.state) continue;
    const v1::CaseState& st = *c.state;
    if (!req.stage().empty() && st.stage() != req.stage()) continue;
    if (req.category() != v1::CATEGORY_UNSPECIFIED && st.category() != req.category()) continue;
    if (!req.grid_id().empty() && st.grid_id() != req.grid_id()) continue;
    if (!req.assignee().empty() && st.assignee() != req.assignee()) continue;
    if (!req.area().empty() && !directory_.IsAtOrUnder(st.grid_id(), req.area())) continue;
    if (req.overdue()) {
      bool overdue = false;
      for (const auto& t : st.open_tasks()) {
        overdue = overdue || (t.has_due_at() && Micros(t.due_at()) <= now);
      }
      for (const auto& d : st.deadlines()) overdue = overdue || Micros(d.due_at()) <= now;
      if (!overdue) continue;
    }
    want.push_back(id);
  }
  std::vector<std::string> got;
  for (int pages = 0;; ++pages) {
    auto page = engine_->ListCases(req);
    if (!page.ok()) {
      return Fail(absl::StrCat("listing cases: ", page.status().ToString()));
    }
    for (const v1::CaseState& st : page->cases()) {
      got.push_back(st.case_id());
      auto it = cases_.find(st.case_id());
      if (it == cases_.end() || !it->second.state ||
          !MessageDifferencer::Equals(*it->second.state, st)) {
        return Fail(absl::StrCat("listing cases (", req.ShortDebugString(), "): ", st.case_id(),
                                 " is listed as the model does not hold it"));
      }
    }
    if (page->next_page_token().empty() || pages > 1000) break;
    req.set_page_token(page->next_page_token());
  }
  if (got != want) {
    req.clear_page_token();
    return Fail(absl::StrCat("listing cases (", req.ShortDebugString(), ") gives [",
                             absl::StrJoin(got, " "), "]; the model [", absl::StrJoin(want, " "),
                             "]"));
  }
  return true;
}

bool Simulation::Reading() {
  const std::vector<absl::Status> refusals = engine_->WriteRefusals();
  guard_.Reading(Wall(), clock_.MonotonicMicros());
  if (guard_.jumped == 0) max_wall_ = std::max(max_wall_, Wall());
  return CheckGuard(refusals);
}

bool Simulation::VerifyLog(bool count) {
  auto chains = engine_->audit().VerifyLog();
  if (!chains.ok()) return Fail(absl::StrCat("verifying the chains: ", chains.status().ToString()));
  for (size_t p = 0; p < chains->size(); ++p) {
    const ChainCheck& c = (*chains)[p];
    if (c.first_bad_position != 0) {
      return Fail(absl::StrCat("partition ", p, ": the chain breaks at position ",
                               c.first_bad_position, ": ", c.problem));
    }
  }
  // Every record of every partition belongs to a case the model knows, at
  // dense positions, recorded at times that never go back.
  std::map<std::string, size_t> per_case;
  uint64_t records = 0;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    uint64_t expect = 1;
    int64_t recorded = 0;
    for (;;) {
      std::vector<v1::LogEntry> entries;
      if (auto st = engine_->streams().ReadLog(PartitionId(p), Position(expect), 1000, &entries);
          !st.ok()) {
        return Fail(absl::StrCat("reading the log of partition ", p, ": ", st.ToString()));
      }
      if (entries.empty()) break;
      for (const v1::LogEntry& e : entries) {
        const v1::Record& r = e.record();
        if (r.position() != expect) {
          return Fail(
              absl::StrCat("partition ", p, ": position ", r.position(), " follows ", expect - 1));
        }
        if (Micros(r.recorded_at()) < recorded) {
          return Fail(absl::StrCat("partition ", p, " position ", r.position(),
                                   " is recorded before the record ahead of it"));
        }
        recorded = Micros(r.recorded_at());
        ++per_case[r.event().case_id()];
        ++expect;
        ++records;
      }
    }
  }
  stats_.records = records;
  if (!count) return true;
  for (const auto& [id, n] : per_case) {
    size_t want = 0;
    if (id == kDirectoryCaseId) {
      want = directory_records_;
    } else if (workflow::IsEngineCase(id)) {
      const std::string name = id.substr(std::string(workflow::WorkflowCaseId("")).size());
      auto latest = registry_.Latest(name);
      want = latest ? latest->version() : 0;
    } else if (auto it = cases_.find(id); it != cases_.end()) {
      want = it->second.records.size();
    }
    if (n != want) {
      return Fail(absl::StrCat("the log holds ", n, " records of ", id, "; the model ", want));
    }
  }
  return true;
}

bool Simulation::VerifyStreams() {
  for (uint32_t p = 0; p < kPartitions; ++p) {
    std::map<std::string, int64_t> offsets;
    if (auto st = engine_->streams().StreamOffsets(PartitionId(p), kTopic, &offsets); !st.ok()) {
      return Fail(absl::StrCat("reading stream offsets: ", st.ToString()));
    }
    if (offsets != offsets_[p]) {
      std::string got, want;
      for (const auto& [s, o] : offsets) absl::StrAppend(&got, s, "=", o, " ");
      for (const auto& [s, o] : offsets_[p]) absl::StrAppend(&want, s, "=", o, " ");
      return Fail(absl::StrCat("partition ", p, " decided the ingest to [", got,
                               "]; the model to [", want, "]"));
    }
    std::vector<std::pair<std::string, v1::DeadLetter>> letters;
    if (auto st = engine_->streams().DeadLetters(PartitionId(p), 100000, &letters); !st.ok()) {
      return Fail(absl::StrCat("reading dead letters: ", st.ToString()));
    }
    size_t model = 0;
    for (const auto& [key, value] : dead_letters_) model += std::get<0>(key) == p;
    if (letters.size() != model) {
      return Fail(absl::StrCat("partition ", p, " holds ", letters.size(),
                               " dead letters; the model ", model));
    }
    for (const auto& [key, letter] : letters) {
      auto it = dead_letters_.find({p, letter.source(), letter.offset()});
      if (it == dead_letters_.end() || it->second.first != letter.code() ||
          it->second.second != letter.original()) {
        return Fail(absl::StrCat("partition ", p, ": dead letter ", letter.source(), " ",
                                 letter.offset(), " (code ", letter.code(),
                                 ") is not the model's"));
      }
    }
  }
  return true;
}

bool Simulation::Rebuild() {
  RebuildOptions rebuild;
  rebuild.data_dir = Data();
  rebuild.scratch_dir = options_.work_dir + "/rebuilt";
  std::error_code ec;
  fs::remove_all(rebuild.scratch_dir, ec);
  auto report = RebuildAndCompare(rebuild);
  if (!report.ok()) return Fail(absl::StrCat("rebuilding: ", report.status().ToString()));
  if (report->difference) {
    return Fail(absl::StrCat("a rebuild from the log differs from the live state: partition ",
                             report->difference->partition, " ", report->difference->family, " ",
                             report->difference->key));
  }
  ++stats_.rebuilds;
  return true;
}

bool Simulation::VerifyAll() {
  for (const auto& [id, c] : cases_) {
    if (!CheckCase(id)) return false;
  }
  if (!VerifyLog(/*count=*/true)) return false;
  // The earliest pending deadline, as the timers say and as the cases say.
  std::optional<int64_t> first;
  for (const auto& [id, c] : cases_) {
    if (!c.state) continue;
    for (const auto& d : c.state->deadlines()) {
      if (!first || Micros(d.due_at()) < *first) first = Micros(d.due_at());
    }
  }
  // Every timer row, as the cases' pending deadlines say.
  std::set<std::tuple<int64_t, std::string, std::string>> rows, pending;
  for (const auto& [id, c] : cases_) {
    if (!c.state) continue;
    for (const auto& d : c.state->deadlines()) pending.emplace(Micros(d.due_at()), id, d.name());
  }
  for (uint32_t p = 0; p < kPartitions; ++p) {
    std::vector<keys::TimerKey> timers;
    if (auto st = engine_->partitions()
                      .store(PartitionId(p))
                      .ReadDueTimers(std::numeric_limits<int64_t>::max(), SIZE_MAX, &timers);
        !st.ok()) {
      return Fail(absl::StrCat("reading the timers: ", st.ToString()));
    }
    for (const auto& t : timers) rows.emplace(t.due_us, t.case_id, t.deadline);
  }
  if (rows != pending) {
    return Fail(absl::StrCat("the timer rows (", rows.size(), ") are not the cases' pending ",
                             "deadlines (", pending.size(), ")"));
  }
  auto next = engine_->timers().NextDeadlineDueUs();
  if (!next.ok()) return Fail(absl::StrCat("reading the timers: ", next.status().ToString()));
  if (*next != first) {
    return Fail(absl::StrCat("the next timer is due at ", next->value_or(0),
                             "; the model's cases say ", first.value_or(0)));
  }
  if (!VerifyStreams()) return false;
  if (!CheckListing()) return false;
  // The registry and the directory.
  const auto deployed = engine_->workflows().ListWorkflows();
  const auto all = registry_.All();
  if (static_cast<size_t>(deployed.workflows_size()) != all.size()) {
    return Fail(absl::StrCat("the engine has ", deployed.workflows_size(),
                             " workflow versions; the model ", all.size()));
  }
  for (size_t i = 0; i < all.size(); ++i) {
    auto got = engine_->workflows().GetWorkflow(all[i]->name(), all[i]->version());
    if (!got.ok() || !MessageDifferencer::Equals(*got, all[i]->proto())) {
      return Fail(absl::StrCat("workflow ", all[i]->name(), " version ", all[i]->version(),
                               " differs from the model's"));
    }
  }
  const Directory& dir = engine_->staffing().directory();
  if (dir.person_count() != directory_.person_count() ||
      dir.unit_count() != directory_.unit_count()) {
    return Fail("the engine's directory holds other people or units than the model's");
  }
  for (const std::string& id : people_) {
    auto want = directory_.FindPerson(id);
    auto got = dir.FindPerson(id);
    if (!want || !got || want->availability != got->availability ||
        want->unavailable_from_us != got->unavailable_from_us ||
        want->unavailable_until_us != got->unavailable_until_us ||
        want->paired_with != got->paired_with || want->unit_id != got->unit_id) {
      return Fail(absl::StrCat("person ", id, " differs from the model's"));
    }
  }
  return CheckGuard(engine_->WriteRefusals());
}

}  // namespace gridcase::testing::sim
