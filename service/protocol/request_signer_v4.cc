#include "service/protocol/request_signer_v4.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/common/status_macros.h"
#include "service/protocol/crypto.h"
#include "service/protocol/error_text.h"
#include "service/protocol/url_encoding.h"

namespace ossup::protocol {
namespace {

using NameValue = std::pair<std::string, std::string>;

constexpr absl::string_view kAuthorizationHeader = "authorization";
constexpr absl::string_view kDateHeader = "x-oss-date";
constexpr absl::string_view kContentSha256Header = "x-oss-content-sha256";
constexpr absl::string_view kSecurityTokenHeader = "x-oss-security-token";

absl::Status ValidateMethod(absl::string_view method) {
  for (absl::string_view known : {"GET", "HEAD", "PUT", "POST", "DELETE"}) {
    if (method == known) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("method: ", QuoteForError(method),
                                                 " is not one of GET, HEAD, PUT, POST, DELETE"));
}

absl::Status ValidateBucket(absl::string_view bucket) {
  // OSS bucket naming rules: 3-63 of [a-z0-9-], not starting or ending with '-'.
  bool ok =
      bucket.size() >= 3 && bucket.size() <= 63 && bucket.front() != '-' && bucket.back() != '-';
  for (char c : bucket) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bucket: ", QuoteForError(bucket), " must be 3-63 characters of a-z, 0-9 and inner '-'"));
  }
  return absl::OkStatus();
}

// "/" + bucket + "/" + key, percent-encoded with '/' kept; "/" for service-level requests.
absl::StatusOr<std::string> CanonicalUri(absl::string_view bucket, absl::string_view key) {
  if (bucket.empty()) {
    if (!key.empty()) return absl::InvalidArgumentError("object_key: set without a bucket");
    return std::string("/");
  }
  OSSUP_RETURN_IF_ERROR(ValidateBucket(bucket));
  if (key.size() > kV4MaxObjectKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("object_key: ", key.size(), " bytes, at most ", kV4MaxObjectKeyBytes));
  }
  if (!key.empty() && (key.front() == '/' || key.front() == '\\')) {
    return absl::InvalidArgumentError("object_key: must not start with '/' or '\\'");
  }
  return PercentEncode(absl::StrCat("/", bucket, "/", key), /*keep_slash=*/true);
}

// RFC 3986-encoded "name=value" pairs (bare "name" for an empty value), sorted by encoded name.
absl::StatusOr<std::string> CanonicalQuery(const std::vector<NameValue>& query) {
  if (query.size() > kV4MaxQueryParams) {
    return absl::InvalidArgumentError(
        absl::StrCat("query: ", query.size(), " parameters, at most ", kV4MaxQueryParams));
  }
  std::vector<NameValue> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    if (name.empty() || name.size() > kV4MaxQueryPartBytes || value.size() > kV4MaxQueryPartBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter ", QuoteForError(name), ": name must be 1-",
                       kV4MaxQueryPartBytes, " bytes and value at most ", kV4MaxQueryPartBytes));
    }
    encoded.emplace_back(PercentEncode(name), PercentEncode(value));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (size_t i = 0; i < encoded.size(); ++i) {
    const auto& [name, value] = encoded[i];
    if (i > 0 && encoded[i - 1].first == name) {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter ", QuoteForError(name), ": given more than once"));
    }
    absl::StrAppend(&out, i > 0 ? "&" : "", name, value.empty() ? "" : "=", value);
  }
  return out;
}

bool IsTokenChar(char c) {
  // RFC 9110 tchar.
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

absl::Status ValidateHeaderName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= kV4MaxHeaderNameBytes;
  for (char c : name) ok = ok && IsTokenChar(c);
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat("header ", QuoteForError(name),
                                                   ": name must be 1-", kV4MaxHeaderNameBytes,
                                                   " token characters"));
  }
  return absl::OkStatus();
}

// Lowercased names, trimmed values, sorted by name; duplicates and values that could split the
// header (CR, LF, other controls) are rejected.
absl::StatusOr<std::vector<NameValue>> NormalizeHeaders(const std::vector<NameValue>& headers) {
  if (headers.size() > kV4MaxHeaders) {
    return absl::InvalidArgumentError(
        absl::StrCat("headers: ", headers.size(), " given, at most ", kV4MaxHeaders));
  }
  std::vector<NameValue> out;
  out.reserve(headers.size() + 3);
  for (const auto& [name, value] : headers) {
    OSSUP_RETURN_IF_ERROR(ValidateHeaderName(name));
    bool ok = value.size() <= kV4MaxHeaderValueBytes;
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      ok = ok && (u >= 0x20 || c == '\t') && u != 0x7f;
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("header ", QuoteForError(name), ": value must be at most ",
                       kV4MaxHeaderValueBytes, " bytes without control characters"));
    }
    out.emplace_back(absl::AsciiStrToLower(name), std::string(absl::StripAsciiWhitespace(value)));
  }
  std::sort(out.begin(), out.end());
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i - 1].first == out[i].first) {
      return absl::InvalidArgumentError(
          absl::StrCat("header ", QuoteForError(out[i].first), ": given more than once"));
    }
  }
  return out;
}

const NameValue* FindHeader(const std::vector<NameValue>& sorted, absl::string_view name) {
  auto it = std::lower_bound(
      sorted.begin(), sorted.end(), name,
      [](const NameValue& h, absl::string_view n) { return absl::string_view(h.first) < n; });
  return it != sorted.end() && it->first == name ? &*it : nullptr;
}

bool IsDefaultSignedHeader(absl::string_view lower_name) {
  return absl::StartsWith(lower_name, "x-oss-") || lower_name == "content-type" ||
         lower_name == "content-md5";
}

