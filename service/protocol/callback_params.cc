#include "service/protocol/callback_params.h"

#include <algorithm>
#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "service/common/status_macros.h"
#include "service/protocol/crypto.h"
#include "service/protocol/policy.h"
#include "service/protocol/url_encoding.h"

namespace ossup::protocol {
namespace {

constexpr std::array<absl::string_view, 14> kSystemVariables = {
    "bucket",          "object",           "etag",  "size",       "mimeType", "imageInfo.height",
    "imageInfo.width", "imageInfo.format", "crc64", "contentMd5", "vpcId",    "clientIp",
    "reqId",           "operation"};

constexpr size_t kMaxUrlBytes = 1024;
constexpr size_t kMaxBodyFields = 64;

bool IsHostChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
}

// host[:port] with a DNS name or IPv4 address; IPv6 is not supported by OSS callbacks (§2.1).
absl::Status ValidateHostPort(absl::string_view what, absl::string_view hostport) {
  absl::string_view host = hostport;
  if (const size_t colon = hostport.rfind(':'); colon != absl::string_view::npos) {
    host = hostport.substr(0, colon);
    const absl::string_view port_text = hostport.substr(colon + 1);
    int port = 0;
    if (port_text.empty() || port_text.size() > 5 ||
        !std::all_of(port_text.begin(), port_text.end(),
                     [](char c) { return c >= '0' && c <= '9'; }) ||
        !absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": invalid port in '", hostport, "'"));
    }
  }
  if (host.empty() || host.size() > 253 || !std::all_of(host.begin(), host.end(), IsHostChar) ||
      host.front() == '.' || host.front() == '-' || host.back() == '-') {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": '", hostport, "' must be a DNS name or IPv4 address (IPv6 is not supported)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCallbackUrl(absl::string_view url) {
  if (url.empty() || url.size() > kMaxUrlBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("callback url: must be 1-", kMaxUrlBytes, " characters"));
  }
  for (char c : url) {
    // ';' separates URLs in callbackUrl; non-ASCII must be percent-encoded (§2.1).
    if (c <= 0x20 || c >= 0x7f || c == ';' || c == '#' || c == '\\') {
      return absl::InvalidArgumentError(absl::StrCat(
          "callback url: '", url,
          "' must be printable ASCII without spaces, ';', '#' or '\\' (percent-encode the rest)"));
    }
  }
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "https://") && !absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("callback url: '", url, "' must start with http:// or https://"));
  }
  const size_t end = rest.find_first_of("/?");
  const absl::string_view authority = rest.substr(0, end);
  if (authority.find('@') != absl::string_view::npos) {
    return absl::InvalidArgumentError("callback url: user information is not allowed");
  }
  // The path is percent-decoded before OSS signs it, and whether '+' decodes to a space is
  // UNCONFIRMED (reference §2.7), so a path with '%' or '+' could fail every verification. The
  // query is signed verbatim and may contain both.
  if (end != absl::string_view::npos) {
    const absl::string_view path = rest.substr(end, rest.find('?', end) - end);
    if (path.find_first_of("%+") != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "callback url: the path of '", url, "' must not contain '%' or '+' (put them in the query)"));
    }
  }
  return ValidateHostPort("callback url", authority);
}

// Mirrors OSS's template parser: every '$' opens "${name}" with a known name.
absl::Status ValidateBodyTemplate(absl::string_view body) {
  if (body.empty()) {
    return absl::InvalidArgumentError("callback body: must not be empty (OSS EC 0007-00000011)");
  }
  if (!IsPrintableUtf8(body)) {
    return absl::InvalidArgumentError("callback body: must be UTF-8 without control characters");
  }
  size_t pos = 0;
  while ((pos = body.find('$', pos)) != absl::string_view::npos) {
    if (pos + 1 >= body.size() || body[pos + 1] != '{') {
      return absl::InvalidArgumentError(absl::StrCat(
          "callback body: '$' at offset ", pos,
          " must be followed by '{' (OSS: left brace must be adjacent to dollar sign)"));
    }
    const size_t close = body.find('}', pos + 2);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("callback body: unterminated '${' at offset ", pos));
    }
    const absl::string_view name = body.substr(pos + 2, close - pos - 2);
    if (!IsCallbackSystemVariable(name) && !IsCallbackCustomVariable(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("callback body: unknown variable '${", name,
                       "}' (system variables are case-sensitive; custom ones are x:[a-z0-9_]+)"));
    }
    pos = close + 1;
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view CallbackBodyTypeMediaType(CallbackBodyType type) {
  return type == CallbackBodyType::kJson ? "application/json" : "application/x-www-form-urlencoded";
}

