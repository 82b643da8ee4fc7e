// What the Kafka tests check of a change feed's topic against the log.
#ifndef GRIDCASE_TESTS_INTEGRATION_KAFKA_CHECKS_H_
#define GRIDCASE_TESTS_INTEGRATION_KAFKA_CHECKS_H_

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "gtest/gtest.h"
#include "services/kafka/feed.h"
#include "services/kafka/kafka.h"
#include "tests/support/kafka_mock.h"

namespace gridcase::testing {

struct FeedCheck {
  size_t messages = 0;
  size_t duplicates = 0;  // the same (case, version) again, with the same bytes
};

// Checks the feed's messages against the log: every record of every
// partition is there, keyed by case id, with its headers; each case's first
// copies come in version order; any later copy is byte-identical.
inline FeedCheck CheckFeed(Engine& engine, const std::vector<KafkaMessage>& messages) {
  FeedCheck check;
  std::map<std::string, uint64_t> last_version;                  // case -> last version seen
  std::map<std::pair<std::string, uint64_t>, std::string> seen;  // (case, version) -> value
  std::set<std::pair<uint32_t, uint64_t>> positions;
  for (const KafkaMessage& m : messages) {
    ++check.messages;
    v1::Record r;
    EXPECT_TRUE(r.ParseFromString(m.value));
    EXPECT_EQ(m.key, r.event().case_id());
    EXPECT_EQ(m.headers.at(kafka::kHeaderCaseId), r.event().case_id());
    EXPECT_EQ(m.headers.at(kafka::kHeaderCaseVersion), std::to_string(r.case_version()));
    EXPECT_EQ(m.headers.at(kafka::kHeaderPosition), std::to_string(r.position()));
    const auto id = std::make_pair(r.event().case_id(), r.case_version());
    if (auto it = seen.find(id); it != seen.end()) {
      EXPECT_EQ(it->second, m.value) << "a different record under the same case version";
      ++check.duplicates;
      continue;
    }
    seen[id] = m.value;
    uint64_t& last = last_version[r.event().case_id()];
    EXPECT_EQ(r.case_version(), last + 1) << "case " << r.event().case_id() << " out of order";
    last = r.case_version();
    positions.emplace(r.partition(), r.position());
  }
  for (uint32_t p = 0; p < engine.partition_count(); ++p) {
    auto last = engine.partitions().store(PartitionId(p)).ReadLastRecord();
    const uint64_t n = last.ok() && last->has_value() ? (*last)->record.position() : 0;
    for (uint64_t pos = 1; pos <= n; ++pos) {
      EXPECT_TRUE(positions.count({p, pos}))
          << "partition " << p << " position " << pos << " is missing from the feed";
    }
  }
  return check;
}

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_INTEGRATION_KAFKA_CHECKS_H_
