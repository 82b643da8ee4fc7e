#include "services/http/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/common/latency_histogram.h"
#include "engine/storage/disk_space.h"
#include "engine/storage/signer.h"
#include "prometheus/text_serializer.h"

namespace gridcase::http {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  return MetricFamily{std::move(name), std::move(help), type, {}};
}

ClientMetric& Add(MetricFamily* family, std::vector<ClientMetric::Label> labels) {
  family->metric.emplace_back();
  family->metric.back().label = std::move(labels);
  return family->metric.back();
}

void AddValue(MetricFamily* family, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric& m = Add(family, std::move(labels));
  if (family->type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
}

ClientMetric::Label PartitionLabel(size_t p) { return {"partition", std::to_string(p)}; }

// The latency histograms keep 112 fine buckets (a quarter power of two
// each); Prometheus gets about two a decade. Each exported bound is the
// upper bound of a fine bucket, so every cumulative count is exact.
const std::vector<size_t>& ExportedLatencyBuckets() {
  static const std::vector<size_t>* indices = [] {
    auto* out = new std::vector<size_t>();
    constexpr std::array<uint64_t, 18> kTargetsUs = {
        50,    100,    250,    500,    1000,    2500,    5000,    10000,    25000,
        50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 60000000};
    for (uint64_t target : kTargetsUs) {
      size_t best = 0;
      for (size_t i = 0; i + 1 < LatencyHistogram::kBuckets; ++i) {
        if (LatencyHistogram::UpperBoundMicros(i) <= target) best = i;
      }
      if (out->empty() || out->back() != best) out->push_back(best);
    }
    return out;
  }();
  return *indices;
}

void AddLatency(MetricFamily* family, std::optional<size_t> partition, const LatencyHistogram& h) {
  ClientMetric& m =
      Add(family, partition ? std::vector<ClientMetric::Label>{PartitionLabel(*partition)}
                            : std::vector<ClientMetric::Label>{});
  m.histogram.sample_count = h.count();
  m.histogram.sample_sum = static_cast<double>(h.sum_micros()) / 1e6;
  uint64_t cumulative = 0;
  size_t next = 0;
  for (size_t index : ExportedLatencyBuckets()) {
    for (; next <= index; ++next) cumulative += h.buckets()[next];
    m.histogram.bucket.push_back(ClientMetric::Bucket{
        cumulative, static_cast<double>(LatencyHistogram::UpperBoundMicros(index)) / 1e6});
  }
}

void AddGroupSizes(MetricFamily* family, size_t partition, const SequencerStats& s) {
  ClientMetric& m = Add(family, {PartitionLabel(partition)});
  uint64_t groups = 0;
  for (uint64_t n : s.group_sizes) groups += n;
  m.histogram.sample_count = groups;
  // Every submission answered was decided in exactly one group.
  m.histogram.sample_sum = static_cast<double>(s.submissions);
  uint64_t cumulative = 0;
  // The last bucket also holds larger groups: only +Inf counts it.
  for (size_t i = 0; i + 1 < SequencerStats::kGroupSizeBuckets; ++i) {
    cumulative += s.group_sizes[i];
    m.histogram.bucket.push_back(
        ClientMetric::Bucket{cumulative, static_cast<double>(SequencerStats::GroupSizeBound(i))});
  }
}

std::string CodeName(absl::StatusCode code) {
  // absl's names ("INVALID_ARGUMENT"), as gRPC and the refusals print them.
  return absl::StatusCodeToString(code);
}

void AddSubmissions(const Engine& engine, std::vector<MetricFamily>* out) {
  MetricFamily f = Family("gridcase_submissions_total",
                          "Submissions answered, by where they came from and the status code "
                          "they were answered with (OK: accepted or a duplicate)",
                          MetricType::Counter);
  const SubmissionCounts& counts = engine.submission_counts();
  for (auto [source, name] :
       {std::pair{SubmitSource::kClient, "grpc"}, std::pair{SubmitSource::kStream, "kafka"}}) {
    for (size_t c = 0; c < kStatusCodes; ++c) {
      const auto code = static_cast<absl::StatusCode>(c);
      AddValue(&f, {{"code", CodeName(code)}, {"source", name}},
               static_cast<double>(counts.get(source, code)));
    }
  }
  out->push_back(std::move(f));
}

void AddPartitions(const Engine& engine, std::vector<MetricFamily>* out) {
  const std::vector<PartitionStats> stats = engine.Stats();
  MetricFamily answered = Family("gridcase_partition_submissions_total",
                                 "Submissions a partition's sequencer answered, refusals included",
                                 MetricType::Counter);
  MetricFamily deferred =
      Family("gridcase_partition_submissions_deferred_total",
             "Submissions whose event id needed a read in another partition before queueing",
             MetricType::Counter);
  MetricFamily groups =
      Family("gridcase_partition_groups_total", "Groups written: WriteBatches, each synced once",
             MetricType::Counter);
  MetricFamily records =
      Family("gridcase_partition_records_total",
             "Records appended to the partition's log, submitted and derived", MetricType::Counter);
  MetricFamily bytes = Family("gridcase_partition_written_bytes_total",
                              "Bytes of the WriteBatches written", MetricType::Counter);
  MetricFamily depth = Family("gridcase_partition_queue_depth",
                              "Submissions waiting in the partition's queue", MetricType::Gauge);
  MetricFamily group_size =
      Family("gridcase_partition_group_submissions",
             "Submissions decided per group (one synced write)", MetricType::Histogram);
  MetricFamily queued =
      Family("gridcase_submission_queued_seconds",
             "Per submission: from entering the queue to its group's start", MetricType::Histogram);
  MetricFamily write =
      Family("gridcase_group_write_seconds", "Per group with anything to write: the synced write",
             MetricType::Histogram);
  MetricFamily answer_time =
      Family("gridcase_submission_answered_seconds",
             "Per submission: from entering the queue to its answer, after the synced write",
             MetricType::Histogram);
  MetricFamily accepting =
      Family("gridcase_partition_accepting_writes",
             "1 while the partition takes writes; 0 while it refuses them (see "
             "gridcase_partition_refusing_writes for why)",
             MetricType::Gauge);
  MetricFamily refusing =
      Family("gridcase_partition_refusing_writes",
             "1 for the reason a partition refuses writes now: disk_full, clock_jumped or storage",
             MetricType::Gauge);
  MetricFamily index_ready = Family(
      "gridcase_case_index_ready",
      "1 once the partition's case index is complete and answers listings", MetricType::Gauge);
  MetricFamily index_cases =
      Family("gridcase_case_index_cases", "Cases in the partition's case index", MetricType::Gauge);
  MetricFamily index_bytes =
      Family("gridcase_case_index_bytes", "Memory the partition's case index takes, roughly",
             MetricType::Gauge);
  MetricFamily scrub_passes =
      Family("gridcase_scrub_passes_total", "Background scrub passes finished over the partition",
             MetricType::Counter);
  MetricFamily scrub_problems =
      Family("gridcase_scrub_passes_with_problems_total",
             "Scrub passes that found damage (docs/operations.md, \"Scrub found damage\")",
             MetricType::Counter);
  MetricFamily scrub_last = Family("gridcase_scrub_last_finished_timestamp_seconds",
                                   "When the last scrub pass of the partition finished (wall "
                                   "clock); 0: none has",
                                   MetricType::Gauge);
  MetricFamily scrub_damage =
      Family("gridcase_scrub_last_found_damage",
             "1 when the partition's last scrub pass found damage", MetricType::Gauge);
  MetricFamily scrub_running = Family(
      "gridcase_scrub_running", "1 while a scrub pass reads the partition", MetricType::Gauge);
  for (size_t p = 0; p < stats.size(); ++p) {
    const PartitionStats& s = stats[p];
    const ClientMetric::Label label = PartitionLabel(p);
    AddValue(&answered, {label}, static_cast<double>(s.submissions));
    AddValue(&deferred, {label}, static_cast<double>(s.deferred));
    AddValue(&groups, {label}, static_cast<double>(s.groups));
    AddValue(&records, {label}, static_cast<double>(s.records));
    AddValue(&bytes, {label}, static_cast<double>(s.batch_bytes));
    AddValue(&depth, {label}, static_cast<double>(s.queue_depth));
    AddGroupSizes(&group_size, p, s);
    AddLatency(&queued, p, s.queued);
    AddLatency(&write, p, s.write);
    AddLatency(&answer_time, p, s.answered);
    AddValue(&accepting, {label}, s.refusing_writes.ok() ? 1 : 0);
    for (const char* reason : {"clock_jumped", "disk_full", "storage"}) {
      AddValue(&refusing, {label, {"reason", reason}},
               RefusalKind(s.refusing_writes) == reason ? 1 : 0);
    }
    if (s.case_index) {
      AddValue(&index_ready, {label}, s.case_index->ready ? 1 : 0);
      AddValue(&index_cases, {label}, static_cast<double>(s.case_index->cases));
      AddValue(&index_bytes, {label}, static_cast<double>(s.case_index->bytes));
    }
    AddValue(&scrub_passes, {label}, static_cast<double>(s.scrub.passes));
    AddValue(&scrub_problems, {label}, static_cast<double>(s.scrub.passes_with_problems));
    AddValue(&scrub_last, {label}, static_cast<double>(s.scrub.last_finished_us) / 1e6);
    AddValue(&scrub_damage, {label}, s.scrub.problem.empty() ? 0 : 1);
    AddValue(&scrub_running, {label}, s.scrub.running ? 1 : 0);
  }
  for (MetricFamily* f :
       {&answered,     &deferred,       &groups,      &records,      &bytes,
        &depth,        &group_size,     &queued,      &write,        &answer_time,
        &accepting,    &refusing,       &index_ready, &index_cases,  &index_bytes,
        &scrub_passes, &scrub_problems, &scrub_last,  &scrub_damage, &scrub_running}) {
    if (!f->metric.empty()) out->push_back(std::move(*f));
  }
}

void AddDeadlinesAndHandovers(const Engine& engine, std::vector<MetricFamily>* out) {
  const DeadlineStats stats = engine.timers().stats();
  MetricFamily fired =
      Family("gridcase_deadlines_fired_total", "Deadlines fired (deadline_expired records written)",
             MetricType::Counter);
  AddValue(&fired, {}, static_cast<double>(stats.fired));
  out->push_back(std::move(fired));
  MetricFamily delay =
      Family("gridcase_deadline_fire_delay_seconds",
             "Per deadline fired: from its due time to its record", MetricType::Histogram);
  AddLatency(&delay, std::nullopt, stats.delay);
  out->push_back(std::move(delay));
  // Due and not yet fired: a round takes them within a second unless
  // writes are refused (a jumped clock, a full disk) or it is behind.
  constexpr size_t kDueCounted = 10000;
  if (auto due = engine.timers().CountDue(kDueCounted); due.ok()) {
    MetricFamily f = Family("gridcase_deadlines_due",
                            "Pending deadlines already due, not yet fired (counted up to 10000)",
                            MetricType::Gauge);
    AddValue(&f, {}, static_cast<double>(*due));
    out->push_back(std::move(f));
  }
  if (auto next = engine.timers().NextDeadlineDueUs(); next.ok() && next->has_value()) {
    MetricFamily f =
        Family("gridcase_deadline_next_due_timestamp_seconds",
               "When the earliest pending deadline falls due (wall clock)", MetricType::Gauge);
    AddValue(&f, {}, static_cast<double>(**next) / 1e6);
    out->push_back(std::move(f));
  }
  MetricFamily handed =
      Family("gridcase_handovers_total", "Cases handed from an unavailable holder to another",
             MetricType::Counter);
  AddValue(&handed, {}, static_cast<double>(engine.staffing().handed_over()));
  out->push_back(std::move(handed));
}

// Each partition's chain head and its newest signed head: an operator sees
// signing stop (a missing key, a failing disk) before an auditor does.
void AddChainHeads(const Engine& engine, std::vector<MetricFamily>* out) {
  MetricFamily head = Family("gridcase_chain_head_position",
                             "The partition's last durable log position", MetricType::Gauge);
  MetricFamily signed_position =
      Family("gridcase_signed_head_position", "The position of the partition's newest signed head",
             MetricType::Gauge);
  MetricFamily signed_at =
      Family("gridcase_signed_head_timestamp_seconds",
             "When the partition's newest signed head was signed (wall clock)", MetricType::Gauge);
  const auto& stores = engine.partitions().stores();
  for (size_t p = 0; p < stores.size(); ++p) {
    const auto committed =
        engine.partitions().sequencer(PartitionId(static_cast<uint32_t>(p))).committed_head();
    AddValue(&head, {PartitionLabel(p)}, static_cast<double>(committed.first.value()));
    auto last = stores[p]->ReadLastSignedHead();
    if (!last.ok() || !last->has_value()) continue;
    auto decoded = SignedHead::Decode(**last);
    if (!decoded.ok()) continue;
    AddValue(&signed_position, {PartitionLabel(p)}, static_cast<double>(decoded->position));
    AddValue(&signed_at, {PartitionLabel(p)}, static_cast<double>(decoded->signed_at_us) / 1e6);
  }
  out->push_back(std::move(head));
  if (!signed_at.metric.empty()) {
    out->push_back(std::move(signed_position));
    out->push_back(std::move(signed_at));
  }
}

void AddDisk(const Engine& engine, std::vector<MetricFamily>* out) {
  MetricFamily free =
      Family("gridcase_disk_free_bytes",
             "Bytes free for the server on the data directory's file system", MetricType::Gauge);
  MetricFamily reserve =
      Family("gridcase_disk_reserve_bytes",
             "Free space below which writes are refused (RESOURCE_EXHAUSTED \"disk full\")",
             MetricType::Gauge);
  if (const DiskSpaceGuard* disk = engine.disk_space()) {
    AddValue(&free, {}, static_cast<double>(disk->free_bytes()));
    AddValue(&reserve, {}, static_cast<double>(disk->reserve_bytes()));
    out->push_back(std::move(reserve));
  } else if (auto bytes = FreeBytesAt(engine.data_dir()); bytes.ok()) {
    AddValue(&free, {}, static_cast<double>(*bytes));
  }
  if (!free.metric.empty()) out->push_back(std::move(free));
}

void AddKafka(const MetricsSources& sources, std::vector<MetricFamily>* out) {
  if (!sources.kafka_status) return;
  const absl::StatusOr<v1::KafkaStatus> status = sources.kafka_status();
  MetricFamily up =
      Family("gridcase_kafka_up",
             "1 while the Kafka feed and ingest run without a stopping failure", MetricType::Gauge);
  AddValue(&up, {}, status.ok() && status->error().empty() ? 1 : 0);
  out->push_back(std::move(up));
  if (!status.ok()) return;
  MetricFamily lag =
      Family("gridcase_kafka_feed_lag_records",
             "Durable records of the partition Kafka has not confirmed yet", MetricType::Gauge);
  MetricFamily in_flight = Family("gridcase_kafka_feed_in_flight_records",
                                  "Records sent to Kafka and not yet confirmed", MetricType::Gauge);
  MetricFamily stopped =
      Family("gridcase_kafka_feed_stopped", "1 when publishing the partition stopped on an error",
             MetricType::Gauge);
  for (const v1::FeedPartitionStatus& f : status->feed()) {
    const ClientMetric::Label label = PartitionLabel(f.partition());
    AddValue(&lag, {label}, static_cast<double>(f.lag()));
    AddValue(&in_flight, {label}, static_cast<double>(f.in_flight()));
    AddValue(&stopped, {label}, f.error().empty() ? 0 : 1);
  }
  MetricFamily messages =
      Family("gridcase_kafka_ingest_messages_total",
             "Ingest messages decided since start, by outcome", MetricType::Counter);
  MetricFamily decided = Family("gridcase_kafka_ingest_decided_offset",
                                "Every message of the Kafka partition before this offset is "
                                "decided (applied or dead-lettered)",
                                MetricType::Gauge);
  MetricFamily ingest_lag =
      Family("gridcase_kafka_ingest_lag_messages",
             "Messages of the Kafka partition not yet decided: its high watermark (as last "
             "fetched) less the decided offset",
             MetricType::Gauge);
  for (const v1::IngestPartitionStatus& i : status->ingest()) {
    const ClientMetric::Label label{"kafka_partition", std::to_string(i.kafka_partition())};
    for (auto [outcome, n] :
         {std::pair{"applied", i.applied()}, std::pair{"duplicate", i.duplicates()},
          std::pair{"dead_lettered", i.dead_lettered()}, std::pair{"skipped", i.skipped()}}) {
      AddValue(&messages, {label, {"outcome", outcome}}, static_cast<double>(n));
    }
    AddValue(&decided, {label}, static_cast<double>(i.decided_before()));
    if (i.high_watermark() >= 0) {
      AddValue(&ingest_lag, {label},
               static_cast<double>(std::max<int64_t>(0, i.high_watermark() - i.decided_before())));
    }
  }
  MetricFamily pending =
      Family("gridcase_kafka_dead_letters_pending",
             "Refused ingest messages Kafka has not confirmed yet", MetricType::Gauge);
  AddValue(&pending, {}, static_cast<double>(status->dead_letters_pending()));
  for (MetricFamily* f : {&lag, &in_flight, &stopped, &messages, &decided, &ingest_lag, &pending}) {
    if (!f->metric.empty()) out->push_back(std::move(*f));
  }
}

void AddProcess(std::vector<MetricFamily>* out) {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    MetricFamily cpu = Family("process_cpu_seconds_total",
                              "User and system CPU time the process has used", MetricType::Counter);
    const double seconds =
        static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
        static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    AddValue(&cpu, {}, seconds);
    out->push_back(std::move(cpu));
  }
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0;
  uint64_t resident = 0;
  if (statm >> pages >> resident) {
    MetricFamily rss = Family("process_resident_memory_bytes", "Resident memory of the process",
                              MetricType::Gauge);
    AddValue(&rss, {}, static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)));
    out->push_back(std::move(rss));
  }
  std::error_code ec;
  size_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  if (!ec) {
    MetricFamily open = Family("process_open_fds", "Open file descriptors", MetricType::Gauge);
    AddValue(&open, {}, static_cast<double>(fds));
    out->push_back(std::move(open));
  }
}

}  // namespace

std::string RefusalKind(const absl::Status& refusing_writes) {
  if (refusing_writes.ok()) return "";
  if (absl::StrContains(refusing_writes.message(), "wall clock jumped")) return "clock_jumped";
  if (absl::StrContains(refusing_writes.message(), "disk full")) return "disk_full";
  return "storage";
}

std::vector<prometheus::MetricFamily> EngineMetrics::Collect() const {
  std::vector<MetricFamily> out;
  const Engine& engine = *sources_.engine;
  AddSubmissions(engine, &out);
  AddPartitions(engine, &out);
  AddDeadlinesAndHandovers(engine, &out);
  AddChainHeads(engine, &out);
  AddDisk(engine, &out);
  AddKafka(sources_, &out);
  AddProcess(&out);
  return out;
}

std::string RenderText(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace gridcase::http
