// The successor policy of a hand-over on its own: a directory in memory,
// loads given, no storage.
#include "engine/staffing/successor.h"

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace gridcase {
namespace {

constexpr int64_t kNowUs = 1582372800LL * 1000000;

v1::DirectoryEntry Unit(const std::string& id, v1::UnitLevel level, const std::string& parent) {
  v1::DirectoryEntry e;
  e.mutable_unit()->set_unit_id(id);
  e.mutable_unit()->set_level(level);
  e.mutable_unit()->set_parent_id(parent);
  return e;
}

v1::DirectoryEntry PersonIn(const std::string& id, v1::Role role, const std::string& unit) {
  v1::DirectoryEntry e;
  e.mutable_person()->set_person_id(id);
  e.mutable_person()->set_role(role);
  e.mutable_person()->set_unit_id(unit);
  return e;
}

// District d > street s > community c > grids g (workers w1 w2 w3, cadre
// k paired with w1) and g2 (worker x alone); secretary sec of c, officer
// so of s, officer do of d.
class SuccessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& e :
         {Unit("d", v1::UNIT_LEVEL_DISTRICT, ""), Unit("s", v1::UNIT_LEVEL_STREET, "d"),
          Unit("c", v1::UNIT_LEVEL_COMMUNITY, "s"), Unit("g", v1::UNIT_LEVEL_GRID, "c"),
          Unit("g2", v1::UNIT_LEVEL_GRID, "c"), PersonIn("w1", v1::ROLE_GRID_WORKER, "g"),
          PersonIn("w2", v1::ROLE_GRID_WORKER, "g"), PersonIn("w3", v1::ROLE_GRID_WORKER, "g"),
          PersonIn("k", v1::ROLE_CADRE, "g"), PersonIn("x", v1::ROLE_GRID_WORKER, "g2"),
          PersonIn("sec", v1::ROLE_COMMUNITY_SECRETARY, "c"),
          PersonIn("so", v1::ROLE_STREET_OFFICER, "s"),
          PersonIn("do", v1::ROLE_DISTRICT_OFFICER, "d")}) {
      Add(e);
    }
    v1::DirectoryEntry pairing;
    pairing.mutable_pairing()->set_cadre_id("k");
    pairing.mutable_pairing()->set_worker_id("w1");
    Add(pairing);
  }

  void Add(const v1::DirectoryEntry& e) {
    ASSERT_TRUE(directory_.Check(e).ok()) << directory_.Check(e);
    directory_.Apply(e, kNowUs - 1000000);
  }
  void MakeUnavailable(const std::string& person) {
    v1::DirectoryEntry e;
    e.mutable_availability()->set_person_id(person);
    e.mutable_availability()->set_availability(v1::AVAILABILITY_UNAVAILABLE);
    e.mutable_availability()->mutable_from()->set_seconds(kNowUs / 1000000 - 1);
    Add(e);
  }
  // "w3 as grid_worker", or "nobody".
  std::string Of(const std::string& leaving, const std::string& grid) {
    auto person = directory_.FindPerson(leaving);
    if (!person) return "no person " + leaving;
    auto to = ChooseSuccessor(directory_, *person, grid, kNowUs, &load_);
    return to ? to->person_id + " as " + to->role : "nobody";
  }

  Directory directory_;
  std::map<std::string, size_t> load_;
};

TEST_F(SuccessorTest, PairedPartnerAvailableTakesOver) {
  MakeUnavailable("w1");
  load_ = {{"w2", 0}, {"w3", 0}, {"k", 50}};
  EXPECT_EQ(Of("w1", "g"), "k as cadre");
  // The partner's load is not weighed, nor counted.
  EXPECT_TRUE(WorkersToWeigh(directory_, *directory_.FindPerson("w1"), kNowUs).empty());
  EXPECT_EQ(load_["k"], 50u);
}

TEST_F(SuccessorTest, CadreHandsOnToItsWorker) {
  MakeUnavailable("k");
  EXPECT_EQ(Of("k", "g"), "w1 as grid_worker");
}

TEST_F(SuccessorTest, PartnerUnavailableLeastLoadedWorkerTakesOver) {
  MakeUnavailable("w1");
  MakeUnavailable("k");
  EXPECT_EQ(WorkersToWeigh(directory_, *directory_.FindPerson("w1"), kNowUs),
            (std::vector<std::string>{"w2", "w3"}));
  load_ = {{"w2", 3}, {"w3", 1}};
  EXPECT_EQ(Of("w1", "g"), "w3 as grid_worker");
  EXPECT_EQ(load_["w3"], 2u);  // the case it took counts
  EXPECT_EQ(Of("w1", "g"), "w3 as grid_worker");
  EXPECT_EQ(Of("w1", "g"), "w2 as grid_worker");  // 3 and 3: the first in order
}

TEST_F(SuccessorTest, TiesGoToTheFirstInDirectoryOrderThenAlternate) {
  MakeUnavailable("w1");
  MakeUnavailable("k");
  load_ = {{"w2", 1}, {"w3", 1}};
  EXPECT_EQ(Of("w1", "g"), "w2 as grid_worker");
  EXPECT_EQ(Of("w1", "g"), "w3 as grid_worker");
  EXPECT_EQ(Of("w1", "g"), "w2 as grid_worker");
  // A worker missing from the loads holds none.
  load_ = {{"w2", 1}};
  EXPECT_EQ(Of("w1", "g"), "w3 as grid_worker");
}

TEST_F(SuccessorTest, NoWorkerGoesUpTheLadder) {
  MakeUnavailable("x");
  EXPECT_EQ(Of("x", "g2"), "sec as community_secretary");
  MakeUnavailable("sec");
  EXPECT_EQ(Of("x", "g2"), "so as street_officer");
  MakeUnavailable("so");
  EXPECT_EQ(Of("x", "g2"), "do as district_officer");
}

TEST_F(SuccessorTest, OnlyUpwardsFromTheRoleLeaving) {
  // A secretary's cases go to the street, never down to a grid's worker;
  // a street officer's to the district, not down to the secretary.
  MakeUnavailable("sec");
  EXPECT_EQ(Of("sec", "g"), "so as street_officer");
}

TEST_F(SuccessorTest, AStreetOfficersCasesGoToTheDistrictNotDown) {
  MakeUnavailable("so");
  EXPECT_EQ(Of("so", "g2"), "do as district_officer");
}

TEST_F(SuccessorTest, NobodyAvailableLeavesTheCase) {
  for (const char* p : {"x", "sec", "so", "do"}) MakeUnavailable(p);
  EXPECT_EQ(Of("x", "g2"), "nobody");
}

}  // namespace
}  // namespace gridcase
