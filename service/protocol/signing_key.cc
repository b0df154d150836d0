#include "service/protocol/signing_key.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"
#include "service/protocol/crypto.h"

namespace ossup::protocol {

std::string V4Date(absl::Time t) { return absl::FormatTime("%Y%m%d", t, absl::UTCTimeZone()); }

std::string V4DateTime(absl::Time t) {
  return absl::FormatTime("%Y%m%dT%H%M%SZ", t, absl::UTCTimeZone());
}

absl::Status ValidateRegion(absl::string_view region) {
  if (region.empty() || region.size() > 64) {
    return absl::InvalidArgumentError("region: must be 1-64 characters, e.g. cn-hangzhou");
  }
  for (char c : region) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return absl::InvalidArgumentError(
          absl::StrCat("region: '", region, "' may contain only a-z, 0-9 and '-'"));
    }
  }
  if (absl::StartsWith(region, "oss-")) {
    return absl::InvalidArgumentError(absl::StrCat("region: use the plain region ID ('",
                                                   region.substr(4),
                                                   "'), not the endpoint prefix '", region, "'"));
  }
  return absl::OkStatus();
}

std::string V4Scope(absl::string_view date, absl::string_view region) {
  return absl::StrCat(date, "/", region, "/", kV4Product, "/", kV4Terminator);
}

absl::StatusOr<std::string> DeriveV4SigningKey(absl::string_view secret, absl::string_view date,
                                               absl::string_view region) {
  OSSUP_ASSIGN_OR_RETURN(std::string k_date, HmacSha256(absl::StrCat("aliyun_v4", secret), date));
  OSSUP_ASSIGN_OR_RETURN(std::string k_region, HmacSha256(k_date, region));
  OSSUP_ASSIGN_OR_RETURN(std::string k_service, HmacSha256(k_region, kV4Product));
  return HmacSha256(k_service, kV4Terminator);
}

absl::StatusOr<std::string> SigningKeyCache::Get(absl::string_view secret, absl::string_view date,
                                                 absl::string_view region) {
  // The secret is part of the map key; it already lives in this process's memory.
  std::string cache_key = absl::StrCat(date, "\n", region, "\n", secret);
  {
    absl::MutexLock lock(&mu_);
    if (auto it = keys_.find(cache_key); it != keys_.end()) return it->second;
  }
  OSSUP_ASSIGN_OR_RETURN(std::string key, DeriveV4SigningKey(secret, date, region));
  absl::MutexLock lock(&mu_);
  // Yesterday's keys go stale daily; a full reset is simpler than LRU and costs four HMACs per
  // live credential afterwards.
  if (keys_.size() >= max_entries_) keys_.clear();
  keys_.emplace(std::move(cache_key), key);
  return key;
}

}  // namespace ossup::protocol
