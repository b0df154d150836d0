#ifndef OSSUP_SERVICE_DOMAIN_UPLOAD_RULES_H_
#define OSSUP_SERVICE_DOMAIN_UPLOAD_RULES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/common/random.h"
#include "service/domain/upload.h"
#include "service/protocol/callback_body.h"

// The rules of CreateUpload and of correlating a verified callback with its upload. Pure: no
// clock, network or database; time and randomness come in as arguments.
namespace ossup::domain {

// A CreateUpload request after authentication, in domain terms.
struct CreateUploadInput {
  std::string ns;
  std::string subject;
  // Exactly one of: object_key, or key_prefix (+ file_name) from which a key is generated.
  std::string object_key;
  std::string key_prefix;
  std::string file_name;
  std::vector<std::string> content_types;  // exact media types; empty = any
  int64_t min_size = 0;
  int64_t max_size = 0;
  std::optional<absl::Duration> ttl;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::string bucket;  // empty = default
  std::string request_id;
};

// Service-wide bounds, from configuration.
struct UploadLimits {
  std::vector<std::string> buckets;  // allowed buckets; the first is the default
  absl::Duration default_ttl = absl::Minutes(15);
  absl::Duration min_ttl = absl::Minutes(1);
  absl::Duration max_ttl = absl::Hours(24);
  int64_t max_size = int64_t{5} << 30;  // 5 GiB, OSS's PostObject limit
  size_t max_metadata_entries = 16;
  size_t max_metadata_value_bytes = 256;
  size_t max_metadata_total_bytes = 2048;
  size_t max_content_types = 16;
};

// Checks every field and names the offending one in the InvalidArgument message
// ("constraints.max_size: ..."). Does not check namespace permissions (the transport does).
absl::Status ValidateCreateUpload(const CreateUploadInput& input, const UploadLimits& limits);

// The TTL actually used: the default when unset, clamped to [min_ttl, max_ttl].
absl::Duration EffectiveTtl(const CreateUploadInput& input, const UploadLimits& limits);

// Keeps the last path segment of an untrusted file name and reduces it to [A-Za-z0-9._-], at
// most 128 bytes, never empty, never "." or ".."; the extension survives where possible.
std::string SanitizeFileName(absl::string_view file_name);

// "<prefix><random id>/<sanitized file name>": unique and safe whatever the client sent.
std::string GenerateObjectKey(absl::string_view prefix, absl::string_view file_name,
                              Random& random);

// Random UUID v4, lowercase canonical text.
std::string NewUploadId(Random& random);

// SHA-256 over a canonical encoding of everything that defines the upload (not request_id or
// time), so a retried CreateUpload with the same request_id can be told apart from a different
// request reusing it.
std::string RequestFingerprint(const CreateUploadInput& input);

// A new PENDING upload from a validated input.
Upload NewPendingUpload(const CreateUploadInput& input, const UploadLimits& limits,
                        absl::string_view id, absl::string_view object_key,
                        absl::string_view callback_token, absl::Time now);

// The callback body template bound into the policy: the upload id, the callback token and the
// metadata as literals ("meta.<key>"), plus OSS's ${bucket}, ${object}, ${size}, ${mimeType} and
// ${etag}, in either body encoding (ParseCallbackPayload reads both).
absl::StatusOr<std::string> CallbackBodyTemplateFor(
    const Upload& upload, absl::string_view callback_token,
    protocol::CallbackBodyType type = protocol::CallbackBodyType::kJson);

// What a verified callback body says.
struct CallbackPayload {
  std::string upload_id;
  std::string token;
  ObjectInfo object;
};
absl::StatusOr<CallbackPayload> ParseCallbackPayload(const protocol::CallbackBody& body);

// Re-checks the object OSS reported against the upload (OSS-compatible stores have been caught
// not enforcing policy conditions). nullopt when it matches; otherwise the rejection reason.
std::optional<std::string> CheckObjectAgainstUpload(const Upload& upload, const ObjectInfo& object);

}  // namespace ossup::domain

#endif  // OSSUP_SERVICE_DOMAIN_UPLOAD_RULES_H_
