#include "service/remote/oss_client.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "service/common/status_macros.h"
#include "service/common/thread_name.h"
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

// Reads OSS's answer to a finished HEAD request.
absl::StatusOr<ObjectHead> ReadHeadAnswer(CURL* c, CURLcode rc, const HeadState& state,
                                          absl::string_view bucket, absl::string_view key) {
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

}  // namespace

// One HEAD request on its way: everything libcurl reads while it runs lives here.
struct CurlOssClient::Transfer {
  CurlEasy handle;
  CurlSlist headers;
  std::string url;
  HeadState state;
  std::string bucket;
  std::string key;
  HeadObjectDone done;
};

absl::StatusOr<std::unique_ptr<CurlOssClient>> CurlOssClient::Create(
    const Clock* clock, const CurlOssClientOptions& options) {
  if (options.max_in_flight < 1 || options.max_connections_per_host < 1) {
    return absl::InvalidArgumentError("OSS client: every limit must be at least 1");
  }
  OSSUP_RETURN_IF_ERROR(CurlGlobalInitOnce());
  CurlMulti multi(curl_multi_init());
  if (!multi) return absl::InternalError("curl_multi_init failed");
  curl_multi_setopt(multi.get(), CURLMOPT_MAXCONNECTS,
                    static_cast<long>(std::max(1, options.max_connections_per_host / 2)));
  curl_multi_setopt(multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS,
                    static_cast<long>(options.max_connections_per_host));
  return std::unique_ptr<CurlOssClient>(new CurlOssClient(
      clock != nullptr ? clock : &RealClock::Get(), std::move(multi), options.max_in_flight));
}

CurlOssClient::CurlOssClient(const Clock* clock, CurlMulti multi, int max_in_flight)
    : clock_(clock),
      max_in_flight_(max_in_flight),
      multi_(std::move(multi)),
      thread_(NamedThread("ossup-oss-head", [this] { Run(); })) {}

CurlOssClient::~CurlOssClient() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  curl_multi_wakeup(multi_.get());
  thread_.join();
}

absl::StatusOr<ObjectHead> CurlOssClient::HeadObject(const OssEndpoint& endpoint,
                                                     const protocol::Credentials& credentials,
                                                     absl::string_view bucket,
                                                     absl::string_view key,
                                                     absl::Duration timeout) {
  absl::Notification answered;
  absl::StatusOr<ObjectHead> result = absl::InternalError("HeadObject: no answer");
  HeadObjectAsync(endpoint, credentials, bucket, key, timeout,
                  [&](absl::StatusOr<ObjectHead> head) {
                    result = std::move(head);
                    answered.Notify();
                  });
  answered.WaitForNotification();
  return result;
}

int CurlOssClient::InFlight() {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

void CurlOssClient::HeadObjectAsync(const OssEndpoint& endpoint,
                                    const protocol::Credentials& credentials,
                                    absl::string_view bucket, absl::string_view key,
                                    absl::Duration timeout, HeadObjectDone done) {
  if (endpoint.scheme != "https" && endpoint.scheme != "http") {
    return done(absl::InvalidArgumentError("oss endpoint: scheme must be http or https"));
  }
  protocol::V4RequestToSign request;
  request.method = "HEAD";
  request.bucket = std::string(bucket);
  request.object_key = std::string(key);
  absl::StatusOr<protocol::V4SignedRequest> signed_request =
      protocol::SignRequestV4(request, credentials, endpoint.region, clock_->Now(), &key_cache_);
  if (!signed_request.ok()) return done(signed_request.status());

  auto t = std::make_unique<Transfer>();
  t->handle = AcquireHandle();
  if (!t->handle) return done(absl::InternalError("curl_easy_init failed"));
  const std::string host =
      endpoint.virtual_hosted ? absl::StrCat(bucket, ".", endpoint.host) : endpoint.host;
  t->url = absl::StrCat(endpoint.scheme, "://", host, "/",
                        protocol::PercentEncode(key, /*keep_slash=*/true));
  for (const auto& [name, value] : signed_request->headers_to_add) {
    t->headers.reset(
        curl_slist_append(t->headers.release(), absl::StrCat(name, ": ", value).c_str()));
  }
  t->bucket = std::string(bucket);
  t->key = std::string(key);
  t->done = std::move(done);
  CURL* c = t->handle.get();
  curl_easy_setopt(c, CURLOPT_URL, t->url.c_str());
  curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers.get());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t->state);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, endpoint.scheme.c_str());
  // At least 1 ms: 0 would mean no timeout at all to libcurl.
  const int64_t timeout_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(timeout_ms, 1000)));
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      refused = absl::UnavailableError("HeadObject: the OSS client is stopping");
    } else if (in_flight_ >= max_in_flight_) {
      refused = absl::UnavailableError(
          absl::StrCat("HeadObject: ", max_in_flight_, " requests already wait for OSS"));
    } else {
      ++in_flight_;
      incoming_.push_back(std::move(t));
    }
  }
  if (!refused.ok()) {
    ReleaseHandle(std::move(t->handle));
    return t->done(refused);
  }
  curl_multi_wakeup(multi_.get());
}

void CurlOssClient::Run() {
  absl::flat_hash_map<CURL*, std::unique_ptr<Transfer>> active;
  for (;;) {
    std::vector<std::unique_ptr<Transfer>> fresh;
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      fresh.swap(incoming_);
      stopping = stopping_;
    }
    for (std::unique_ptr<Transfer>& t : fresh) {
      CURL* c = t->handle.get();
      if (curl_multi_add_handle(multi_.get(), c) != CURLM_OK) {
        Finish(std::move(t), CURLE_FAILED_INIT);
        continue;
      }
      active.emplace(c, std::move(t));
    }
    // Nothing is added once stopping_ is seen, so an empty `active` then means all are answered.
    if (stopping && active.empty()) return;
    int running = 0;
    curl_multi_perform(multi_.get(), &running);
    TakeFinishedTransfers(multi_.get(), [&](CURL* c, CURLcode rc) {
      auto it = active.find(c);
      if (it == active.end()) return;
      std::unique_ptr<Transfer> t = std::move(it->second);
      active.erase(it);
      Finish(std::move(t), rc);
    });
    // Wakes for socket activity, libcurl's own timers (the requests' timeouts), or
    // curl_multi_wakeup from HeadObjectAsync and the destructor.
    curl_multi_poll(multi_.get(), nullptr, 0, 1000, nullptr);
  }
}

void CurlOssClient::Finish(std::unique_ptr<Transfer> t, CURLcode rc) {
  absl::StatusOr<ObjectHead> head =
      ReadHeadAnswer(t->handle.get(), rc, t->state, t->bucket, t->key);
  ReleaseHandle(std::move(t->handle));
  {
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }
  t->done(std::move(head));
}

CurlEasy CurlOssClient::AcquireHandle() {
  {
    absl::MutexLock lock(&idle_mu_);
    if (!idle_.empty()) {
      CurlEasy handle = std::move(idle_.back());
      idle_.pop_back();
      // Clears the options of the last request (the connections live in the multi handle).
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
