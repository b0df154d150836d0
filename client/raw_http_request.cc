#include "client/raw_http_request.h"

#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ossup::client {
namespace {

constexpr size_t kMaxHeaderBlock = 1 << 20;
constexpr size_t kMaxHeaders = 100;

// Returns the next line (without its terminator) and advances `rest`; false at end of input.
bool NextLine(absl::string_view* rest, absl::string_view* line) {
  if (rest->empty()) return false;
  const size_t nl = rest->find('\n');
  if (nl == absl::string_view::npos) {
    *line = *rest;
    *rest = absl::string_view();
  } else {
    *line = rest->substr(0, nl);
    rest->remove_prefix(nl + 1);
  }
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  return true;
}

}  // namespace

absl::StatusOr<RawHttpRequest> ParseRawHttpRequest(absl::string_view capture) {
  RawHttpRequest req;
  absl::string_view rest = capture;
  absl::string_view line;
  if (!NextLine(&rest, &line) || line.empty()) {
    return absl::InvalidArgumentError("capture: no request line");
  }
  const std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty() ||
      !absl::StartsWith(parts[2], "HTTP/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("capture: the first line must be 'METHOD TARGET HTTP/x.y', got '",
                     absl::CHexEscape(line.substr(0, 200)), "'"));
  }
  req.method = std::string(parts[0]);
  req.target = std::string(parts[1]);
  req.version = std::string(parts[2]);
  bool blank_seen = false;
  while (NextLine(&rest, &line)) {
    if (line.empty()) {
      blank_seen = true;
      break;
    }
    if (capture.size() - rest.size() > kMaxHeaderBlock || req.headers.size() >= kMaxHeaders) {
      return absl::InvalidArgumentError("capture: header block too large");
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(absl::StrCat("capture: malformed header line '",
                                                     absl::CHexEscape(line.substr(0, 200)), "'"));
    }
    req.headers.emplace_back(std::string(absl::StripAsciiWhitespace(line.substr(0, colon))),
                             std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  if (!blank_seen) {
    // Without it the capture was cut short, or is not HTTP: its body cannot be told apart.
    return absl::InvalidArgumentError("capture: no blank line after the headers");
  }
  std::optional<absl::string_view> content_length;
  for (const auto& [name, value] : req.headers) {
    if (!absl::EqualsIgnoreCase(name, "content-length")) continue;
    if (content_length && *content_length != value) {
      // As an HTTP server must (RFC 9112 6.3): two lengths leave the body ambiguous.
      return absl::InvalidArgumentError("capture: conflicting Content-Length headers");
    }
    content_length = value;
  }
  if (content_length) {
    const absl::string_view value = *content_length;
    size_t length = 0;
    if (!absl::SimpleAtoi(value, &length)) {
      return absl::InvalidArgumentError(absl::StrCat("capture: bad Content-Length '", value, "'"));
    }
    if (rest.size() < length) {
      return absl::InvalidArgumentError(absl::StrCat("capture: Content-Length is ", length,
                                                     " but only ", rest.size(),
                                                     " body bytes were captured"));
    }
    if (rest.size() > length) {
      req.warnings.push_back(
          absl::StrCat(rest.size() - length, " bytes after the Content-Length body were ignored"));
    }
    req.body = std::string(rest.substr(0, length));
    return req;
  }
  req.body = std::string(rest);
  return req;
}

}  // namespace ossup::client
