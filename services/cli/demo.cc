#include "services/cli/demo.h"

#include <chrono>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "gridcase/v1/service.grpc.pb.h"
#include "services/cli/output.h"

namespace gridcase::cli {
namespace {

using gridcase::v1::Event;

struct Story {
  const char* title;
  const char* telling;  // what happened, in the report's words
  std::string case_id;
  std::vector<Event> events;
};

// Builds events of one case; ids are the case id and a step number.
class Teller {
 public:
  Teller(std::string case_id, int64_t start_s) : case_id_(std::move(case_id)), at_s_(start_s) {}

  Event Next(const std::string& actor, const char* role, gridcase::v1::Channel channel,
             int64_t minutes_later) {
    at_s_ += minutes_later * 60;
    Event e;
    e.set_event_id(case_id_ + "-" + std::to_string(++step_));
    e.set_case_id(case_id_);
    e.mutable_occurred_at()->set_seconds(at_s_);
    e.mutable_actor()->set_id(actor);
    e.mutable_actor()->set_kind(gridcase::v1::ACTOR_KIND_PERSON);
    e.mutable_actor()->set_role(role);
    e.set_grid_id("jiangan-07-03");
    e.set_channel(channel);
    return e;
  }

 private:
  std::string case_id_;
  int64_t at_s_;
  int step_ = 0;
};

std::vector<Story> Stories(const std::string& run, int64_t now_s) {
  // Occurred times are set in the last hours so that they lie in the past.
  std::vector<Story> stories;
  {
    Story s{"The security guard's four readings",
            "Feb 22, 8 pm: leaving his compound, a security guard read 36.9, 37.0, 37.7 and "
            "37.9 °C. The duty cadre phoned the community secretary at once; he was isolated "
            "from his family at home, a designated person took his temperature, and the next "
            "day he was re-tested.",
            run + "-guard",
            {}};
    Teller t(s.case_id, now_s - 3 * 3600);
    for (double c : {36.9, 37.0, 37.7, 37.9}) {
      Event e = t.Next("cadre-zhang", "cadre", gridcase::v1::CHANNEL_CHECKPOINT, 1);
      e.mutable_fever_reading()->set_celsius(c);
      e.mutable_fever_reading()->set_location("compound gate");
      s.events.push_back(e);
    }
    stories.push_back(std::move(s));
  }
  {
    Story s{"A medicine request",
            "An elderly resident without internet asks her grid worker, by phone, for her "
            "blood-pressure medicine; the paired cadre delivers it two hours later.",
            run + "-medicine",
            {}};
    Teller t(s.case_id, now_s - 3 * 3600);
    Event ask = t.Next("worker-li", "grid_worker", gridcase::v1::CHANNEL_PHONE, 0);
    ask.mutable_help_request()->set_request_id("r1");
    ask.mutable_help_request()->set_kind(gridcase::v1::HELP_KIND_MEDICINE);
    ask.mutable_help_request()->add_items("nifedipine 10 mg");
    ask.mutable_help_request()->set_urgency(gridcase::v1::URGENCY_URGENT);
    s.events.push_back(ask);
    Event done = t.Next("cadre-wang", "cadre", gridcase::v1::CHANNEL_VISIT, 120);
    done.mutable_help_fulfilled()->set_request_id("r1");
    done.mutable_help_fulfilled()->set_delivered_by("cadre-wang");
    s.events.push_back(done);
    stories.push_back(std::move(s));
  }
  {
    Story s{"A recovered patient",
            "A fever, a positive test, hospital, and discharge after recovery into 14 days "
            "of isolation observation (the report's households given supplies and "
            "disinfectant).",
            run + "-patient",
            {}};
    Teller t(s.case_id, now_s - 3 * 3600);
    Event fever = t.Next("worker-li", "grid_worker", gridcase::v1::CHANNEL_VISIT, 0);
    fever.mutable_fever_reading()->set_celsius(38.4);
    fever.mutable_fever_reading()->set_location("home");
    s.events.push_back(fever);
    Event order = t.Next("clinic-3", "clinic", gridcase::v1::CHANNEL_CLINIC, 30);
    order.mutable_test_ordered()->set_test_id("nat-1");
    order.mutable_test_ordered()->set_test_kind("nucleic acid");
    s.events.push_back(order);
    Event result = t.Next("lab-2", "lab", gridcase::v1::CHANNEL_LAB, 60);
    result.mutable_test_result()->set_test_id("nat-1");
    result.mutable_test_result()->set_outcome(gridcase::v1::TEST_OUTCOME_POSITIVE);
    s.events.push_back(result);
    Event admit = t.Next("hospital-7", "hospital", gridcase::v1::CHANNEL_HOSPITAL, 30);
    admit.mutable_admission()->set_hospital("Leishenshan");
    s.events.push_back(admit);
    Event discharge = t.Next("hospital-7", "hospital", gridcase::v1::CHANNEL_HOSPITAL, 30);
    discharge.mutable_discharge()->set_hospital("Leishenshan");
    s.events.push_back(discharge);
    stories.push_back(std::move(s));
  }
  return stories;
}

}  // namespace

int RunDemo(const GlobalOptions& options) {
  auto channel = Connect(options);
  auto events = gridcase::v1::EventService::NewStub(channel);
  auto cases = gridcase::v1::CaseService::NewStub(channel);
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  const std::string run = "demo-" + std::to_string(now_s);
  for (const Story& story : Stories(run, now_s)) {
    std::cout << "\n== " << story.title << " ==\n" << story.telling << "\n\n";
    for (const Event& e : story.events) {
      grpc::ClientContext context;
      SetDeadline(context, options);
      gridcase::v1::SubmitRequest request;
      *request.mutable_event() = e;
      gridcase::v1::SubmitResponse response;
      const grpc::Status status = events->Submit(&context, request, &response);
      if (!status.ok()) return ReportRpcError(status, context, *channel);
    }
    grpc::ClientContext context;
    SetDeadline(context, options);
    gridcase::v1::GetTimelineRequest request;
    request.set_case_id(story.case_id);
    request.set_page_size(1000);
    gridcase::v1::GetTimelineResponse timeline;
    const grpc::Status status = cases->GetTimeline(&context, request, &timeline);
    if (!status.ok()) return ReportRpcError(status, context, *channel);
    std::cout << "Timeline of " << story.case_id
              << " (↳: decisions the workflow took, in the same write as their cause):\n";
    PrintTimelineTable(timeline, std::cout);
    grpc::ClientContext state_context;
    SetDeadline(state_context, options);
    gridcase::v1::GetCaseRequest get;
    get.set_case_id(story.case_id);
    gridcase::v1::CaseState state;
    const grpc::Status got = cases->GetCase(&state_context, get, &state);
    if (!got.ok()) return ReportRpcError(got, state_context, *channel);
    std::cout << "\nNow: stage " << state.stage() << ", category "
              << gridcase::v1::Category_Name(state.category()) << ", held by the "
              << state.escalation_role() << " rung";
    for (const auto& t : state.open_tasks()) std::cout << "; open task " << t.name();
    for (const auto& d : state.deadlines()) {
      std::cout << "; deadline " << d.name() << " at " << FormatTime(d.due_at());
    }
    std::cout << "\n";
  }
  std::cout << "\nSee one again: gridcase case timeline " << run << "-guard --table\n";
  return kExitOk;
}

}  // namespace gridcase::cli
