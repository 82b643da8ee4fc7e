#include "engine/privacy/master_key.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/common/file_modes.h"
#include "engine/privacy/aead.h"

namespace gridcase::privacy {
namespace {

absl::Status Create(const std::string& path) {
  auto key = RandomBytes(kKeyBytes);
  if (!key.ok()) return key.status();
  const std::string text = absl::BytesToHexString(*key) + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("master key ", path, ": cannot create: ", std::strerror(errno)));
  }
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  // The new name is durable only once its directory is synced.
  const std::string dir = path.substr(0, path.find_last_of('/') + 1);
  const int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool named = dir_fd >= 0 && ::fsync(dir_fd) == 0;
  if (dir_fd >= 0) ::close(dir_fd);
  if (!written || !named) {
    return absl::UnavailableError(absl::StrCat("master key ", path, ": cannot write it"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> LoadMasterKey(const std::string& given, const std::string& data_dir,
                                          std::string* created) {
  std::string path = given;
  if (path.empty()) {
    const std::string keys = data_dir + "/keys";
    if (auto st = CreatePrivateDirectory(keys); !st.ok()) return st;
    path = keys + "/master.key";
    if (::access(path.c_str(), F_OK) != 0) {
      if (auto st = Create(path); !st.ok()) return st;
      if (created != nullptr) *created = path;
    }
  }
  if (auto st = CheckFileExposure(path, Exposure::kOwnerOnly, "master key"); !st.ok()) return st;
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("master key ", path, ": cannot read it"));
  std::stringstream text;
  text << in.rdbuf();
  const std::string hex(absl::StripAsciiWhitespace(text.str()));
  bool digits = hex.size() == 2 * kKeyBytes;
  for (char c : hex) digits = digits && absl::ascii_isxdigit(static_cast<unsigned char>(c));
  if (!digits) {
    return absl::InvalidArgumentError(
        absl::StrCat("master key ", path, ": expected ", 2 * kKeyBytes,
                     " hexadecimal digits (e.g. from `openssl rand -hex 32`)"));
  }
  return absl::HexStringToBytes(hex);
}

}  // namespace gridcase::privacy
