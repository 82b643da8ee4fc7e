#include "tests/support/damage.h"

#include <filesystem>
#include <fstream>
#include <vector>

#include "engine/storage/wal_scan.h"
#include "gtest/gtest.h"

namespace gridcase::testing {

namespace fs = std::filesystem;

std::string LogWithRecords(const std::string& partition_dir) {
  auto files = WalFiles(partition_dir);
  EXPECT_TRUE(files.ok()) << files.status();
  std::vector<std::string> with_records;
  for (const auto& f : files.ok() ? *files : std::vector<std::string>()) {
    if (fs::file_size(f) > 0) with_records.push_back(f);
  }
  EXPECT_EQ(with_records.size(), 1u) << partition_dir;
  return with_records.empty() ? "" : with_records.back();
}

void XorByte(const std::string& path, uint64_t offset, uint8_t with) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ with));
  EXPECT_TRUE(f.good()) << path << " at byte " << offset;
}

void CopyDataDir(const std::string& from, const std::string& to) {
  fs::remove_all(to);
  fs::create_directories(to);
  // As the source is: a data directory only its owner may enter.
  fs::permissions(to, fs::status(from).permissions());
  for (const auto& entry : fs::recursive_directory_iterator(from)) {
    const fs::path target = to / fs::relative(entry.path(), from);
    if (entry.is_directory()) {
      fs::create_directories(target);
    } else if (entry.path().extension() == ".sst") {
      fs::create_hard_link(entry.path(), target);
    } else {
      fs::copy_file(entry.path(), target);
    }
  }
}

}  // namespace gridcase::testing
