#include "v4_auth.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "crypto.h"
#include "oss_error.h"

namespace ossemu {
namespace {

bool DefaultSigned(absl::string_view lower) {
  return absl::StartsWith(lower, "x-oss-") || lower == "content-type" || lower == "content-md5";
}

std::string HeaderValue(const V4Request& r, absl::string_view lower) {
  for (const auto& [name, value] : r.headers) {
    if (absl::EqualsIgnoreCase(name, lower)) return value;
  }
  return "";
}

}  // namespace

std::string UriEncode(absl::string_view s, bool encode_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (c == '/' && !encode_slash)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string V4CanonicalRequest(const V4Request& request,
                               const std::vector<std::string>& additional_headers) {
  std::string uri = "/";
  if (!request.bucket.empty()) absl::StrAppend(&uri, request.bucket, "/");
  uri += request.key;

  // Query: '+' means space; parameters sorted by their encoded name, "k" when the value is empty.
  std::string query = absl::StrReplaceAll(request.raw_query, {{"+", "%20"}});
  std::vector<std::pair<std::string, std::string>> params;
  for (absl::string_view part : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    params.push_back(std::move(kv));
  }
  std::stable_sort(params.begin(), params.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_query;
  for (const auto& [k, v] : params) {
    if (!canonical_query.empty()) canonical_query += '&';
    canonical_query += k;
    if (!v.empty()) absl::StrAppend(&canonical_query, "=", v);
  }

  // Headers: x-oss-*, content-type, content-md5 and the additional ones; values trimmed, repeated
  // names joined with ','.
  std::vector<std::pair<std::string, std::string>> signed_headers;
  for (const auto& [name, value] : request.headers) {
    std::string lower = absl::AsciiStrToLower(name);
    bool additional = std::find(additional_headers.begin(), additional_headers.end(), lower) !=
                      additional_headers.end();
    if (!DefaultSigned(lower) && !additional) continue;
    std::string trimmed(absl::StripAsciiWhitespace(value));
    auto it = std::find_if(signed_headers.begin(), signed_headers.end(),
                           [&](const auto& h) { return h.first == lower; });
    if (it != signed_headers.end()) {
      absl::StrAppend(&it->second, ",", trimmed);
    } else {
      signed_headers.emplace_back(lower, trimmed);
    }
  }
  std::sort(signed_headers.begin(), signed_headers.end());
  std::string canonical_headers;
  for (const auto& [name, value] : signed_headers) {
    absl::StrAppend(&canonical_headers, name, ":", value, "\n");
  }

  std::string payload = HeaderValue(request, "x-oss-content-sha256");
  if (payload.empty()) payload = "UNSIGNED-PAYLOAD";

  return absl::StrCat(request.method, "\n", UriEncode(uri, false), "\n", canonical_query, "\n",
                      canonical_headers, "\n", absl::StrJoin(additional_headers, ";"), "\n",
                      payload);
}

std::string V4StringToSign(absl::string_view datetime, absl::string_view scope,
                           absl::string_view canonical_request) {
  return absl::StrCat("OSS4-HMAC-SHA256\n", datetime, "\n", scope, "\n",
                      LowerHex(Sha256(canonical_request)));
}

absl::StatusOr<V4Authorization> ParseV4Authorization(absl::string_view header) {
  auto bad = [](absl::string_view why) {
    return OssError("InvalidArgument", absl::StrCat("Authorization header is invalid: ", why),
                    "0002-00000710");
  };
  if (header.size() > 4096) return bad("too long");
  if (!absl::ConsumePrefix(&header, "OSS4-HMAC-SHA256 ")) return bad("unsupported algorithm");
  V4Authorization auth;
  bool has_credential = false;
  bool has_signature = false;
  for (absl::string_view item : absl::StrSplit(header, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    size_t eq = item.find('=');
    if (eq == absl::string_view::npos) return bad("bad item");
    absl::string_view name = item.substr(0, eq);
    absl::string_view value = item.substr(eq + 1);
    if (name == "Credential") {
      std::vector<std::string> parts = absl::StrSplit(value, '/');
      if (parts.size() != 5 || parts[0].empty() || parts[1].size() != 8 || parts[2].empty() ||
          parts[3] != "oss" || parts[4] != "aliyun_v4_request") {
        return bad("bad Credential");
      }
      auth.access_key_id = parts[0];
      auth.date = parts[1];
      auth.region = parts[2];
      has_credential = true;
    } else if (name == "AdditionalHeaders") {
      for (absl::string_view h : absl::StrSplit(value, ';', absl::SkipEmpty())) {
        auth.additional_headers.push_back(absl::AsciiStrToLower(h));
      }
    } else if (name == "Signature") {
      auth.signature = std::string(value);
      has_signature = true;
    }
  }
  if (!has_credential) return bad("missing Credential");
  if (!has_signature || auth.signature.empty()) return bad("missing Signature");
  return auth;
}

std::string V4HeaderSignature(const V4Request& request, absl::string_view secret,
                              absl::string_view date, absl::string_view region,
                              const std::vector<std::string>& additional_headers) {
  std::string scope = absl::StrCat(date, "/", region, "/oss/aliyun_v4_request");
  std::string string_to_sign = V4StringToSign(HeaderValue(request, "x-oss-date"), scope,
                                              V4CanonicalRequest(request, additional_headers));
  return LowerHex(HmacSha256(V4SigningKey(secret, date, region), string_to_sign));
}

}  // namespace ossemu
