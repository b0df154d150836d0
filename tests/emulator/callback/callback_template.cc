#include "callback/callback_template.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "callback/callback_codec.h"
#include "nlohmann/json.hpp"

namespace ossemu {
namespace {

struct Value {
  std::string text;
  bool numeric = false;
};

Value Lookup(absl::string_view name, const UploadFacts& facts,
             const std::vector<std::pair<std::string, std::string>>& vars) {
  if (absl::StartsWith(name, "x:")) {
    // A repeated x: field: the first one counts (UNCONFIRMED).
    for (const auto& [key, value] : vars) {
      if (key == name) return {value};
    }
    // UNCONFIRMED: OSS's behaviour for a referenced but unsupplied x: variable; the emulator
    // substitutes an empty string.
    return {};
  }
  if (name == "bucket") return {facts.bucket};
  if (name == "object") return {facts.object};
  if (name == "etag") return {facts.etag};
  if (name == "size") return {absl::StrCat(facts.size), true};
  if (name == "mimeType") return {facts.mime_type};
  // The emulator stores no image metadata: imageInfo.* are empty, hence rendered as (empty)
  // strings, not bare numbers. UNCONFIRMED: OSS's JSON rendering of empty imageInfo values.
  if (name == "imageInfo.height" || name == "imageInfo.width" || name == "imageInfo.format") {
    return {};
  }
  // UNCONFIRMED: crc64 is a decimal number but is rendered as a string (it exceeds 2^53).
  if (name == "crc64") return {facts.crc64};
  if (name == "contentMd5") return {facts.content_md5};
  if (name == "vpcId") return {};
  if (name == "clientIp") return {facts.client_ip};
  if (name == "reqId") return {facts.request_id};
  if (name == "operation") return {facts.operation};
  // UNCONFIRMED: an unknown system variable name renders as an empty string.
  return {};
}

}  // namespace

absl::StatusOr<std::vector<TemplatePart>> ParseTemplate(absl::string_view body_template) {
  std::vector<TemplatePart> parts;
  std::string literal;
  size_t i = 0;
  while (i < body_template.size()) {
    const char c = body_template[i];
    if (c != '$') {
      literal.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= body_template.size() || body_template[i + 1] != '{') {
      return absl::InvalidArgumentError("Left brace must be adjacent to dollar sign.");
    }
    const size_t close = body_template.find('}', i + 2);
    if (close == absl::string_view::npos) {
      // UNCONFIRMED: OSS's wording for an unclosed placeholder.
      return absl::InvalidArgumentError("Right brace is missing after the variable name.");
    }
    absl::string_view name = body_template.substr(i + 2, close - i - 2);
    if (name.empty() || absl::StrContains(name, '$') || absl::StrContains(name, '{')) {
      // UNCONFIRMED wording.
      return absl::InvalidArgumentError(
          absl::StrCat("The variable name in the callback body is invalid: ${", name, "}"));
    }
    if (!literal.empty()) parts.push_back({false, std::move(literal)});
    literal.clear();
    parts.push_back({true, std::string(name)});
    i = close + 1;
  }
  if (!literal.empty()) parts.push_back({false, std::move(literal)});
  return parts;
}

std::string RenderTemplate(const std::vector<TemplatePart>& parts, bool json_body,
                           const UploadFacts& facts,
                           const std::vector<std::pair<std::string, std::string>>& vars) {
  std::string out;
  for (const TemplatePart& part : parts) {
    if (!part.is_variable) {
      out += part.text;
      continue;
    }
    const Value value = Lookup(part.text, facts, vars);
    if (!json_body) {
      out += UrlEncodeComponent(value.text);
    } else if (value.numeric) {
      out += value.text;
    } else {
      // replace: invalid UTF-8 must not throw out of Dispatch.
      out += nlohmann::json(value.text).dump(-1, ' ', false,
                                             nlohmann::json::error_handler_t::replace);
    }
  }
  return out;
}

}  // namespace ossemu
