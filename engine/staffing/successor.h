// Who takes over a case from a person who can no longer hold it: the
// policy alone, a pure function of the directory, the moment and the loads
// (no storage), so that it is tested on its own (successor_test.cc).
#ifndef GRIDCASE_ENGINE_STAFFING_SUCCESSOR_H_
#define GRIDCASE_ENGINE_STAFFING_SUCCESSOR_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/domain/directory.h"

namespace gridcase {

struct Successor {
  std::string person_id;
  std::string role;  // the rung the successor holds it as: "grid_worker", "cadre", ...
};

// The grid workers whose loads ChooseSuccessor weighs for the cases of
// `leaving` at `now_us`: when `leaving` is a grid worker or cadre whose
// paired partner is not available, the other available grid workers of its
// unit, in directory order; otherwise none.
std::vector<std::string> WorkersToWeigh(const Directory& directory, const Person& leaving,
                                        int64_t now_us);

// The successor of `leaving` for a case of grid `grid_id` at `now_us`: the
// paired partner when available; else, for a grid worker or cadre, the
// available grid worker of its unit holding the fewest cases (`load`, by
// person; a worker absent from it holds none; the first in directory order
// on a tie), whose load then grows by one; else up the ladder above
// `leaving`'s role for the grid (community secretary, street officer,
// district officer), the first available that is not `leaving`. nullopt
// when nobody is available anywhere up the chain.
std::optional<Successor> ChooseSuccessor(const Directory& directory, const Person& leaving,
                                         const std::string& grid_id, int64_t now_us,
                                         std::map<std::string, size_t>* load);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_STAFFING_SUCCESSOR_H_
