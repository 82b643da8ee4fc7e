// Storage layout: column families and the encoding of their keys.
//
// Every partition is one RocksDB database with the column families below.
// Their ids are part of the format and are never renumbered or reused; a new
// family takes the next id.
//
//   id  family       key                                   value
//   --  -----------  ------------------------------------  ------------------
//   0   default      (unused; RocksDB requires it)
//   1   events       fixed64be(position)                   Record prev_hash hash (chain.h)
//   2   case_events  case_id 0x00 fixed64be(case_version)  fixed64be(position)
//   3   dedup        event_id                              fixed64be(position)
//   4   cases        case_id                               CaseState (protobuf)
//   5   index        (retired in format 2: empty, see below)
//   6   meta         name                                  per name, see below
//   7   timers       fixed64be(due_us) case_id 0x00 name   (empty)
//
//   meta names := "format"    -> fixed32be(kFormatVersion)
//                 "partition" -> fixed32be(partition id)
//                 "signed_head/" fixed64be(position) -> SignedHead (signer.h)
//                 "stream_offset/" source -> fixed64be(offset): the last message
//                     of an external stream (a Kafka topic partition) decided
//                     in this partition, written with what it led to
//                 "dead_letter/" source 0x00 fixed64be(offset) -> DeadLetter:
//                     refused stream messages waiting to be handed on
//                 "ext/" name -> owned by a component outside the engine
//                     (the change feed's published position)
//                 "chain_origin" -> ChainOrigin (chain.proto): where the
//                     chain starts, for a log converted from an older one
//                 "key_slot_max" -> fixed64be: the highest key slot its
//                     records were sealed under, written with them
//
// Format 1 kept the case index in `index` (kind value 0x00 case_id, by
// stage, category, grid, assignee, task assignee and task due time). Format
// 2 keeps it in memory (case_index.h), derived from `cases`; opening a
// format 1 partition for writing drops the family's rows and records format
// 2 in one write. The family stays, empty, because RocksDB opens every
// family a database has.
//
// Format 3 folds case states by occurred time (a counter keeps the times
// of what it counted, a "latest" fact the time of the event it came from:
// workflow/appliers.cc). Its `cases` rows are the same fold of the same log
// under today's appliers; opening an earlier format for writing folds every
// case again from its records (refold.h) before recording format 3.
//
// Ids (case_id, event_id, grid_id, assignee, stage) are printable ASCII
// without 0x00 (validation enforces it), so 0x00 terminates a variable-length
// component and bytewise key order of case_events equals (case_id, version)
// order.
// fixed64be keeps numeric order equal to byte order.
#ifndef GRIDCASE_ENGINE_STORAGE_KEYS_H_
#define GRIDCASE_ENGINE_STORAGE_KEYS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/common/types.h"

namespace gridcase::keys {

// The format this build writes, and the oldest it opens (upgrading it when
// opened for writing).
inline constexpr uint32_t kFormatVersion = 3;
// The first format that keeps the case index in memory.
inline constexpr uint32_t kFormatInMemoryIndex = 2;
inline constexpr uint32_t kOldestFormatRead = 1;

enum class Cf : int {
  kDefault = 0,
  kEvents = 1,
  kCaseEvents = 2,
  kDedup = 3,
  kCases = 4,
  kIndex = 5,
  kMeta = 6,
  kTimers = 7,
};
inline constexpr int kCfCount = 8;
// The RocksDB name of a column family.
const char* CfName(Cf cf);

void PutFixed64Be(std::string* dst, uint64_t v);
uint64_t DecodeFixed64Be(absl::string_view src);  // requires src.size() >= 8
std::string EncodeFixed64Be(uint64_t v);
std::string EncodeFixed32Be(uint32_t v);
std::optional<uint32_t> DecodeFixed32Be(absl::string_view src);

std::string EventKey(Position p);
std::optional<Position> DecodeEventKey(absl::string_view key);

// case_events: all versions of a case share CaseEventsPrefix(case_id).
std::string CaseEventsPrefix(absl::string_view case_id);
std::string CaseEventKey(absl::string_view case_id, CaseVersion v);
// Returns the version of a key that starts with CaseEventsPrefix(case_id).
std::optional<CaseVersion> DecodeCaseEventKey(absl::string_view case_id, absl::string_view key);

// timers: pending deadlines in due order.
struct TimerKey {
  int64_t due_us;
  std::string case_id;
  std::string deadline;
};
std::string EncodeTimerKey(const TimerKey& t);
std::optional<TimerKey> DecodeTimerKey(absl::string_view key);

inline constexpr absl::string_view kMetaFormat = "format";
inline constexpr absl::string_view kMetaPartition = "partition";
inline constexpr absl::string_view kMetaSignedHeadPrefix = "signed_head/";
inline constexpr absl::string_view kMetaStreamOffsetPrefix = "stream_offset/";
inline constexpr absl::string_view kMetaDeadLetterPrefix = "dead_letter/";
inline constexpr absl::string_view kMetaExtPrefix = "ext/";
inline constexpr absl::string_view kMetaChainOrigin = "chain_origin";
// A key store that has not made this slot yet (restored from before, or
// left out of a copy) starts after it (privacy::KeyStore::SkipSlotsThrough).
inline constexpr absl::string_view kMetaKeySlotMax = "key_slot_max";

std::string StreamOffsetKey(absl::string_view source);
std::string DeadLetterKey(absl::string_view source, uint64_t offset);

}  // namespace gridcase::keys

#endif  // GRIDCASE_ENGINE_STORAGE_KEYS_H_
