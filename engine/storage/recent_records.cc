#include "engine/storage/recent_records.h"

#include <utility>

namespace gridcase {
namespace {

// What a held value costs in memory, near enough: its buffer and the
// string in the deque.
size_t Footprint(const std::string& v) { return v.capacity() + sizeof(std::string); }

}  // namespace

void RecentRecords::Append(Position first, std::vector<std::string> values) {
  if (bytes_max_ == 0 || values.empty()) return;
  absl::WriterMutexLock lock(&mu_);
  if (values_.empty() || first.value() != first_ + values_.size()) {
    values_.clear();
    bytes_ = 0;
    first_ = first.value();
  }
  for (std::string& v : values) {
    bytes_ += Footprint(v);
    values_.push_back(std::move(v));
  }
  while (bytes_ > bytes_max_ && !values_.empty()) {
    bytes_ -= Footprint(values_.front());
    values_.pop_front();
    ++first_;
  }
}

size_t RecentRecords::Lookup(const std::vector<uint64_t>& positions,
                             std::vector<std::string>* values, std::vector<bool>* held) const {
  absl::ReaderMutexLock lock(&mu_);
  size_t found = 0;
  for (size_t i = 0; i < positions.size(); ++i) {
    const uint64_t p = positions[i];
    if (p < first_ || p - first_ >= values_.size()) continue;
    (*values)[i] = values_[p - first_];
    (*held)[i] = true;
    ++found;
  }
  return found;
}

std::pair<uint64_t, size_t> RecentRecords::range() const {
  absl::ReaderMutexLock lock(&mu_);
  return {first_, values_.size()};
}

}  // namespace gridcase
