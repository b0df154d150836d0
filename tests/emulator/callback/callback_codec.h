#ifndef OSSEMU_CALLBACK_CALLBACK_CODEC_H_
#define OSSEMU_CALLBACK_CALLBACK_CODEC_H_

// Small encoders/decoders the callback module needs (reimplemented here on purpose: the
// emulator must not share code with service/).

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "xml_escape.h"

namespace ossemu {

// Standard-alphabet base64 with padding, no line breaks.
std::string Base64Encode(absl::string_view data);

// Strict standard-alphabet base64: length a multiple of 4, '=' only as 1-2 trailing pad
// characters, no whitespace, no URL-safe alphabet, zero pad bits.
absl::StatusOr<std::string> Base64DecodeStrict(absl::string_view text);

// RFC 3986 unreserved characters (ALPHA DIGIT - . _ ~) kept, every other byte as %XX
// (uppercase hex). Space becomes %20, not '+'.
std::string UrlEncodeComponent(absl::string_view value);

// Decodes %XX sequences; '+' stays '+'; a malformed '%' is kept verbatim.
std::string PercentDecode(absl::string_view value);


// Raw MD5 digest.
std::string Md5(absl::string_view data);

// A callbackUrl split into the parts the sender and signer need.
struct CallbackUrl {
  std::string scheme;  // "http" or "https" (lowercase)
  std::string host;    // as written, without brackets or port
  int port = 0;        // 0 = scheme default
  std::string target;  // path + optional "?query", as sent in the request line; "/" if empty

  // scheme://host[:port]target
  std::string ToString() const;
};

// Parses one callbackUrl entry. A URL without "scheme://" is taken as http (the doc example
// "121.43.113.8:23456/index.html"). Refuses other schemes, userinfo, IPv6 literals, empty hosts
// and bad ports, with InvalidArgument. Also refused: spaces, control and non-ASCII bytes.
// Not refused, unlike OSS (EC 0007-00000008): private and loopback addresses, which the
// emulator's tests need. IPv6-only host names are not detected (no DNS lookup here). A '#fragment' is dropped (it is never sent).
absl::StatusOr<CallbackUrl> ParseCallbackUrl(absl::string_view raw);

}  // namespace ossemu

#endif  // OSSEMU_CALLBACK_CALLBACK_CODEC_H_
