// Page tokens (services/security/page_tokens.h), under a fixed key: the
// input gives a caller, a cursor, a token and the bytes of a paged request
// (ListCases, GetTimeline or ReadAccess, as the services open them).
//
// Invariants: opening any token never fails other than INVALID_ARGUMENT,
// and "" opens to ""; a token this key sealed opens to its cursor for the
// same caller, call and filters (whatever the page size), and for no other
// caller, call or filters; a token changed in one byte opens only to the
// same cursor and MAC (base64 spelled another way), never to another.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/escaping.h"
#include "gridcase/v1/service.pb.h"
#include "services/security/page_tokens.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using gridcase::security::PageTokens;

const PageTokens& Tokens() {
  static const PageTokens* const tokens = [] {
    const std::string path = gridcase::fuzz::ScratchDir() + "/page-token.key";
    // 32 bytes, fixed.
    gridcase::fuzz::WriteFile(path, "0123456789abcdef0123456789abcdef", 0600);
    auto loaded = PageTokens::FromFile(path);
    FUZZ_CHECK(loaded.ok(), loaded.status().ToString());
    return new PageTokens(*std::move(loaded));
  }();
  return *tokens;
}

// The cursor and MAC a token spells, or nothing.
struct Spelled {
  std::string cursor, mac;
  bool operator==(const Spelled&) const = default;
};
std::optional<Spelled> Spelling(const std::string& token) {
  const size_t dot = token.find('.');
  Spelled s;
  if (dot == std::string::npos ||
      !absl::WebSafeBase64Unescape(absl::string_view(token).substr(0, dot), &s.cursor) ||
      !absl::WebSafeBase64Unescape(absl::string_view(token).substr(dot + 1), &s.mac)) {
    return std::nullopt;
  }
  return s;
}

void SetToken(google::protobuf::Message* request, const std::string& token) {
  request->GetReflection()->SetString(
      request, request->GetDescriptor()->FindFieldByName("page_token"), token);
}

// Another value of a filter of `request`: a field other than the three
// that may change from page to page.
void ChangeFilter(google::protobuf::Message* request) {
  const auto* d = request->GetDescriptor();
  const auto* r = request->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING || f->is_repeated() ||
        f->name() == "page_token" || f->name() == "break_glass_reason") {
      continue;
    }
    r->SetString(request, f, r->GetString(*request, f) + "x");
    return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  static const std::string kMethods[] = {"/gridcase.v1.CaseService/ListCases",
                                         "/gridcase.v1.CaseService/GetTimeline",
                                         "/gridcase.v1.AuditService/ReadAccess"};
  const size_t which = in.ConsumeIntegralInRange<size_t>(0, 2);
  const std::string caller = in.ConsumeRandomLengthString(128);
  const std::string cursor = in.ConsumeRandomLengthString(256);
  const std::string token = in.ConsumeRandomLengthString(512);
  const size_t changed_at = in.ConsumeIntegral<uint16_t>();
  const char changed_to = in.ConsumeIntegral<char>();
  const std::string request_bytes = in.ConsumeRemainingBytesAsString();
  std::unique_ptr<google::protobuf::Message> request;
  switch (which) {
    case 0:
      request = std::make_unique<gridcase::v1::ListCasesRequest>();
      break;
    case 1:
      request = std::make_unique<gridcase::v1::GetTimelineRequest>();
      break;
    default:
      request = std::make_unique<gridcase::v1::ReadAccessRequest>();
      break;
  }
  if (!request->ParseFromString(request_bytes)) request->Clear();
  const std::string& method = kMethods[which];
  const PageTokens& tokens = Tokens();

  // Any token.
  SetToken(request.get(), token);
  auto opened = tokens.Open(caller, method, *request);
  if (opened.ok()) {
    FUZZ_CHECK(opened->empty() == token.empty(), "\"\" opens to \"\" and nothing else does");
    if (!token.empty()) {
      // Accepted: it spells what this key seals for this cursor.
      const auto sealed = Spelling(tokens.Seal(caller, method, *request, *opened));
      FUZZ_CHECK(sealed && Spelling(token) == sealed, "a token opened that was never sealed");
    }
  } else {
    FUZZ_CHECK(absl::IsInvalidArgument(opened.status()), opened.status().ToString());
  }

  // A token sealed for this caller, call and request.
  const std::string sealed = tokens.Seal(caller, method, *request, cursor);
  FUZZ_CHECK(sealed.empty() == cursor.empty(), "\"\" seals to \"\" and nothing else does");
  if (cursor.empty()) return 0;
  SetToken(request.get(), sealed);
  auto same = tokens.Open(caller, method, *request);
  FUZZ_CHECK(same.ok() && *same == cursor, "a sealed token does not open to its cursor");
  if (const auto* size_field = request->GetDescriptor()->FindFieldByName("page_size")) {
    request->GetReflection()->SetUInt32(request.get(), size_field, 1000);
    FUZZ_CHECK(tokens.Open(caller, method, *request).ok(), "the page size may change");
  }
  FUZZ_CHECK(!tokens.Open(caller + "x", method, *request).ok(), "opened for another caller");
  FUZZ_CHECK(!tokens.Open(caller, method + "x", *request).ok(), "opened for another call");
  std::unique_ptr<google::protobuf::Message> other(request->New());
  other->CopyFrom(*request);
  ChangeFilter(other.get());
  FUZZ_CHECK(!tokens.Open(caller, method, *other).ok(), "opened for other filters");

  // One byte changed.
  std::string mutated = sealed;
  mutated[changed_at % mutated.size()] = changed_to;
  if (mutated == sealed) return 0;
  SetToken(request.get(), mutated);
  auto changed = tokens.Open(caller, method, *request);
  if (changed.ok()) {
    FUZZ_CHECK(Spelling(mutated) == Spelling(sealed), "a changed token opened to ", *changed,
               " instead of ", cursor);
  }
  return 0;
}
