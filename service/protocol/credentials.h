#ifndef OSSUP_SERVICE_PROTOCOL_CREDENTIALS_H_
#define OSSUP_SERVICE_PROTOCOL_CREDENTIALS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace ossup::protocol {

// An AccessKey pair, or STS temporary credentials when security_token is set.
struct Credentials {
  std::string access_key_id;
  std::string access_key_secret;
  std::string security_token;  // empty unless STS
  // STS credentials stop working at this instant; anything signed with them must expire no later.
  absl::Time expiration = absl::InfiniteFuture();

  bool is_sts() const { return !security_token.empty(); }
};

// Non-empty id/secret made of printable ASCII without spaces or '/' in the id (it is a component
// of x-oss-credential); bounded lengths.
absl::Status ValidateCredentials(const Credentials& credentials);

}  // namespace ossup::protocol

#endif  // OSSUP_SERVICE_PROTOCOL_CREDENTIALS_H_
