#include "engine/workflow/follower.h"

#include <string>

#include "engine/common/check.h"
#include "engine/common/time.h"
#include "engine/workflow/definition.h"

namespace gridcase::workflow {

void EngineCaseFollower::OnDurable(const v1::Record& record) {
  if (record.event().case_id() == kDirectoryCaseId) {
    ApplyDirectoryRecord(record, directory_);
    return;
  }
  if (!record.event().has_workflow_deployed()) return;
  auto def = Definition::FromProto(record.event().workflow_deployed().definition());
  // Only validated definitions are ever written; and versions come in order.
  GC_CHECK(def.ok(), "a durable deployment does not validate: ", def.status().message());
  const absl::Status added = registry_->Add(*def);
  GC_CHECK(added.ok(), "a durable deployment cannot be registered: ", added.message());
}

}  // namespace gridcase::workflow
