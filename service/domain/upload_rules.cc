#include "service/domain/upload_rules.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "service/common/status_macros.h"
#include "service/protocol/callback_params.h"
#include "service/protocol/crypto.h"
#include "service/protocol/policy.h"
#include "service/protocol/post_form.h"

namespace ossup::domain {
namespace {

constexpr size_t kMaxSubjectBytes = 256;
constexpr size_t kMaxRequestIdBytes = 128;
constexpr size_t kMaxPrefixBytes = 512;
constexpr size_t kMaxFileNameBytes = 1024;
constexpr size_t kMaxSanitizedFileNameBytes = 128;

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

bool IsToken(absl::string_view s, absl::string_view extra) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           extra.find(c) != absl::string_view::npos;
  });
}

bool IsMediaType(absl::string_view t) {
  const size_t slash = t.find('/');
  if (slash == absl::string_view::npos || slash == 0 || slash + 1 == t.size()) return false;
  return IsToken(t.substr(0, slash), "-.+") && IsToken(t.substr(slash + 1), "-.+_");
}

// The media type without parameters, lowercased: "Image/PNG; x=y" -> "image/png".
std::string BareMediaType(absl::string_view content_type) {
  const size_t semi = content_type.find(';');
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(content_type.substr(0, semi)));
}

void AppendField(std::string* out, absl::string_view value) {
  absl::StrAppend(out, value.size(), ":", value, ";");
}

}  // namespace

absl::Status ValidateCreateUpload(const CreateUploadInput& input, const UploadLimits& limits) {
  if (input.ns.empty() || input.ns.size() > 63 || !IsToken(input.ns, "-")) {
    return Invalid("parent", "the namespace must be 1-63 characters of a-z, 0-9 and '-'");
  }
  if (input.subject.empty() || input.subject.size() > kMaxSubjectBytes ||
      !protocol::IsPrintableUtf8(input.subject)) {
    return Invalid("subject", "must be 1-256 bytes of UTF-8 text");
  }
  const bool exact = !input.object_key.empty();
  const bool templated = !input.key_prefix.empty() || !input.file_name.empty();
  if (exact == templated) {
    return Invalid("object_key", "give exactly one of object_key or key_template");
  }
  if (exact) {
    if (absl::Status st = protocol::ValidateObjectKey(input.object_key); !st.ok()) {
      return Invalid("object_key", st.message());
    }
  } else {
    if (input.key_prefix.empty() || input.key_prefix.size() > kMaxPrefixBytes ||
        input.key_prefix.back() != '/') {
      return Invalid("key_template.prefix", "must be 1-512 bytes ending with '/'");
    }
    if (absl::Status st = protocol::ValidateObjectKey(input.key_prefix); !st.ok()) {
      return Invalid("key_template.prefix", st.message());
    }
    if (input.file_name.empty() || input.file_name.size() > kMaxFileNameBytes) {
      return Invalid("key_template.file_name", "must be 1-1024 bytes");
    }
  }
  if (input.content_types.size() > limits.max_content_types) {
    return Invalid("constraints.content_types",
                   absl::StrCat("at most ", limits.max_content_types, " media types"));
  }
  for (size_t i = 0; i < input.content_types.size(); ++i) {
    const std::string& t = input.content_types[i];
    if (t.size() > 127 || !IsMediaType(t)) {
      return Invalid("constraints.content_types",
                     absl::StrCat("'", t, "' is not a lowercase media type such as image/png"));
    }
    if (std::find(input.content_types.begin(), input.content_types.begin() + i, t) !=
        input.content_types.begin() + i) {
      return Invalid("constraints.content_types", absl::StrCat("'", t, "' is listed twice"));
    }
  }
  if (input.max_size <= 0 || input.max_size > limits.max_size) {
    return Invalid("constraints.max_size",
                   absl::StrCat("must be between 1 and ", limits.max_size, " bytes"));
  }
  if (input.min_size < 0 || input.min_size > input.max_size) {
    return Invalid("constraints.min_size", "must be between 0 and max_size");
  }
  if (input.ttl.has_value() && *input.ttl <= absl::ZeroDuration()) {
    return Invalid("ttl", "must be positive (or unset for the default)");
  }
  if (input.metadata.size() > limits.max_metadata_entries) {
    return Invalid("metadata", absl::StrCat("at most ", limits.max_metadata_entries, " entries"));
  }
  size_t total = 0;
  for (const auto& [key, value] : input.metadata) {
    if (key.empty() || key.size() > 64 || !IsToken(key, "_")) {
      return Invalid("metadata", absl::StrCat("key '", key, "' must match [a-z0-9_]{1,64}"));
    }
    if (value.size() > limits.max_metadata_value_bytes || !protocol::IsPrintableUtf8(value)) {
      return Invalid("metadata", absl::StrCat("value of '", key, "' must be UTF-8 text of at most ",
                                              limits.max_metadata_value_bytes, " bytes"));
    }
    total += key.size() + value.size();
  }
  if (total > limits.max_metadata_total_bytes) {
    return Invalid("metadata",
                   absl::StrCat("exceeds ", limits.max_metadata_total_bytes, " bytes in total"));
  }
  for (size_t i = 0; i < input.metadata.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (input.metadata[i].first == input.metadata[j].first) {
        return Invalid("metadata", absl::StrCat("key '", input.metadata[i].first, "' repeats"));
      }
    }
  }
  if (!input.bucket.empty() && std::find(limits.buckets.begin(), limits.buckets.end(),
                                         input.bucket) == limits.buckets.end()) {
    return Invalid("bucket", absl::StrCat("'", input.bucket, "' is not a configured bucket"));
  }
  if (input.request_id.size() > kMaxRequestIdBytes ||
      !std::all_of(input.request_id.begin(), input.request_id.end(),
                   [](char c) { return c > 0x20 && c < 0x7f; })) {
    return Invalid("request_id", "must be at most 128 printable ASCII characters");
  }
  return absl::OkStatus();
}

