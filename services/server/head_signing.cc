#include "services/server/head_signing.h"

#include "absl/strings/str_cat.h"
#include "engine/common/durable_file.h"
#include "engine/common/file_modes.h"
#include "services/logging/logging.h"

namespace gridcase::server {

absl::StatusOr<std::unique_ptr<HeadSigner>> HeadSigning::LoadKey(const SigningOptions& options,
                                                                 const std::string& data_dir) {
  if (options.off) {
    if (!options.key_path.empty()) {
      return absl::InvalidArgumentError("--no-signing and --signing-key contradict each other");
    }
    logging::Component("signing").warn(
        "--no-signing: chain heads are not signed; someone with the disk could rewrite the log "
        "and every hash after a change, and the chain alone would not tell");
    return nullptr;
  }
  std::string path = options.key_path;
  if (path.empty()) {
    const std::string keys = data_dir + "/keys";
    if (auto st = CreatePrivateDirectory(keys); !st.ok()) return st;
    path = keys + "/heads.key";
  }
  auto loaded = HeadSigner::LoadOrCreate(path);
  if (!loaded.ok()) return loaded.status();
  const std::string public_path = path + ".pub";
  if (auto st = WriteFileDurably(FileSystemOf(nullptr), public_path, (*loaded)->PublicKeyPem());
      !st.ok()) {
    return absl::Status(st.code(),
                        absl::StrCat("writing the public key for auditors: ", st.message()));
  }
  logging::Component("signing").info("signing chain heads every {} s; public key for auditors: {}",
                                     options.every_s, public_path);
  return loaded;
}

void HeadSigning::Start(double every_s) {
  thread_ = std::thread([this, every_s] {
    absl::MutexLock lock(&mu_);
    // On the monotonic clock: a wall clock stepped back must not stop the
    // signing for as long.
    while (!waiter_.WaitFor(&mu_, std::chrono::microseconds(static_cast<int64_t>(every_s * 1e6)),
                            [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; })) {
      SignNow();
    }
  });
}

void HeadSigning::StopThread() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    waiter_.Notify();
  }
  if (thread_.joinable()) thread_.join();
}

void HeadSigning::Finish() {
  StopThread();
  SignNow();
}

void HeadSigning::SignNow() {
  if (auto n = engine_->audit().SignHeads(*signer_); !n.ok()) {
    logging::Component("signing").error("signing chain heads: {}", n.status().ToString());
  }
}

}  // namespace gridcase::server
