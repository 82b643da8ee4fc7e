// Health data and keys are their owner's alone: the data directory is made
// so, and loose modes on what the server reads are refused, naming path,
// mode and owner.
#include "engine/common/file_modes.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/storage/signer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace gridcase {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

void Touch(const std::string& path, mode_t mode) {
  std::ofstream(path) << "x";
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

class FileModesTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<Engine>> OpenEngine(const std::string& dir) {
    EngineOptions options;
    options.data_dir = dir;
    options.partitions = 1;
    return Engine::Open(options, &clock_);
  }

  testing::TempDir dir_;
  FakeClock clock_{1'600'000'000'000'000};
};

TEST_F(FileModesTest, ANewDataDirectoryIsItsOwnersAloneWhateverTheUmask) {
  const mode_t old_mask = umask(0);
  const std::string data = dir_.Sub("a/b/data");
  auto engine = OpenEngine(data);
  umask(old_mask);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ(ModeOf(data), 0700);
}

TEST_F(FileModesTest, ADataDirectoryOthersMayEnterIsRefusedNamingPathModeAndOwner) {
  const std::string data = dir_.Sub("data");
  ASSERT_TRUE(OpenEngine(data).ok());
  for (mode_t loose : {0755, 0750, 0701, 0702, 0770}) {
    ASSERT_EQ(chmod(data.c_str(), loose), 0);
    auto engine = OpenEngine(data);
    ASSERT_FALSE(engine.ok()) << std::oct << loose;
    EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition);
    const std::string message(engine.status().message());
    EXPECT_THAT(message, HasSubstr("data directory " + data));
    char mode_text[8];
    snprintf(mode_text, sizeof mode_text, "%04o", loose);
    EXPECT_THAT(message, HasSubstr(absl::StrCat("mode ", mode_text)));
    EXPECT_THAT(message, HasSubstr("owner "));
    EXPECT_THAT(message, HasSubstr("chmod -R go-rwx " + data));
  }
  ASSERT_EQ(chmod(data.c_str(), 0700), 0);
  EXPECT_TRUE(OpenEngine(data).ok());
}

TEST_F(FileModesTest, ASigningKeyIsCreatedForItsOwnerAndRefusedWhenOthersMayReadIt) {
  const std::string key = dir_.Sub("signing.pem");
  const mode_t old_mask = umask(0);
  auto created = HeadSigner::LoadOrCreate(key);
  umask(old_mask);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(ModeOf(key), 0600);
  EXPECT_TRUE(HeadSigner::LoadOrCreate(key).ok());

  for (mode_t loose : {0644, 0640, 0604, 0660, 0602}) {
    ASSERT_EQ(chmod(key.c_str(), loose), 0);
    auto loaded = HeadSigner::LoadOrCreate(key);
    ASSERT_FALSE(loaded.ok()) << std::oct << loose;
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("signing key " + key));
    // The refusal never carries the key's bytes.
    EXPECT_THAT(std::string(loaded.status().message()), Not(HasSubstr("PRIVATE KEY")));
  }
}

TEST_F(FileModesTest, AFileOthersMayReadButNotChange) {
  const std::string path = dir_.Sub("principals.toml");
  Touch(path, 0644);
  EXPECT_TRUE(CheckFileExposure(path, Exposure::kReadableByOthers, "principals file").ok());
  for (mode_t loose : {0664, 0646, 0666}) {
    ASSERT_EQ(chmod(path.c_str(), loose), 0);
    const absl::Status st = CheckFileExposure(path, Exposure::kReadableByOthers, "principals file");
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << std::oct << loose;
    EXPECT_THAT(std::string(st.message()), HasSubstr("chmod go-w " + path));
  }
  EXPECT_EQ(CheckFileExposure(dir_.Sub("missing"), Exposure::kOwnerOnly, "master key").code(),
            absl::StatusCode::kNotFound);
}

TEST_F(FileModesTest, AFileAnotherUserOwnsIsRefused) {
  const std::string path = dir_.Sub("key.pem");
  Touch(path, 0600);
  if (geteuid() == 0) {
    // As root: hand it to "nobody" (65534), who is neither us nor root.
    ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
    const absl::Status st = CheckFileExposure(path, Exposure::kOwnerOnly, "master key");
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(st.message()), HasSubstr("65534"));
    EXPECT_THAT(std::string(st.message()), HasSubstr("nor to root"));
  } else {
    // As anyone else: a file root owns is accepted (root could replace
    // anything anyway); one we own is too.
    EXPECT_TRUE(CheckFileExposure(path, Exposure::kOwnerOnly, "master key").ok());
    EXPECT_TRUE(CheckFileExposure("/etc/hostname", Exposure::kReadableByOthers, "a file").ok());
  }
}

}  // namespace
}  // namespace gridcase
