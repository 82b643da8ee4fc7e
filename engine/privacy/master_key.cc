#include "engine/privacy/master_key.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/common/durable_file.h"
#include "engine/common/file_modes.h"
#include "engine/privacy/aead.h"

namespace gridcase::privacy {
namespace {

absl::Status Create(rocksdb::FileSystem& fs, const std::string& path) {
  auto key = RandomBytes(kKeyBytes);
  if (!key.ok()) return key.status();
  const std::string text = absl::BytesToHexString(*key) + "\n";
  if (auto st = WriteFileDurably(fs, path, text, FileAccess::kOwnerOnly); !st.ok()) {
    return absl::Status(st.code(),
                        absl::StrCat("master key ", path, ": cannot create it: ", st.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> LoadMasterKey(const std::string& given, const std::string& data_dir,
                                          std::string* created, rocksdb::Env* env) {
  rocksdb::FileSystem& fs = FileSystemOf(env);
  std::string path = given;
  if (path.empty()) {
    const std::string keys = data_dir + "/keys";
    if (auto st = CreatePrivateDirectory(keys); !st.ok()) return st;
    path = keys + "/master.key";
    if (fs.FileExists(path, rocksdb::IOOptions(), nullptr).IsNotFound()) {
      if (auto st = Create(fs, path); !st.ok()) return st;
      // The keys folder may be new too: its name is durable once the data
      // directory is synced.
      if (auto st = SyncDirectory(fs, data_dir); !st.ok()) return st;
      if (created != nullptr) *created = path;
    }
  }
  if (auto st = CheckFileExposure(path, Exposure::kOwnerOnly, "master key"); !st.ok()) return st;
  auto text = ReadSmallFile(fs, path, 4096);
  if (!text.ok() || !text->has_value()) {
    return absl::NotFoundError(
        absl::StrCat("master key ", path, ": cannot read it",
                     text.ok() ? "" : absl::StrCat(": ", text.status().message())));
  }
  const std::string hex(absl::StripAsciiWhitespace(**text));
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
