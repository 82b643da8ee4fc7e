// Builders for test events, so that each test states only what it is about.
#ifndef GRIDCASE_TESTS_SUPPORT_EVENTS_H_
#define GRIDCASE_TESTS_SUPPORT_EVENTS_H_

#include <cstdint>
#include <string>

#include "gridcase/v1/event.pb.h"
#include "gridcase/v1/service.pb.h"

namespace gridcase::testing {

// 2020-02-22T20:00:00Z, the evening of the security guard's readings.
inline constexpr int64_t kFeb22EveningUs = 1582401600LL * 1000000;

// An event with ids, actor (a person), grid, channel and occurred_at set, and
// no payload.
v1::Event BaseEvent(const std::string& event_id, const std::string& case_id,
                    int64_t occurred_us = kFeb22EveningUs);

v1::Event Fever(const std::string& event_id, const std::string& case_id, double celsius,
                int64_t occurred_us = kFeb22EveningUs);
v1::Event Screening(const std::string& event_id, const std::string& case_id, v1::Category category,
                    int64_t occurred_us = kFeb22EveningUs);
v1::Event NoteEvent(const std::string& event_id, const std::string& case_id,
                    const std::string& text, int64_t occurred_us = kFeb22EveningUs);

v1::SubmitRequest Req(const v1::Event& e);

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_SUPPORT_EVENTS_H_
