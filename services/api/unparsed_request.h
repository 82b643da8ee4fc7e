// Requests whose bytes do not parse as the method's request message.
//
// gRPC 1.51 parses a request before any handler sees it, and answers a
// failure by the API the method is served on: UNIMPLEMENTED "" for a
// callback unary method, INTERNAL "" for a synchronous one. Neither tells a
// client what it got wrong. Every gridcase.v1 method answers such bytes with
// INVALID_ARGUMENT naming the request type instead:
//
//   * unary and server-streaming methods, whatever API serves them, through
//     the interceptor installed by AddUnparsedRequestRefusal: gRPC shows an
//     interceptor the parsed request at POST_RECV_MESSAGE, or nothing when
//     it did not parse, and the interceptor rewrites the status the
//     handler sends (PRE_SEND_STATUS). One interceptor covers every method,
//     where parsing by hand would take a raw method and a copy of the same
//     checks per RPC;
//   * methods served raw (bytes in, parsed by the service: GetTimeline,
//     SubmitStream) by calling UnparsedRequest themselves. A stream must be
//     raw to tell a message that does not parse from the end of the
//     client's messages: gRPC reports both to a typed reactor as the end of
//     reads (OnReadDone(false)), which would end the stream OK.
//
// gRPC's own services parse their requests themselves and keep their own
// rules (gRPC 1.51): health's Check answers INVALID_ARGUMENT "could not
// parse request", its Watch INTERNAL with the same message, and reflection
// (a stream) takes a message that does not parse for the end of the
// client's messages and ends OK, having answered nothing.
#ifndef GRIDCASE_SERVICES_API_UNPARSED_REQUEST_H_
#define GRIDCASE_SERVICES_API_UNPARSED_REQUEST_H_

#include <string>

#include "google/protobuf/descriptor.h"
#include "grpcpp/grpcpp.h"

namespace gridcase::api {

// The message of the INVALID_ARGUMENT sent for bytes that do not parse as
// `type`; it names the type's full name ("gridcase.v1.SubmitRequest").
std::string UnparsedRequest(const google::protobuf::Descriptor& type);

// Installs on `builder` the interceptor that answers, for every unary and
// server-streaming method of the gridcase.v1 services, a request that does
// not parse with INVALID_ARGUMENT and UnparsedRequest(request type). Other
// methods (gRPC's own, the streams) get no interceptor, so they pay nothing.
// Replaces any interceptors `builder` had.
void AddUnparsedRequestRefusal(grpc::ServerBuilder& builder);

}  // namespace gridcase::api

#endif  // GRIDCASE_SERVICES_API_UNPARSED_REQUEST_H_
