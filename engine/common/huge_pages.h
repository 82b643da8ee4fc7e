// The machine's pool of reserved huge pages (Linux hugetlbfs, sized with
// the vm.nr_hugepages sysctl), from which RocksDB can allocate memtables.
//
// Memtable inserts and point reads walk skiplists of tens of MiB at random
// places; on 2 MiB pages those walks miss the TLB far less than on 4 KiB
// ones (docs/benchmarks.md). Pages are taken from the pool as memtables
// grow; when the pool is empty RocksDB allocates normal pages instead (and
// says so in the partition's LOG), so a small pool costs nothing but the
// gain.
#ifndef GRIDCASE_ENGINE_COMMON_HUGE_PAGES_H_
#define GRIDCASE_ENGINE_COMMON_HUGE_PAGES_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace gridcase {

struct HugePagePool {
  size_t page_bytes = 0;  // Hugepagesize
  uint64_t total = 0;     // HugePages_Total: reserved
  uint64_t free = 0;      // HugePages_Free: reserved and not in use
};

// Parses the text of /proc/meminfo; fields it lacks stay 0.
HugePagePool ParseHugePagePool(absl::string_view meminfo);

// Reads the pool from `meminfo_path`; all zeros when it cannot be read (no
// such file: not Linux, or no /proc).
HugePagePool ReadHugePagePool(const std::string& meminfo_path = "/proc/meminfo");

// The huge page size memtables should be allocated with, given the pool:
// its page size when pages are free and a page is no larger than a
// memtable's arena block (8 MiB: a 1 GiB page would hold one small
// memtable each); 0 (normal pages) otherwise.
size_t MemtableHugePageSize(const HugePagePool& pool);
inline constexpr size_t kMemtableHugePageMax = size_t{8} << 20;

// What a pool should hold per partition. A partition's write-ahead log is
// capped at 32 MiB (store.cc), so its memtables stay small: under the
// Wuhan-day load four partitions took 126 pages of 2 MiB at the peak, 63
// MiB each. Twice that leaves room for memtables being flushed.
inline constexpr uint64_t kHugePageBytesPerPartition = uint64_t{128} << 20;

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_COMMON_HUGE_PAGES_H_
