// The in-memory tail of the log (engine/recent_records.h), alone and under
// the engine's timeline reads.
#include "engine/storage/recent_records.h"

#include <map>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::Fever;
using ::gridcase::testing::kFeb22EveningUs;
using ::gridcase::testing::NoteEvent;
using ::gridcase::testing::Req;
using ::gridcase::testing::SubmitSync;
using ::gridcase::testing::TempDir;

std::vector<std::string> Values(std::initializer_list<const char*> v) {
  return std::vector<std::string>(v.begin(), v.end());
}

// What the cache holds for positions `from`..`to`, "-" where it holds none.
std::string Held(const RecentRecords& cache, uint64_t from, uint64_t to) {
  std::vector<uint64_t> positions;
  for (uint64_t p = from; p <= to; ++p) positions.push_back(p);
  std::vector<std::string> values(positions.size());
  std::vector<bool> held(positions.size(), false);
  cache.Lookup(positions, &values, &held);
  std::string out;
  for (size_t i = 0; i < positions.size(); ++i) out += held[i] ? values[i] : "-";
  return out;
}

TEST(RecentRecordsTest, HoldsTheNewestBytesByPosition) {
  // Room for four short values (a value costs its buffer and its string).
  RecentRecords cache(/*bytes_max=*/4 * (sizeof(std::string) + std::string().capacity()));
  cache.Append(Position(1), Values({"a", "b"}));
  cache.Append(Position(3), Values({"c"}));
  EXPECT_EQ(Held(cache, 0, 5), "-abc--");
  cache.Append(Position(4), Values({"d", "e"}));  // five: the oldest goes
  EXPECT_EQ(Held(cache, 0, 6), "--bcde-");
  EXPECT_EQ(cache.range(), (std::pair<uint64_t, size_t>{2, 4}));
}

TEST(RecentRecordsTest, StartsAgainAfterAGap) {
  RecentRecords cache(/*bytes_max=*/100);
  cache.Append(Position(1), Values({"a", "b"}));
  cache.Append(Position(7), Values({"g"}));  // 3..6 never came: not held
  EXPECT_EQ(Held(cache, 1, 8), "------g-");
}

TEST(RecentRecordsTest, KeepsNothingWithNoBytes) {
  RecentRecords cache(/*bytes_max=*/0);
  cache.Append(Position(1), Values({"a"}));
  EXPECT_EQ(Held(cache, 1, 1), "-");
}

// Timelines read partly from memory and partly from RocksDB (a cache far
// smaller than the log) are byte for byte the pages RocksDB alone gives
// after a restart, when nothing is in memory.
TEST(RecentRecordsTest, TimelinesFromMemoryEqualTimelinesFromTheStore) {
  TempDir dir;
  FakeClock clock(kFeb22EveningUs + 60 * 1000000LL);
  auto read_all = [](const Engine& engine, const std::vector<std::string>& cases) {
    std::map<std::string, std::vector<std::string>> pages;
    for (const auto& id : cases) {
      v1::GetTimelineRequest req;
      req.set_case_id(id);
      req.set_page_size(7);
      do {
        auto page = engine.GetTimelineWire(req);
        EXPECT_TRUE(page.ok()) << page.status();
        if (!page.ok()) return pages;
        pages[id].push_back(*page);
        v1::GetTimelineResponse parsed;
        EXPECT_TRUE(parsed.ParseFromString(*page));
        req.set_page_token(parsed.next_page_token());
      } while (!req.page_token().empty());
    }
    return pages;
  };
  std::vector<std::string> cases;
  for (int c = 0; c < 6; ++c) cases.push_back("tail-" + std::to_string(c));

  std::map<std::string, std::vector<std::string>> with_cache;
  {
    EngineOptions options;
    options.data_dir = dir.Sub("data");
    options.partitions = 2;
    options.recent_records_bytes = 8 << 10;  // a few dozen records
    auto engine = Engine::Open(options, &clock);
    ASSERT_TRUE(engine.ok()) << engine.status();
    testing::DeployShippedWorkflows(**engine);
    for (int i = 0; i < 400; ++i) {
      const std::string& id = cases[i % cases.size()];
      const std::string event_id = "ev-" + std::to_string(i);
      auto r =
          SubmitSync(**engine, Req(i < static_cast<int>(cases.size())
                                       ? Fever(event_id, id, 36.6)
                                       : NoteEvent(event_id, id, "visit " + std::to_string(i))));
      ASSERT_TRUE(r.ok()) << r.status();
    }
    uint64_t held = 0;
    for (uint32_t p = 0; p < 2; ++p) {
      const RecentRecords* recent = (*engine)->partitions().store(PartitionId(p)).recent_records();
      ASSERT_NE(recent, nullptr);
      EXPECT_GT(recent->range().first, 1u);  // the oldest were let go
      held += recent->range().second;
    }
    EXPECT_GT(held, 10u);
    with_cache = read_all(**engine, cases);
  }
  EngineOptions options;
  options.data_dir = dir.Sub("data");
  options.recent_records_bytes = 0;
  auto engine = Engine::Open(options, &clock);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->partitions().store(PartitionId(0)).recent_records(), nullptr);
  const auto from_store = read_all(**engine, cases);
  ASSERT_EQ(from_store.size(), cases.size());
  EXPECT_EQ(with_cache, from_store);
  size_t records = 0;
  for (const auto& [id, pages] : from_store) {
    for (const auto& page : pages) {
      v1::GetTimelineResponse parsed;
      ASSERT_TRUE(parsed.ParseFromString(page));
      records += static_cast<size_t>(parsed.records_size());
    }
  }
  EXPECT_GE(records, 400u);
}

}  // namespace
}  // namespace gridcase
