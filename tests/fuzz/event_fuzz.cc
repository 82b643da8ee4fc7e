// Submissions as clients send them: the input is the bytes of a
// gridcase.v1.SubmitRequest (EventService.Submit) and, read again, of a
// gridcase.v1.Event (the Kafka ingest's protobuf format), each validated
// by ValidateEvent (engine/domain/validate.h), as Engine::Submit does.
//
// Invariants: validation answers OK or INVALID_ARGUMENT; a valid event
// has ids a partition can route and key by; and a valid event decided by
// the shipped workflows with the example directory (as the case's first
// event, then followed by an event of every type and its deadlines) keeps
// the record sequence, writes records that read back and print as JSON,
// and replays to the state live processing left (fuzz_support.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace v1 = gridcase::v1;
  v1::SubmitRequest request;
  if (request.ParseFromArray(data, static_cast<int>(size)))
    gridcase::fuzz::ValidateAndDecide(request);
  v1::SubmitRequest from_stream;
  if (from_stream.mutable_event()->ParseFromArray(data, static_cast<int>(size))) {
    gridcase::fuzz::ValidateAndDecide(from_stream);
  }
  return 0;
}
