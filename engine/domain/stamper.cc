#include "engine/domain/stamper.h"

#include "absl/strings/str_cat.h"
#include "engine/common/check.h"

namespace gridcase {

absl::Status CheckRecordVersion(const v1::Record& r) {
  if (RecordVersionOf(r) <= kRecordVersion) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "record ", r.position(), " of partition ", r.partition(), " is of record version ",
      r.record_version(), ", written by a newer build (this one folds up to version ",
      kRecordVersion, "): run that build"));
}

RecordStamper::RecordStamper(uint32_t partition, Position first, uint64_t version_before,
                             google::protobuf::Timestamp recorded_at)
    : partition_(partition),
      first_(first),
      version_before_(version_before),
      recorded_at_(std::move(recorded_at)) {}

void RecordStamper::Stamp(v1::Record* r) {
  r->set_partition(partition_);
  r->set_position(first_.value() + stamped_);
  r->set_case_version(version_before_ + 1 + stamped_);
  *r->mutable_recorded_at() = recorded_at_;
  r->set_record_version(kRecordVersion);
  ++stamped_;
}

void RecordStamper::StampSubmitted(v1::Record* r) {
  GC_CHECK(stamped_ == 0, "the submitted record is stamped first, and once");
  r->clear_caused_by();
  Stamp(r);
}

void RecordStamper::StampDerived(v1::Record* r) {
  GC_CHECK(stamped_ > 0, "a derived record follows its submitted record");
  r->set_caused_by(first_.value());
  Stamp(r);
}

}  // namespace gridcase
