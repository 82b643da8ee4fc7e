#include "engine/common/huge_pages.h"

#include <fstream>
#include <string>

#include "engine/storage/keys.h"
#include "engine/storage/store.h"
#include "gtest/gtest.h"
#include "rocksdb/write_batch.h"
#include "tests/support/temp_dir.h"

namespace gridcase {
namespace {

using keys::Cf;

constexpr char kMeminfo[] =
    "MemTotal:       24593472 kB\n"
    "MemFree:        20000000 kB\n"
    "AnonHugePages:    163840 kB\n"
    "HugePages_Total:     400\n"
    "HugePages_Free:      325\n"
    "HugePages_Rsvd:        3\n"
    "HugePages_Surp:        0\n"
    "Hugepagesize:       2048 kB\n"
    "Hugetlb:          819200 kB\n";

TEST(HugePagesTest, ParsesThePoolOutOfMeminfo) {
  const HugePagePool pool = ParseHugePagePool(kMeminfo);
  EXPECT_EQ(pool.page_bytes, 2u << 20);
  EXPECT_EQ(pool.total, 400u);
  EXPECT_EQ(pool.free, 325u);
}

TEST(HugePagesTest, FieldsMissingOrUnreadableStayZero) {
  HugePagePool pool = ParseHugePagePool("MemTotal: 1 kB\nHugePages_Free: lots\nno colon\n");
  EXPECT_EQ(pool.page_bytes, 0u);
  EXPECT_EQ(pool.total, 0u);
  EXPECT_EQ(pool.free, 0u);
  pool = ReadHugePagePool("/nonexistent/meminfo");
  EXPECT_EQ(pool.page_bytes, 0u);
  EXPECT_EQ(pool.free, 0u);
}

TEST(HugePagesTest, ReadsAMeminfoFile) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("meminfo")) << kMeminfo;
  const HugePagePool pool = ReadHugePagePool(dir.Sub("meminfo"));
  EXPECT_EQ(pool.page_bytes, 2u << 20);
  EXPECT_EQ(pool.free, 325u);
}

TEST(HugePagesTest, MemtablesTakeFreePagesNoLargerThanAnArenaBlock) {
  EXPECT_EQ(MemtableHugePageSize({.page_bytes = 2u << 20, .total = 10, .free = 3}), 2u << 20);
  EXPECT_EQ(MemtableHugePageSize({.page_bytes = 2u << 20, .total = 10, .free = 0}), 0u);
  EXPECT_EQ(MemtableHugePageSize({.page_bytes = 1u << 30, .total = 4, .free = 4}), 0u);
  EXPECT_EQ(MemtableHugePageSize({.page_bytes = 3u << 20, .total = 4, .free = 4}), 0u);
  EXPECT_EQ(MemtableHugePageSize({}), 0u);
}

// Writes `rows` rows of 200 bytes (a few memtable blocks' worth) and reads
// them back.
void WriteAndReadBack(PartitionStore* store, int rows) {
  rocksdb::WriteBatch batch;
  for (int i = 0; i < rows; ++i) {
    batch.Put(store->cf(Cf::kMeta), "test-" + std::to_string(i), std::string(200, 'a' + i % 26));
  }
  ASSERT_TRUE(store->Write(&batch).ok());
  for (int i = 0; i < rows; i += rows / 10) {
    auto value = store->ReadMeta("test-" + std::to_string(i));
    ASSERT_TRUE(value.ok()) << value.status();
    ASSERT_TRUE(value->has_value()) << i;
    EXPECT_EQ(**value, std::string(200, 'a' + i % 26));
  }
}

// KiB of huge pages this process has mapped (HugetlbPages in
// /proc/self/status): the pool's free count would also move with other
// processes, such as servers other tests start.
uint64_t OwnHugetlbKib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("HugetlbPages:", 0) == 0) return std::stoull(line.substr(13));
  }
  return 0;
}

// Whatever the machine has reserved, a store asked for huge pages opens,
// writes and reads: RocksDB takes normal pages when the pool is empty.
// Where the machine has free huge pages, the memtable is seen taking them.
TEST(HugePagesTest, StoreOnHugePagesWritesWhateverThePoolHolds) {
  testing::TempDir dir;
  const HugePagePool before = ReadHugePagePool();
  const size_t page = before.page_bytes ? before.page_bytes : size_t{2} << 20;
  auto store =
      PartitionStore::Open(dir.Sub("p"), PartitionId(0), {.memtable_huge_page_size = page});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->memtable_huge_page_size(), page);
  WriteAndReadBack(store->get(), 20000);
  if (before.free == 0) {
    GTEST_SKIP() << "no free huge pages here (vm.nr_hugepages): normal pages were used";
  }
  EXPECT_GT(OwnHugetlbKib(), 0u) << "the memtable took no huge page";
}

TEST(HugePagesTest, StoresUseNormalPagesByDefault) {
  testing::TempDir dir;
  auto store = PartitionStore::Open(dir.Sub("p"), PartitionId(0));
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->memtable_huge_page_size(), 0u);
}

}  // namespace
}  // namespace gridcase
