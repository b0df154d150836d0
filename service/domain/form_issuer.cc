#include "service/domain/form_issuer.h"

#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"
#include "service/domain/upload_rules.h"
#include "service/protocol/callback_params.h"
#include "service/protocol/crypto.h"

namespace ossup::domain {

absl::StatusOr<std::unique_ptr<FormIssuer>> FormIssuer::Create(std::vector<BucketConfig> buckets,
                                                               CallbackConfig callback,
                                                               std::string token_key) {
  if (buckets.empty()) return absl::InvalidArgumentError("config: at least one bucket");
  if (token_key.size() < 16) {
    return absl::InvalidArgumentError("config: the callback token key needs at least 16 bytes");
  }
  auto issuer = std::unique_ptr<FormIssuer>(new FormIssuer());
  for (BucketConfig& b : buckets) {
    const std::string where = absl::StrCat("config: bucket '", b.name, "'");
    OSSUP_RETURN_IF_ERROR(protocol::ValidateBucketName(b.name));
    if (absl::Status st = protocol::ValidateRegion(b.region); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", st.message()));
    }
    if (absl::Status st = protocol::ValidateCredentials(b.credentials); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", st.message()));
    }
    if ((b.scheme != "https" && b.scheme != "http") || b.endpoint_host.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": needs scheme http(s) and an endpoint host"));
    }
    issuer->bucket_order_.push_back(b.name);
    absl::MutexLock lock(&issuer->mu_);
    if (!issuer->buckets_.emplace(b.name, std::move(b)).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": listed twice"));
    }
  }
  // A callback with a placeholder body proves the URLs and host are ones OSS accepts.
  protocol::CallbackParams probe{callback.urls, callback.host, callback.sni,
                                 protocol::CallbackBodyType::kJson, "{\"object\":${object}}"};
  if (absl::Status st = protocol::ValidateCallbackParams(probe); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("config: callback: ", st.message()));
  }
  issuer->callback_ = std::move(callback);
  issuer->token_key_ = std::move(token_key);
  return issuer;
}

std::string FormIssuer::CallbackToken(absl::string_view upload_id) const {
  auto mac = protocol::HmacSha256(token_key_, upload_id);
  return mac.ok() ? protocol::HexEncode(mac->substr(0, 16)) : std::string();
}

std::vector<std::string> FormIssuer::bucket_names() const { return bucket_order_; }

std::optional<BucketConfig> FormIssuer::bucket(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  const auto it = buckets_.find(name);
  if (it == buckets_.end()) return std::nullopt;
  return it->second;
}

absl::Status FormIssuer::SetCredentials(absl::string_view name, protocol::Credentials credentials) {
  if (absl::Status st = protocol::ValidateCredentials(credentials); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("bucket '", name, "': ", st.message()));
  }
  absl::MutexLock lock(&mu_);
  const auto it = buckets_.find(name);
  if (it == buckets_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("bucket '", name, "' is not configured"));
  }
  it->second.credentials = std::move(credentials);
  return absl::OkStatus();
}

absl::StatusOr<protocol::PostForm> FormIssuer::Issue(const Upload& upload, absl::Time now) const {
  const std::optional<BucketConfig> b = bucket(upload.bucket);
  if (!b.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("bucket '", upload.bucket, "' is no longer configured"));
  }
  const std::string token = CallbackToken(upload.id);
  OSSUP_ASSIGN_OR_RETURN(std::string body,
                         CallbackBodyTemplateFor(upload, token, callback_.body_type));
  protocol::CallbackParams callback{callback_.urls, callback_.host,
                                    callback_.sni ? std::optional<bool>(true) : std::nullopt,
                                    callback_.body_type, std::move(body)};
  protocol::PostObjectSpec spec;
  spec.bucket = b->name;
  spec.key_mode = protocol::PostObjectSpec::KeyMode::kExact;
  spec.key = upload.object_key;
  spec.min_size = upload.min_size;
  spec.max_size = upload.max_size;
  if (upload.content_types.size() == 1) {
    spec.content_type_mode = protocol::PostObjectSpec::ContentTypeMode::kExact;
  } else if (upload.content_types.size() > 1) {
    spec.content_type_mode = protocol::PostObjectSpec::ContentTypeMode::kOneOf;
  }
  spec.content_types = upload.content_types;
  // Never replace an existing object: a second upload under the same policy is refused by OSS.
  spec.forbid_overwrite = true;
  spec.object_acl = b->object_acl;
  OSSUP_ASSIGN_OR_RETURN(spec.callback, protocol::EncodeCallbackParams(callback));
  spec.expiration = upload.expire_time;
  protocol::PostFormSigner signer(&key_cache_);
  return signer.Sign(
      spec, b->credentials, b->region,
      protocol::BucketPostUrl(b->scheme, b->endpoint_host, b->name, b->virtual_hosted),
      b->signature_version, now);
}

}  // namespace ossup::domain
