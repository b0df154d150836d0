#ifndef OSSEMU_CRYPTO_H_
#define OSSEMU_CRYPTO_H_

// Hashes, MACs and checksums the emulator needs (OpenSSL 3 EVP underneath).

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace ossemu {

std::string HmacSha256(absl::string_view key, absl::string_view data);  // raw 32 bytes
std::string HmacSha1(absl::string_view key, absl::string_view data);    // raw 20 bytes
std::string Sha256(absl::string_view data);                             // raw 32 bytes
std::string LowerHex(absl::string_view raw);
std::string UpperHex(absl::string_view raw);
std::string Base64(absl::string_view raw);  // standard alphabet, padded, no newlines
// Constant-time comparison of equal-length strings (false when lengths differ).
bool SecureEquals(absl::string_view a, absl::string_view b);
// `bytes` random bytes as lowercase hex.
std::string RandomHex(size_t bytes);

// The OSS V4 signing key for secret/date(YYYYMMDD)/region, product "oss" (reference §1.5).
std::string V4SigningKey(absl::string_view secret, absl::string_view date,
                         absl::string_view region);

// CRC-64 as OSS x-oss-hash-crc64ecma (CRC-64/XZ parameters: reflected 0x42F0E1EBA9EA3693,
// init and xorout all ones).
class Crc64 {
 public:
  void Update(absl::string_view data);
  uint64_t Value() const { return ~state_; }

 private:
  uint64_t state_ = ~uint64_t{0};
};

// Streaming MD5.
class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;
  void Update(absl::string_view data);
  std::string Final();  // raw 16 bytes

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace ossemu

#endif  // OSSEMU_CRYPTO_H_
