#ifndef OSSUP_SERVICE_PROTOCOL_PUBLIC_KEY_H_
#define OSSUP_SERVICE_PROTOCOL_PUBLIC_KEY_H_

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

// RSA public keys for OSS upload-callback verification, the key-URL allowlist and the
// key-provider seam (pinned keys here, network fetching in service/remote).
namespace ossup::protocol {

// `callback_pub_key_v1.pem` (reference §3.5): RSA 512-bit, e=65537.
inline constexpr absl::string_view kOssCallbackPublicKeyPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKs/JBGzwUB2aVht4crBx3oIPBLNsjGs\n"
    "C0fTXv+nvlmklvkcolvpvXLTjaxUHR3W9LXxQ2EHXAJfCB+6H2YF1k8CAwEAAQ==\n"
    "-----END PUBLIC KEY-----\n";
// SHA-256 of the DER SubjectPublicKeyInfo of the key above (a pin).
inline constexpr absl::string_view kOssCallbackPublicKeySha256 =
    "a1f54d0fb9263a14276c9e890f99cdeae986265b3985e6b1aa4603631c5bc9cf";
// The two URL forms OSS puts into x-oss-pub-key-url (reference §2.6).
inline constexpr absl::string_view kOssCallbackPublicKeyUrlHttp =
    "http://gosspublic.alicdn.com/callback_pub_key_v1.pem";
inline constexpr absl::string_view kOssCallbackPublicKeyUrlHttps =
    "https://gosspublic.alicdn.com/callback_pub_key_v1.pem";

inline constexpr size_t kMaxPublicKeyPemBytes = 16 * 1024;
inline constexpr size_t kMaxKeyUrlBytes = 2048;
inline constexpr int kMinRsaKeyBits = 512;
inline constexpr int kMaxRsaKeyBits = 8192;

// An immutable RSA public key. Thread-safe: all methods are const and OpenSSL 3 allows concurrent
// read-only use of an EVP_PKEY.
class RsaPublicKey {
 public:
  // Parses a SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----"). InvalidArgument unless it
  // is an RSA key of kMinRsaKeyBits..kMaxRsaKeyBits and the PEM is at most kMaxPublicKeyPemBytes.
  static absl::StatusOr<std::shared_ptr<const RsaPublicKey>> FromPem(absl::string_view pem);

  ~RsaPublicKey();
  RsaPublicKey(const RsaPublicKey&) = delete;
  RsaPublicKey& operator=(const RsaPublicKey&) = delete;

  EVP_PKEY* pkey() const { return pkey_; }
  int bits() const { return bits_; }
  // Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.
  const std::string& spki_sha256_hex() const { return spki_sha256_hex_; }

  // RSASSA-PKCS1-v1_5 verification of `signature` over an already computed MD5 digest (16 bytes).
  // Returns true/false for a (mis)match; an error only when OpenSSL itself cannot run the check
  // (e.g. MD5 disabled by a FIPS provider). The digest is not hashed again.
  absl::StatusOr<bool> VerifyMd5Digest(absl::string_view md5_digest,
                                       absl::string_view signature) const;

 private:
  RsaPublicKey(EVP_PKEY* pkey, int bits, std::string spki_sha256_hex, EVP_PKEY_CTX* md5_verify);

  EVP_PKEY* const pkey_;
  const int bits_;
  const std::string spki_sha256_hex_;
  // A verify context initialised once (PKCS#1 v1.5 padding, MD5); each call duplicates it, which
  // skips the per-call provider lookups of EVP_PKEY_verify_init (about 2x faster). OpenSSL does
  // not document EVP_PKEY_CTX_dup as safe on a context shared between threads, so duplication is
  // serialized; it is short next to the RSA operation. Null if MD5 is unavailable.
  EVP_PKEY_CTX* const md5_verify_prototype_;
  mutable absl::Mutex dup_mu_;
};

// The prefixes OSS key URLs must start with (reference §2.7 step 2).
std::vector<std::string> DefaultKeyUrlPrefixes();

// Every prefix must look like "scheme://host[:port]/..." with scheme http or https, end with '/'
// (so "https://gosspublic.alicdn.com.evil.example/" cannot match) and carry no userinfo.
absl::Status ValidateKeyUrlPrefixes(absl::Span<const std::string> prefixes);

// PermissionDenied unless `url` is an acceptable key URL that starts with one of the (valid)
// prefixes. Besides the prefix match this refuses: more than kMaxKeyUrlBytes, anything but
// printable ASCII without spaces, schemes other than lowercase http/https, '@' or '\' in the
// authority (userinfo / parser-confusion tricks), and any '?' or '#' (a key URL is a plain file
// path; query and fragment only add ways to alias a URL, so they are refused rather than
// normalised). Invalid prefixes never match.
absl::Status CheckKeyUrlAllowed(absl::string_view url,
                                absl::Span<const std::string> allowed_prefixes);

// The seam between verification and where keys come from. Status codes are part of the
// contract (CallbackVerifier maps them): PermissionDenied = URL refused by policy,
// InvalidArgument = a key was obtained but is unusable (bad PEM, wrong type/size),
// anything else = the key could not be obtained (network, HTTP status, fetching disabled).
// Implementations must be thread-safe.
class PublicKeyProvider {
 public:
  virtual ~PublicKeyProvider() = default;
  virtual absl::StatusOr<std::shared_ptr<const RsaPublicKey>> GetKey(absl::string_view url) = 0;
  // False only if GetKey never waits for I/O (so it may run on an I/O thread). Assume it may.
  virtual bool MayBlock() const { return true; }
};

// Serves keys pinned by URL; pinned URLs are never fetched. Unknown URLs go to the optional
// fallback (the network fetcher), or fail with Unavailable when there is none.
class PinnedKeyProvider : public PublicKeyProvider {
 public:
  // Pins the OSS key under both of its URLs. `fallback` (may be null) must outlive this object.
  explicit PinnedKeyProvider(PublicKeyProvider* fallback = nullptr);

  // Pins `pem` for `url` (e.g. a local emulator's key in tests); replaces an existing pin.
  absl::Status AddPin(absl::string_view url, absl::string_view pem);

  absl::StatusOr<std::shared_ptr<const RsaPublicKey>> GetKey(absl::string_view url) override;
  // Pins are in memory; only the fallback (the fetcher) waits for the network.
  bool MayBlock() const override { return fallback_ != nullptr && fallback_->MayBlock(); }

 private:
  PublicKeyProvider* const fallback_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const RsaPublicKey>> pins_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ossup::protocol

#endif  // OSSUP_SERVICE_PROTOCOL_PUBLIC_KEY_H_
