// A partition's RocksDB database opened directly, bypassing the engine, as
// someone with access to the disk could: for tamper tests.
#ifndef GRIDCASE_TESTS_SUPPORT_RAW_PARTITION_H_
#define GRIDCASE_TESTS_SUPPORT_RAW_PARTITION_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/storage/keys.h"
#include "gridcase/v1/event.pb.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"

namespace gridcase::testing {

class RawPartition {
 public:
  explicit RawPartition(const std::string& dir) {
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (int i = 0; i < keys::kCfCount; ++i) {
      families.emplace_back(keys::CfName(static_cast<keys::Cf>(i)), rocksdb::ColumnFamilyOptions());
    }
    rocksdb::DB* db = nullptr;
    auto s = rocksdb::DB::Open(rocksdb::DBOptions(), dir, families, &handles_, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
  }
  ~RawPartition() {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  rocksdb::ColumnFamilyHandle* events() { return handles_[static_cast<int>(keys::Cf::kEvents)]; }
  // The stored value at `position`, if there is one.
  std::optional<std::string> Find(uint64_t position) {
    std::string value;
    auto s = db_->Get({}, events(), keys::EventKey(Position(position)), &value);
    EXPECT_TRUE(s.ok() || s.IsNotFound()) << s.ToString();
    if (!s.ok()) return std::nullopt;
    return value;
  }
  std::string Get(uint64_t position) {
    std::string value;
    EXPECT_TRUE(db_->Get({}, events(), keys::EventKey(Position(position)), &value).ok());
    return value;
  }
  uint64_t LastPosition() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, events()));
    it->SeekToLast();
    if (!it->Valid()) return 0;
    return keys::DecodeEventKey(absl::string_view(it->key().data(), it->key().size()))
        .value_or(Position(0))
        .value();
  }
  void Put(uint64_t position, const std::string& value) {
    EXPECT_TRUE(db_->Put({}, events(), keys::EventKey(Position(position)), value).ok());
  }
  void Delete(uint64_t position) {
    EXPECT_TRUE(db_->Delete({}, events(), keys::EventKey(Position(position))).ok());
  }

 private:
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<rocksdb::DB> db_;
};

// Someone with the disk changes the record at `position` (through `edit`)
// and recomputes every hash after it up to `last`, so that the chain alone
// cannot tell.
void RewriteConsistently(RawPartition& raw, uint64_t position, uint64_t last,
                         const std::function<void(v1::Record*)>& edit);

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_SUPPORT_RAW_PARTITION_H_
