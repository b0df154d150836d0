#ifndef OSSEMU_POLICY_H_
#define OSSEMU_POLICY_H_

// PostObject policy document: parsing (reference §1.3) and condition evaluation.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ossemu {

// Parses "2014-12-01T12:00:00.000Z" / "2015-11-05T20:23:23Z" (UTC only).
absl::StatusOr<absl::Time> ParseIso8601(absl::string_view text);

// Parses the V4 "YYYYMMDDTHHMMSSZ" form (x-oss-date).
absl::StatusOr<absl::Time> ParseOssDate(absl::string_view text);

struct PolicyCondition {
  enum class Op { kEq, kStartsWith, kIn, kNotIn };
  Op op = Op::kEq;
  std::string field;                // lowercase, without "$"
  std::vector<std::string> values;  // "\$" already un-escaped to "$"
  std::string text;                 // the condition as written, for error messages
};

class PostPolicy {
 public:
  static constexpr size_t kMaxConditions = 256;

  // `json` is the decoded policy document. Errors are OSS InvalidPolicyDocument.
  static absl::StatusOr<PostPolicy> Parse(absl::string_view json);

  absl::Time expiration() const { return expiration_; }
  const std::vector<PolicyCondition>& conditions() const { return conditions_; }
  const std::optional<std::pair<int64_t, int64_t>>& length_range() const { return length_range_; }

  // AccessDenied "Policy expired." when now >= expiration.
  absl::Status CheckExpiration(absl::Time now) const;
  // `lookup` returns the form value for a lowercase field name (nullopt when absent).
  // AccessDenied "Invalid according to Policy: Policy Condition failed: ..." on the first failure.
  absl::Status CheckConditions(
      const std::function<std::optional<std::string>(absl::string_view)>& lookup) const;
  // EntityTooLarge / EntityTooSmall against content-length-range.
  absl::Status CheckLength(int64_t size) const;

 private:
  absl::Time expiration_;
  std::vector<PolicyCondition> conditions_;
  std::optional<std::pair<int64_t, int64_t>> length_range_;
};

}  // namespace ossemu

#endif  // OSSEMU_POLICY_H_
