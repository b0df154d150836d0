#ifndef OSSEMU_OSS_ERROR_H_
#define OSSEMU_OSS_ERROR_H_

// OSS errors carried in absl::Status: the OSS error code (e.g. "AccessDenied") rides as a payload,
// the HTTP status is derived from the code.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "xml_escape.h"

namespace ossemu {

// Builds a Status for an OSS error code with its message; `ec` is the optional OSS EC string.
absl::Status OssError(absl::string_view code, absl::string_view message,
                      absl::string_view ec = "");

// The OSS code carried by `status` ("InternalError" when none).
std::string OssCode(const absl::Status& status);
// The EC carried by `status` (empty when none).
std::string OssEc(const absl::Status& status);
// HTTP status for an OSS error code.
int HttpStatusForCode(absl::string_view code);


// The OSS <Error> document.
std::string ErrorXml(absl::string_view code, absl::string_view message,
                     absl::string_view request_id, absl::string_view host_id,
                     absl::string_view ec);

}  // namespace ossemu

#endif  // OSSEMU_OSS_ERROR_H_
