#ifndef OSSEMU_UPLOAD_COMMON_H_
#define OSSEMU_UPLOAD_COMMON_H_

// Steps PostObject and PutObject share: key validation, callback parsing, the store-then-callback
// tail and the success headers.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "object_writer.h"
#include "operation.h"

namespace ossemu {

// Object names: 1-1023 bytes, not starting with '/' or '\'.
absl::Status ValidateObjectKey(absl::string_view key);

// Parses a callback parameter through the dispatcher (InvalidArgument with its message).
absl::StatusOr<ParsedCallback> ParseCallback(
    const Services& services, absl::string_view callback_base64,
    const std::vector<std::pair<std::string, std::string>>& vars);

// fail_before_store → ServiceUnavailable, then digests, Commit, and the callback when present.
// On success the response carries ETag / x-oss-hash-crc64ecma / Content-MD5; with a callback its
// status and body are the dispatcher's outcome, otherwise status is 200 and the body empty.
absl::StatusOr<HttpResponse> StoreObject(const Services& services, const RequestContext& ctx,
                                         ObjectMeta meta, ObjectWriter* writer,
                                         bool forbid_overwrite,
                                         const std::optional<ParsedCallback>& callback);

}  // namespace ossemu

#endif  // OSSEMU_UPLOAD_COMMON_H_
