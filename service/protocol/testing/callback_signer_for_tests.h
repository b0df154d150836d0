#ifndef OSSUP_SERVICE_PROTOCOL_TESTING_CALLBACK_SIGNER_FOR_TESTS_H_
#define OSSUP_SERVICE_PROTOCOL_TESTING_CALLBACK_SIGNER_FOR_TESTS_H_

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/protocol/crypto.h"

// Test-only: signs upload callbacks the way OSS does, with a freshly generated RSA key, so tests
// and local emulators can produce verifiable callbacks. Header-only on purpose (tests only).
namespace ossup::protocol::testing {

class CallbackSignerForTests {
 public:
  static absl::StatusOr<CallbackSignerForTests> Generate(unsigned int bits = 1024) {
    std::shared_ptr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{bits}),
                                  &EVP_PKEY_free);
    if (!key) return absl::InternalError("RSA key generation failed");
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) {
      return absl::InternalError("PEM_write_bio_PUBKEY failed");
    }
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return CallbackSignerForTests(std::move(key), std::string(data, static_cast<size_t>(len)));
  }

  const std::string& public_key_pem() const { return pem_; }

  // base64(RSASSA-PKCS1-v1_5/MD5 signature of `string_to_sign`): an Authorization header value.
  absl::StatusOr<std::string> SignBase64(absl::string_view string_to_sign) const {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    size_t sig_len = 0;
    if (!ctx ||
        EVP_DigestSignInit_ex(ctx.get(), nullptr, "MD5", nullptr, nullptr, key_.get(), nullptr) !=
            1 ||
        EVP_DigestSign(ctx.get(), nullptr, &sig_len,
                       reinterpret_cast<const unsigned char*>(string_to_sign.data()),
                       string_to_sign.size()) != 1) {
      return absl::InternalError("EVP_DigestSign (size) failed");
    }
    std::string sig(sig_len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                       reinterpret_cast<const unsigned char*>(string_to_sign.data()),
                       string_to_sign.size()) != 1) {
      return absl::InternalError("EVP_DigestSign failed");
    }
    sig.resize(sig_len);
    return Base64Encode(sig);
  }

  // The two signature headers OSS sends, given the string to sign and the key URL to advertise.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> SignatureHeaders(
      absl::string_view string_to_sign, absl::string_view key_url) const {
    absl::StatusOr<std::string> auth = SignBase64(string_to_sign);
    if (!auth.ok()) return auth.status();
    return std::vector<std::pair<std::string, std::string>>{
        {"Authorization", *std::move(auth)}, {"x-oss-pub-key-url", Base64Encode(key_url)}};
  }

 private:
  CallbackSignerForTests(std::shared_ptr<EVP_PKEY> key, std::string pem)
      : key_(std::move(key)), pem_(std::move(pem)) {}

  std::shared_ptr<EVP_PKEY> key_;
  std::string pem_;
};

}  // namespace ossup::protocol::testing

#endif  // OSSUP_SERVICE_PROTOCOL_TESTING_CALLBACK_SIGNER_FOR_TESTS_H_
