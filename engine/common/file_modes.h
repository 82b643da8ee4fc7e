// Who may touch the files that hold health data and secrets. The data
// directory, keys, the master key and the principals file must belong to
// the user the server runs as (or root) and must not be open to others: a
// server that finds them loose refuses to start, naming path, mode and
// owner, rather than serve from files anyone on the machine could read or
// replace.
#ifndef GRIDCASE_ENGINE_COMMON_FILE_MODES_H_
#define GRIDCASE_ENGINE_COMMON_FILE_MODES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gridcase {

enum class Exposure {
  // Others may read it but not change it (the principals file, a CA bundle).
  kReadableByOthers,
  // Nobody but the owner may read or write it (the data directory, private
  // keys, the master key, secrets).
  kOwnerOnly,
};

// OK when `path` exists, is owned by this process's effective user or by
// root, and its mode grants group and others no more than `allowed` lets
// them. FAILED_PRECONDITION naming `what`, the path, its mode in octal, its
// owner and the command that fixes it; NOT_FOUND when it does not exist.
absl::Status CheckFileExposure(const std::string& path, Exposure allowed, absl::string_view what);

// Creates `path` (and any missing parent) as a directory only its owner may
// enter; an existing one is left as it is (CheckFileExposure says whether
// it is fit).
absl::Status CreatePrivateDirectory(const std::string& path);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_COMMON_FILE_MODES_H_
