#include "service/remote/public_key_fetcher.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"
#include "service/remote/curl_util.h"

namespace ossup::remote {
namespace {

using protocol::RsaPublicKey;

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};

// Collects the body, refusing to grow past `max` (the transfer is aborted then).
struct BodySink {
  std::string body;
  size_t max = 0;
  bool overflow = false;
};

size_t WriteToSink(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  const size_t len = size * count;
  if (len > sink->max - sink->body.size()) {
    sink->overflow = true;
    return 0;  // Makes curl fail the transfer with CURLE_WRITE_ERROR.
  }
  sink->body.append(data, len);
  return len;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PublicKeyFetcher>> PublicKeyFetcher::Create(
    PublicKeyFetcherOptions options) {
  OSSUP_RETURN_IF_ERROR(protocol::ValidateKeyUrlPrefixes(options.allowed_key_url_prefixes));
  if (options.connect_timeout <= absl::ZeroDuration() ||
      options.total_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("key fetch timeouts must be positive");
  }
  if (options.max_body_bytes == 0 || options.max_body_bytes > protocol::kMaxPublicKeyPemBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("key fetch max_body_bytes must be 1..", protocol::kMaxPublicKeyPemBytes));
  }
  // Positive TTLs: with a zero TTL, callers waiting on one fetch would each refetch in turn.
  if (options.max_cache_entries == 0 || options.cache_ttl <= absl::ZeroDuration() ||
      options.negative_cache_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("key cache needs >= 1 entry and positive TTLs");
  }
  OSSUP_RETURN_IF_ERROR(CurlGlobalInitOnce());
  return std::unique_ptr<PublicKeyFetcher>(new PublicKeyFetcher(std::move(options)));
}

PublicKeyFetcher::PublicKeyFetcher(PublicKeyFetcherOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClock::Get()) {}

int64_t PublicKeyFetcher::fetch_count() const {
  absl::MutexLock lock(&mu_);
  return fetch_count_;
}

absl::StatusOr<std::shared_ptr<const RsaPublicKey>> PublicKeyFetcher::GetKey(
    absl::string_view url) {
  OSSUP_RETURN_IF_ERROR(protocol::CheckKeyUrlAllowed(url, options_.allowed_key_url_prefixes));
  const std::string cache_key(url);
  {
    absl::MutexLock lock(&mu_);
    bool waited = false;
    while (true) {
      const auto it = cache_.find(cache_key);
      if (it == cache_.end()) break;
      if (it->second.in_flight) {
        // Single flight: wait for the fetch another caller started, then take its result. The
        // wait is bounded so a stuck fetch can never hold callers past OSS's 5 s window.
        if (fetch_done_.WaitWithTimeout(&mu_, options_.total_timeout + absl::Seconds(1))) {
          return absl::UnavailableError(
              absl::StrCat("timed out waiting for the key fetch of ", url));
        }
        waited = true;
        continue;
      }
      if (waited || clock_.Now() < it->second.expires) return it->second.result;
      cache_.erase(it);
      break;
    }
    if (cache_.size() >= options_.max_cache_entries && !EvictLocked(clock_.Now())) {
      return absl::ResourceExhaustedError("key cache is full of in-flight fetches");
    }
    cache_.emplace(cache_key, Entry());
    ++fetch_count_;
  }

  // Whatever happens in Fetch, the in-flight entry must be completed, or every later caller for
  // this URL would wait on it.
  absl::StatusOr<std::shared_ptr<const RsaPublicKey>> result =
      absl::InternalError("key fetch did not complete");
  try {
    result = Fetch(url);
  } catch (const std::exception& e) {
    result = absl::InternalError(absl::StrCat("key fetch of ", url, " failed: ", e.what()));
  }

  absl::MutexLock lock(&mu_);
  // The entry is still there: in-flight entries are never erased or evicted.
  Entry& entry = cache_[cache_key];
  entry.in_flight = false;
  entry.expires = clock_.Now() + (result.ok() ? options_.cache_ttl : options_.negative_cache_ttl);
  entry.result = result;
  fetch_done_.SignalAll();
  return result;
}

bool PublicKeyFetcher::EvictLocked(absl::Time now) {
  absl::erase_if(
      cache_, [now](const auto& kv) { return !kv.second.in_flight && kv.second.expires <= now; });
  if (cache_.size() < options_.max_cache_entries) return true;
  // Still full of live entries: drop the one closest to expiry.
  auto victim = cache_.end();
  for (auto it = cache_.begin(); it != cache_.end(); ++it) {
    if (it->second.in_flight) continue;
    if (victim == cache_.end() || it->second.expires < victim->second.expires) victim = it;
  }
  if (victim == cache_.end()) return false;
  cache_.erase(victim);
  return true;
}

absl::StatusOr<std::shared_ptr<const RsaPublicKey>> PublicKeyFetcher::Fetch(
    absl::string_view url) const {
  std::string transport_url(url);
  if (!options_.allow_insecure_http && absl::StartsWith(url, "http://")) {
    transport_url = absl::StrCat("https://", url.substr(7));
  }
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return absl::InternalError("curl_easy_init failed");

  BodySink sink;
  sink.max = options_.max_body_bytes;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  CURL* const c = curl.get();
  const char* const protocols = options_.allow_insecure_http ? "https,http" : "https";
  const bool configured =
      curl_easy_setopt(c, CURLOPT_URL, transport_url.c_str()) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK &&
      // A redirect could lead anywhere; the allowlist was checked for this URL only.
      curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout))) ==
          CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(absl::ToInt64Milliseconds(options_.total_timeout))) ==
          CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                       static_cast<curl_off_t>(options_.max_body_bytes)) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteToSink) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_USERAGENT, "ossup-key-fetcher/1") == CURLE_OK;
  if (!configured) return absl::InternalError("configuring the curl handle failed");

  const CURLcode rc = curl_easy_perform(c);
  if (sink.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
    return absl::UnavailableError(
        absl::StrCat("key from ", transport_url, " exceeds ", options_.max_body_bytes, " bytes"));
  }
  if (rc != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat("fetching key from ", transport_url,
                     " failed: ", error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc)));
  }
  long http_status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http_status);
  if (http_status >= 300 && http_status < 400) {
    return absl::UnavailableError(absl::StrCat("key URL ", transport_url, " answered HTTP ",
                                               http_status, ": redirect not followed"));
  }
  if (http_status != 200) {
    return absl::UnavailableError(
        absl::StrCat("key URL ", transport_url, " answered HTTP ", http_status));
  }
  absl::StatusOr<std::shared_ptr<const RsaPublicKey>> key = RsaPublicKey::FromPem(sink.body);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("key from ", transport_url, ": ", key.status().message()));
  }
  return key;
}

}  // namespace ossup::remote
