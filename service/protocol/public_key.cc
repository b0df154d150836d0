#include "service/protocol/public_key.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"
#include "service/protocol/crypto.h"

namespace ossup::protocol {
namespace {

// Fetched once per process (leaked on purpose); null if a provider refuses MD5.
const EVP_MD* FetchedMd5() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "MD5", nullptr);
  return md;
}

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* pkey) const { EVP_PKEY_free(pkey); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;

// Never prompt for a passphrase (the default callback reads the terminal).
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return 0; }

bool IsPrintableAsciiNoSpace(absl::string_view s) {
  for (const char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// Splits "scheme://authority/..." after checking the scheme. Returns the authority, or an error.
absl::StatusOr<absl::string_view> AuthorityOf(absl::string_view url) {
  absl::string_view rest;
  if (absl::StartsWith(url, "https://")) {
    rest = url.substr(8);
  } else if (absl::StartsWith(url, "http://")) {
    rest = url.substr(7);
  } else {
    return absl::PermissionDeniedError("key URL scheme must be http:// or https://");
  }
  const absl::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty()) return absl::PermissionDeniedError("key URL has no host");
  if (absl::StrContains(authority, '@') || absl::StrContains(authority, '\\')) {
    return absl::PermissionDeniedError("key URL authority must not contain '@' or '\\'");
  }
  return authority;
}

absl::Status ValidateKeyUrlPrefix(absl::string_view prefix) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("key URL prefix \"", prefix, "\": ", why));
  };
  if (prefix.size() > kMaxKeyUrlBytes || !IsPrintableAsciiNoSpace(prefix)) {
    return absl::InvalidArgumentError("key URL prefix: too long or not printable ASCII");
  }
  if (absl::StrContains(prefix, '?') || absl::StrContains(prefix, '#')) {
    return bad("must not contain '?' or '#'");
  }
  const absl::StatusOr<absl::string_view> authority = AuthorityOf(prefix);
  if (!authority.ok()) return bad(authority.status().message());
  // The authority must be followed by '/', otherwise "https://host" would match
  // "https://host.evil".
  const size_t scheme_len = absl::StartsWith(prefix, "https://") ? 8 : 7;
  if (prefix.size() <= scheme_len + authority->size() ||
      prefix[scheme_len + authority->size()] != '/') {
    return bad("must have a path starting with '/' after the host");
  }
  if (prefix.back() != '/') return bad("must end with '/'");
  // host[:port] with a conservative host alphabet (no IPv6 literals).
  absl::string_view host = *authority;
  if (const size_t colon = host.find(':'); colon != absl::string_view::npos) {
    const absl::string_view port = host.substr(colon + 1);
    host = host.substr(0, colon);
    if (port.empty() || port.size() > 5) return bad("invalid port");
    for (const char c : port) {
      if (c < '0' || c > '9') return bad("invalid port");
    }
  }
  if (host.empty()) return bad("empty host");
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
    if (!ok) return bad("invalid character in host");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const RsaPublicKey>> RsaPublicKey::FromPem(absl::string_view pem) {
  if (pem.empty()) return absl::InvalidArgumentError("public key PEM is empty");
  if (pem.size() > kMaxPublicKeyPemBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("public key PEM exceeds ", kMaxPublicKeyPemBytes, " bytes"));
  }
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return absl::InternalError("OpenSSL: BIO_new_mem_buf failed");
  std::unique_ptr<EVP_PKEY, PkeyDeleter> pkey(
      PEM_read_bio_PUBKEY(bio.get(), nullptr, &NoPassphrase, nullptr));
  if (!pkey) {
    ERR_clear_error();  // Don't leave parse errors in this thread's queue for unrelated callers.
    return absl::InvalidArgumentError(
        "public key is not a SubjectPublicKeyInfo PEM (-----BEGIN PUBLIC KEY-----)");
  }
  if (!EVP_PKEY_is_a(pkey.get(), "RSA")) {
    return absl::InvalidArgumentError("public key is not an RSA key");
  }
  const int bits = EVP_PKEY_get_bits(pkey.get());
  if (bits < kMinRsaKeyBits || bits > kMaxRsaKeyBits) {
    return absl::InvalidArgumentError(absl::StrCat("RSA key size ", bits, " bits is outside ",
                                                   kMinRsaKeyBits, "..", kMaxRsaKeyBits));
  }

  const int der_len = i2d_PUBKEY(pkey.get(), nullptr);
  if (der_len <= 0) return absl::InternalError("OpenSSL: i2d_PUBKEY failed");
  std::string der(static_cast<size_t>(der_len), '\0');
  auto* der_out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_PUBKEY(pkey.get(), &der_out) != der_len) {
    return absl::InternalError("OpenSSL: i2d_PUBKEY failed");
  }
  OSSUP_ASSIGN_OR_RETURN(const std::string spki_sha256, Sha256(der));

  PkeyCtxPtr verify_ctx;
  if (const EVP_MD* md5 = FetchedMd5(); md5 != nullptr) {
    verify_ctx.reset(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
    if (verify_ctx && (EVP_PKEY_verify_init(verify_ctx.get()) != 1 ||
                       EVP_PKEY_CTX_set_rsa_padding(verify_ctx.get(), RSA_PKCS1_PADDING) != 1 ||
                       EVP_PKEY_CTX_set_signature_md(verify_ctx.get(), md5) != 1)) {
      verify_ctx.reset();
    }
  }
  ERR_clear_error();
  return std::shared_ptr<const RsaPublicKey>(
      new RsaPublicKey(pkey.release(), bits, HexEncode(spki_sha256), verify_ctx.release()));
}

