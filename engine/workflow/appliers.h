// The appliers: how each record changes a case's state. The only code that
// writes CaseState. They are kept per record version (stamper.h): a record
// is folded by the appliers of the version it was written under.
#ifndef GRIDCASE_ENGINE_WORKFLOW_APPLIERS_H_
#define GRIDCASE_ENGINE_WORKFLOW_APPLIERS_H_

#include "engine/workflow/definition.h"
#include "gridcase/v1/case.pb.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase::workflow {

// Folds `record` into `state`. `def` is the case's workflow; it is read
// for the counters a submitted event updates, and may be null only for
// records of the engine's own cases (deployments), which have no workflow.
void ApplyRecord(const v1::Record& record, const Definition* def, v1::CaseState* state);

}  // namespace gridcase::workflow

#endif  // GRIDCASE_ENGINE_WORKFLOW_APPLIERS_H_
