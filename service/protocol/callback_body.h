#ifndef OSSUP_SERVICE_PROTOCOL_CALLBACK_BODY_H_
#define OSSUP_SERVICE_PROTOCOL_CALLBACK_BODY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/protocol/callback_body_type.h"

// Parser for the body OSS POSTs to our callback endpoint (reference §2.5/§2.6): the callbackBody
// template with variables substituted, typed by callbackBodyType. Parse only after the callback
// signature over the raw bytes has been verified (reference §4 #2).
namespace ossup::protocol {

// Maps the callback request's Content-Type to a body type. The media type is compared
// case-insensitively; parameters ("; charset=utf-8") are ignored.
absl::StatusOr<CallbackBodyType> CallbackBodyTypeFromContentType(absl::string_view content_type);

struct CallbackBodyLimits {
  size_t max_bytes = 64 * 1024;
  size_t max_fields = 64;
  size_t max_name_bytes = 128;    // after decoding
  size_t max_value_bytes = 8192;  // after decoding
};

// A flat name → text map, in body order.
//
// Form bodies: '&'-separated "name=value", '+' as space and %XX decoded in both; "k=" and a bare
// "k" are an empty value; empty segments ("a=1&&b=2") are skipped.
// JSON bodies: a single object whose values are scalars. Values are kept as text: strings
// decoded, numbers in their JSON spelling (114020, 1.5e3; integers re-rendered, so "-0" becomes
// "0"), booleans "true"/"false", null "". Nested objects/arrays are rejected: our templates never
// produce them, and refusing them bounds the structure.
// Both: duplicate names are InvalidArgument (an attacker-controlled value could otherwise add a
// second copy of a field and win on whichever copy a consumer reads), as is any exceeded limit.
// There is no fallback between types: a JSON-typed body that is not JSON (e.g. a form-style
// template sent with callbackBodyType application/json, reference §2.5 soonio/osd) is rejected.
class CallbackBody {
 public:
  static absl::StatusOr<CallbackBody> Parse(CallbackBodyType type, absl::string_view raw,
                                            const CallbackBodyLimits& limits = {});

  bool Has(absl::string_view name) const;
  // NotFound if absent.
  absl::StatusOr<std::string> GetString(absl::string_view name) const;
  // A non-negative decimal integer without sign, whitespace, fraction, exponent or leading zero,
  // from a JSON number or a string ("5385" and 5385 both work). NotFound if absent,
  // InvalidArgument otherwise, OutOfRange on int64 overflow.
  absl::StatusOr<int64_t> GetInt64(absl::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  friend class CallbackBodyBuilder;
  CallbackBody() = default;
  // NotFound names the field; shared by the getters.
  absl::StatusOr<const std::string*> Find(absl::string_view name) const;

  std::vector<std::pair<std::string, std::string>> fields_;
  absl::flat_hash_map<std::string, size_t> index_;  // name → position in fields_
};

}  // namespace ossup::protocol

#endif  // OSSUP_SERVICE_PROTOCOL_CALLBACK_BODY_H_
