#ifndef OSSEMU_CALLBACK_CALLBACK_SIGNER_H_
#define OSSEMU_CALLBACK_CALLBACK_SIGNER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ossemu {

// The RSA key OSS signs callbacks with: RSASSA-PKCS1-v1_5 over MD5.
class CallbackSigner {
 public:
  // Loads an RSA private key from PEM, or generates a 1024-bit key when `private_key_pem` is
  // empty.
  static absl::StatusOr<std::unique_ptr<CallbackSigner>> Create(absl::string_view private_key_pem);
  ~CallbackSigner();
  CallbackSigner(const CallbackSigner&) = delete;
  CallbackSigner& operator=(const CallbackSigner&) = delete;

  // base64(RSA-PKCS1v1.5-MD5(data)), the callback's Authorization header value. Thread-safe.
  absl::StatusOr<std::string> SignBase64(absl::string_view data) const;

  // SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----").
  const std::string& public_key_pem() const { return public_key_pem_; }

 private:
  struct Key;
  explicit CallbackSigner(std::unique_ptr<Key> key, std::string public_key_pem);

  std::unique_ptr<Key> key_;
  std::string public_key_pem_;
};

// The string OSS signs: percent-decoded path, the raw "?query" when the request target has a
// '?', "\n", the raw body.
std::string CallbackStringToSign(absl::string_view request_target, absl::string_view body);

}  // namespace ossemu

#endif  // OSSEMU_CALLBACK_CALLBACK_SIGNER_H_
