// Shows that a sanitizer build catches what it is for, so that a build in
// which a sanitizer is quietly inactive cannot pass for a clean one. Each
// mode does one thing; tests/CMakeLists.txt says what each must print.
//
//   sanitizer_self_test race            two threads write one int: TSan reports
//   sanitizer_self_test guarded         the same under an absl::Mutex: nothing
//   sanitizer_self_test use-after-free  ASan reports
//   sanitizer_self_test leak            LeakSanitizer reports
//   sanitizer_self_test overflow        UBSan reports a signed overflow

#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace {

int shared_value = 0;
absl::Mutex mu;
int guarded_value ABSL_GUARDED_BY(mu) = 0;

int Race() {
  std::thread other([] { ++shared_value; });
  ++shared_value;
  other.join();
  return 0;
}

int Guarded() {
  bool done = false;
  std::thread other([&done] {
    for (int i = 0; i < 1000; ++i) {
      absl::MutexLock lock(&mu);
      ++guarded_value;
    }
    absl::MutexLock lock(&mu);
    done = true;
  });
  for (int i = 0; i < 1000; ++i) {
    absl::MutexLock lock(&mu);
    ++guarded_value;
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&done));
  }
  other.join();
  absl::MutexLock lock(&mu);
  std::printf("guarded: %d\n", guarded_value);
  return guarded_value == 2000 ? 0 : 1;
}

int UseAfterFree() {
  int* p = new int(7);
  delete p;
  return *p;  // NOLINT: the point
}

int* volatile leaked = nullptr;

int Leak() {
  leaked = new int[64];
  leaked[0] = 1;
  leaked = nullptr;
  return 0;
}

int Overflow(int n) {
  int big = 2147483647 - 1;
  return big + n;  // n = argc + 1 = 3: past INT_MAX
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const char* mode = argv[1];
  if (std::strcmp(mode, "race") == 0) return Race();
  if (std::strcmp(mode, "guarded") == 0) return Guarded();
  if (std::strcmp(mode, "use-after-free") == 0) return UseAfterFree();
  if (std::strcmp(mode, "leak") == 0) return Leak();
  if (std::strcmp(mode, "overflow") == 0) return Overflow(argc + 1) == 0 ? 1 : 0;
  return 2;
}
