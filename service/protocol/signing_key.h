#ifndef OSSUP_SERVICE_PROTOCOL_SIGNING_KEY_H_
#define OSSUP_SERVICE_PROTOCOL_SIGNING_KEY_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ossup::protocol {

inline constexpr absl::string_view kV4Algorithm = "OSS4-HMAC-SHA256";
inline constexpr absl::string_view kV4Product = "oss";
inline constexpr absl::string_view kV4Terminator = "aliyun_v4_request";

// "20231216" for the UTC day of `t`.
std::string V4Date(absl::Time t);
// "20231216T162057Z" (x-oss-date) for `t`, UTC, whole seconds.
std::string V4DateTime(absl::Time t);

// Validates a plain region ID ("cn-hangzhou"). OSS endpoints spell it "oss-cn-hangzhou"; that
// form is refused here rather than silently stripped, because a wrong region in the V4 chain
// yields a valid-looking signature OSS rejects (reference §4 #13).
absl::Status ValidateRegion(absl::string_view region);

// "<date>/<region>/oss/aliyun_v4_request".
std::string V4Scope(absl::string_view date, absl::string_view region);

// The V4 key chain of reference §1.5: HMAC-SHA256 over "aliyun_v4"+secret → date → region →
// "oss" → "aliyun_v4_request". Returns the 32 raw bytes of kSigning.
absl::StatusOr<std::string> DeriveV4SigningKey(absl::string_view secret, absl::string_view date,
                                               absl::string_view region);

// Caches kSigning per (secret, date, region): it changes once a day, and deriving it costs four
// HMACs. Thread-safe; bounded, so rotating many secrets cannot grow it without limit.
class SigningKeyCache {
 public:
  explicit SigningKeyCache(size_t max_entries = 256) : max_entries_(max_entries) {}
  SigningKeyCache(const SigningKeyCache&) = delete;
  SigningKeyCache& operator=(const SigningKeyCache&) = delete;

  absl::StatusOr<std::string> Get(absl::string_view secret, absl::string_view date,
                                  absl::string_view region);

 private:
  const size_t max_entries_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> keys_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ossup::protocol

#endif  // OSSUP_SERVICE_PROTOCOL_SIGNING_KEY_H_
