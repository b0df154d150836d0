#ifndef OSSEMU_CALLBACK_CALLBACK_SENDER_H_
#define OSSEMU_CALLBACK_CALLBACK_SENDER_H_

// One HTTP POST of a callback with libcurl, and what came back.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ossemu {

// The app's answer is refused beyond this (OSS documents 3 MB).
inline constexpr size_t kMaxCallbackReplyBytes = 3 * 1024 * 1024;

struct HttpPostRequest {
  std::string url;                   // scheme://host[:port]target
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
};

struct HttpPostReply {
  enum class Result { kResponse, kTimeout, kConnectFailed, kTooLarge };
  Result result = Result::kConnectFailed;
  long status = 0;                  // HTTP status when result == kResponse
  bool has_content_length = false;  // of the final response
  std::string content_type;         // of the final response, empty if absent
  std::string body;
};

// POSTs without following redirects or using proxies, giving up after `timeout`. Thread-safe.
HttpPostReply HttpPost(const HttpPostRequest& request, absl::Duration timeout);

}  // namespace ossemu

#endif  // OSSEMU_CALLBACK_CALLBACK_SENDER_H_
