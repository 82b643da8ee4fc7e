// Page tokens a caller can use only for the listing they came from.
//
// The engine pages with plain cursors (the last case id of a page, the
// last version of a timeline, the last position of the access log). What a
// caller is given instead is the cursor and an HMAC-SHA256 over the
// server's key, the caller, the call and the request's filters:
//
//   base64url(cursor) "." base64url(first 16 bytes of the HMAC)
//
// so a token copied to another caller, replayed with other filters (a
// wider area, another case) or made up is refused with INVALID_ARGUMENT
// before the engine sees it. The filters are the request with its
// page_token, page_size and break_glass_reason cleared, serialized
// deterministically: a caller may change the page size between pages.
//
// The key is 32 random bytes drawn when the server starts, unless one is
// configured (`--page-token-key FILE`, which several servers may share):
// tokens then do not outlive a restart, and the refusal says so.
#ifndef GRIDCASE_SERVICES_SECURITY_PAGE_TOKENS_H_
#define GRIDCASE_SERVICES_SECURITY_PAGE_TOKENS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace gridcase::security {

class PageTokens {
 public:
  // At least 32 bytes of key.
  static constexpr size_t kKeyBytesMin = 32;

  // A key of 32 random bytes, good until the process ends.
  static PageTokens Random();
  // The key held by `path`, which must be its owner's alone and hold at
  // least kKeyBytesMin bytes; FAILED_PRECONDITION / INVALID_ARGUMENT
  // naming the file otherwise.
  static absl::StatusOr<PageTokens> FromFile(const std::string& path);

  // The token of `cursor` for `caller`'s call of `method` with `request`
  // ("" stays "": nothing more to read).
  std::string Seal(absl::string_view caller, absl::string_view method,
                   const google::protobuf::Message& request, absl::string_view cursor) const;

  // The cursor `request.page_token` seals for this caller, call and
  // request ("" for ""): INVALID_ARGUMENT when it seals none.
  absl::StatusOr<std::string> Open(absl::string_view caller, absl::string_view method,
                                   const google::protobuf::Message& request) const;

 private:
  explicit PageTokens(std::string key) : key_(std::move(key)) {}

  std::string Mac(absl::string_view caller, absl::string_view method,
                  const google::protobuf::Message& request, absl::string_view cursor) const;

  std::string key_;
};

}  // namespace gridcase::security

#endif  // GRIDCASE_SERVICES_SECURITY_PAGE_TOKENS_H_
