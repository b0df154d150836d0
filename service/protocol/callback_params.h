#ifndef OSSUP_SERVICE_PROTOCOL_CALLBACK_PARAMS_H_
#define OSSUP_SERVICE_PROTOCOL_CALLBACK_PARAMS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/protocol/callback_body_type.h"

namespace ossup::protocol {

// "application/x-www-form-urlencoded" or "application/json".
absl::string_view CallbackBodyTypeMediaType(CallbackBodyType type);

// The upload-callback parameter (reference §2.1), sent base64-encoded in the `callback` form
// field and bound by the policy.
struct CallbackParams {
  // 1-5 http(s) URLs, tried in order by OSS until one answers.
  std::vector<std::string> urls;
  // Host header for the callback; empty = the URL's host.
  std::string host;
  // callbackSNI; omitted from the JSON when unset (OSS default false).
  std::optional<bool> sni;
  // callbackBodyType; omitted when unset (OSS default form encoding).
  std::optional<CallbackBodyType> body_type;
  // The body template with literals and ${...} variables; see CallbackBodyTemplate.
  std::string body;
};

inline constexpr size_t kMaxCallbackUrls = 5;
// OSS limits x-oss-callback to 5 KB for PutObject; PostObject is documented as exempt, but we
// keep the same bound so one template works for both and forms stay small.
inline constexpr size_t kMaxCallbackParamJsonBytes = 5 * 1024;

// Checks everything OSS would reject (reference §2.1-2.3): URL count and shape, host, an empty or
// malformed template ("${" rules, unknown system variables, bad x: names), size.
absl::Status ValidateCallbackParams(const CallbackParams& params);

// The JSON (keys in the order callbackUrl, callbackHost, callbackBody, callbackBodyType,
// callbackSNI, as the official SDKs write them).
absl::StatusOr<std::string> CallbackParamsJson(const CallbackParams& params);
// base64(CallbackParamsJson), the value of the `callback` form field.
absl::StatusOr<std::string> EncodeCallbackParams(const CallbackParams& params);

// True for the system variables of reference §2.4 (bucket, object, etag, size, mimeType,
// imageInfo.height/width/format, crc64, contentMd5, vpcId, clientIp, reqId, operation).
bool IsCallbackSystemVariable(absl::string_view name);
// True for "x:" followed by 1-64 of [a-z0-9_] (reference §2.3: lowercase only).
bool IsCallbackCustomVariable(absl::string_view name);

// Builds a callback body template field by field, so literals are escaped correctly for the body
// type and placeholders are written the way OSS substitutes them: URL-encoded values in form
// bodies, and in JSON bodies unquoted placeholders because OSS inserts strings with their quotes
// (reference §2.5, pitfall #8). A '$' inside a literal is written as %24 (form) or \u0024 (JSON)
// so OSS never mistakes it for a placeholder.
class CallbackBodyTemplate {
 public:
  explicit CallbackBodyTemplate(CallbackBodyType type) : type_(type) {}

  // name=${variable}; `variable` is a system variable name ("object") or "x:name".
  CallbackBodyTemplate& AddVariable(absl::string_view name, absl::string_view variable);
  // name=literal value, fixed at issue time (e.g. the upload id and its correlation token).
  CallbackBodyTemplate& AddLiteral(absl::string_view name, absl::string_view value);

  CallbackBodyType type() const { return type_; }
  absl::StatusOr<std::string> Render() const;

 private:
  bool CheckName(absl::string_view name);

  CallbackBodyType type_;
  std::vector<std::string> parts_;
  std::vector<std::string> names_;
  absl::Status status_;
};

}  // namespace ossup::protocol

#endif  // OSSUP_SERVICE_PROTOCOL_CALLBACK_PARAMS_H_
