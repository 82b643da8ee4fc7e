#include "services/bench/wuhan_day.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/common/time.h"

namespace gridcase::bench {
namespace {

// Grids per community, communities per street, streets per district: 13
// districts, 143 streets, 1,001 communities, 13,001 grids.
constexpr int kGridsPerCommunity = 13;
constexpr int kCommunitiesPerStreet = 7;
constexpr int kStreetsPerDistrict = 11;
// Contact attempts go to residents screened at least this many events ago.
constexpr size_t kContactLag = 1024;

std::string CommunityId(int c) { return absl::StrFormat("comm-%04d", c); }
std::string StreetId(int s) { return absl::StrFormat("street-%03d", s); }
std::string DistrictId(int d) { return absl::StrFormat("district-%02d", d); }

v1::DirectoryEntry Unit(const std::string& id, v1::UnitLevel level, const std::string& parent) {
  v1::DirectoryEntry e;
  e.mutable_unit()->set_unit_id(id);
  e.mutable_unit()->set_level(level);
  e.mutable_unit()->set_parent_id(parent);
  e.mutable_unit()->set_name(id);
  return e;
}

v1::DirectoryEntry Person(const std::string& id, v1::Role role, const std::string& unit) {
  v1::DirectoryEntry e;
  e.mutable_person()->set_person_id(id);
  e.mutable_person()->set_name(id);
  e.mutable_person()->set_role(role);
  e.mutable_person()->set_unit_id(unit);
  return e;
}

google::protobuf::Timestamp At(int64_t us) { return FromMicros(us); }

}  // namespace

std::string GridId(int grid) { return absl::StrFormat("grid-%05d", grid); }
std::string WorkerId(int grid) { return absl::StrFormat("worker-%05d", grid); }

std::vector<v1::DirectoryEntry> WuhanDirectory(int grids) {
  const int communities = (grids + kGridsPerCommunity - 1) / kGridsPerCommunity;
  const int streets = (communities + kCommunitiesPerStreet - 1) / kCommunitiesPerStreet;
  const int districts = (streets + kStreetsPerDistrict - 1) / kStreetsPerDistrict;
  std::vector<v1::DirectoryEntry> out;
  for (int d = 0; d < districts; ++d) {
    out.push_back(Unit(DistrictId(d), v1::UNIT_LEVEL_DISTRICT, ""));
    out.push_back(
        Person(absl::StrFormat("officer-%02d", d), v1::ROLE_DISTRICT_OFFICER, DistrictId(d)));
  }
  for (int s = 0; s < streets; ++s) {
    out.push_back(Unit(StreetId(s), v1::UNIT_LEVEL_STREET, DistrictId(s / kStreetsPerDistrict)));
    out.push_back(
        Person(absl::StrFormat("officer-s%03d", s), v1::ROLE_STREET_OFFICER, StreetId(s)));
  }
  for (int c = 0; c < communities; ++c) {
    out.push_back(
        Unit(CommunityId(c), v1::UNIT_LEVEL_COMMUNITY, StreetId(c / kCommunitiesPerStreet)));
    out.push_back(
        Person(absl::StrFormat("secretary-%04d", c), v1::ROLE_COMMUNITY_SECRETARY, CommunityId(c)));
  }
  for (int g = 0; g < grids; ++g) {
    out.push_back(Unit(GridId(g), v1::UNIT_LEVEL_GRID, CommunityId(g / kGridsPerCommunity)));
    out.push_back(Person(WorkerId(g), v1::ROLE_GRID_WORKER, GridId(g)));
    const std::string cadre = absl::StrFormat("cadre-%05d", g);
    out.push_back(Person(cadre, v1::ROLE_CADRE, GridId(g)));
    v1::DirectoryEntry pairing;
    pairing.mutable_pairing()->set_cadre_id(cadre);
    pairing.mutable_pairing()->set_worker_id(WorkerId(g));
    out.push_back(pairing);
  }
  return out;
}

WuhanDay::WuhanDay(const WuhanDayOptions& options, const std::string& run, uint64_t seed)
    : options_(options), run_(run), rng_(seed) {}

v1::SubmitRequest WuhanDay::Next(int64_t now_us) {
  v1::SubmitRequest request;
  v1::Event* e = request.mutable_event();
  const int grid = Pick(options_.grids);
  const int resident = Pick(options_.residents_per_grid);
  e->set_event_id(absl::StrCat(run_, "-", ++count_));
  e->set_case_id(absl::StrFormat("r-%05d-%03d", grid, resident));
  *e->mutable_occurred_at() = At(now_us);
  e->mutable_actor()->set_id(WorkerId(grid));
  e->mutable_actor()->set_kind(v1::ACTOR_KIND_PERSON);
  e->mutable_actor()->set_role("grid_worker");
  e->set_grid_id(GridId(grid));
  e->set_channel(v1::CHANNEL_VISIT);
  const double kind = Uniform();
  if (kind < options_.fever_share) {
    e->set_channel(v1::CHANNEL_CHECKPOINT);
    auto* f = e->mutable_fever_reading();
    f->set_celsius(Uniform() < options_.abnormal_share ? 37.3 + Pick(23) / 10.0
                                                       : 36.0 + Pick(13) / 10.0);
    f->set_location("compound gate");
    seen_.push_back(e->case_id());
  } else if (kind < options_.fever_share + options_.help_share) {
    // A request of its own (the help-request workflow), for a resident.
    e->set_case_id(absl::StrCat("h-", run_, "-", count_));
    auto* h = e->mutable_help_request();
    h->set_request_id("r1");
    h->set_kind(static_cast<v1::HelpKind>(1 + Pick(5)));
    h->set_urgency(static_cast<v1::Urgency>(1 + Pick(3)));
    h->add_items("medicine");
  } else if (kind < options_.fever_share + options_.help_share + options_.contact_share &&
             seen_.size() > kContactLag) {
    // A resident screened a while ago: the case is open by now, even with
    // many submissions in flight.
    e->set_case_id(seen_[static_cast<size_t>(Pick(static_cast<int>(seen_.size() - kContactLag)))]);
    e->set_channel(v1::CHANNEL_PHONE);
    e->mutable_contact_attempt()->set_outcome(static_cast<v1::ContactOutcome>(1 + Pick(3)));
  } else {
    // Mostly cleared; a few sorted into one of the four categories.
    e->mutable_screening_check()->set_category(
        Uniform() < 0.95 ? v1::CATEGORY_NONE : static_cast<v1::Category>(1 + Pick(4)));
    seen_.push_back(e->case_id());
  }
  if (seen_.size() > 8192) seen_.erase(seen_.begin(), seen_.begin() + 4096);
  return request;
}

}  // namespace gridcase::bench
