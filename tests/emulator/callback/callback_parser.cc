#include "callback/callback_parser.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "callback/callback_codec.h"
#include "callback/callback_template.h"
#include "nlohmann/json.hpp"

namespace ossemu {
namespace {

constexpr char kFormType[] = "application/x-www-form-urlencoded";
constexpr char kJsonType[] = "application/json";

// Error wording below is OSS's where the reference quotes it; the rest is ours (UNCONFIRMED).
absl::Status NotJson() {
  return absl::InvalidArgumentError("The callback configuration is not json format.");
}

absl::Status TooLarge() {
  return absl::InvalidArgumentError(absl::StrCat(
      "The callback parameter is too large (at most ", kMaxCallbackJsonBytes, " bytes)."));
}

bool IsVarNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

absl::Status CheckVars(const std::vector<std::pair<std::string, std::string>>& x_vars) {
  if (x_vars.size() > kMaxCallbackVars) {
    return absl::InvalidArgumentError(
        absl::StrCat("Too many callback variables (at most ", kMaxCallbackVars, ")."));
  }
  size_t total = 0;
  for (const auto& [name, value] : x_vars) {
    total += name.size() + value.size();
    const bool valid = name.size() > 2 && name.compare(0, 2, "x:") == 0 &&
                       std::all_of(name.begin() + 2, name.end(), IsVarNameChar);
    if (!valid) {
      return absl::InvalidArgumentError(absl::StrCat(
          "The callback variable name is invalid, it must match x:[a-z0-9_]+: ", name));
    }
  }
  if (total > kMaxCallbackVarBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "The callback variables are too large (at most ", kMaxCallbackVarBytes, " bytes)."));
  }
  return absl::OkStatus();
}

// Reads an optional string member; absent or null is "".
absl::StatusOr<std::string> OptionalString(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("The callback field ", key, " must be a string."));
  }
  return it->get<std::string>();
}

absl::Status ParseUrls(absl::string_view urls, ParsedCallback& out) {
  if (urls.empty()) return absl::InvalidArgumentError("The callbackUrl is missing or empty.");
  std::vector<absl::string_view> entries = absl::StrSplit(urls, ';');
  // A trailing ';' (as in OSS's own examples) does not count as a URL.
  if (entries.size() > 1 && entries.back().empty()) entries.pop_back();
  if (entries.size() > kMaxCallbackUrls) {
    return absl::InvalidArgumentError(
        absl::StrCat("The callbackUrl has more than ", kMaxCallbackUrls, " URLs."));
  }
  for (absl::string_view entry : entries) {
    absl::StatusOr<CallbackUrl> url = ParseCallbackUrl(entry);
    if (!url.ok()) return url.status();
    out.urls.push_back(url->ToString());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ParsedCallback> ParseCallbackParameter(
    absl::string_view callback_base64,
    const std::vector<std::pair<std::string, std::string>>& x_vars) {
  if (callback_base64.size() > (kMaxCallbackJsonBytes + 2) / 3 * 4) {
    return TooLarge();
  }
  absl::StatusOr<std::string> json_text = Base64DecodeStrict(callback_base64);
  if (!json_text.ok()) return json_text.status();
  if (json_text->size() > kMaxCallbackJsonBytes) {
    return TooLarge();
  }
  if (absl::Status status = CheckVars(x_vars); !status.ok()) return status;

  const nlohmann::json config = nlohmann::json::parse(*json_text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) return NotJson();

  ParsedCallback parsed;
  absl::StatusOr<std::string> urls = OptionalString(config, "callbackUrl");
  if (!urls.ok()) return urls.status();
  if (absl::Status status = ParseUrls(*urls, parsed); !status.ok()) return status;

  absl::StatusOr<std::string> host = OptionalString(config, "callbackHost");
  if (!host.ok()) return host.status();
  // The value becomes a request header: no spaces or control characters (header injection).
  for (unsigned char c : *host) {
    if (c <= 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("The callbackHost is invalid.");
    }
  }
  parsed.host = *std::move(host);

  absl::StatusOr<std::string> body = OptionalString(config, "callbackBody");
  if (!body.ok()) return body.status();
  if (body->empty()) {
    // EC 0007-00000011; OSS's exact message is UNCONFIRMED.
    return absl::InvalidArgumentError("The callbackBody is empty.");
  }
  if (absl::StatusOr<std::vector<TemplatePart>> parts = ParseTemplate(*body); !parts.ok()) {
    return parts.status();
  }
  parsed.body_template = *std::move(body);

  absl::StatusOr<std::string> body_type = OptionalString(config, "callbackBodyType");
  if (!body_type.ok()) return body_type.status();
  if (*body_type == kJsonType) {
    parsed.json_body = true;
  } else if (!body_type->empty() && *body_type != kFormType) {
    return absl::InvalidArgumentError(
        absl::StrCat("The callbackBodyType is not supported: ", *body_type));
  }

  if (const auto sni = config.find("callbackSNI"); sni != config.end() && !sni->is_null()) {
    if (!sni->is_boolean()) {
      return absl::InvalidArgumentError("The callback field callbackSNI must be a boolean.");
    }
    parsed.sni = sni->get<bool>();
  }
  parsed.vars = x_vars;
  return parsed;
}

}  // namespace ossemu
