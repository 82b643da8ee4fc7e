#include "services/api/unparsed_request.h"

#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "gridcase/v1/service.pb.h"
#include "grpcpp/support/server_interceptor.h"

namespace gridcase::api {
namespace {

using grpc::experimental::InterceptionHookPoints;

// One call's interceptor. gRPC creates it on one thread and runs the call's
// hooks one after another, never two at once, but on different threads,
// ordered inside libgrpc: the flag is atomic, stored once by the
// constructor and loaded first by every hook, so that this ordering (of
// the flag and of everything the constructor wrote) is not taken on trust.
class UnparsedRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit UnparsedRequestInterceptor(const google::protobuf::Descriptor* type) : type_(type) {
    unparsed_.store(false, std::memory_order_release);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    bool unparsed = unparsed_.load(std::memory_order_acquire);
    // A unary or server-streaming request is parsed before the handler
    // runs; this hook then carries it, or nothing when it did not parse.
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsed = true;
      unparsed_.store(true, std::memory_order_release);
    }
    if (unparsed && methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      methods->ModifySendStatus(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, UnparsedRequest(*type_)));
    }
    methods->Proceed();
  }

 private:
  const google::protobuf::Descriptor* const type_;
  std::atomic<bool> unparsed_;
};

class UnparsedRequestFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // The request type of every unary and server-streaming method of the
  // gridcase.v1 services, by the path gRPC names it with
  // ("/gridcase.v1.EventService/Submit"). Built once, so that a call costs
  // a hash lookup and not a search of the descriptor pool under its lock.
  UnparsedRequestFactory() {
    const google::protobuf::FileDescriptor* file = v1::SubmitRequest::descriptor()->file();
    for (int s = 0; s < file->service_count(); ++s) {
      const google::protobuf::ServiceDescriptor* service = file->service(s);
      for (int m = 0; m < service->method_count(); ++m) {
        const google::protobuf::MethodDescriptor* method = service->method(m);
        if (method->client_streaming()) continue;  // raw: the service parses
        request_types_[absl::StrCat("/", service->full_name(), "/", method->name())] =
            method->input_type();
      }
    }
  }

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    auto it = request_types_.find(absl::string_view(info->method()));
    if (it == request_types_.end()) return nullptr;
    return new UnparsedRequestInterceptor(it->second);
  }

 private:
  absl::flat_hash_map<std::string, const google::protobuf::Descriptor*> request_types_;
};

}  // namespace

std::string UnparsedRequest(const google::protobuf::Descriptor& type) {
  return absl::StrCat("the request does not parse as ", type.full_name(),
                      " (not that message's protobuf encoding, or a string field that is "
                      "not valid UTF-8)");
}

void AddUnparsedRequestRefusal(grpc::ServerBuilder& builder) {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<UnparsedRequestFactory>());
  builder.experimental().SetInterceptorCreators(std::move(creators));
}

}  // namespace gridcase::api
