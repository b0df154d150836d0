#include "service/remote/oss_client.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "service/common/status_macros.h"
#include "service/protocol/request_signer_v4.h"
#include "service/protocol/url_encoding.h"
#include "service/remote/curl_util.h"

namespace ossup::remote {
namespace {

struct HeadState {
  std::vector<std::pair<std::string, std::string>> headers;
  size_t header_bytes = 0;
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<HeadState*>(user);
  const size_t n = size * count;
  state->header_bytes += n;
  if (state->header_bytes > 64 * 1024) return 0;  // abort: no sane HEAD answer is this large
  absl::string_view line(data, n);
  const size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    state->headers.emplace_back(
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, colon))),
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return n;
}

const std::string* Header(const HeadState& state, absl::string_view name) {
  for (const auto& [k, v] : state.headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CurlOssClient>> CurlOssClient::Create(const Clock* clock) {
  OSSUP_RETURN_IF_ERROR(CurlGlobalInitOnce());
  return std::unique_ptr<CurlOssClient>(
      new CurlOssClient(clock != nullptr ? clock : &RealClock::Get()));
}

absl::StatusOr<ObjectHead> CurlOssClient::HeadObject(const OssEndpoint& endpoint,
                                                     const protocol::Credentials& credentials,
                                                     absl::string_view bucket,
                                                     absl::string_view key,
                                                     absl::Duration timeout) {
  if (endpoint.scheme != "https" && endpoint.scheme != "http") {
    return absl::InvalidArgumentError("oss endpoint: scheme must be http or https");
  }
  protocol::V4RequestToSign request;
  request.method = "HEAD";
  request.bucket = std::string(bucket);
  request.object_key = std::string(key);
  OSSUP_ASSIGN_OR_RETURN(
      protocol::V4SignedRequest signed_request,
      protocol::SignRequestV4(request, credentials, endpoint.region, clock_->Now(), &key_cache_));

  const std::string host =
      endpoint.virtual_hosted ? absl::StrCat(bucket, ".", endpoint.host) : endpoint.host;
  const std::string url = absl::StrCat(endpoint.scheme, "://", host, "/",
                                       protocol::PercentEncode(key, /*keep_slash=*/true));
  CurlEasy curl = AcquireHandle();
  if (!curl) return absl::InternalError("curl_easy_init failed");
  // Back to the pool on every path; a handle whose transfer failed may hold a broken connection,
  // which libcurl detects and replaces on its next use.
  struct Return {
    CurlOssClient* client;
    CurlEasy* handle;
    ~Return() { client->ReleaseHandle(std::move(*handle)); }
  } give_back{this, &curl};
  CurlSlist headers;
  for (const auto& [name, value] : signed_request.headers_to_add) {
    headers.reset(curl_slist_append(headers.release(), absl::StrCat(name, ": ", value).c_str()));
  }
  HeadState state;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &state);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, endpoint.scheme.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(absl::ToInt64Milliseconds(timeout), 1000)));
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat("HeadObject ", bucket, "/", key, ": ", curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status == 404) {
    return absl::NotFoundError(absl::StrCat("HeadObject ", bucket, "/", key, ": no such object"));
  }
  if (status == 403) {
    const std::string* code = Header(state, "x-oss-ec");
    return absl::PermissionDeniedError(absl::StrCat("HeadObject ", bucket, "/", key,
                                                    ": access denied",
                                                    code ? absl::StrCat(" (EC ", *code, ")") : ""));
  }
  if (status != 200) {
    return absl::UnavailableError(absl::StrCat("HeadObject ", bucket, "/", key, ": HTTP ", status));
  }
  ObjectHead head;
  const std::string* length = Header(state, "content-length");
  if (length == nullptr || !absl::SimpleAtoi(*length, &head.size) || head.size < 0) {
    return absl::UnavailableError("HeadObject: answer without a valid Content-Length");
  }
  if (const std::string* etag = Header(state, "etag")) {
    absl::string_view e = *etag;
    absl::ConsumePrefix(&e, "\"");
    absl::ConsumeSuffix(&e, "\"");
    head.etag = std::string(e);
  }
  if (const std::string* type = Header(state, "content-type")) head.content_type = *type;
  if (const std::string* crc = Header(state, "x-oss-hash-crc64ecma")) head.crc64 = *crc;
  return head;
}

CurlOssClient::~CurlOssClient() = default;

CurlEasy CurlOssClient::AcquireHandle() {
  {
    absl::MutexLock lock(&idle_mu_);
    if (!idle_.empty()) {
      CurlEasy handle = std::move(idle_.back());
      idle_.pop_back();
      // Clears the options of the last request; keeps its live connections and DNS cache.
      curl_easy_reset(handle.get());
      return handle;
    }
  }
  return CurlEasy(curl_easy_init());
}

void CurlOssClient::ReleaseHandle(CurlEasy handle) {
  constexpr size_t kMaxIdleHandles = 64;
  if (!handle) return;
  absl::MutexLock lock(&idle_mu_);
  if (idle_.size() < kMaxIdleHandles) idle_.push_back(std::move(handle));
}

}  // namespace ossup::remote
