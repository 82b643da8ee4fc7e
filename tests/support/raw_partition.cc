#include "tests/support/raw_partition.h"

#include "engine/storage/chain.h"

namespace gridcase::testing {

void RewriteConsistently(RawPartition& raw, uint64_t position, uint64_t last,
                         const std::function<void(v1::Record*)>& edit) {
  std::string prev;
  for (uint64_t p = position; p <= last; ++p) {
    StoredRecord stored;
    const std::string value = raw.Get(p);
    ASSERT_TRUE(DecodeStoredRecord(value, &stored).ok()) << "position " << p;
    std::string bytes(stored.record_bytes);
    if (p == position) {
      v1::Record record;
      ASSERT_TRUE(record.ParseFromString(bytes));
      edit(&record);
      bytes = record.SerializeAsString();
      prev = std::string(stored.prev_hash);
    }
    const std::string hash = ChainHash(prev, bytes);
    raw.Put(p, EncodeStoredRecord(bytes, prev, hash));
    prev = hash;
  }
}

}  // namespace gridcase::testing