absl::Duration EffectiveTtl(const CreateUploadInput& input, const UploadLimits& limits) {
  const absl::Duration ttl = input.ttl.value_or(limits.default_ttl);
  return std::clamp(ttl, limits.min_ttl, limits.max_ttl);
}

std::string SanitizeFileName(absl::string_view file_name) {
  // Browsers on Windows send "C:\\dir\\name.png"; others send paths too.
  if (const size_t cut = file_name.find_last_of("/\\"); cut != absl::string_view::npos) {
    file_name.remove_prefix(cut + 1);
  }
  std::string out;
  for (char c : file_name) {
    const bool safe =
        absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
    if (safe) {
      out.push_back(c);
    } else if (!out.empty() && out.back() != '_') {
      out.push_back('_');
    }
  }
  // No hidden files or "." / ".." segments.
  while (!out.empty() && out.front() == '.') out.erase(out.begin());
  if (out.size() > kMaxSanitizedFileNameBytes) {
    // Keep a short extension: "very...long.tar" -> first bytes + ".tar".
    const size_t dot = out.rfind('.');
    std::string ext = (dot != std::string::npos && out.size() - dot <= 16) ? out.substr(dot) : "";
    out = out.substr(0, kMaxSanitizedFileNameBytes - ext.size()) + ext;
  }
  if (out.empty() || out == "_") out = "file";
  return out;
}