// The AdditionalHeaders list as the SDK builds it: lowercase, without headers signed anyway or
// not present with a non-empty value, sorted, unique.
absl::StatusOr<std::vector<std::string>> AdditionalHeaders(
    const std::vector<std::string>& requested, const std::vector<NameValue>& headers) {
  if (requested.size() > kV4MaxAdditionalHeaders) {
    return absl::InvalidArgumentError(absl::StrCat("additional_headers: ", requested.size(),
                                                   " given, at most ", kV4MaxAdditionalHeaders));
  }
  std::vector<std::string> out;
  for (const std::string& name : requested) {
    OSSUP_RETURN_IF_ERROR(ValidateHeaderName(name));
    std::string lower = absl::AsciiStrToLower(name);
    if (IsDefaultSignedHeader(lower)) continue;
    const NameValue* header = FindHeader(headers, lower);
    if (header == nullptr || header->second.empty()) continue;
    out.push_back(std::move(lower));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

absl::StatusOr<V4SignedRequest> SignRequestV4(const V4RequestToSign& request,
                                              const Credentials& credentials,
                                              absl::string_view region, absl::Time now,
                                              SigningKeyCache* cache) {
  OSSUP_RETURN_IF_ERROR(ValidateCredentials(credentials));
  OSSUP_RETURN_IF_ERROR(ValidateRegion(region));
  OSSUP_RETURN_IF_ERROR(ValidateMethod(request.method));
  // FormatTime of an infinite time is not a date; year bounds keep x-oss-date 16 characters.
  if (now < absl::FromUnixSeconds(0) ||
      now >= absl::FromCivil(absl::CivilSecond(10000), absl::UTCTimeZone())) {
    return absl::InvalidArgumentError("now: must be between 1970 and 9999");
  }
  if (credentials.is_sts() && now >= credentials.expiration) {
    return absl::FailedPreconditionError("credentials: STS token expired before signing time");
  }
  OSSUP_ASSIGN_OR_RETURN(const std::string uri, CanonicalUri(request.bucket, request.object_key));
  OSSUP_ASSIGN_OR_RETURN(const std::string query, CanonicalQuery(request.query));
  OSSUP_ASSIGN_OR_RETURN(std::vector<NameValue> headers, NormalizeHeaders(request.headers));

  for (absl::string_view owned : {kAuthorizationHeader, kDateHeader, kSecurityTokenHeader}) {
    if (FindHeader(headers, owned) != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("header '", owned, "': set by the signer, do not pass it"));
    }
  }
  V4SignedRequest out;
  const std::string date_time = V4DateTime(now);
  out.headers_to_add.emplace_back(kDateHeader, date_time);
  if (const NameValue* sha = FindHeader(headers, kContentSha256Header); sha == nullptr) {
    out.headers_to_add.emplace_back(kContentSha256Header, kUnsignedPayload);
  } else if (sha->second != kUnsignedPayload) {
    // The SDK always overwrites it with UNSIGNED-PAYLOAD; anything else would be a payload hash
    // we never verified.
    return absl::InvalidArgumentError(
        absl::StrCat("header 'x-oss-content-sha256': must be ", kUnsignedPayload));
  }
  if (credentials.is_sts()) {
    out.headers_to_add.emplace_back(kSecurityTokenHeader, credentials.security_token);
  }
  // The added headers are all x-oss-*, so they are signed like the caller's.
  headers.insert(headers.end(), out.headers_to_add.begin(), out.headers_to_add.end());
  std::sort(headers.begin(), headers.end());

  OSSUP_ASSIGN_OR_RETURN(const std::vector<std::string> additional,
                         AdditionalHeaders(request.additional_headers, headers));
  const std::string additional_joined = absl::StrJoin(additional, ";");

  std::string canonical_headers;
  for (const auto& [name, value] : headers) {
    if (IsDefaultSignedHeader(name) ||
        std::binary_search(additional.begin(), additional.end(), name)) {
      absl::StrAppend(&canonical_headers, name, ":", value, "\n");
    }
  }
  // Payload: x-oss-content-sha256 is present now and can only be UNSIGNED-PAYLOAD.
  out.canonical_request =
      absl::StrCat(request.method, "\n", uri, "\n", query, "\n", canonical_headers, "\n",
                   additional_joined, "\n", kUnsignedPayload);

  const std::string date = V4Date(now);
  const std::string scope = V4Scope(date, region);
  OSSUP_ASSIGN_OR_RETURN(const std::string request_hash, Sha256(out.canonical_request));
  out.string_to_sign =
      absl::StrCat(kV4Algorithm, "\n", date_time, "\n", scope, "\n", HexEncode(request_hash));

  std::string signing_key;
  if (cache != nullptr) {
    OSSUP_ASSIGN_OR_RETURN(signing_key, cache->Get(credentials.access_key_secret, date, region));
  } else {
    OSSUP_ASSIGN_OR_RETURN(signing_key,
                           DeriveV4SigningKey(credentials.access_key_secret, date, region));
  }
  OSSUP_ASSIGN_OR_RETURN(const std::string signature, HmacSha256(signing_key, out.string_to_sign));
  out.signature_hex = HexEncode(signature);

  std::string authorization =
      absl::StrCat(kV4Algorithm, " Credential=", credentials.access_key_id, "/", scope);
  if (!additional.empty())
    absl::StrAppend(&authorization, ",AdditionalHeaders=", additional_joined);
  absl::StrAppend(&authorization, ",Signature=", out.signature_hex);
  out.headers_to_add.emplace(out.headers_to_add.begin(), kAuthorizationHeader,
                             std::move(authorization));
  return out;
}

}  // namespace ossup::protocol
