#include "services/api/backup_call.h"

#include <atomic>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "services/api/status.h"
#include "services/logging/logging.h"

namespace gridcase::api {
namespace {

// A call refused before it began.
class Refused final : public grpc::ServerWriteReactor<v1::BackupProgress> {
 public:
  explicit Refused(const absl::Status& why) { Finish(ToGrpc(why)); }
  void OnDone() override { delete this; }
};

class BackupCall final : public grpc::ServerWriteReactor<v1::BackupProgress> {
 public:
  BackupCall(Engine* engine, v1::BackupRequest request, std::string caller)
      : worker_([this, engine, request = std::move(request), caller = std::move(caller)] {
          Run(engine, request, caller);
        }) {}

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) gone_ = true;
  }
  void OnCancel() override {
    stop_.store(true);
    absl::MutexLock lock(&mu_);
    gone_ = true;
  }
  void OnDone() override {
    // Finish() is the worker's last act; wait for it to return.
    if (worker_.get_id() == std::this_thread::get_id()) {
      worker_.detach();
    } else {
      worker_.join();
    }
    delete this;
  }

 private:
  // Waits for the previous message to be written, then starts this one.
  // Dropped once the caller has gone.
  void Send(const v1::BackupProgress& progress) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](BackupCall* c)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) { return !c->writing_ || c->gone_; },
          this));
      if (gone_) return;
      writing_ = true;
      pending_ = progress;
    }
    StartWrite(&pending_);
  }

  void Run(Engine* engine, const v1::BackupRequest& request, const std::string& caller) {
    BackupOptions options;
    options.keep = request.keep();
    options.rate_limit = request.rate_limit_bytes_per_second();
    options.version = "gridcased 0.1.0";
    options.stop = &stop_;
    auto& log = logging::Component("api");
    log.info("backup into {} started by {}", request.to(), caller);
    auto result = engine->audit().Backup(request.to(), options,
                                         [this](const v1::BackupProgress& p) { Send(p); });
    if (result.ok()) {
      const v1::BackupSet& set = result->set;
      log.info(
          "backup set {} written into {}: {} items, {} bytes ({} new) in {:.1f} s; {} older sets "
          "removed",
          set.id(), request.to(), set.items_size(), set.bytes(), set.new_bytes(),
          static_cast<double>(set.finished_us() - set.started_us()) / 1e6, result->removed.size());
    } else {
      log.error("backup into {} failed: {}", request.to(), result.status().ToString());
    }
    {
      // The last message (the set) written before the call ends.
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](BackupCall* c)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) { return !c->writing_ || c->gone_; },
          this));
    }
    if (!result.ok() && stop_.load() && result.status().code() != absl::StatusCode::kCancelled) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the backup was stopped"));
      return;
    }
    Finish(ToGrpc(result.status()));
  }

  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool gone_ ABSL_GUARDED_BY(mu_) = false;
  v1::BackupProgress pending_;  // written by Send only while !writing_
  std::atomic<bool> stop_{false};
  std::thread worker_;  // last: started once the rest is built
};

}  // namespace

grpc::ServerWriteReactor<v1::BackupProgress>* StartBackupCall(grpc::CallbackServerContext* context,
                                                              const v1::BackupRequest* request,
                                                              Engine* engine,
                                                              const security::Gate* gate) {
  auto admitted = gate->Admit(*context, security::MethodOf<v1::AdminService>("Backup"));
  if (!admitted.ok()) return new Refused(admitted.status());
  return new BackupCall(engine, *request, admitted->principal().Subject());
}

}  // namespace gridcase::api