std::string NewUploadId(Random& random) {
  std::string b = random.Bytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  const std::string hex = protocol::HexEncode(b);
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

std::string GenerateObjectKey(absl::string_view prefix, absl::string_view file_name,
                              Random& random) {
  return absl::StrCat(prefix, protocol::HexEncode(random.Bytes(12)), "/",
                      SanitizeFileName(file_name));
}

std::string RequestFingerprint(const CreateUploadInput& input) {
  std::string canon = "create-upload-v1;";
  AppendField(&canon, input.ns);
  AppendField(&canon, input.subject);
  AppendField(&canon, input.object_key);
  AppendField(&canon, input.key_prefix);
  AppendField(&canon, input.file_name);
  AppendField(&canon, absl::StrCat(input.content_types.size()));
  for (const auto& t : input.content_types) AppendField(&canon, t);
  AppendField(&canon, absl::StrCat(input.min_size, "-", input.max_size));
  AppendField(&canon, input.ttl.has_value() ? absl::StrCat(absl::ToInt64Nanoseconds(*input.ttl))
                                            : "default");
  std::vector<std::pair<std::string, std::string>> metadata = input.metadata;
  std::sort(metadata.begin(), metadata.end());
  AppendField(&canon, absl::StrCat(metadata.size()));
  for (const auto& [k, v] : metadata) {
    AppendField(&canon, k);
    AppendField(&canon, v);
  }
  AppendField(&canon, input.bucket);
  // SHA-256 cannot fail with the default provider; an empty fingerprint would only ever make two
  // requests compare unequal.
  auto digest = protocol::Sha256(canon);
  return digest.ok() ? *digest : std::string();
}

Upload NewPendingUpload(const CreateUploadInput& input, const UploadLimits& limits,
                        absl::string_view id, absl::string_view object_key,
                        absl::string_view callback_token, absl::Time now) {
  Upload u;
  u.id = std::string(id);
  u.ns = input.ns;
  u.subject = input.subject;
  u.state = UploadState::kPending;
  u.bucket =
      input.bucket.empty() ? (limits.buckets.empty() ? "" : limits.buckets.front()) : input.bucket;
  u.object_key = std::string(object_key);
  u.content_types = input.content_types;
  u.min_size = input.min_size;
  u.max_size = input.max_size;
  u.metadata = input.metadata;
  std::sort(u.metadata.begin(), u.metadata.end());
  auto token_hash = protocol::Sha256(callback_token);
  u.callback_token_sha256 = token_hash.ok() ? *token_hash : std::string();
  u.request_id = input.request_id;
  u.request_fingerprint = RequestFingerprint(input);
  // Microsecond precision: what PostgreSQL's timestamptz keeps.
  u.create_time = absl::FromUnixMicros(absl::ToUnixMicros(now));
  u.update_time = u.create_time;
  u.expire_time = u.create_time + EffectiveTtl(input, limits);
  return u;
}

absl::StatusOr<std::string> CallbackBodyTemplateFor(const Upload& upload,
                                                    absl::string_view callback_token,
                                                    protocol::CallbackBodyType type) {
  protocol::CallbackBodyTemplate body(type);
  body.AddLiteral("upload_id", upload.id).AddLiteral("token", callback_token);
  for (const auto& [key, value] : upload.metadata) {
    body.AddLiteral(absl::StrCat("meta.", key), value);
  }
  body.AddVariable("bucket", "bucket")
      .AddVariable("object", "object")
      .AddVariable("size", "size")
      .AddVariable("mime_type", "mimeType")
      .AddVariable("etag", "etag");
  return body.Render();
}

absl::StatusOr<CallbackPayload> ParseCallbackPayload(const protocol::CallbackBody& body) {
  CallbackPayload p;
  OSSUP_ASSIGN_OR_RETURN(p.upload_id, body.GetString("upload_id"));
  OSSUP_ASSIGN_OR_RETURN(p.token, body.GetString("token"));
  OSSUP_ASSIGN_OR_RETURN(p.object.bucket, body.GetString("bucket"));
  OSSUP_ASSIGN_OR_RETURN(p.object.key, body.GetString("object"));
  OSSUP_ASSIGN_OR_RETURN(p.object.size, body.GetInt64("size"));
  OSSUP_ASSIGN_OR_RETURN(p.object.content_type, body.GetString("mime_type"));
  OSSUP_ASSIGN_OR_RETURN(p.object.etag, body.GetString("etag"));
  return p;
}

std::optional<std::string> CheckObjectAgainstUpload(const Upload& upload,
                                                    const ObjectInfo& object) {
  if (object.bucket != upload.bucket) {
    return absl::StrFormat("object stored in bucket %s, upload is for bucket %s", object.bucket,
                           upload.bucket);
  }
  if (object.key != upload.object_key) {
    return absl::StrFormat("object stored as key '%s', upload is for key '%s'", object.key,
                           upload.object_key);
  }
  if (object.size < upload.min_size || object.size > upload.max_size) {
    return absl::StrFormat("object size %d is outside the allowed range %d..%d", object.size,
                           upload.min_size, upload.max_size);
  }
  if (!upload.content_types.empty()) {
    const std::string got = BareMediaType(object.content_type);
    if (std::find(upload.content_types.begin(), upload.content_types.end(), got) ==
        upload.content_types.end()) {
      return absl::StrFormat("content type '%s' is not one of the allowed types", got);
    }
  }
  return std::nullopt;
}

}  // namespace ossup::domain
