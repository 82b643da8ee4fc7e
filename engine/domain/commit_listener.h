// The seam through which the rest of the engine learns what became durable.
//
// Processors read, appliers write, listeners observe: a case logic decides
// and folds, and never changes anything outside the case; whatever must
// follow a durable record elsewhere (the workflow registry and directory,
// waiters on a commit, the deadline timers) is a CommitListener the
// sequencer calls after the group's synced write.
#ifndef GRIDCASE_ENGINE_DOMAIN_COMMIT_LISTENER_H_
#define GRIDCASE_ENGINE_DOMAIN_COMMIT_LISTENER_H_

#include "gridcase/v1/event.pb.h"

namespace gridcase {

class CommitListener {
 public:
  virtual ~CommitListener() = default;
  // Told about every record once its group is durable, in log order, on
  // the partition's sequencer thread and before any submitter of the group
  // is answered. Must be quick and must not block.
  virtual void OnDurable(const v1::Record& record) = 0;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_DOMAIN_COMMIT_LISTENER_H_