RsaPublicKey::RsaPublicKey(EVP_PKEY* pkey, int bits, std::string spki_sha256_hex,
                           EVP_PKEY_CTX* md5_verify)
    : pkey_(pkey),
      bits_(bits),
      spki_sha256_hex_(std::move(spki_sha256_hex)),
      md5_verify_prototype_(md5_verify) {}

RsaPublicKey::~RsaPublicKey() {
  EVP_PKEY_CTX_free(md5_verify_prototype_);
  EVP_PKEY_free(pkey_);
}

absl::StatusOr<bool> RsaPublicKey::VerifyMd5Digest(absl::string_view md5_digest,
                                                   absl::string_view signature) const {
  if (md5_verify_prototype_ == nullptr) {
    return absl::InternalError("OpenSSL: RSA/MD5 verification is unavailable (FIPS or policy?)");
  }
  if (md5_digest.size() != 16) return absl::InvalidArgumentError("MD5 digest must be 16 bytes");
  // A signature is exactly the modulus size; anything else cannot match.
  if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(pkey_))) return false;
  PkeyCtxPtr ctx;
  {
    absl::MutexLock lock(&dup_mu_);
    ctx.reset(EVP_PKEY_CTX_dup(md5_verify_prototype_));
  }
  if (!ctx) {
    ERR_clear_error();
    return absl::InternalError("OpenSSL: EVP_PKEY_CTX_dup failed");
  }
  const int rc = EVP_PKEY_verify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
      reinterpret_cast<const unsigned char*>(md5_digest.data()), md5_digest.size());
  if (rc == 1) return true;
  if (rc == 0) {
    ERR_clear_error();
    return false;
  }
  // < 0: OpenSSL could not run the check (e.g. a crypto policy refusing MD5 or 512-bit RSA at
  // verify time). Report that, rather than calling a genuine callback forged.
  const unsigned long err = ERR_get_error();
  ERR_clear_error();
  char text[256] = "unknown error";
  if (err != 0) ERR_error_string_n(err, text, sizeof(text));
  return absl::InternalError(absl::StrCat("OpenSSL: RSA/MD5 verification failed to run: ", text));
}

std::vector<std::string> DefaultKeyUrlPrefixes() {
  return {"http://gosspublic.alicdn.com/", "https://gosspublic.alicdn.com/"};
}

absl::Status ValidateKeyUrlPrefixes(absl::Span<const std::string> prefixes) {
  for (const std::string& prefix : prefixes) {
    OSSUP_RETURN_IF_ERROR(ValidateKeyUrlPrefix(prefix));
  }
  return absl::OkStatus();
}

absl::Status CheckKeyUrlAllowed(absl::string_view url,
                                absl::Span<const std::string> allowed_prefixes) {
  if (url.size() > kMaxKeyUrlBytes) {
    return absl::PermissionDeniedError(
        absl::StrCat("key URL is longer than ", kMaxKeyUrlBytes, " bytes"));
  }
  // Checked before the URL is ever echoed in a message.
  if (!IsPrintableAsciiNoSpace(url)) {
    return absl::PermissionDeniedError(
        "key URL contains spaces, control characters or non-ASCII bytes");
  }
  if (absl::StrContains(url, '?') || absl::StrContains(url, '#')) {
    return absl::PermissionDeniedError(absl::StrCat("key URL must not contain '?' or '#': ", url));
  }
  if (const absl::StatusOr<absl::string_view> authority = AuthorityOf(url); !authority.ok()) {
    return absl::PermissionDeniedError(absl::StrCat(authority.status().message(), ": ", url));
  }
  for (const std::string& prefix : allowed_prefixes) {
    if (absl::StartsWith(url, prefix) && ValidateKeyUrlPrefix(prefix).ok()) {
      return absl::OkStatus();
    }
  }
  return absl::PermissionDeniedError(absl::StrCat("key URL is not under an allowed prefix: ", url));
}

PinnedKeyProvider::PinnedKeyProvider(PublicKeyProvider* fallback) : fallback_(fallback) {
  // The built-in PEM is a constant; parsing it cannot fail short of a broken OpenSSL, in which
  // case lookups fall through to the fallback / an error instead of crashing here.
  if (auto key = RsaPublicKey::FromPem(kOssCallbackPublicKeyPem); key.ok()) {
    absl::MutexLock lock(&mu_);
    pins_[std::string(kOssCallbackPublicKeyUrlHttp)] = *key;
    pins_[std::string(kOssCallbackPublicKeyUrlHttps)] = *key;
  }
}

absl::Status PinnedKeyProvider::AddPin(absl::string_view url, absl::string_view pem) {
  if (url.empty() || url.size() > kMaxKeyUrlBytes) {
    return absl::InvalidArgumentError("pinned key URL is empty or too long");
  }
  OSSUP_ASSIGN_OR_RETURN(std::shared_ptr<const RsaPublicKey> key, RsaPublicKey::FromPem(pem));
  absl::MutexLock lock(&mu_);
  pins_[std::string(url)] = std::move(key);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const RsaPublicKey>> PinnedKeyProvider::GetKey(
    absl::string_view url) {
  {
    absl::ReaderMutexLock lock(&mu_);
    if (const auto it = pins_.find(url); it != pins_.end()) return it->second;
  }
  if (fallback_ != nullptr) return fallback_->GetKey(url);
  return absl::UnavailableError(absl::StrCat("no pinned key for URL and fetching is disabled: ",
                                             absl::CHexEscape(url.substr(0, 256))));
}

}  // namespace ossup::protocol
