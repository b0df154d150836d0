#include "callback/callback_sender.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ossemu {
namespace {

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

struct Capture {
  HttpPostReply* reply;
  bool too_large = false;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* capture = static_cast<Capture*>(user);
  const size_t n = size * count;
  if (capture->reply->body.size() + n > kMaxCallbackReplyBytes) {
    capture->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  capture->reply->body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* reply = static_cast<Capture*>(user)->reply;
  const size_t n = size * count;
  absl::string_view line(data, n);
  if (absl::StartsWith(line, "HTTP/")) {  // a new (possibly interim) response starts
    reply->has_content_length = false;
    reply->content_type.clear();
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return n;
  const std::string name = absl::AsciiStrToLower(line.substr(0, colon));
  absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  if (name == "content-length") reply->has_content_length = true;
  if (name == "content-type") reply->content_type = std::string(value);
  return n;
}

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

HttpPostReply HttpPost(const HttpPostRequest& request, absl::Duration timeout) {
  GlobalInitOnce();
  HttpPostReply reply;
  const long timeout_ms = static_cast<long>(absl::ToInt64Milliseconds(timeout));
  if (timeout_ms <= 0) {
    reply.result = HttpPostReply::Result::kTimeout;
    return reply;
  }
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (curl == nullptr) return reply;
  curl_slist* raw_list = nullptr;
  for (const std::string& header : request.headers) {
    curl_slist* next = curl_slist_append(raw_list, header.c_str());
    if (next == nullptr) {
      curl_slist_free_all(raw_list);
      return reply;
    }
    raw_list = next;
  }
  std::unique_ptr<curl_slist, SlistDeleter> headers(raw_list);
  Capture capture{&reply};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  // Send the path exactly as signed: no "/./" or "/../" squashing.
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // ignore *_proxy environment variables
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &capture);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &capture);
  const CURLcode code = curl_easy_perform(c);
  if (capture.too_large) {
    reply.result = HttpPostReply::Result::kTooLarge;
  } else if (code == CURLE_OPERATION_TIMEDOUT) {
    reply.result = HttpPostReply::Result::kTimeout;
  } else if (code != CURLE_OK) {
    reply.result = HttpPostReply::Result::kConnectFailed;
  } else {
    reply.result = HttpPostReply::Result::kResponse;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  }
  return reply;
}

}  // namespace ossemu
