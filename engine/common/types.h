// Small vocabulary types shared by the engine.
#ifndef GRIDCASE_ENGINE_COMMON_TYPES_H_
#define GRIDCASE_ENGINE_COMMON_TYPES_H_

#include <compare>
#include <cstdint>

namespace gridcase {

// An integer id that cannot be mixed up with another kind of id: a Position
// cannot be passed where a CaseVersion is expected.
template <typename T, typename Tag>
class StrongId {
 public:
  constexpr StrongId() = default;
  constexpr explicit StrongId(T value) : value_(value) {}
  constexpr T value() const { return value_; }
  constexpr StrongId next() const { return StrongId(value_ + 1); }
  constexpr auto operator<=>(const StrongId&) const = default;

 private:
  T value_ = 0;
};

// Index of a record in its partition's log. Dense, starting at 1; 0 means
// "nothing yet".
using Position = StrongId<uint64_t, struct PositionTag>;
// Version of a case: the number of records applied to it. Dense, from 1.
using CaseVersion = StrongId<uint64_t, struct CaseVersionTag>;
using PartitionId = StrongId<uint32_t, struct PartitionIdTag>;

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_COMMON_TYPES_H_
