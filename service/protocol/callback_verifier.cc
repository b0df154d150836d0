#include "service/protocol/callback_verifier.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/protocol/crypto.h"
#include "service/protocol/url_encoding.h"

namespace ossup::protocol {
namespace {

// A 8192-bit signature is 1366 base64 chars; anything longer is not a signature.
constexpr size_t kMaxAuthorizationChars = 2048;
// base64 of a kMaxKeyUrlBytes URL.
constexpr size_t kMaxKeyUrlHeaderChars = 4 * ((kMaxKeyUrlBytes + 2) / 3);

constexpr absl::string_view kAuthorizationHeader = "authorization";
constexpr absl::string_view kKeyUrlHeader = "x-oss-pub-key-url";

CallbackVerification Fail(CallbackVerification v, CallbackVerifyError error, std::string message) {
  v.error = error;
  v.message = std::move(message);
  return v;
}

bool IsPrintableAscii(absl::string_view s) {
  for (const char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<const std::string*> FindUniqueHeader(
    absl::Span<const std::pair<std::string, std::string>> headers, absl::string_view name) {
  const std::string* found = nullptr;
  for (const auto& [header_name, value] : headers) {
    if (!absl::EqualsIgnoreCase(header_name, name)) continue;
    if (found != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate ", name, " header"));
    }
    found = &value;
  }
  return found;
}

absl::string_view CallbackVerifyErrorName(CallbackVerifyError error) {
  switch (error) {
    case CallbackVerifyError::kOk:
      return "OK";
    case CallbackVerifyError::kBadRequest:
      return "BAD_REQUEST";
    case CallbackVerifyError::kMissingAuthorization:
      return "MISSING_AUTHORIZATION";
    case CallbackVerifyError::kMissingKeyUrl:
      return "MISSING_KEY_URL";
    case CallbackVerifyError::kBadAuthorizationEncoding:
      return "BAD_AUTHORIZATION_ENCODING";
    case CallbackVerifyError::kBadKeyUrlEncoding:
      return "BAD_KEY_URL_ENCODING";
    case CallbackVerifyError::kKeyUrlNotAllowed:
      return "KEY_URL_NOT_ALLOWED";
    case CallbackVerifyError::kKeyFetchFailed:
      return "KEY_FETCH_FAILED";
    case CallbackVerifyError::kBadKey:
      return "BAD_KEY";
    case CallbackVerifyError::kSignatureMismatch:
      return "SIGNATURE_MISMATCH";
    case CallbackVerifyError::kInternal:
      return "INTERNAL";
  }
  return "UNKNOWN";
}

absl::Status CallbackVerification::ToStatus() const {
  const std::string text = absl::StrCat(CallbackVerifyErrorName(error), ": ", message);
  switch (error) {
    case CallbackVerifyError::kOk:
      return absl::OkStatus();
    case CallbackVerifyError::kBadRequest:
    case CallbackVerifyError::kBadAuthorizationEncoding:
    case CallbackVerifyError::kBadKeyUrlEncoding:
      return absl::InvalidArgumentError(text);
    case CallbackVerifyError::kMissingAuthorization:
    case CallbackVerifyError::kMissingKeyUrl:
    case CallbackVerifyError::kKeyUrlNotAllowed:
    case CallbackVerifyError::kSignatureMismatch:
      return absl::UnauthenticatedError(text);
    case CallbackVerifyError::kKeyFetchFailed:
    case CallbackVerifyError::kBadKey:
      return absl::UnavailableError(text);
    case CallbackVerifyError::kInternal:
      break;
  }
  return absl::InternalError(text);
}

absl::StatusOr<std::string> CallbackStringToSign(absl::string_view target, absl::string_view body) {
  if (target.empty() || target.front() != '/') {
    return absl::InvalidArgumentError("request target must start with '/'");
  }
  const size_t question = target.find('?');
  const absl::string_view path = target.substr(0, question);
  // The suffix from the first '?' is kept verbatim: OSS signs the query as sent, and adding a
  // '?' that was not in the request breaks real vectors (reference §2.7 step 6).
  const absl::string_view raw_suffix =
      question == absl::string_view::npos ? absl::string_view() : target.substr(question);
  // UNCONFIRMED which decoding OSS applies to '+' in the path (reference §2.7/§5). We keep '+' as
  // '+' (RFC 3986 / Go PathUnescape / Python unquote), not PHP urldecode's space: '+' is a
  // literal in paths. Callback URLs should avoid '+', '%' and non-ASCII in the path.
  absl::StatusOr<std::string> decoded = PercentDecode(path, /*plus_as_space=*/false);
  if (!decoded.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("request path: ", decoded.status().message()));
  }
  std::string out = *std::move(decoded);
  out.reserve(out.size() + raw_suffix.size() + 1 + body.size());
  absl::StrAppend(&out, raw_suffix, "\n", body);
  return out;
}

CallbackVerifier::CallbackVerifier(PublicKeyProvider* keys, CallbackVerifierOptions options)
    : keys_(keys), options_(std::move(options)) {}

CallbackVerification CallbackVerifier::Verify(const CallbackRequestView& request) const {
  CallbackVerification v;
  if (request.target.size() > options_.max_target_bytes) {
    return Fail(std::move(v), CallbackVerifyError::kBadRequest,
                absl::StrCat("request target exceeds ", options_.max_target_bytes, " bytes"));
  }
  if (request.body.size() > options_.max_body_bytes) {
    return Fail(std::move(v), CallbackVerifyError::kBadRequest,
                absl::StrCat("body exceeds ", options_.max_body_bytes, " bytes"));
  }

  // The string to sign first, so diagnostics are available whatever fails later.
  absl::StatusOr<std::string> string_to_sign = CallbackStringToSign(request.target, request.body);
  if (!string_to_sign.ok()) {
    return Fail(std::move(v), CallbackVerifyError::kBadRequest,
                std::string(string_to_sign.status().message()));
  }
  v.string_to_sign = *std::move(string_to_sign);
  const absl::StatusOr<std::string> md5 = Md5(v.string_to_sign);
  if (!md5.ok()) {
    return Fail(std::move(v), CallbackVerifyError::kInternal, std::string(md5.status().message()));
  }
  v.string_to_sign_md5_hex = HexEncode(*md5);

  const absl::StatusOr<const std::string*> authorization =
      FindUniqueHeader(request.headers, kAuthorizationHeader);
  const absl::StatusOr<const std::string*> key_url_header =
      FindUniqueHeader(request.headers, kKeyUrlHeader);
  for (const auto* header : {&authorization, &key_url_header}) {
    if (!header->ok()) {
      return Fail(std::move(v), CallbackVerifyError::kBadRequest,
                  std::string(header->status().message()));
    }
  }
  if (*authorization == nullptr) {
    return Fail(std::move(v), CallbackVerifyError::kMissingAuthorization,
                "no Authorization header");
  }
  if (*key_url_header == nullptr) {
    return Fail(std::move(v), CallbackVerifyError::kMissingKeyUrl, "no x-oss-pub-key-url header");
  }

  // Surrounding whitespace is HTTP framing (OWS), not part of the value; inside, strict base64.
  const absl::string_view auth_text = absl::StripAsciiWhitespace(**authorization);
  if (auth_text.empty() || auth_text.size() > kMaxAuthorizationChars) {
    return Fail(
        std::move(v), CallbackVerifyError::kBadAuthorizationEncoding,
        absl::StrCat("Authorization must be 1..", kMaxAuthorizationChars, " base64 characters"));
  }
  const absl::StatusOr<std::string> signature = Base64DecodeStrict(auth_text);
  if (!signature.ok()) {
    return Fail(std::move(v), CallbackVerifyError::kBadAuthorizationEncoding,
                absl::StrCat("Authorization: ", signature.status().message()));
  }

  // RSA signatures are the modulus size: 64 bytes (512-bit, the OSS key) to 1024 (8192-bit).
  // Refusing other sizes here keeps junk from ever reaching the key provider.
  if (signature->size() < static_cast<size_t>(kMinRsaKeyBits / 8) ||
      signature->size() > static_cast<size_t>(kMaxRsaKeyBits / 8)) {
    return Fail(std::move(v), CallbackVerifyError::kBadAuthorizationEncoding,
                absl::StrCat("Authorization decodes to ", signature->size(),
                             " bytes; an RSA signature has 64-1024"));
  }

  const absl::string_view key_url_text = absl::StripAsciiWhitespace(**key_url_header);
  if (key_url_text.empty() || key_url_text.size() > kMaxKeyUrlHeaderChars) {
    return Fail(
        std::move(v), CallbackVerifyError::kBadKeyUrlEncoding,
        absl::StrCat("x-oss-pub-key-url must be 1..", kMaxKeyUrlHeaderChars, " base64 characters"));
  }
  absl::StatusOr<std::string> key_url = Base64DecodeStrict(key_url_text);
  if (!key_url.ok()) {
    return Fail(std::move(v), CallbackVerifyError::kBadKeyUrlEncoding,
                absl::StrCat("x-oss-pub-key-url: ", key_url.status().message()));
  }
  v.key_url = IsPrintableAscii(*key_url) ? *key_url : absl::CHexEscape(*key_url);

  // Policy before any key lookup: an attacker-chosen URL must never reach the fetcher.
  if (const absl::Status allowed = CheckKeyUrlAllowed(*key_url, options_.allowed_key_url_prefixes);
      !allowed.ok()) {
    return Fail(std::move(v), CallbackVerifyError::kKeyUrlNotAllowed,
                std::string(allowed.message()));
  }

  if (keys_ == nullptr) {
    return Fail(std::move(v), CallbackVerifyError::kInternal, "no key provider configured");
  }
  const absl::StatusOr<std::shared_ptr<const RsaPublicKey>> key = keys_->GetKey(*key_url);
  if (!key.ok()) {
    const absl::StatusCode code = key.status().code();
    const CallbackVerifyError error =
        code == absl::StatusCode::kPermissionDenied  ? CallbackVerifyError::kKeyUrlNotAllowed
        : code == absl::StatusCode::kInvalidArgument ? CallbackVerifyError::kBadKey
                                                     : CallbackVerifyError::kKeyFetchFailed;
    return Fail(std::move(v), error, std::string(key.status().message()));
  }
  if (*key == nullptr) {
    return Fail(std::move(v), CallbackVerifyError::kInternal, "key provider returned no key");
  }

  const absl::StatusOr<bool> match = (*key)->VerifyMd5Digest(*md5, *signature);
  if (!match.ok()) {
    return Fail(std::move(v), CallbackVerifyError::kInternal,
                std::string(match.status().message()));
  }
  if (!*match) {
    return Fail(std::move(v), CallbackVerifyError::kSignatureMismatch,
                absl::StrCat("RSA/MD5 signature does not match the string to sign (key sha256 ",
                             (*key)->spki_sha256_hex(), ")"));
  }
  v.error = CallbackVerifyError::kOk;
  return v;
}

}  // namespace ossup::protocol
