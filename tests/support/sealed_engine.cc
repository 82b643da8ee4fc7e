#include "tests/support/sealed_engine.h"

#include "engine/domain/personal.h"

namespace gridcase::testing {

ErasureRequest OfficersErasure(const std::string& case_id) {
  ErasureRequest r;
  r.case_id = case_id;
  r.reason = "the resident asked for erasure after the case closed";
  r.legal_basis = "PIPL art. 47(1)";
  r.actor.set_id("dpo-1");
  r.actor.set_kind(v1::ACTOR_KIND_PERSON);
  r.requested_by = "gridcase:person:dpo-1";
  return r;
}

std::string CaseKeySubject(const Engine& engine, const std::string& case_id) {
  auto state = engine.GetCase(case_id);
  EXPECT_TRUE(state.ok()) << state.status();
  return state.ok() && state->key_slot() != 0 ? SlotSubject(state->key_slot()) : std::string();
}

void FlushAndCompactAll(Engine& engine) {
  for (uint32_t p = 0; p < engine.partition_count(); ++p) {
    PartitionStore& store = engine.partitions().store(PartitionId(p));
    ASSERT_TRUE(store.Flush().ok());
    ASSERT_TRUE(store.Compact().ok());
  }
}

void SealedEngineTest::Open(bool sealed, const std::string& sub) {
  engine_.reset();
  EngineOptions options;
  options.data_dir = dir_.Sub(sub);
  options.partitions = 4;
  if (sealed) options.master_key = TestMasterKey();
  auto engine = Engine::Open(options, &clock_);
  ASSERT_TRUE(engine.ok()) << engine.status();
  engine_ = std::move(*engine);
}

}  // namespace gridcase::testing
