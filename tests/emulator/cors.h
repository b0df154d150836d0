#ifndef OSSEMU_CORS_H_
#define OSSEMU_CORS_H_

// Bucket CORS rule matching (reference §1.8).

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "config.h"

namespace ossemu {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Pattern with at most one '*' matching any run of characters.
bool WildcardMatch(absl::string_view pattern, absl::string_view text);

// The first rule allowing origin + method + every requested header, or nullptr.
// `request_headers` is the raw Access-Control-Request-Headers value (comma separated).
const CorsRule* MatchCors(const std::vector<CorsRule>& rules, absl::string_view origin,
                          absl::string_view method, absl::string_view request_headers);

// Access-Control-* headers for a matched rule. `request_headers` is echoed for preflights.
HeaderList CorsHeaders(const CorsRule& rule, absl::string_view origin,
                       absl::string_view request_headers, bool preflight);

}  // namespace ossemu

#endif  // OSSEMU_CORS_H_
