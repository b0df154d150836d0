#ifndef OSSEMU_CONFIG_H_
#define OSSEMU_CONFIG_H_

// The emulator's bucket configuration (a small JSON file, see README.md).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ossemu {

struct Credential {
  std::string access_key_id;
  std::string access_key_secret;
  std::string security_token;            // non-empty = STS credential
  std::optional<absl::Time> expires_at;  // STS expiry
};

struct CorsRule {
  std::vector<std::string> allowed_origins;  // each may hold one '*'
  std::vector<std::string> allowed_methods;  // upper case
  std::vector<std::string> allowed_headers;  // lower case, each may hold one '*'
  std::vector<std::string> expose_headers;
  std::optional<int64_t> max_age_seconds;
};

struct BucketConfig {
  std::string name;
  std::string region;  // plain region id, e.g. cn-hangzhou
  std::string acl = "private";  // private | public-read | public-read-write
  std::vector<Credential> credentials;
  std::vector<CorsRule> cors;

  const Credential* FindCredential(absl::string_view access_key_id) const;
};

struct EmulatorConfig {
  std::vector<BucketConfig> buckets;
  std::string default_bucket;  // used when the Host header names no configured bucket

  const BucketConfig* FindBucket(absl::string_view name) const;
};

absl::StatusOr<EmulatorConfig> ParseConfig(absl::string_view json_text);
absl::StatusOr<EmulatorConfig> LoadConfigFile(const std::string& path);

}  // namespace ossemu

#endif  // OSSEMU_CONFIG_H_
