#ifndef OSSUP_SERVICE_PROTOCOL_CRYPTO_H_
#define OSSUP_SERVICE_PROTOCOL_CRYPTO_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// Thin wrappers over OpenSSL 3 EVP for the primitives the OSS protocol needs. All inputs and
// outputs are raw bytes in std::string. Failures (e.g. a FIPS provider refusing MD5) come back as
// absl::Status, never as a crash.
namespace ossup::protocol {

absl::StatusOr<std::string> HmacSha256(absl::string_view key, absl::string_view data);
absl::StatusOr<std::string> HmacSha1(absl::string_view key, absl::string_view data);
absl::StatusOr<std::string> Sha256(absl::string_view data);
absl::StatusOr<std::string> Md5(absl::string_view data);

// Lowercase hex.
std::string HexEncode(absl::string_view bytes);

// Standard alphabet, padded, no line breaks (OSS rejects wrapped base64; reference §4 #12).
std::string Base64Encode(absl::string_view bytes);

// Strict standard-alphabet decoding: the length must be a multiple of 4, padding only at the end,
// no whitespace. Returns InvalidArgument otherwise.
absl::StatusOr<std::string> Base64DecodeStrict(absl::string_view text);
// The same checks without decoding.
absl::Status CheckBase64Strict(absl::string_view text);

// Constant-time comparison for secrets and MACs.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace ossup::protocol

#endif  // OSSUP_SERVICE_PROTOCOL_CRYPTO_H_
