#ifndef OSSUP_SERVICE_PROTOCOL_POLICY_H_
#define OSSUP_SERVICE_PROTOCOL_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ossup::protocol {

// Bounds on what a policy may carry. OSS limits a form field value to 2 MB; we stay far below so
// a form never approaches it and a bad caller cannot make us sign megabytes.
inline constexpr size_t kMaxPolicyValueBytes = 8192;
inline constexpr size_t kMaxPolicyConditions = 64;
inline constexpr size_t kMaxPolicyJsonBytes = 64 * 1024;

// A PostObject policy document (reference §1.3) built condition by condition, serialized as
// compact UTF-8 JSON in insertion order, byte-identical to JSON.stringify (the ali-oss oracle test
// checks this). Conditions are written straight into strings: building a JSON tree and dumping it
// cost more than the HMAC on this path. A literal '$'
// in a value is written as "\$" because OSS matches policies against the un-expanded form value
// and treats "${...}" as a variable otherwise (§1.3). The first error sticks and is returned by
// Serialize(), so call sites can chain Add* calls.
class PolicyDocument {
 public:
  explicit PolicyDocument(absl::Time expiration);

  // {"field":"value"}: exact match, object form (no '$' before the field name).
  PolicyDocument& AddExact(absl::string_view field, absl::string_view value);
  // ["eq","$field","value"]
  PolicyDocument& AddEq(absl::string_view field, absl::string_view value);
  // ["starts-with","$field","prefix"]
  PolicyDocument& AddStartsWith(absl::string_view field, absl::string_view prefix);
  // ["in","$field",[...]] / ["not-in","$field",[...]]
  PolicyDocument& AddIn(absl::string_view field, const std::vector<std::string>& values);
  PolicyDocument& AddNotIn(absl::string_view field, const std::vector<std::string>& values);
  // ["content-length-range",min,max]
  PolicyDocument& AddContentLengthRange(int64_t min, int64_t max);

  // The JSON text, e.g. {"expiration":"2023-12-16T17:20:57.000Z","conditions":[...]}.
  absl::StatusOr<std::string> Serialize() const;

 private:
  PolicyDocument& AddList(absl::string_view op, absl::string_view field,
                          const std::vector<std::string>& values);
  bool CheckRoom();
  // Validates and '$'-escapes a condition value; records the error on failure.
  bool Value(absl::string_view what, absl::string_view in, std::string* out);
  bool FieldName(absl::string_view field);

  absl::Time expiration_;
  std::vector<std::string> conditions_;  // each one serialized
  absl::Status status_;
};

// "2023-12-16T17:20:57.000Z": UTC, millisecond precision, as the official SDKs write it.
std::string PolicyExpiration(absl::Time t);

// Appends `s` as a JSON string literal, escaped exactly as JSON.stringify and nlohmann::json do
// for valid UTF-8: '"' and '\\' escaped, \b \f \n \r \t, other controls as \u00xx, the rest raw.
void AppendJsonString(std::string* out, absl::string_view s);

// True when `s` is well-formed UTF-8 without C0/C1 control characters or DEL.
bool IsPrintableUtf8(absl::string_view s);

}  // namespace ossup::protocol

#endif  // OSSUP_SERVICE_PROTOCOL_POLICY_H_
