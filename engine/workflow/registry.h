// The deployed workflow definitions, every version of every name.
//
// Filled from the log when the engine opens, and by each deployment once it
// is durable. Thread-safe: the sequencers of all partitions read it.
#ifndef GRIDCASE_ENGINE_WORKFLOW_REGISTRY_H_
#define GRIDCASE_ENGINE_WORKFLOW_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/workflow/definition.h"
#include "gridcase/v1/event.pb.h"

namespace gridcase::workflow {

class Registry {
 public:
  // Adds a version. It must be the next of its name (1 for a new name);
  // adding a version again with identical content is a no-op.
  absl::Status Add(std::shared_ptr<const Definition> def);

  // nullptr when absent.
  std::shared_ptr<const Definition> Get(const std::string& name, uint32_t version) const;
  std::shared_ptr<const Definition> Latest(const std::string& name) const;

  // The latest version of the first workflow (by name) with an opener for
  // `event` whose guard holds; nullptr when none. `now_us` is the deciding
  // record's recorded time.
  std::shared_ptr<const Definition> ForOpening(const v1::Event& event, int64_t now_us) const;

  // Every version, by name then version.
  std::vector<std::shared_ptr<const Definition>> All() const;

 private:
  mutable absl::Mutex mu_;
  // name -> versions, index = version - 1
  std::map<std::string, std::vector<std::shared_ptr<const Definition>>> by_name_
      ABSL_GUARDED_BY(mu_);
};

// Whether `def` has an opener for `event` whose guard holds.
bool Opens(const Definition& def, const v1::Event& event, int64_t now_us);

}  // namespace gridcase::workflow

#endif  // GRIDCASE_ENGINE_WORKFLOW_REGISTRY_H_
