#include "engine/storage/id_filter.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace gridcase {
namespace {

std::string Id(int i) { return "run-7f3a-" + std::to_string(i); }

TEST(IdFilterTest, EveryIdAddedIsFoundAcrossGrowth) {
  IdFilter filter(1000);  // grows many times below
  const size_t first_bytes = filter.bytes();
  for (int i = 0; i < 200000; ++i) filter.Add(Id(i));
  EXPECT_GT(filter.bytes(), first_bytes);
  for (int i = 0; i < 200000; ++i) ASSERT_TRUE(filter.MayContain(Id(i))) << Id(i);
}

TEST(IdFilterTest, FewIdsNeverAddedLookPresent) {
  IdFilter filter(100000);
  for (int i = 0; i < 100000; ++i) filter.Add(Id(i));
  int maybe = 0;
  for (int i = 100000; i < 200000; ++i) maybe += filter.MayContain(Id(i));
  // About 1% at 10 bits per id; a filter that said "maybe" to everything,
  // or whose bits collided far more, would fail.
  EXPECT_LT(maybe, 3000);
  EXPECT_FALSE(IdFilter(1000).MayContain(Id(1)));
}

// One thread adds (as a sequencer does) while others ask (as submitters
// do): an id whose Add returned is found from then on, through growth.
TEST(IdFilterTest, IdsAddedAreSeenByOtherThreadsAtOnce) {
  IdFilter filter(1024);
  std::atomic<int> added{0};
  std::atomic<bool> missed{false};
  std::thread writer([&] {
    for (int i = 0; i < 100000; ++i) {
      filter.Add(Id(i));
      added.store(i + 1, std::memory_order_release);
    }
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (added.load(std::memory_order_acquire) < 100000) {
        const int n = added.load(std::memory_order_acquire);
        if (n > 0 && !filter.MayContain(Id(n - 1))) missed = true;
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_FALSE(missed.load());
}

// Two threads add at once (the scan at open and the sequencer), each
// growing the filter: neither loses an id.
TEST(IdFilterTest, TwoThreadsAddingAtOnceLoseNothing) {
  IdFilter filter(1024);
  auto add = [&](int from) {
    for (int i = from; i < from + 100000; ++i) filter.Add(Id(i));
  };
  std::thread scan(add, 0), sequencer(add, 100000);
  scan.join();
  sequencer.join();
  for (int i = 0; i < 200000; ++i) ASSERT_TRUE(filter.MayContain(Id(i))) << Id(i);
}

}  // namespace
}  // namespace gridcase