bool IsCallbackSystemVariable(absl::string_view name) {
  return std::find(kSystemVariables.begin(), kSystemVariables.end(), name) !=
         kSystemVariables.end();
}

bool IsCallbackCustomVariable(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "x:")) return false;
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

absl::Status ValidateCallbackParams(const CallbackParams& params) {
  if (params.urls.empty() || params.urls.size() > kMaxCallbackUrls) {
    return absl::InvalidArgumentError(
        absl::StrCat("callback url: give 1-", kMaxCallbackUrls, " URLs"));
  }
  for (const auto& url : params.urls) OSSUP_RETURN_IF_ERROR(ValidateCallbackUrl(url));
  if (!params.host.empty()) OSSUP_RETURN_IF_ERROR(ValidateHostPort("callback host", params.host));
  return ValidateBodyTemplate(params.body);
}

absl::StatusOr<std::string> CallbackParamsJson(const CallbackParams& params) {
  OSSUP_RETURN_IF_ERROR(ValidateCallbackParams(params));
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  json["callbackUrl"] = absl::StrJoin(params.urls, ";");
  if (!params.host.empty()) json["callbackHost"] = params.host;
  json["callbackBody"] = params.body;
  if (params.body_type.has_value()) {
    json["callbackBodyType"] = std::string(CallbackBodyTypeMediaType(*params.body_type));
  }
  if (params.sni.has_value()) json["callbackSNI"] = *params.sni;
  std::string out = json.dump();
  if (out.size() > kMaxCallbackParamJsonBytes) {
    return absl::InvalidArgumentError(absl::StrCat("callback: parameter JSON is ", out.size(),
                                                   " bytes, over ", kMaxCallbackParamJsonBytes));
  }
  return out;
}

absl::StatusOr<std::string> EncodeCallbackParams(const CallbackParams& params) {
  OSSUP_ASSIGN_OR_RETURN(std::string json, CallbackParamsJson(params));
  return Base64Encode(json);
}

bool CallbackBodyTemplate::CheckName(absl::string_view name) {
  if (!status_.ok()) return false;
  const bool valid =
      !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
               c == '.';
      });
  if (!valid) {
    status_ = absl::InvalidArgumentError(absl::StrCat("callback body: field name '", name,
                                                      "' must be 1-64 of A-Z a-z 0-9 '_' '-' '.'"));
    return false;
  }
  if (std::find(names_.begin(), names_.end(), name) != names_.end()) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("callback body: duplicate field name '", name, "'"));
    return false;
  }
  if (names_.size() >= kMaxBodyFields) {
    status_ = absl::InvalidArgumentError("callback body: too many fields");
    return false;
  }
  names_.emplace_back(name);
  return true;
}

CallbackBodyTemplate& CallbackBodyTemplate::AddVariable(absl::string_view name,
                                                        absl::string_view variable) {
  if (!CheckName(name)) return *this;
  if (!IsCallbackSystemVariable(variable) && !IsCallbackCustomVariable(variable)) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("callback body: unknown variable '", variable, "' for field '", name, "'"));
    return *this;
  }
  const std::string placeholder = absl::StrCat("${", variable, "}");
  parts_.push_back(type_ == CallbackBodyType::kJson ? absl::StrCat("\"", name, "\":", placeholder)
                                                    : absl::StrCat(name, "=", placeholder));
  return *this;
}

CallbackBodyTemplate& CallbackBodyTemplate::AddLiteral(absl::string_view name,
                                                       absl::string_view value) {
  if (!CheckName(name)) return *this;
  if (!IsPrintableUtf8(value)) {
    status_ = absl::InvalidArgumentError(absl::StrCat(
        "callback body: literal for '", name, "' must be UTF-8 without control characters"));
    return *this;
  }
  if (type_ == CallbackBodyType::kJson) {
    const std::string quoted = nlohmann::json(std::string(value)).dump();
    parts_.push_back(
        absl::StrCat("\"", name, "\":", absl::StrReplaceAll(quoted, {{"$", "\\u0024"}})));
  } else {
    parts_.push_back(absl::StrCat(name, "=", PercentEncode(value)));
  }
  return *this;
}

absl::StatusOr<std::string> CallbackBodyTemplate::Render() const {
  if (!status_.ok()) return status_;
  if (parts_.empty()) return absl::InvalidArgumentError("callback body: no fields");
  if (type_ == CallbackBodyType::kJson) return absl::StrCat("{", absl::StrJoin(parts_, ","), "}");
  return absl::StrJoin(parts_, "&");
}

}  // namespace ossup::protocol
