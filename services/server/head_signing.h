// Signing the engine's chain heads while gridcased serves: the key (by
// default DATA_DIR/keys/heads.key), a thread that signs every few seconds,
// and a last signature after the last write (docs/audit.md).
#ifndef GRIDCASE_SERVICES_SERVER_HEAD_SIGNING_H_
#define GRIDCASE_SERVICES_SERVER_HEAD_SIGNING_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/monotonic_wait.h"
#include "engine/engine.h"
#include "engine/storage/signer.h"

namespace gridcase::server {

struct SigningOptions {
  std::string key_path;  // empty: DATA_DIR/keys/heads.key
  bool off = false;      // --no-signing
  double every_s = 60;
};

// Signs the engine's chain heads every `every_s` seconds on a thread of its
// own, and once more, after the last write, at Finish().
class HeadSigning {
 public:
  HeadSigning(Engine* engine, std::unique_ptr<HeadSigner> signer)
      : engine_(engine), signer_(std::move(signer)) {}
  ~HeadSigning() { StopThread(); }

  // The signing key `options` name, loaded or created, its public key
  // written beside it; nullptr when told not to sign (said in the log).
  static absl::StatusOr<std::unique_ptr<HeadSigner>> LoadKey(const SigningOptions& options,
                                                             const std::string& data_dir);

  void Start(double every_s);
  void StopThread();
  // The final head: after the engine has stopped writing.
  void Finish();

 private:
  void SignNow();

  Engine* const engine_;
  const std::unique_ptr<HeadSigner> signer_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  MonotonicWaiter waiter_;
  std::thread thread_;
};

}  // namespace gridcase::server

#endif  // GRIDCASE_SERVICES_SERVER_HEAD_SIGNING_H_
