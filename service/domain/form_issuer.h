#ifndef OSSUP_SERVICE_DOMAIN_FORM_ISSUER_H_
#define OSSUP_SERVICE_DOMAIN_FORM_ISSUER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/domain/upload.h"
#include "service/protocol/callback_body_type.h"
#include "service/protocol/credentials.h"
#include "service/protocol/post_form.h"
#include "service/protocol/signing_key.h"

namespace ossup::domain {

// One bucket the service may issue uploads for.
struct BucketConfig {
  std::string name;
  std::string region;  // plain region id, e.g. cn-hangzhou
  // Where browsers POST: scheme + host of the OSS endpoint ("https",
  // "oss-cn-hangzhou.aliyuncs.com")
  std::string scheme = "https";
  std::string endpoint_host;
  bool virtual_hosted = true;
  protocol::Credentials credentials;
  protocol::SignatureVersion signature_version = protocol::SignatureVersion::kV4;
  // x-oss-object-acl bound into every form.
  std::string object_acl = "default";
};

// Where OSS calls back.
struct CallbackConfig {
  std::vector<std::string> urls;  // 1-5, tried in order by OSS
  std::string host;               // optional Host header override
  bool sni = false;
  // How OSS encodes the callback body; the endpoint reads either.
  protocol::CallbackBodyType body_type = protocol::CallbackBodyType::kJson;
};

// Turns a stored upload into the signed PostObject form. Pure: time comes in as an argument.
class FormIssuer {
 public:
  // Validates the buckets and the callback target once, at start-up.
  static absl::StatusOr<std::unique_ptr<FormIssuer>> Create(std::vector<BucketConfig> buckets,
                                                            CallbackConfig callback,
                                                            std::string token_key);

  // The form for `upload` (exact key, its constraints and expiry, the callback with the upload id
  // and token bound in). Re-issuing for the same upload yields an equivalent form.
  absl::StatusOr<protocol::PostForm> Issue(const Upload& upload, absl::Time now) const;

  // The per-upload callback token: HMAC-SHA256(token_key, upload id), 32 hex characters. Derived
  // rather than stored, so an idempotent CreateUpload replay can re-issue the same callback.
  std::string CallbackToken(absl::string_view upload_id) const;

  std::vector<std::string> bucket_names() const;
  // A copy: credentials may be rotated concurrently (SetCredentials).
  std::optional<BucketConfig> bucket(absl::string_view name) const;

  // Rotates a bucket's credentials (e.g. its secret file changed); forms issued from now on are
  // signed with them. InvalidArgument for unknown buckets or invalid credentials.
  absl::Status SetCredentials(absl::string_view bucket, protocol::Credentials credentials);

 private:
  FormIssuer() = default;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, BucketConfig> buckets_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> bucket_order_;
  CallbackConfig callback_;
  std::string token_key_;
  mutable protocol::SigningKeyCache key_cache_;
};

}  // namespace ossup::domain

#endif  // OSSUP_SERVICE_DOMAIN_FORM_ISSUER_H_
