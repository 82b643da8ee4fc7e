// The first step of every callback handler: pass the gate, or finish the
// call with its refusal.
#ifndef GRIDCASE_SERVICES_API_ADMIT_H_
#define GRIDCASE_SERVICES_API_ADMIT_H_

#include <optional>

#include "grpcpp/grpcpp.h"
#include "services/api/status.h"
#include "services/security/gate.h"

namespace gridcase::api {

// The admission of `Service`'s `method` call, or nullopt once `reactor`
// is finished with the refusal.
template <typename Service>
std::optional<security::Admission> AdmitOrFinish(const security::Gate& gate,
                                                 grpc::CallbackServerContext* context,
                                                 grpc::ServerUnaryReactor* reactor,
                                                 absl::string_view method) {
  auto admitted = gate.Admit(*context, security::MethodOf<Service>(method));
  if (admitted.ok()) return std::move(*admitted);
  reactor->Finish(ToGrpc(admitted.status()));
  return std::nullopt;
}

// A callback call finished at once with `why`.
inline grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context,
                                        const absl::Status& why) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpc(why));
  return reactor;
}

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_ADMIT_H_
