#ifndef OSSUP_SERVICE_PROTOCOL_URL_ENCODING_H_
#define OSSUP_SERVICE_PROTOCOL_URL_ENCODING_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ossup::protocol {

// RFC 3986 percent-encoding: every byte outside A-Z a-z 0-9 - _ . ~ becomes %XX (uppercase hex).
// With keep_slash, '/' is left as is (V4 canonical URIs).
std::string PercentEncode(absl::string_view in, bool keep_slash = false);

// Decodes %XX sequences. '+' stays '+' unless plus_as_space (form bodies). Malformed escapes
// ("%", "%4", "%zz") are InvalidArgument: we never guess at bytes that are signed or compared.
absl::StatusOr<std::string> PercentDecode(absl::string_view in, bool plus_as_space = false);

}  // namespace ossup::protocol

#endif  // OSSUP_SERVICE_PROTOCOL_URL_ENCODING_H_
