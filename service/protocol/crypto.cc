#include "service/protocol/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace ossup::protocol {
namespace {

// Algorithms are fetched once per process: implicit fetches on every call cost more than the
// hash itself for the short inputs we sign.
const EVP_MD* FetchedDigest(const char* name) {
  // Leaked on purpose: process-lifetime singletons.
  if (std::string_view(name) == "SHA256") {
    static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md;
  }
  if (std::string_view(name) == "SHA1") {
    static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
    return md;
  }
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "MD5", nullptr);
  return md;
}

struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter>;

// A per-thread HMAC context with the digest already configured; EVP_MAC_init re-keys it, which
// avoids an allocation and a provider lookup per MAC.
EVP_MAC_CTX* ThreadHmacContext(const char* digest_name) {
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (hmac == nullptr) return nullptr;
  auto make = [&]() -> MacCtxPtr {
    MacCtxPtr ctx(EVP_MAC_CTX_new(hmac));
    if (!ctx) return nullptr;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest_name), 0),
        OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(ctx.get(), params) != 1) return nullptr;
    return ctx;
  };
  if (std::string_view(digest_name) == "SHA256") {
    thread_local MacCtxPtr ctx = make();
    return ctx.get();
  }
  thread_local MacCtxPtr ctx = make();
  return ctx.get();
}

absl::StatusOr<std::string> Hmac(const char* digest_name, absl::string_view key,
                                 absl::string_view data) {
  EVP_MAC_CTX* ctx = ThreadHmacContext(digest_name);
  if (ctx == nullptr) {
    return absl::InternalError(absl::StrCat("OpenSSL: HMAC-", digest_name, " is unavailable"));
  }
  // HMAC keys may be empty; OpenSSL wants a non-null pointer regardless.
  static const unsigned char kEmpty = 0;
  const auto* key_ptr = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t out_len = 0;
  if (EVP_MAC_init(ctx, key_ptr, key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx, out, &out_len, sizeof(out)) != 1) {
    return absl::InternalError(absl::StrCat("OpenSSL: HMAC-", digest_name, " failed"));
  }
  return std::string(reinterpret_cast<const char*>(out), out_len);
}

absl::StatusOr<std::string> Digest(const char* name, absl::string_view data) {
  const EVP_MD* md = FetchedDigest(name);
  if (md == nullptr) {
    return absl::InternalError(
        absl::StrCat("OpenSSL: digest ", name, " is unavailable (FIPS or crypto policy?)"));
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &out_len, md, nullptr) != 1) {
    return absl::InternalError(absl::StrCat("OpenSSL: digest ", name, " failed"));
  }
  return std::string(reinterpret_cast<const char*>(out), out_len);
}

}  // namespace

absl::StatusOr<std::string> HmacSha256(absl::string_view key, absl::string_view data) {
  return Hmac("SHA256", key, data);
}

absl::StatusOr<std::string> HmacSha1(absl::string_view key, absl::string_view data) {
  return Hmac("SHA1", key, data);
}

absl::StatusOr<std::string> Sha256(absl::string_view data) { return Digest("SHA256", data); }

absl::StatusOr<std::string> Md5(absl::string_view data) { return Digest("MD5", data); }

std::string HexEncode(absl::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.resize(bytes.size() * 2);
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kDigits[b >> 4];
    out[2 * i + 1] = kDigits[b & 0xf];
  }
  return out;
}

std::string Base64Encode(absl::string_view bytes) { return absl::Base64Escape(bytes); }

absl::Status CheckBase64Strict(absl::string_view text) {
  if (text.size() % 4 != 0) {
    return absl::InvalidArgumentError("base64: length is not a multiple of 4");
  }
  static constexpr auto kAlphabet = [] {
    std::array<bool, 256> table{};
    for (unsigned char c :
         std::string_view("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")) {
      table[c] = true;
    }
    return table;
  }();
  // Up to two '=' at the very end; everything before them from the alphabet.
  size_t data_len = text.size();
  while (data_len > 0 && text.size() - data_len < 2 && text[data_len - 1] == '=') --data_len;
  for (size_t i = 0; i < data_len; ++i) {
    if (!kAlphabet[static_cast<unsigned char>(text[i])]) {
      return absl::InvalidArgumentError(absl::StrCat("base64: invalid character at offset ", i));
    }
  }
  // "====" style input: padding must follow at least two data characters in the last quantum.
  if (data_len % 4 == 1 || (data_len == 0 && !text.empty())) {
    return absl::InvalidArgumentError("base64: malformed padding");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Base64DecodeStrict(absl::string_view text) {
  if (absl::Status st = CheckBase64Strict(text); !st.ok()) return st;
  std::string out;
  if (!absl::Base64Unescape(text, &out)) {
    return absl::InvalidArgumentError("base64: malformed input");
  }
  return out;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ossup::protocol
