#ifndef OSSEMU_V4_AUTH_H_
#define OSSEMU_V4_AUTH_H_

// OSS V4 header signing (OSS4-HMAC-SHA256), written from the canonical-request description of the
// Go SDK v2 signer (oss/signer/v4.go) and checked against its TestV4AuthHeader vector.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ossemu {

struct V4Request {
  std::string method;
  std::string bucket;
  std::string key;        // decoded object key ("" for bucket-level requests)
  std::string raw_query;  // the query string as sent, without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names any case
};

// RFC 3986 unreserved characters stay, everything else %XX (upper hex); '/' kept unless
// encode_slash.
std::string UriEncode(absl::string_view s, bool encode_slash);

std::string V4CanonicalRequest(const V4Request& request,
                               const std::vector<std::string>& additional_headers);
std::string V4StringToSign(absl::string_view datetime, absl::string_view scope,
                           absl::string_view canonical_request);

struct V4Authorization {
  std::string access_key_id;
  std::string date;    // YYYYMMDD
  std::string region;
  std::vector<std::string> additional_headers;  // lowercase
  std::string signature;  // lowercase hex
};

// Parses "OSS4-HMAC-SHA256 Credential=AK/date/region/oss/aliyun_v4_request[,AdditionalHeaders=a;b],
// Signature=hex". Errors are OSS InvalidArgument.
absl::StatusOr<V4Authorization> ParseV4Authorization(absl::string_view header);

// Hex signature of `request` (its x-oss-date header supplies the timestamp).
std::string V4HeaderSignature(const V4Request& request, absl::string_view secret,
                              absl::string_view date, absl::string_view region,
                              const std::vector<std::string>& additional_headers);

}  // namespace ossemu

#endif  // OSSEMU_V4_AUTH_H_
