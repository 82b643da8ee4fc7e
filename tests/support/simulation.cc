#include "tests/support/simulation.h"

#include "tests/support/simulation_internal.h"

namespace gridcase::testing {
namespace sim {

bool Simulation::Fail(const std::string& what) {
  if (!failure_.empty()) return false;
  failure_ = absl::StrCat("seed ", options_.seed, ", step ", step_, " (", op_, "): ", what,
                          "\nthe steps before it:\n");
  for (const std::string& line : trace_) absl::StrAppend(&failure_, "  ", line, "\n");
  absl::StrAppend(&failure_, "replay this seed alone: GRIDCASE_SIM_SEED=", options_.seed,
                  " build/tests/simulation_test --gtest_filter='SimulationTest.SeedsPass'");
  return false;
}

void Simulation::Trace(const std::string& line) {
  trace_.push_back(absl::StrCat(step_, ": ", line));
  if (trace_.size() > kTraceSteps) trace_.pop_front();
}

ModelCase& Simulation::Case(const std::string& id) {
  auto it = cases_.find(id);
  if (it == cases_.end()) {
    it = cases_.emplace(id, ModelCase{}).first;
    it->second.partition = PartitionOf(id);
  }
  return it->second;
}

std::string Simulation::GridOf(const std::string& case_id) const {
  return Fnv1a64(case_id) % 2 == 0 ? "jiangan-07-03" : "jiangan-07-04";
}

// --- the engine ------------------------------------------------------------

bool Simulation::Open() {
  auto engine = Engine::Open(OptionsFor(Data(), env_.get()), &clock_);
  if (!engine.ok())
    return Fail(absl::StrCat("the engine refused to open: ", engine.status().ToString()));
  engine_ = std::move(*engine);
  engine_->partitions().WaitForScanAtOpen();
  guard_.Open(Wall(), clock_.MonotonicMicros());
  handon_first_ = true;
  handon_checked_ = 0;
  decided_in_.clear();
  for (uint32_t p = 0; p < kPartitions; ++p) {
    std::map<std::string, int64_t> offsets;
    if (auto st = engine_->streams().StreamOffsets(PartitionId(p), kTopic, &offsets); !st.ok()) {
      return Fail(absl::StrCat("reading the stream offsets: ", st.ToString()));
    }
    decided_in_[p] = offsets;
    auto last = engine_->partitions().store(PartitionId(p)).ReadLastRecord();
    if (!last.ok())
      return Fail(absl::StrCat("reading the last record: ", last.status().ToString()));
    last_recorded_[p] = last->has_value() ? Micros((*last)->record.recorded_at()) : 0;
    last_position_[p] = last->has_value() ? (*last)->record.position() : 0;
  }
  return CheckGuard(engine_->WriteRefusals());
}

bool Simulation::Reopen(bool cut) {
  ++stats_.restarts;
  engine_.reset();
  if (cut) {
    power_->SetWriteBackSeed(rng_());
    power_->Restore();
    // What the disk holds after the cut, before anything writes to it: its
    // derived state must be the fold of its log.
    if (options_.rebuild_after_cuts && !Rebuild()) return false;
  }
  if (fault_armed_) {
    stats_.faults_injected += faults_->injected() > 0;
    faults_->Disarm();
    fault_armed_ = false;
  }
  // Meanwhile, while nothing runs: time passes (deadlines fall due while
  // the server is down), or the wall clock is stepped back or jumps.
  const uint64_t pick = Below(100);
  if (pick < 30) {
    clock_.AdvanceMicros(Between(kMinuteUs, 2 * kDayUs));
  } else if (pick < 36) {
    clock_.StepWallMicros(-Between(kSecondUs, 10 * kMinuteUs));
    ++stats_.steps_back;
  } else if (pick < 42) {
    clock_.StepWallMicros(Between(2 * kMinuteUs, kDayUs));
    ++stats_.jumps;
  }
  if (!Open()) return false;
  if (!ResolveUncertain()) return false;
  return VerifyAll();
}

Answer Simulation::SubmitAndWait(v1::SubmitRequest request) {
  std::promise<Answer> done;
  auto answer = done.get_future();
  engine_->Submit(std::move(request), [this, &done](absl::StatusOr<v1::SubmitResponse> r) {
    done.set_value(Answer{std::move(r), power_->is_cut()});
  });
  return answer.get();
}

Answer Simulation::IngestAndWait(absl::StatusOr<v1::SubmitRequest> request, StreamOrigin origin) {
  std::promise<Answer> done;
  auto answer = done.get_future();
  engine_->streams().SubmitFromStream(std::move(request), std::move(origin),
                                      [this, &done](absl::StatusOr<v1::SubmitResponse> r) {
                                        done.set_value(Answer{std::move(r), power_->is_cut()});
                                      });
  return answer.get();
}

absl::StatusOr<std::vector<v1::Record>> Simulation::Timeline(const std::string& case_id) {
  std::vector<v1::Record> out;
  v1::GetTimelineRequest req;
  req.set_case_id(case_id);
  req.set_page_size(kPageSizeMax);
  for (;;) {
    auto page = engine_->GetTimeline(req);
    if (absl::IsNotFound(page.status()) && out.empty()) return out;
    if (!page.ok()) return page.status();
    for (const v1::Record& r : page->records()) out.push_back(r);
    if (page->next_page_token().empty()) return out;
    req.set_page_token(page->next_page_token());
  }
}

SimulationResult Simulation::Run() {
  SimulationResult result;
  op_ = "setting up";
  std::error_code ec;
  fs::create_directories(options_.work_dir, ec);
  fs::copy(options_.template_dir, Data(), fs::copy_options::recursive, ec);
  if (ec) {
    Fail(absl::StrCat("copying the template: ", ec.message()));
    result.failure = failure_;
    return result;
  }
  power_ = std::make_shared<PowerCutFs>(options_.work_dir + "/scratch");
  wal_cut_ = std::make_shared<WalCutFs>(power_);
  faults_ = std::make_shared<StackedFaultFs>(wal_cut_);
  env_ = std::make_unique<SimulationEnv>(EnvOver(faults_));
  // The template's clock anchor, as the guard that wrote it left it.
  guard_.file = true;
  guard_.file_wall = kStartUs;
  guard_.file_mono = 0;
  if (Open()) {
    // The model starts from what the template holds.
    const v1::ListWorkflowsResponse deployed = engine_->workflows().ListWorkflows();
    for (const auto& w : deployed.workflows()) {
      auto def =
          workflow::Definition::FromProto(*engine_->workflows().GetWorkflow(w.name(), w.version()));
      if (!def.ok() || !registry_.Add(*def).ok()) Fail("the template's workflows do not load");
      if (w.name() == kWatch) {
        watch_sources_[w.version()] = WatchWorkflow(w.version(), 2);
        watch_positions_[w.version()] =
            (*Timeline(workflow::WorkflowCaseId(kWatch)))[w.version() - 1].position();
      }
    }
    auto timeline = Timeline(kDirectoryCaseId);
    if (timeline.ok()) {
      for (const auto& r : *timeline) {
        ApplyDirectoryRecord(r, &directory_);
        if (auto e = EntryOf(r.event()); e && e->has_person()) {
          people_.push_back(e->person().person_id());
        }
      }
      directory_records_ = timeline->size();
      imports_["example"] = {
          timeline->empty() ? 0 : Micros(timeline->front().event().occurred_at()),
          timeline->size()};
    }
    if (options_.sabotage == Sabotage::kUnsyncedDisk) power_->SetHonourSyncs(false);
    if (!failed()) VerifyAll();
  }
  for (step_ = 1; step_ <= options_.steps && !failed(); ++step_) {
    ++stats_.steps;
    Step();
  }
  // The end: the clock put right, a last round, every check, the heads, and
  // a rebuild from the log.
  step_ = options_.steps + 1;
  if (!failed() && guard_.jumped != 0) {
    op_ = "the end: the clock accepted";
    auto accepted = engine_->AcceptClock();
    guard_.Accept(Wall(), clock_.MonotonicMicros());
    if (!accepted.ok()) Fail(accepted.status().ToString());
    max_wall_ = std::max(max_wall_, Wall());
  }
  if (!failed() && fault_armed_) {
    op_ = "the end: a restart on a sound disk";
    Reopen(/*cut=*/false);
  }
  if (!failed()) StepRound();
  op_ = "the end";
  if (!failed()) VerifyAll();
  if (!failed()) {
    for (uint32_t p = 0; p < kPartitions; ++p) {
      const auto [position, hash] =
          engine_->partitions().sequencer(PartitionId(p)).committed_head();
      result.heads.push_back(absl::StrCat(position.value(), ":", absl::BytesToHexString(hash)));
    }
  }
  engine_.reset();
  if (!failed() && options_.rebuild) Rebuild();
  stats_.runs = 1;
  result.failure = failure_;
  result.stats = stats_;
  return result;
}

}  // namespace sim

void SimulationStats::Add(const SimulationStats& o) {
  runs += o.runs;
  steps += o.steps;
  submissions += o.submissions;
  accepted += o.accepted;
  duplicates += o.duplicates;
  refused += o.refused;
  conflicts += o.conflicts;
  invalid += o.invalid;
  unavailable += o.unavailable;
  ingested += o.ingested;
  dead_letters += o.dead_letters;
  deployments += o.deployments;
  imports += o.imports;
  handovers += o.handovers;
  fired += o.fired;
  clock_moves += o.clock_moves;
  steps_back += o.steps_back;
  jumps += o.jumps;
  jumps_accepted += o.jumps_accepted;
  cuts += o.cuts;
  faults_armed += o.faults_armed;
  faults_injected += o.faults_injected;
  restarts += o.restarts;
  rebuilds += o.rebuilds;
  uncertain_kept += o.uncertain_kept;
  uncertain_lost += o.uncertain_lost;
  records += o.records;
}

std::string SimulationStats::ToString() const {
  return absl::StrCat(
      runs, " seeds, ", steps, " steps: ", submissions, " submissions (", accepted, " accepted, ",
      duplicates, " duplicates, ", refused, " refused of which ", conflicts,
      " version conflicts and ", invalid, " invalid, ", unavailable,
      " refused while the clock stood jumped), ", ingested, " ingest messages decided (",
      dead_letters, " dead letters), ", deployments, " deployments, ", imports,
      " directory imports, ", handovers, " hand-overs, ", fired, " deadlines fired, ", clock_moves,
      " clock moves (", steps_back, " back, ", jumps, " jumps, ", jumps_accepted, " accepted), ",
      cuts, " power cuts, ", faults_armed, " disk faults armed (", faults_injected, " fired), ",
      restarts, " restarts, ", rebuilds, " rebuilds compared; cut short: ", uncertain_kept,
      " found durable, ", uncertain_lost, " not; ", records, " records in the logs at the end");
}

absl::Status PrepareSimulationTemplate(const std::string& dir) {
  FakeClock clock(sim::kStartUs);
  auto engine = Engine::Open(sim::OptionsFor(dir, nullptr), &clock);
  if (!engine.ok()) return engine.status();
  auto files = workflow::ReadWorkflowDir(ShippedWorkflowDir());
  if (!files.ok()) return files.status();
  for (const auto& file : *files) {
    if (auto r = DeploySync(**engine, file.source, file.path); !r.ok()) return r.status();
  }
  if (auto r = DeploySync(**engine, sim::WatchWorkflow(1, 2), "sim-watch.textproto"); !r.ok()) {
    return r.status();
  }
  auto imported =
      (*engine)->staffing().ImportDirectory(ExampleDirectory(), "example", sim::Admin());
  if (!imported.ok()) return imported.status();
  for (uint32_t p = 0; p < sim::kPartitions; ++p) {
    if (auto st = (*engine)->partitions().store(PartitionId(p)).Flush(); !st.ok()) return st;
  }
  return absl::OkStatus();
}

SimulationResult RunSimulation(const SimulationOptions& options) {
  return sim::Simulation(options).Run();
}

}  // namespace gridcase::testing
