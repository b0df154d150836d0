#ifndef OSSUP_SERVICE_PROTOCOL_REQUEST_SIGNER_V4_H_
#define OSSUP_SERVICE_PROTOCOL_REQUEST_SIGNER_V4_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/protocol/credentials.h"
#include "service/protocol/signing_key.h"

// OSS V4 header signing ("Authorization: OSS4-HMAC-SHA256 Credential=...") for ordinary object
// requests (HeadObject, GetObject, PutObject, DeleteObject, ...). Pure computation, no I/O.
// Algorithm as in the official Go SDK v2 (oss/signer/v4.go, authHeader):
//   canonical request = method \n canonical URI \n canonical query \n canonical headers \n
//                       additional headers \n hashed payload
//   string to sign    = "OSS4-HMAC-SHA256" \n x-oss-date \n scope \n hex(sha256(canonical request))
//   signature         = hex(HMAC-SHA256(kSigning, string to sign))
namespace ossup::protocol {

inline constexpr absl::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

// Input bounds; anything larger is InvalidArgument.
inline constexpr size_t kV4MaxObjectKeyBytes = 1023;  // OSS object key limit
inline constexpr size_t kV4MaxHeaders = 64;
inline constexpr size_t kV4MaxHeaderNameBytes = 256;
inline constexpr size_t kV4MaxHeaderValueBytes = 8192;
inline constexpr size_t kV4MaxQueryParams = 64;
inline constexpr size_t kV4MaxQueryPartBytes = 4096;  // each decoded name or value
inline constexpr size_t kV4MaxAdditionalHeaders = 16;

struct V4RequestToSign {
  // One of GET, HEAD, PUT, POST, DELETE (uppercase, as sent on the wire).
  std::string method;
  // Empty only for service-level requests (then object_key must be empty too).
  std::string bucket;
  // Raw (decoded) key; empty for bucket-level requests.
  std::string object_key;
  // Decoded name and value; an empty value is signed as a bare name ("acl"). Names must be
  // unique: the Go SDK signs a repeated name twice with its last value, which cannot match a
  // request carrying two different values.
  std::vector<std::pair<std::string, std::string>> query;
  // Headers the caller will send. Names are case-insensitive and must be unique. The signer owns
  // authorization, x-oss-date and x-oss-security-token: passing them is InvalidArgument.
  // x-oss-content-sha256, if given, must be UNSIGNED-PAYLOAD (the only value the SDK sends).
  std::vector<std::pair<std::string, std::string>> headers;
  // Extra header names to sign (case-insensitive). As in the SDK, names that are signed anyway
  // (content-type, content-md5, x-oss-*) or that are absent/empty in `headers` are dropped.
  std::vector<std::string> additional_headers;
};

struct V4SignedRequest {
  // To be added to the request as is: authorization, x-oss-date, x-oss-content-sha256 (if the
  // caller did not set it) and x-oss-security-token (STS only). Names lowercase.
  std::vector<std::pair<std::string, std::string>> headers_to_add;
  // Exposed for debugging signature mismatches (OSS returns its own in the error body). Neither
  // contains the secret.
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature_hex;
};

// Signs `request` at instant `now` for `region` (plain region ID, "cn-hangzhou"). `cache` may be
// null. Fails with InvalidArgument on bad input and FailedPrecondition when STS credentials have
// expired at `now`.
absl::StatusOr<V4SignedRequest> SignRequestV4(const V4RequestToSign& request,
                                              const Credentials& credentials,
                                              absl::string_view region, absl::Time now,
                                              SigningKeyCache* cache);

}  // namespace ossup::protocol

#endif  // OSSUP_SERVICE_PROTOCOL_REQUEST_SIGNER_V4_H_
