#include "service/protocol/credentials.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace ossup::protocol {
namespace {

bool PrintableAscii(absl::string_view s) {
  for (char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateCredentials(const Credentials& credentials) {
  const auto& id = credentials.access_key_id;
  // The id is a component of x-oss-credential and of the Authorization header's Credential=...
  // list, so the separators of both are refused.
  if (id.empty() || id.size() > 128 || !PrintableAscii(id) ||
      id.find_first_of("/,=;") != std::string::npos) {
    return absl::InvalidArgumentError(
        "credentials.access_key_id: must be 1-128 printable ASCII characters without / , = ;");
  }
  const auto& secret = credentials.access_key_secret;
  if (secret.empty() || secret.size() > 256 || !PrintableAscii(secret)) {
    return absl::InvalidArgumentError(
        "credentials.access_key_secret: must be 1-256 printable ASCII characters");
  }
  if (credentials.security_token.size() > 8192 || !PrintableAscii(credentials.security_token)) {
    return absl::InvalidArgumentError(
        "credentials.security_token: must be at most 8192 printable ASCII characters");
  }
  return absl::OkStatus();
}

}  // namespace ossup::protocol
