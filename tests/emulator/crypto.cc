#include "crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cstdlib>

#include "absl/strings/escaping.h"

namespace ossemu {
namespace {

std::string Hmac(const EVP_MD* md, absl::string_view key, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(md, key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len) ==
      nullptr) {
    std::abort();  // only on allocation failure inside OpenSSL
  }
  return std::string(reinterpret_cast<char*>(out), len);
}

std::array<uint64_t, 256> MakeCrcTable() {
  constexpr uint64_t kReflectedPoly = 0xC96C5795D7870F42ULL;  // 0x42F0E1EBA9EA3693 reflected
  std::array<uint64_t, 256> table{};
  for (uint64_t i = 0; i < 256; ++i) {
    uint64_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ kReflectedPoly : crc >> 1;
    table[i] = crc;
  }
  return table;
}

}  // namespace

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  return Hmac(EVP_sha256(), key, data);
}

std::string HmacSha1(absl::string_view key, absl::string_view data) {
  return Hmac(EVP_sha1(), key, data);
}

std::string Sha256(absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string LowerHex(absl::string_view raw) { return absl::BytesToHexString(raw); }

std::string UpperHex(absl::string_view raw) {
  std::string hex = absl::BytesToHexString(raw);
  for (char& c : hex) {
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  }
  return hex;
}

std::string Base64(absl::string_view raw) { return absl::Base64Escape(raw); }

bool SecureEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    std::abort();
  }
  return LowerHex(raw);
}

std::string V4SigningKey(absl::string_view secret, absl::string_view date,
                         absl::string_view region) {
  std::string key = HmacSha256(std::string("aliyun_v4") + std::string(secret), date);
  key = HmacSha256(key, region);
  key = HmacSha256(key, "oss");
  return HmacSha256(key, "aliyun_v4_request");
}

void Crc64::Update(absl::string_view data) {
  static const std::array<uint64_t, 256> kTable = MakeCrcTable();
  uint64_t crc = state_;
  for (unsigned char c : data) crc = kTable[(crc ^ c) & 0xFF] ^ (crc >> 8);
  state_ = crc;
}

struct Md5::Ctx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Ctx() { EVP_MD_CTX_free(ctx); }
};

Md5::Md5() : ctx_(std::make_unique<Ctx>()) {
  if (ctx_->ctx == nullptr || EVP_DigestInit_ex(ctx_->ctx, EVP_md5(), nullptr) != 1) std::abort();
}

Md5::~Md5() = default;

void Md5::Update(absl::string_view data) { EVP_DigestUpdate(ctx_->ctx, data.data(), data.size()); }

std::string Md5::Final() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->ctx, out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace ossemu
