// Micro-benchmarks (Google Benchmark) of the engine's inner steps: folding
// one record into a case, deciding one event, key encoding, guard
// evaluation, chaining a record's hash, sealing and opening a record's
// personal fields, and with a real store: submissions opening new cases
// with and without sealing, and reading a 1,000-record timeline.
//
//   build/services/bench/gridcase-micro-bench
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "engine/common/time.h"
#include "engine/domain/directory.h"
#include "engine/domain/personal.h"
#include "engine/engine.h"
#include "engine/privacy/aead.h"
#include "engine/privacy/key_store.h"
#include "engine/privacy/sealer.h"
#include "engine/storage/case_index.h"
#include "engine/storage/chain.h"
#include "engine/storage/derived_rows.h"
#include "engine/storage/keys.h"
#include "engine/storage/store.h"
#include "engine/workflow/definition.h"
#include "engine/workflow/expr.h"
#include "engine/workflow/files.h"
#include "engine/workflow/logic.h"
#include "engine/workflow/registry.h"

namespace gridcase {
namespace {

constexpr int64_t kNowUs = 1582401600LL * 1000000;

// Every shipped version of epidemic-case, in version order (a registry
// takes them in that order only).
const std::vector<std::shared_ptr<const workflow::Definition>>& EpidemicCase() {
  static const auto defs = [] {
    std::vector<std::shared_ptr<const workflow::Definition>> out;
    auto files = workflow::ReadWorkflowDir(std::string(SOURCE_DIR) + "/deploy/workflows");
    if (!files.ok()) std::abort();
    for (const auto& f : *files) {
      if (f.name != "epidemic-case") continue;
      auto d = workflow::Definition::Parse(f.source, f.path);
      if (!d.ok()) {
        std::fprintf(stderr, "%s\n", std::string(d.status().message()).c_str());
        std::abort();
      }
      out.push_back(*d);
    }
    return out;
  }();
  return defs;
}

v1::Event FeverEvent(const std::string& id, double celsius) {
  v1::Event e;
  e.set_event_id(id);
  e.set_case_id("resident-1");
  *e.mutable_occurred_at() = WholeSeconds(kNowUs);
  e.mutable_actor()->set_id("worker-li");
  e.set_grid_id("grid-00001");
  e.mutable_fever_reading()->set_celsius(celsius);
  return e;
}

v1::Record RecordOf(const v1::Event& e, uint64_t position, uint64_t version) {
  v1::Record r;
  *r.mutable_event() = e;
  RecordStamper(0, Position(position), version - 1, FromMicros(kNowUs)).StampSubmitted(&r);
  return r;
}

// Decides `r` as the sequencer would: its derived records stamped after it.
absl::Status Decide(const CaseLogic& logic, v1::Record r, std::optional<v1::CaseState>* state,
                    std::vector<v1::Record>* out) {
  RecordStamper stamper(0, Position(r.position()), r.case_version() - 1, r.recorded_at());
  stamper.StampSubmitted(&r);
  return logic.Process(std::move(r), &stamper, state, out);
}

// A registry with epidemic-case, the logic over it, and an open case.
struct Fixture {
  Fixture() : logic(registry, directory) {
    for (const auto& def : EpidemicCase()) {
      if (!registry.Add(def).ok()) std::abort();
    }
    std::vector<v1::Record> out;
    v1::Record first = RecordOf(FeverEvent("f-0", 36.6), 1, 1);
    first.mutable_workflow()->set_name("epidemic-case");
    if (!Decide(logic, first, &state, &out).ok()) std::abort();
  }
  workflow::Registry registry;
  Directory directory;
  workflow::WorkflowLogic logic;
  std::optional<v1::CaseState> state;
};

// The appliers alone: what a replay or an as-of query does per record.
void BM_ApplyOneRecord(benchmark::State& bench) {
  Fixture f;
  const v1::Record r = RecordOf(FeverEvent("f-1", 36.8), 10, f.state->version() + 1);
  for (auto _ : bench) {
    v1::CaseState s = *f.state;
    f.logic.Apply(r, &s);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_ApplyOneRecord);

// Deciding a submitted reading: guards, rules, derived records, appliers.
void BM_ProcessOneFeverReading(benchmark::State& bench) {
  Fixture f;
  const double celsius = bench.range(0) / 10.0;
  const v1::Record r = RecordOf(FeverEvent("f-1", celsius), 10, f.state->version() + 1);
  for (auto _ : bench) {
    std::optional<v1::CaseState> s = f.state;
    std::vector<v1::Record> out;
    benchmark::DoNotOptimize(Decide(f.logic, r, &s, &out));
  }
}
BENCHMARK(BM_ProcessOneFeverReading)->Arg(366)->Arg(385);

void BM_GuardEvaluate(benchmark::State& bench) {
  workflow::GuardScope scope;
  scope.payload = "fever_reading";
  scope.counters["high-readings"] = 24LL * 3600 * 1000000;
  auto guard = workflow::Guard::Compile(
      "fever_reading.celsius >= 37.3 && count(\"high-readings\") >= 2", scope);
  if (!guard.ok()) std::abort();
  Fixture f;
  const v1::Event e = FeverEvent("f-1", 38.2);
  const workflow::GuardInput input{&e, &*f.state, kNowUs, kNowUs};
  for (auto _ : bench) benchmark::DoNotOptimize(guard->Evaluate(input));
}
BENCHMARK(BM_GuardEvaluate);

void BM_EncodeKeys(benchmark::State& bench) {
  for (auto _ : bench) {
    benchmark::DoNotOptimize(keys::EventKey(Position(123456789)));
    benchmark::DoNotOptimize(keys::CaseEventKey("r-01234-056", CaseVersion(17)));
    benchmark::DoNotOptimize(keys::EncodeTimerKey({kNowUs, "r-01234-056", "daily-check"}));
  }
}
BENCHMARK(BM_EncodeKeys);

void BM_TimerRowsOfACase(benchmark::State& bench) {
  Fixture f;
  for (auto _ : bench) benchmark::DoNotOptimize(TimerKeysOf(*f.state));
}
BENCHMARK(BM_TimerRowsOfACase);

// The case index (the sequencer, for each case a group changed): a new case
// into an index already holding range(0) cases over 13,001 grids, and the
// same case moved to another stage. Each iteration includes renaming the
// state (a few hundred nanoseconds of protobuf setters).
void BM_CaseIndexNewCase(benchmark::State& bench) {
  Fixture f;
  CaseIndex index;
  v1::CaseState s = *f.state;
  uint64_t n = 0;
  auto next = [&] {
    s.set_case_id(absl::StrCat("r-", n % 13001, "-", n));
    s.set_grid_id(absl::StrCat("grid-", n % 13001));
    ++n;
  };
  for (int64_t i = 0; i < bench.range(0); ++i) {
    next();
    index.Set(s);
  }
  for (auto _ : bench) {
    next();
    index.Set(s);
  }
  bench.counters["bytes_per_case"] =
      static_cast<double>(index.bytes()) / static_cast<double>(index.cases());
}
BENCHMARK(BM_CaseIndexNewCase)->Arg(100000)->Arg(1000000);

void BM_CaseIndexStageChange(benchmark::State& bench) {
  Fixture f;
  CaseIndex index;
  v1::CaseState s = *f.state;
  for (int i = 0; i < 100000; ++i) {
    s.set_case_id(absl::StrCat("r-", i));
    index.Set(s);
  }
  const std::string stages[2] = {"isolation", "screening"};
  int i = 0;
  for (auto _ : bench) {
    s.set_stage(stages[++i & 1]);
    index.Set(s);
  }
}
BENCHMARK(BM_CaseIndexStageChange);

// Chaining one record of a typical size (the sequencer hashes every record
// it appends; audits hash every record they verify).
void BM_ChainHash(benchmark::State& bench) {
  const std::string prev = ChainHash(GenesisHash(), "previous record");
  const std::string record(static_cast<size_t>(bench.range(0)), 'r');
  for (auto _ : bench) benchmark::DoNotOptimize(ChainHash(prev, record));
}
BENCHMARK(BM_ChainHash)->Arg(300);

// Deploys every shipped version of epidemic-case into `engine`, in order,
// each once the one before is durable.
void DeployEpidemicCase(Engine* engine) {
  v1::Actor admin;
  admin.set_id("bench");
  auto files = workflow::ReadWorkflowDir(std::string(SOURCE_DIR) + "/deploy/workflows");
  if (!files.ok()) std::abort();
  std::atomic<int> answered{0};
  int deployed = 0;
  for (const auto& file : *files) {
    if (file.name != "epidemic-case") continue;
    engine->workflows().DeployWorkflow(file.source, file.path, admin,
                                       [&](absl::StatusOr<v1::DeployWorkflowResponse> r) {
                                         if (!r.ok()) std::abort();
                                         ++answered;
                                       });
    ++deployed;
    while (answered < deployed) std::this_thread::yield();
  }
}

// A record of a screening visit with two personal fields, as the
// sequencer seals it before hashing (the baseline beside it: BM_ChainHash,
// which every record pays), and as a read opens it.
v1::Record ScreeningRecord() {
  v1::Record r;
  *r.mutable_event() = FeverEvent("screen-1", 37.9);
  r.mutable_event()->clear_fever_reading();
  auto* check = r.mutable_event()->mutable_screening_check();
  check->set_category(v1::CATEGORY_FEVER);
  check->set_household_id("household-0347-2");
  check->set_notes("fever since Monday, lives with his mother, asked for medicine");
  r.set_partition(1);
  r.set_position(4711);
  return r;
}

void BM_SealRecord(benchmark::State& bench) {
  const std::string key(privacy::kKeyBytes, 'k');
  const v1::Record original = ScreeningRecord();
  for (auto _ : bench) {
    v1::Record r = original;
    v1::Event personal;
    auto sealed = privacy::RecordSealer::Seal(key, "case:resident-1", &r, &personal);
    if (!sealed.ok() || !*sealed) std::abort();
    benchmark::DoNotOptimize(r.SerializeAsString());
  }
}
BENCHMARK(BM_SealRecord);

void BM_OpenRecord(benchmark::State& bench) {
  const std::string dir = "/tmp/gridcase-micro-bench-keys-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  auto keys = privacy::KeyStore::Open(dir, std::string(privacy::kKeyBytes, 'm'));
  if (!keys.ok()) std::abort();
  privacy::RecordSealer sealer(keys->get());
  v1::Record sealed = ScreeningRecord();
  privacy::KeyStore::Pending pending;
  auto key = sealer.KeyFor(sealed.event(), &pending);
  v1::Event personal;
  if (!key.ok() || !(*keys)->Persist(&pending).ok() ||
      !privacy::RecordSealer::Seal(*key, SubjectOf(sealed.event()), &sealed, &personal).ok()) {
    std::abort();
  }
  for (auto _ : bench) {
    v1::Record r = sealed;
    if (!sealer.Open(&r).ok()) std::abort();
    benchmark::DoNotOptimize(r);
  }
  keys->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_OpenRecord);

// A busy day's new keys in the key store (synced writes, in /tmp): 32
// new subjects in random order per synced write, the rate of a group on
// the Wuhan day, into a store already holding 400,000. Arg: the memtable
// in MiB (KeyStore::kMemtableBytes is what the engine uses; 64 is
// RocksDB's default, the baseline). CPU time counts RocksDB's flushes and
// the kernel's work for the syncs.
void BM_KeyStorePersist(benchmark::State& bench) {
  const std::string dir = "/tmp/gridcase-micro-bench-persist-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  auto keys = privacy::KeyStore::Open(dir, std::string(privacy::kKeyBytes, 'm'), nullptr,
                                      static_cast<size_t>(bench.range(0)) << 20);
  if (!keys.ok()) std::abort();
  std::mt19937_64 rng(20200222);
  auto subject = [&rng] { return absl::StrCat("case:resident-", rng() % 1000000000000ULL); };
  for (int batch = 0; batch < 100; ++batch) {
    privacy::KeyStore::Pending pending;
    for (int i = 0; i < 4000; ++i) {
      if (!(*keys)->KeyFor(subject(), &pending, /*fresh=*/true).ok()) std::abort();
    }
    if (!(*keys)->Persist(&pending).ok()) std::abort();
  }
  for (auto _ : bench) {
    privacy::KeyStore::Pending pending;
    for (int i = 0; i < 32; ++i) {
      if (!(*keys)->KeyFor(subject(), &pending, /*fresh=*/true).ok()) std::abort();
    }
    if (!(*keys)->Persist(&pending).ok()) std::abort();
  }
  bench.SetItemsProcessed(bench.iterations() * 32);
  keys->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_KeyStorePersist)->Arg(64)->Arg(privacy::KeyStore::kMemtableBytes >> 20);

// What the sequencer does instead for 32 new cases: take 32 key slots from
// the pool, which makes KeyStore::kSlotBatch at a time in one synced write
// (BM_KeyStorePersist above is the baseline: a synced write per group).
void BM_KeyStoreTakeSlot(benchmark::State& bench) {
  const std::string dir = "/tmp/gridcase-micro-bench-slots-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  auto keys = privacy::KeyStore::Open(dir, std::string(privacy::kKeyBytes, 'm'));
  if (!keys.ok()) std::abort();
  for (auto _ : bench) {
    for (int i = 0; i < 32; ++i) {
      if (!(*keys)->TakeSlot().ok()) std::abort();
    }
  }
  bench.SetItemsProcessed(bench.iterations() * 32);
  keys->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_KeyStoreTakeSlot);

// The write path end to end in process, on a real store (synced writes,
// in /tmp): submissions each opening a new case with a screening visit
// (two personal fields), 256 in flight. Arg 0: an engine without a
// master key, the baseline; arg 1: sealed as gridcased always runs, each
// new case sealed under a key slot taken from the key store's pool.
void BM_SubmitNewCases(benchmark::State& bench) {
  const bool sealed = bench.range(0) == 1;
  const std::string dir = "/tmp/gridcase-micro-bench-submit-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  SystemClock clock;
  EngineOptions options;
  options.data_dir = dir;
  options.partitions = 1;
  if (sealed) options.master_key = std::string(privacy::kKeyBytes, 'm');
  auto engine = Engine::Open(options, &clock);
  if (!engine.ok()) std::abort();
  DeployEpidemicCase(engine->get());
  std::atomic<int64_t> answered{0};
  int64_t sent = 0;
  const v1::Record screening = ScreeningRecord();
  constexpr int kInFlight = 256;
  int64_t cases = 0;
  for (auto _ : bench) {
    for (int i = 0; i < kInFlight; ++i, ++cases, ++sent) {
      v1::SubmitRequest r;
      *r.mutable_event() = screening.event();
      r.mutable_event()->set_event_id(absl::StrCat("screen-", cases));
      r.mutable_event()->set_case_id(absl::StrCat("resident-", cases));
      *r.mutable_event()->mutable_occurred_at() = WholeSeconds(clock.NowMicros());
      (*engine)->Submit(r, [&](absl::StatusOr<v1::SubmitResponse> a) {
        if (!a.ok()) std::abort();
        ++answered;
      });
    }
    while (answered < sent) std::this_thread::yield();
  }
  bench.SetItemsProcessed(cases);
  bench.SetLabel(sealed ? "sealed" : "not sealed (baseline)");
  engine->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_SubmitNewCases)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// A real store (synced writes, in /tmp): one case with 1,000 records read
// back as one page. Arg 0: the page's wire bytes, what the server sends
// (Engine::GetTimelineWire); arg 1: parsed into messages as well, what a
// client or an in-process caller ends up with (Engine::GetTimeline).
void BM_Timeline1000(benchmark::State& bench) {
  const std::string dir = "/tmp/gridcase-micro-bench-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  SystemClock clock;
  EngineOptions options;
  options.data_dir = dir;
  options.partitions = 1;
  auto engine = Engine::Open(options, &clock);
  if (!engine.ok()) std::abort();
  DeployEpidemicCase(engine->get());
  std::atomic<int> answered{0};
  // A reading opens the case; 999 notes follow (one record each).
  for (int i = 0; i < 1000; ++i) {
    v1::SubmitRequest r;
    v1::Event* e = r.mutable_event();
    *e = FeverEvent("t-" + std::to_string(i), 36.6);
    e->set_case_id("timeline");
    *e->mutable_occurred_at() = WholeSeconds(clock.NowMicros());
    if (i > 0) e->mutable_note()->set_text("visit " + std::to_string(i) + ": no symptoms");
    (*engine)->Submit(r, [&](absl::StatusOr<v1::SubmitResponse> a) {
      if (!a.ok()) std::abort();
      ++answered;
    });
    if (i == 0) {
      while (answered < 1) std::this_thread::yield();
    }
  }
  while (answered < 1000) std::this_thread::yield();
  v1::GetTimelineRequest request;
  request.set_case_id("timeline");
  request.set_page_size(1000);
  size_t records = 0;
  if (bench.range(0) == 0) {
    bench.SetLabel("wire bytes");
    for (auto _ : bench) {
      auto page = (*engine)->GetTimelineWire(request);
      if (!page.ok()) std::abort();
      benchmark::DoNotOptimize(page);
    }
    v1::GetTimelineResponse parsed;
    if (!parsed.ParseFromString(*(*engine)->GetTimelineWire(request))) std::abort();
    records = static_cast<size_t>(parsed.records_size());
  } else {
    bench.SetLabel("parsed");
    for (auto _ : bench) {
      auto page = (*engine)->GetTimeline(request);
      records = page.ok() ? page->records_size() : 0;
      benchmark::DoNotOptimize(page);
    }
  }
  bench.counters["records"] = static_cast<double>(records);
  engine->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Timeline1000)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace gridcase

BENCHMARK_MAIN();
