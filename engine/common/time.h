// Time in the engine: google.protobuf.Timestamp to and from microseconds
// since the Unix epoch, the unit every time inside the engine is kept in.
// Every conversion goes through these functions. (The clock itself is
// clock.h.)
#ifndef GRIDCASE_ENGINE_COMMON_TIME_H_
#define GRIDCASE_ENGINE_COMMON_TIME_H_

#include <cstdint>

#include "google/protobuf/timestamp.pb.h"

namespace gridcase {

inline int64_t Micros(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

// For us >= 0 (times before 1970 are not kept).
inline google::protobuf::Timestamp FromMicros(int64_t us) {
  google::protobuf::Timestamp t;
  t.set_seconds(us / 1000000);
  t.set_nanos(static_cast<int32_t>((us % 1000000) * 1000));
  return t;
}

// The whole second `us` falls in (nanos 0): the moment of events the engine
// writes for itself at a whole second.
inline google::protobuf::Timestamp WholeSeconds(int64_t us) {
  google::protobuf::Timestamp t;
  t.set_seconds(us / 1000000);
  return t;
}

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_COMMON_TIME_H_
