#ifndef OSSUP_SERVICE_PROTOCOL_POST_FORM_H_
#define OSSUP_SERVICE_PROTOCOL_POST_FORM_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/protocol/credentials.h"
#include "service/protocol/signing_key.h"

namespace ossup::protocol {

// What an issued PostObject form allows, independent of credentials and signature version.
// Everything here is bound into the signed policy (reference §1.3: unbound fields are free).
// Fields OSS accepts that are NOT bound, and why that is acceptable: x-oss-storage-class and
// x-oss-server-side-encryption(-key-id) (cost/encryption choices within the bucket's own rules),
// success_action_redirect (changes only the uploader's own response), Cache-Control, Expires,
// Content-Encoding (presentation). The service confirms the stored object with HeadObject
// instead of trusting anything the uploader could have changed.
struct PostObjectSpec {
  std::string bucket;

  enum class KeyMode {
    kExact,   // ["eq","$key",key]; form key = key.
    kPrefix,  // ["starts-with","$key",key]; form key = key + "${filename}", the client may change
              // it.
  };
  KeyMode key_mode = KeyMode::kExact;
  std::string key;

  // ["content-length-range",min,max]; required: an upload without a size bound is refused.
  int64_t min_size = 0;
  int64_t max_size = 0;

  // x-oss-content-type overrides Content-Type when OSS stores the object (reference §1.2), so
  // every mode binds both fields the same way; otherwise a browser could store text/html under an
  // image/png policy. (Whether OSS enforces conditions on x-oss-content-type is UNCONFIRMED; the
  // service's HeadObject check is the backstop.)
  enum class ContentTypeMode {
    kAny,         // no condition
    kExact,       // eq on both; the form carries Content-Type and x-oss-content-type = v.
    kOneOf,       // in on both; the client supplies both fields (same value).
    kStartsWith,  // starts-with on both; the client supplies both fields (same value).
  };
  ContentTypeMode content_type_mode = ContentTypeMode::kAny;
  std::vector<std::string> content_types;

  // 200, 201 or 204 when set; bound exactly.
  std::optional<int> success_action_status;
  // When true: x-oss-forbid-overwrite=true, bound exactly, so an existing object is never replaced.
  bool forbid_overwrite = false;
  // x-oss-object-acl, always sent and bound, so an uploader cannot make an object public:
  // "default" (inherit the bucket's ACL), "private", "public-read" or "public-read-write".
  std::string object_acl = "default";
  // Content-Disposition, bound exactly when set (e.g. "attachment" to stop inline rendering).
  std::string content_disposition;
  // x-oss-meta-<name> = value, each bound exactly. Names: lowercase a-z 0-9 '-' '_'.
  std::vector<std::pair<std::string, std::string>> metadata;
  // The base64 callback parameter (see callback_params.h), bound with {"callback": ...}.
  std::string callback;
  // x:<name> custom callback variables. Whether OSS enforces policy conditions on x: fields is
  // UNCONFIRMED (reference §2.2), so they are sent and bound with "eq" but must not carry anything
  // the service trusts; put trusted values as literals in the callback body instead.
  std::vector<std::pair<std::string, std::string>> callback_vars;

  absl::Time expiration;
};

enum class SignatureVersion { kV4, kV1 };

struct PostFormField {
  std::string name;
  std::string value;
  friend bool operator==(const PostFormField&, const PostFormField&) = default;
};

// The signed form handed to the uploader.
struct PostForm {
  std::string url;
  // Fields in the order they must be sent, all before the file part.
  std::vector<PostFormField> fields;
  // Fields the client must add itself, after `fields` and before the file (e.g. "Content-Type"
  // when the policy allows a set of types). Values are checked by OSS against the policy.
  std::vector<std::string> client_fields;
  // The file part's name; it must be the last part of the multipart body.
  std::string file_field = "file";
  absl::Time expiration;
  std::string policy_json;    // what was signed (decoded), for logs and tests
  std::string policy_base64;  // the `policy` field value
};

// Signature of a policy: lowercase hex HMAC-SHA256 with kSigning (reference §1.5).
absl::StatusOr<std::string> SignPolicyV4(absl::string_view signing_key,
                                         absl::string_view policy_base64);
// Base64 HMAC-SHA1 with the secret (reference §1.6).
absl::StatusOr<std::string> SignPolicyV1(absl::string_view secret, absl::string_view policy_base64);

// "https://<bucket>.<endpoint_host>/" (virtual-hosted) or "<scheme>://<endpoint_host>/".
std::string BucketPostUrl(absl::string_view scheme, absl::string_view endpoint_host,
                          absl::string_view bucket, bool virtual_hosted);

// Validates a bucket name the way OSS does: 3-63 characters, lowercase letters, digits and '-',
// starting and ending with a letter or digit.
absl::Status ValidateBucketName(absl::string_view bucket);
// Validates an object key: 1-1023 bytes of UTF-8 without control characters, not starting with
// '/' or '\'. Backslashes and "${" are refused too (see PolicyDocument).
absl::Status ValidateObjectKey(absl::string_view key);

// Builds and signs PostObject forms. Thread-safe; the signing-key cache is shared.
class PostFormSigner {
 public:
  struct Options {
    // Policies may not outlive this, whatever the spec asks: OSS refuses a V4 request more than
    // 7 days after x-oss-date (reference §1.4).
    absl::Duration max_validity = absl::Hours(24 * 7);
  };

  explicit PostFormSigner(SigningKeyCache* key_cache);
  PostFormSigner(SigningKeyCache* key_cache, Options options);

  // `now` becomes x-oss-date. The expiration is the spec's, capped by the STS credentials'
  // expiration (reference §4 #15). `region` is the plain region ID.
  absl::StatusOr<PostForm> Sign(const PostObjectSpec& spec, const Credentials& credentials,
                                absl::string_view region, absl::string_view url,
                                SignatureVersion version, absl::Time now) const;

 private:
  SigningKeyCache* key_cache_;
  Options options_;
};

}  // namespace ossup::protocol

#endif  // OSSUP_SERVICE_PROTOCOL_POST_FORM_H_
