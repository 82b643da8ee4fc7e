#include "engine/common/file_modes.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gridcase {
namespace {

std::string UserName(uid_t uid) {
  struct passwd entry;
  struct passwd* found = nullptr;
  char buffer[1024];
  if (getpwuid_r(uid, &entry, buffer, sizeof buffer, &found) == 0 && found != nullptr) {
    return absl::StrCat(found->pw_name, " (uid ", uid, ")");
  }
  return absl::StrCat("uid ", uid);
}

}  // namespace

absl::Status CheckFileExposure(const std::string& path, Exposure allowed, absl::string_view what) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    const int err = errno;
    const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(message) : absl::FailedPreconditionError(message);
  }
  const uid_t me = geteuid();
  if (st.st_uid != me && st.st_uid != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " ", path, " belongs to ", UserName(st.st_uid), ", not to ",
                     UserName(me), " who runs the server, nor to root"));
  }
  const mode_t mode = st.st_mode & 07777;
  const mode_t forbidden = allowed == Exposure::kOwnerOnly ? 077 : 022;
  if ((mode & forbidden) == 0) return absl::OkStatus();
  const bool dir = S_ISDIR(st.st_mode);
  return absl::FailedPreconditionError(absl::StrFormat(
      "%s %s has mode %04o (owner %s): %s; fix with: chmod %s %s", what, path, mode,
      UserName(st.st_uid),
      allowed == Exposure::kOwnerOnly ? "only its owner may read or write it"
                                      : "only its owner may change it",
      allowed == Exposure::kOwnerOnly ? (dir ? "-R go-rwx" : "go-rwx") : "go-w", path));
}

absl::Status CreatePrivateDirectory(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return absl::OkStatus();
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec)
      return absl::FailedPreconditionError(
          absl::StrCat("creating ", parent.string(), ": ", ec.message()));
  }
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("creating ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace gridcase
