#ifndef OSSUP_CLIENT_RAW_HTTP_REQUEST_H_
#define OSSUP_CLIENT_RAW_HTTP_REQUEST_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ossup::client {

// A captured HTTP/1.x request: request line, headers, blank line, body.
struct RawHttpRequest {
  std::string method;
  std::string target;  // exactly as in the request line
  std::string version;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::vector<std::string> warnings;  // e.g. trailing bytes beyond Content-Length
};

// Parses a capture such as `tcpdump -A`/`nc -l` output saved to a file. Lines may end in CRLF or
// LF. With a Content-Length the body is exactly that many bytes (fewer is an error, more is a
// warning); without one it is the rest of the input. Bounded: 1 MiB of headers, 100 headers.
absl::StatusOr<RawHttpRequest> ParseRawHttpRequest(absl::string_view capture);

}  // namespace ossup::client

#endif  // OSSUP_CLIENT_RAW_HTTP_REQUEST_H_
