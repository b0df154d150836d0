#ifndef OSSUP_SERVICE_REMOTE_PUBLIC_KEY_FETCHER_H_
#define OSSUP_SERVICE_REMOTE_PUBLIC_KEY_FETCHER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/common/clock.h"
#include "service/protocol/public_key.h"

namespace ossup::remote {

struct PublicKeyFetcherOptions {
  // Checked again before every fetch (defense in depth; the verifier checks first).
  std::vector<std::string> allowed_key_url_prefixes = protocol::DefaultKeyUrlPrefixes();
  // When false, an http:// key URL is fetched as the https:// URL of the same host and path:
  // the key object is the same, but its bytes cannot be swapped on the wire.
  bool allow_insecure_http = false;
  absl::Duration connect_timeout = absl::Seconds(1);
  // OSS gives the whole callback 5 s; the key fetch must leave room for the rest.
  absl::Duration total_timeout = absl::Seconds(2);
  size_t max_body_bytes = protocol::kMaxPublicKeyPemBytes;
  absl::Duration cache_ttl = absl::Hours(1);
  // Failures are cached briefly so a broken key host is not hammered by every callback.
  absl::Duration negative_cache_ttl = absl::Seconds(10);
  size_t max_cache_entries = 64;
  const Clock* clock = nullptr;  // RealClock when null; must outlive the fetcher.
};

// Fetches callback public keys over HTTP(S) with libcurl; the only network I/O of verification.
// No redirects, only HTTP 200, bounded body and time. Results (including failures) are cached per
// URL and concurrent requests for one URL share a single fetch. Thread-safe.
//
// Status codes follow protocol::PublicKeyProvider: PermissionDenied for refused URLs,
// InvalidArgument for an unusable PEM, Unavailable for transport/HTTP failures,
// ResourceExhausted when the cache is full of in-flight fetches.
class PublicKeyFetcher : public protocol::PublicKeyProvider {
 public:
  // InvalidArgument for invalid prefixes or non-positive limits.
  static absl::StatusOr<std::unique_ptr<PublicKeyFetcher>> Create(PublicKeyFetcherOptions options);

  absl::StatusOr<std::shared_ptr<const protocol::RsaPublicKey>> GetKey(
      absl::string_view url) override;

  // Number of HTTP transfers started (for tests and metrics).
  int64_t fetch_count() const;

 private:
  struct Entry {
    bool in_flight = true;
    absl::Time expires = absl::InfinitePast();
    absl::StatusOr<std::shared_ptr<const protocol::RsaPublicKey>> result =
        absl::UnknownError("fetch in progress");
  };

  explicit PublicKeyFetcher(PublicKeyFetcherOptions options);

  // The transfer and PEM parsing, without locks.
  absl::StatusOr<std::shared_ptr<const protocol::RsaPublicKey>> Fetch(absl::string_view url) const;
  // Makes room for one more entry; false if every entry is an in-flight fetch.
  bool EvictLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const PublicKeyFetcherOptions options_;
  const Clock& clock_;

  mutable absl::Mutex mu_;
  absl::CondVar fetch_done_;  // Signalled whenever an in-flight entry completes.
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
  int64_t fetch_count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ossup::remote

#endif  // OSSUP_SERVICE_REMOTE_PUBLIC_KEY_FETCHER_H_
