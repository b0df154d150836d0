#include "cors.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace ossemu {

bool WildcardMatch(absl::string_view pattern, absl::string_view text) {
  size_t star = pattern.find('*');
  if (star == absl::string_view::npos) return pattern == text;
  absl::string_view prefix = pattern.substr(0, star);
  absl::string_view suffix = pattern.substr(star + 1);
  return text.size() >= prefix.size() + suffix.size() && absl::StartsWith(text, prefix) &&
         absl::EndsWith(text, suffix);
}

const CorsRule* MatchCors(const std::vector<CorsRule>& rules, absl::string_view origin,
                          absl::string_view method, absl::string_view request_headers) {
  for (const CorsRule& rule : rules) {
    bool origin_ok = false;
    for (const std::string& o : rule.allowed_origins) origin_ok = origin_ok || WildcardMatch(o, origin);
    if (!origin_ok) continue;
    bool method_ok = false;
    for (const std::string& m : rule.allowed_methods) method_ok = method_ok || m == method;
    if (!method_ok) continue;
    bool headers_ok = true;
    for (absl::string_view h : absl::StrSplit(request_headers, ',', absl::SkipWhitespace())) {
      std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(h));
      bool one = false;
      for (const std::string& a : rule.allowed_headers) one = one || WildcardMatch(a, lower);
      headers_ok = headers_ok && one;
    }
    if (headers_ok) return &rule;
  }
  return nullptr;
}

HeaderList CorsHeaders(const CorsRule& rule, absl::string_view origin,
                       absl::string_view request_headers, bool preflight) {
  HeaderList h;
  h.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  h.emplace_back("Access-Control-Allow-Methods", absl::StrJoin(rule.allowed_methods, ", "));
  if (preflight && !request_headers.empty()) {
    h.emplace_back("Access-Control-Allow-Headers", std::string(request_headers));
  }
  if (!rule.expose_headers.empty()) {
    h.emplace_back("Access-Control-Expose-Headers", absl::StrJoin(rule.expose_headers, ", "));
  }
  if (rule.max_age_seconds) {
    h.emplace_back("Access-Control-Max-Age", std::to_string(*rule.max_age_seconds));
  }
  h.emplace_back("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
  return h;
}

}  // namespace ossemu
