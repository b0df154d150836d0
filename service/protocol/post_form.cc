#include "service/protocol/post_form.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"
#include "service/protocol/crypto.h"
#include "service/protocol/policy.h"

namespace ossup::protocol {
namespace {

constexpr int64_t kMaxPostObjectSize = int64_t{5} * 1024 * 1024 * 1024;  // 5 GiB (§1.1)
constexpr size_t kMaxMetadataBytes = 8 * 1024;                           // OSS total (§1.2)
constexpr size_t kMaxCallbackVars = 10;
constexpr size_t kMaxCallbackVarValueBytes = 1024;
constexpr size_t kMaxCallbackParamBytes = 8 * 1024;
constexpr size_t kMaxContentTypes = 64;

bool IsLowerToken(absl::string_view s, absl::string_view extra) {
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          extra.find(c) != absl::string_view::npos)) {
      return false;
    }
  }
  return true;
}

absl::Status ValidateContentType(absl::string_view type, bool needs_slash) {
  if (type.empty() || type.size() > 255) {
    return absl::InvalidArgumentError("content_types: each entry must be 1-255 characters");
  }
  for (char c : type) {
    if (c < 0x21 || c > 0x7e || c == '\\') {
      return absl::InvalidArgumentError(absl::StrCat(
          "content_types: '", type, "' must be printable ASCII without spaces or backslashes"));
    }
  }
  if (needs_slash && type.find('/') == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("content_types: '", type, "' is not a media type (type/subtype)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateSpec(const PostObjectSpec& spec) {
  OSSUP_RETURN_IF_ERROR(ValidateBucketName(spec.bucket));
  if (spec.key_mode == PostObjectSpec::KeyMode::kExact) {
    OSSUP_RETURN_IF_ERROR(ValidateObjectKey(spec.key));
  } else {
    // An empty prefix would let the uploader write anywhere in the bucket; one that does not end
    // in '/' would admit neighbours ("users/1" matches "users/10/...").
    if (spec.key.empty() || spec.key.back() != '/') {
      return absl::InvalidArgumentError("key: a key prefix must be non-empty and end with '/'");
    }
    OSSUP_RETURN_IF_ERROR(ValidateObjectKey(spec.key));
    if (spec.key.size() + std::string_view("${filename}").size() > 1023) {
      return absl::InvalidArgumentError("key: prefix too long to append ${filename}");
    }
  }
  if (spec.min_size < 0 || spec.max_size < spec.min_size || spec.max_size <= 0 ||
      spec.max_size > kMaxPostObjectSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("size: need 0 <= min_size <= max_size, 0 < max_size <= ", kMaxPostObjectSize,
                     ", got ", spec.min_size, "..", spec.max_size));
  }
  using CT = PostObjectSpec::ContentTypeMode;
  switch (spec.content_type_mode) {
    case CT::kAny:
      if (!spec.content_types.empty()) {
        return absl::InvalidArgumentError("content_types: set a mode to use content types");
      }
      break;
    case CT::kExact:
    case CT::kStartsWith:
      if (spec.content_types.size() != 1) {
        return absl::InvalidArgumentError("content_types: this mode takes exactly one value");
      }
      OSSUP_RETURN_IF_ERROR(
          ValidateContentType(spec.content_types[0], spec.content_type_mode == CT::kExact));
      break;
    case CT::kOneOf:
      if (spec.content_types.empty() || spec.content_types.size() > kMaxContentTypes) {
        return absl::InvalidArgumentError(
            absl::StrCat("content_types: give 1-", kMaxContentTypes, " media types"));
      }
      for (const auto& t : spec.content_types) {
        OSSUP_RETURN_IF_ERROR(ValidateContentType(t, /*needs_slash=*/true));
      }
      break;
  }
  if (spec.object_acl != "default" && spec.object_acl != "private" &&
      spec.object_acl != "public-read" && spec.object_acl != "public-read-write") {
    return absl::InvalidArgumentError(
        "object_acl: must be default, private, public-read or public-read-write");
  }
  if (spec.content_disposition.size() > 1024 || !IsPrintableUtf8(spec.content_disposition) ||
      spec.content_disposition.find('\\') != std::string::npos) {
    return absl::InvalidArgumentError(
        "content_disposition: must be at most 1 KiB of text without backslashes");
  }
  if (spec.success_action_status.has_value()) {
    const int s = *spec.success_action_status;
    if (s != 200 && s != 201 && s != 204) {
      return absl::InvalidArgumentError("success_action_status: must be 200, 201 or 204");
    }
  }
  size_t metadata_bytes = 0;
  for (const auto& [name, value] : spec.metadata) {
    if (name.empty() || name.size() > 64 || !IsLowerToken(name, "-_")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metadata: name '", name, "' must be 1-64 characters of a-z, 0-9, '-', '_'"));
    }
    if (!IsPrintableUtf8(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata: value of '", name, "' must be UTF-8 text"));
    }
    metadata_bytes += name.size() + value.size();
  }
  if (metadata_bytes > kMaxMetadataBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata: exceeds OSS's ", kMaxMetadataBytes, "-byte total"));
  }
  if (spec.callback.size() > kMaxCallbackParamBytes) {
    return absl::InvalidArgumentError("callback: parameter exceeds 8 KiB");
  }
  if (!spec.callback.empty() && !CheckBase64Strict(spec.callback).ok()) {
    return absl::InvalidArgumentError("callback: must be the base64 callback parameter");
  }
  if (spec.callback_vars.size() > kMaxCallbackVars) {
    return absl::InvalidArgumentError("callback_vars: at most 10 variables");
  }
  for (const auto& [name, value] : spec.callback_vars) {
    if (!absl::StartsWith(name, "x:") || name.size() < 3 || name.size() > 64 ||
        !IsLowerToken(name.substr(2), "_")) {
      return absl::InvalidArgumentError(absl::StrCat("callback_vars: name '", name,
                                                     "' must match x:[a-z0-9_]+ (reference §2.3)"));
    }
    if (value.size() > kMaxCallbackVarValueBytes || !IsPrintableUtf8(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("callback_vars: value of '", name, "' must be UTF-8 text up to 1 KiB"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> SignPolicyV4(absl::string_view signing_key,
                                         absl::string_view policy_base64) {
  OSSUP_ASSIGN_OR_RETURN(std::string mac, HmacSha256(signing_key, policy_base64));
  return HexEncode(mac);
}

absl::StatusOr<std::string> SignPolicyV1(absl::string_view secret,
                                         absl::string_view policy_base64) {
  OSSUP_ASSIGN_OR_RETURN(std::string mac, HmacSha1(secret, policy_base64));
  return Base64Encode(mac);
}

std::string BucketPostUrl(absl::string_view scheme, absl::string_view endpoint_host,
                          absl::string_view bucket, bool virtual_hosted) {
  if (virtual_hosted) return absl::StrCat(scheme, "://", bucket, ".", endpoint_host, "/");
  return absl::StrCat(scheme, "://", endpoint_host, "/");
}

absl::Status ValidateBucketName(absl::string_view bucket) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (bucket.size() < 3 || bucket.size() > 63 || !alnum(bucket.front()) || !alnum(bucket.back()) ||
      !IsLowerToken(bucket, "-")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bucket: '", bucket,
        "' must be 3-63 characters of a-z, 0-9 and '-', starting and ending with a-z or 0-9"));
  }
  return absl::OkStatus();
}

absl::Status ValidateObjectKey(absl::string_view key) {
  if (key.empty() || key.size() > 1023) {
    return absl::InvalidArgumentError("key: must be 1-1023 bytes");
  }
  if (!IsPrintableUtf8(key)) {
    return absl::InvalidArgumentError("key: must be UTF-8 without control characters");
  }
  if (key.front() == '/' || key.front() == '\\') {
    return absl::InvalidArgumentError("key: must not start with '/' or '\\'");
  }
  if (key.find('\\') != absl::string_view::npos) {
    return absl::InvalidArgumentError("key: backslashes are not supported");
  }
  // OSS substitutes ${filename} in the form's key field; a key that contains "${" would not be
  // stored under the name we recorded.
  if (key.find("${") != absl::string_view::npos) {
    return absl::InvalidArgumentError("key: must not contain '${'");
  }
  return absl::OkStatus();
}

PostFormSigner::PostFormSigner(SigningKeyCache* key_cache) : PostFormSigner(key_cache, Options{}) {}

PostFormSigner::PostFormSigner(SigningKeyCache* key_cache, Options options)
    : key_cache_(key_cache), options_(options) {}

absl::StatusOr<PostForm> PostFormSigner::Sign(const PostObjectSpec& spec,
                                              const Credentials& credentials,
                                              absl::string_view region, absl::string_view url,
                                              SignatureVersion version, absl::Time now) const {
  OSSUP_RETURN_IF_ERROR(ValidateCredentials(credentials));
  OSSUP_RETURN_IF_ERROR(ValidateRegion(region));
  OSSUP_RETURN_IF_ERROR(ValidateSpec(spec));
  if (url.empty()) return absl::InvalidArgumentError("url: the form needs a POST URL");
  if (credentials.expiration <= now) {
    return absl::FailedPreconditionError("credentials: the STS credentials have expired");
  }
  if (spec.expiration <= now) {
    return absl::InvalidArgumentError("expiration: must be in the future");
  }
  if (spec.expiration > now + options_.max_validity) {
    return absl::InvalidArgumentError(absl::StrCat("expiration: a policy may be valid for at most ",
                                                   absl::FormatDuration(options_.max_validity)));
  }
  // OSS checks expiration when the whole body has arrived; STS credentials must still work then.
  const absl::Time expiration = std::min(spec.expiration, credentials.expiration);

  const std::string date = V4Date(now);
  const std::string date_time = V4DateTime(now);
  const std::string credential =
      absl::StrCat(credentials.access_key_id, "/", V4Scope(date, region));

  PolicyDocument policy(expiration);
  policy.AddExact("bucket", spec.bucket);
  if (version == SignatureVersion::kV4) {
    policy.AddExact("x-oss-signature-version", kV4Algorithm)
        .AddExact("x-oss-credential", credential)
        .AddExact("x-oss-date", date_time);
    if (credentials.is_sts()) policy.AddExact("x-oss-security-token", credentials.security_token);
  }
  if (!spec.callback.empty()) policy.AddExact("callback", spec.callback);
  if (spec.key_mode == PostObjectSpec::KeyMode::kExact) {
    policy.AddEq("key", spec.key);
  } else {
    policy.AddStartsWith("key", spec.key);
  }
  policy.AddContentLengthRange(spec.min_size, spec.max_size);

  PostForm form;
  form.url = std::string(url);
  form.expiration = expiration;
  auto add = [&form](absl::string_view name, absl::string_view value) {
    form.fields.push_back({std::string(name), std::string(value)});
  };
  add("key", spec.key_mode == PostObjectSpec::KeyMode::kExact
                 ? spec.key
                 : absl::StrCat(spec.key, "${filename}"));
  using CT = PostObjectSpec::ContentTypeMode;
  switch (spec.content_type_mode) {
    case CT::kAny:
      break;
    case CT::kExact:
      for (const char* field : {"content-type", "x-oss-content-type"}) {
        policy.AddEq(field, spec.content_types[0]);
      }
      add("Content-Type", spec.content_types[0]);
      add("x-oss-content-type", spec.content_types[0]);
      break;
    case CT::kOneOf:
      for (const char* field : {"content-type", "x-oss-content-type"}) {
        policy.AddIn(field, spec.content_types);
      }
      form.client_fields = {"Content-Type", "x-oss-content-type"};
      break;
    case CT::kStartsWith:
      for (const char* field : {"content-type", "x-oss-content-type"}) {
        policy.AddStartsWith(field, spec.content_types[0]);
      }
      form.client_fields = {"Content-Type", "x-oss-content-type"};
      break;
  }
  policy.AddEq("x-oss-object-acl", spec.object_acl);
  add("x-oss-object-acl", spec.object_acl);
  if (!spec.content_disposition.empty()) {
    policy.AddEq("content-disposition", spec.content_disposition);
    add("Content-Disposition", spec.content_disposition);
  }
  if (spec.success_action_status.has_value()) {
    const std::string status = absl::StrCat(*spec.success_action_status);
    policy.AddEq("success_action_status", status);
    add("success_action_status", status);
  }
  if (spec.forbid_overwrite) {
    policy.AddEq("x-oss-forbid-overwrite", "true");
    add("x-oss-forbid-overwrite", "true");
  }
  for (const auto& [name, value] : spec.metadata) {
    const std::string field = absl::StrCat("x-oss-meta-", name);
    policy.AddEq(field, value);
    add(field, value);
  }
  if (!spec.callback.empty()) add("callback", spec.callback);
  for (const auto& [name, value] : spec.callback_vars) {
    policy.AddEq(name, value);
    add(name, value);
  }

  OSSUP_ASSIGN_OR_RETURN(form.policy_json, policy.Serialize());
  form.policy_base64 = Base64Encode(form.policy_json);

  if (version == SignatureVersion::kV4) {
    OSSUP_ASSIGN_OR_RETURN(std::string signing_key,
                           key_cache_->Get(credentials.access_key_secret, date, region));
    OSSUP_ASSIGN_OR_RETURN(std::string signature, SignPolicyV4(signing_key, form.policy_base64));
    add("x-oss-signature-version", kV4Algorithm);
    add("x-oss-credential", credential);
    add("x-oss-date", date_time);
    if (credentials.is_sts()) add("x-oss-security-token", credentials.security_token);
    add("policy", form.policy_base64);
    add("x-oss-signature", signature);
  } else {
    OSSUP_ASSIGN_OR_RETURN(std::string signature,
                           SignPolicyV1(credentials.access_key_secret, form.policy_base64));
    add("OSSAccessKeyId", credentials.access_key_id);
    add("policy", form.policy_base64);
    add("Signature", signature);
    if (credentials.is_sts()) add("x-oss-security-token", credentials.security_token);
  }
  return form;
}

}  // namespace ossup::protocol
