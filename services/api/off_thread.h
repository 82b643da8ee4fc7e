// Unary calls whose work blocks (reads of the whole store, waits for
// writes) must not hold a callback-completion thread: they run on a thread
// of their own and finish the call from there.
#ifndef GRIDCASE_SERVICES_API_OFF_THREAD_H_
#define GRIDCASE_SERVICES_API_OFF_THREAD_H_

#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "services/api/status.h"

namespace gridcase::api {

// Runs `work` (returning absl::StatusOr<T>) off the completion thread, then
// finishes the call with its result.
template <typename T, typename Work>
grpc::ServerUnaryReactor* OffThread(grpc::CallbackServerContext* context, T* response, Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::thread([reactor, response, work = std::move(work)] {
    absl::StatusOr<T> result = work();
    if (result.ok()) *response = std::move(*result);
    reactor->Finish(ToGrpc(result.status()));
  }).detach();
  return reactor;
}

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_OFF_THREAD_H_
