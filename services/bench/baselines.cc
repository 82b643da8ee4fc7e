#include "services/bench/baselines.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/time.h"
#include "rocksdb/db.h"
#include "services/api/unparsed_request.h"
#include "services/bench/load.h"

namespace gridcase::bench {

EchoServer::EchoServer(size_t stream_in_flight_max)
    : service_(
          [this](v1::SubmitRequest request, SubmitCallback done) {
            v1::SubmitResponse response;
            response.set_event_id(request.event().event_id());
            response.set_case_id(request.event().case_id());
            response.set_position(++position_);
            response.set_case_version(1);
            *response.mutable_recorded_at() = WholeSeconds(WallMicros());
            std::move(done)(std::move(response));
          },
          &gate_, stream_in_flight_max) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&service_);
  api::AddUnparsedRequestRefusal(builder);  // as gridcased's server has
  server_ = builder.BuildAndStart();
}

EchoServer::~EchoServer() { server_->Shutdown(std::chrono::system_clock::now()); }

std::string EchoServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

absl::StatusOr<v1::ServerStats> ServerStats(const std::string& target,
                                            const security::ClientTlsOptions& tls) {
  auto stub = v1::AdminService::NewStub(BenchChannel(target, tls, /*own_connection=*/false));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ServerStats stats;
  const grpc::Status st = stub->GetServerStats(&context, {}, &stats);
  if (!st.ok()) return absl::UnavailableError(st.error_message());
  return stats;
}

// RocksDB alone: `partitions` databases, a thread each writing WriteBatches
// of `group` values of `bytes` with sync=true, for `seconds`.
RawResult RawBaseline(const std::string& dir, uint32_t partitions, size_t group, size_t bytes,
                      double seconds) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(dir) / absl::StrCat("gridcase-bench-raw-", ::getpid());
  fs::remove_all(root);
  std::error_code ec;
  fs::create_directories(root, ec);
  std::atomic<uint64_t> written{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (uint32_t p = 0; p < partitions; ++p) {
    threads.emplace_back([&, p] {
      rocksdb::Options options;
      options.create_if_missing = true;
      rocksdb::DB* raw = nullptr;
      auto s = rocksdb::DB::Open(options, (root / absl::StrCat("p", p)).string(), &raw);
      if (!s.ok()) {
        std::fprintf(stderr, "raw baseline: %s\n", s.ToString().c_str());
        return;
      }
      std::unique_ptr<rocksdb::DB> db(raw);
      std::mt19937_64 rng(p);
      std::string value(bytes, 'x');
      rocksdb::WriteOptions wo;
      wo.sync = true;
      for (uint64_t key = 0; !stop;) {
        rocksdb::WriteBatch batch;
        for (size_t i = 0; i < group; ++i, ++key) {
          for (size_t j = 0; j < value.size(); j += 8) value[j] = static_cast<char>(rng());
          char k[8];
          for (int b = 0; b < 8; ++b) k[b] = static_cast<char>(key >> (56 - 8 * b));
          batch.Put(rocksdb::Slice(k, 8), value);
        }
        if (!db->Write(wo, &batch).ok()) break;
        written += group;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // the measured span
  const uint64_t n = written.load();
  stop = true;
  for (auto& t : threads) t.join();
  fs::remove_all(root);
  return {static_cast<double>(n) / seconds, group, bytes};
}

}  // namespace gridcase::bench
