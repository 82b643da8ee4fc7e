#include "tests/support/events.h"

#include "engine/common/time.h"

namespace gridcase::testing {

v1::Event BaseEvent(const std::string& event_id, const std::string& case_id, int64_t occurred_us) {
  v1::Event e;
  e.set_event_id(event_id);
  e.set_case_id(case_id);
  *e.mutable_occurred_at() = FromMicros(occurred_us);
  e.mutable_actor()->set_id("worker-li");
  e.mutable_actor()->set_kind(v1::ACTOR_KIND_PERSON);
  e.mutable_actor()->set_role("grid_worker");
  e.set_grid_id("jiangan-07-03");
  e.set_channel(v1::CHANNEL_CHECKPOINT);
  return e;
}

v1::Event Fever(const std::string& event_id, const std::string& case_id, double celsius,
                int64_t occurred_us) {
  v1::Event e = BaseEvent(event_id, case_id, occurred_us);
  e.mutable_fever_reading()->set_celsius(celsius);
  e.mutable_fever_reading()->set_location("compound gate");
  return e;
}

v1::Event Screening(const std::string& event_id, const std::string& case_id, v1::Category category,
                    int64_t occurred_us) {
  v1::Event e = BaseEvent(event_id, case_id, occurred_us);
  e.set_channel(v1::CHANNEL_VISIT);
  e.mutable_screening_check()->set_category(category);
  return e;
}

v1::Event NoteEvent(const std::string& event_id, const std::string& case_id,
                    const std::string& text, int64_t occurred_us) {
  v1::Event e = BaseEvent(event_id, case_id, occurred_us);
  e.mutable_note()->set_text(text);
  return e;
}

v1::SubmitRequest Req(const v1::Event& e) {
  v1::SubmitRequest r;
  *r.mutable_event() = e;
  return r;
}

}  // namespace gridcase::testing
