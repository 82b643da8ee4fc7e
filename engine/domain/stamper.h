// The one owner of a record's stamp: partition, position, case version,
// recorded time, the record version, and, for derived records, the record
// that caused them.
//
// The sequencer makes a stamper for each submission, stamps the submitted
// record with it, and hands it to the case logic, which stamps every
// record it derives with the same stamper as it emits it. Positions and
// case versions are therefore consecutive by construction; the sequencer
// only checks that the logic handed back exactly what was stamped.
#ifndef GRIDCASE_ENGINE_DOMAIN_STAMPER_H_
#define GRIDCASE_ENGINE_DOMAIN_STAMPER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "engine/common/types.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase {

// The version of the rules that fold a record (the appliers). Each record
// carries the version it was written under, so a later change to an
// applier keeps old logs replaying through the rules they were decided
// by. Records written before the field existed carry 0, read as 1.
inline constexpr uint32_t kRecordVersion = 1;

// A record's version, 0 read as 1.
inline uint32_t RecordVersionOf(const v1::Record& r) {
  return r.record_version() == 0 ? 1 : r.record_version();
}

// OK when this build has appliers for `r`'s version; FAILED_PRECONDITION
// naming the record when it was written by a newer build.
absl::Status CheckRecordVersion(const v1::Record& r);

class RecordStamper {
 public:
  // The first record goes to `first` and case version `version_before`+1.
  RecordStamper(uint32_t partition, Position first, uint64_t version_before,
                google::protobuf::Timestamp recorded_at);

  // Stamps the submitted record; must be the first stamp.
  void StampSubmitted(v1::Record* r);
  // Stamps the next derived record, caused by the submitted one.
  void StampDerived(v1::Record* r);

  // How many records were stamped.
  uint64_t stamped() const { return stamped_; }
  // Where the submitted record went.
  Position first() const { return first_; }
  // Where the next submission's record goes.
  Position next() const { return Position(first_.value() + stamped_); }

 private:
  void Stamp(v1::Record* r);

  const uint32_t partition_;
  const Position first_;
  const uint64_t version_before_;
  const google::protobuf::Timestamp recorded_at_;
  uint64_t stamped_ = 0;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_DOMAIN_STAMPER_H_
