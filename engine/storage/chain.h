// The hash chain of a partition's log.
//
//   events value := record_bytes prev_hash[32] hash[32]
//   hash         := SHA-256(prev_hash || record_bytes)
//
// prev_hash of position 1 is the genesis: 32 zero bytes, or for a log
// converted from an older one, SHA-256("gridcase-chain-origin-v1" ||
// ChainOrigin) (chain.proto), which names the old chain's head. Each
// record's hash covers the one before it, so changing, removing or
// reordering any stored record breaks the chain at exactly that position.
#ifndef GRIDCASE_ENGINE_STORAGE_CHAIN_H_
#define GRIDCASE_ENGINE_STORAGE_CHAIN_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase {

inline constexpr size_t kHashBytes = 32;

// SHA-256 of prev_hash || record_bytes.
std::string ChainHash(absl::string_view prev_hash, absl::string_view record_bytes);

// The hash a partition's chain starts from when it has no origin.
std::string GenesisHash();
// The hash a converted partition's chain starts from, given its
// ChainOrigin's stored bytes: see above.
std::string OriginGenesis(absl::string_view origin_bytes);

// The stored value of a record.
std::string EncodeStoredRecord(const std::string& record_bytes, const std::string& prev_hash,
                               const std::string& hash);

struct StoredRecord {
  absl::string_view record_bytes;
  absl::string_view prev_hash;
  absl::string_view hash;
};
// Splits a stored value (views into `value`); DATA_LOSS when too short.
absl::Status DecodeStoredRecord(absl::string_view value, StoredRecord* out);

// Appends `record` to the chain whose head is `*head`: returns the value to
// store and moves `*head` to the record's hash. The one place a live write
// links a record in.
std::string ChainOnto(const v1::Record& record, std::string* head);

// Whether `stored` follows a chain whose head is `head`: empty when it
// does, otherwise what is wrong. The one place a reader checks a link.
std::string CheckLink(const StoredRecord& stored, absl::string_view head);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_STORAGE_CHAIN_H_
