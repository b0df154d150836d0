#ifndef OSSEMU_AUTH_COMMON_H_
#define OSSEMU_AUTH_COMMON_H_

// Credential checks and errors shared by form (PostObject) and header authentication.

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "config.h"
#include "crypto.h"
#include "oss_error.h"

namespace ossemu {

inline absl::Status UnknownAccessKeyError() {
  return OssError("InvalidAccessKeyId",
                  "The OSS Access Key Id you provided does not exist in our records.");
}

inline absl::Status SignatureMismatchError() {
  return OssError("SignatureDoesNotMatch",
                  "The request signature we calculated does not match the signature you "
                  "provided. Check your key and signing method.",
                  "0002-00000705");
}

// An STS credential needs its token and must not have expired; other credentials pass.
inline absl::Status CheckSts(const Credential& cred, const std::optional<std::string>& token,
                             absl::Time now) {
  if (cred.security_token.empty()) return absl::OkStatus();
  if (!token || !SecureEquals(*token, cred.security_token)) {
    return OssError("InvalidAccessKeyId",
                    "The OSS Access Key Id you provided does not exist in our records. The "
                    "Security Token may be lost to specify that it is a STS Access Id.",
                    "0002-00000003");
  }
  if (cred.expires_at && now >= *cred.expires_at) {
    return OssError("InvalidAccessKeyId", "The security token you provided has expired.");
  }
  return absl::OkStatus();
}

}  // namespace ossemu

#endif  // OSSEMU_AUTH_COMMON_H_
