#ifndef OSSUP_SERVICE_PROTOCOL_CALLBACK_VERIFIER_H_
#define OSSUP_SERVICE_PROTOCOL_CALLBACK_VERIFIER_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "service/protocol/public_key.h"

// Verification of the RSA/MD5 signature OSS puts on upload-callback requests (reference §2.7).
namespace ossup::protocol {

enum class CallbackVerifyError {
  kOk,
  kBadRequest,  // Target/body over the limits, target not origin-form, bad %-escape, duplicates.
  kMissingAuthorization,
  kMissingKeyUrl,
  kBadAuthorizationEncoding,
  kBadKeyUrlEncoding,
  kKeyUrlNotAllowed,
  kKeyFetchFailed,
  kBadKey,
  kSignatureMismatch,
  kInternal,
};

// Stable names ("OK", "BAD_REQUEST", "SIGNATURE_MISMATCH", ...) for logs and the CLI.
absl::string_view CallbackVerifyErrorName(CallbackVerifyError error);

// The single header called `name` (case-insensitive), or null when absent. Duplicates are an
// error: with two Authorization, key-URL or Content-Type headers, a proxy and this service could
// disagree on which one was meant.
absl::StatusOr<const std::string*> FindUniqueHeader(
    absl::Span<const std::pair<std::string, std::string>> headers, absl::string_view name);

// One callback request as received. `target` is the raw request-target from the request line
// (e.g. "/index.php?id=1&index=2"), never a re-serialised URL; `body` is the raw bytes read per
// Content-Length, before any parsing. Header names are matched case-insensitively.
struct CallbackRequestView {
  absl::string_view target;
  absl::Span<const std::pair<std::string, std::string>> headers;
  absl::string_view body;
};

// The outcome plus diagnostics (filled as far as verification got).
struct CallbackVerification {
  CallbackVerifyError error = CallbackVerifyError::kInternal;
  std::string message;
  std::string key_url;                 // Decoded x-oss-pub-key-url, C-escaped if not printable.
  std::string string_to_sign;          // Empty if the target/body could not be processed.
  std::string string_to_sign_md5_hex;  // Lowercase hex MD5(string_to_sign).

  bool ok() const { return error == CallbackVerifyError::kOk; }
  // OK; Unauthenticated for missing/mismatching signatures and refused key URLs; Unavailable
  // when the key could not be obtained or is unusable; InvalidArgument for malformed requests;
  // Internal for local crypto failures. The message starts with the error name.
  absl::Status ToStatus() const;
};

struct CallbackVerifierOptions {
  // Key URLs must start with one of these (see CheckKeyUrlAllowed).
  std::vector<std::string> allowed_key_url_prefixes = DefaultKeyUrlPrefixes();
  size_t max_target_bytes = 8192;
  size_t max_body_bytes = 64 * 1024;
};

// The largest body limit a deployment may configure. Our callback bodies are a few hundred bytes
// (the template is ours); OSS itself caps form fields at 2 MB each.
inline constexpr size_t kLargestCallbackBodyLimit = 8 << 20;

// Builds the string OSS signs: percent-decode(path) + raw "?query" suffix (verbatim, only if the
// target has a '?') + "\n" + raw body. InvalidArgument if the target does not start with '/' or
// the path has a malformed %-escape. No size limits here (CallbackVerifier applies them).
// UNCONFIRMED (reference §5): '+' in the path is kept as '+' (not decoded to a space), and a bare
// trailing '?' is kept, i.e. signed as received.
absl::StatusOr<std::string> CallbackStringToSign(absl::string_view target, absl::string_view body);

// What a verified signature proves (reference §2.10): that OSS sent this path, query and body. It
// does NOT prove which account, bucket or upload it came from: anyone can make OSS call any URL
// with any literal body from a policy on their own bucket, and a captured callback can be
// replayed. Callers must treat a verified callback as a trigger, accept each upload once, and
// confirm the object with a server-side HeadObject on their own bucket before trusting it.
//
// Stateless apart from the options; thread-safe if the provider is.
class CallbackVerifier {
 public:
  // `keys` must be non-null and outlive the verifier. Invalid prefixes in `options` never match
  // (fail closed); validate configuration up front with ValidateKeyUrlPrefixes.
  CallbackVerifier(PublicKeyProvider* keys, CallbackVerifierOptions options);

  CallbackVerification Verify(const CallbackRequestView& request) const;
  // Whether Verify may wait for I/O (a key fetched over the network); else it is CPU only.
  bool MayBlock() const { return keys_->MayBlock(); }

 private:
  PublicKeyProvider* const keys_;
  const CallbackVerifierOptions options_;
};

}  // namespace ossup::protocol

#endif  // OSSUP_SERVICE_PROTOCOL_CALLBACK_VERIFIER_H_
