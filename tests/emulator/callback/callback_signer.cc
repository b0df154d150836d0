#include "callback/callback_signer.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "callback/callback_codec.h"

namespace ossemu {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

}  // namespace

struct CallbackSigner::Key {
  explicit Key(EVP_PKEY* k) : pkey(k) {}
  ~Key() { EVP_PKEY_free(pkey); }
  EVP_PKEY* pkey;
};

CallbackSigner::CallbackSigner(std::unique_ptr<Key> key, std::string public_key_pem)
    : key_(std::move(key)), public_key_pem_(std::move(public_key_pem)) {}

CallbackSigner::~CallbackSigner() = default;

absl::StatusOr<std::unique_ptr<CallbackSigner>> CallbackSigner::Create(
    absl::string_view private_key_pem) {
  EVP_PKEY* raw = nullptr;
  if (private_key_pem.empty()) {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024));
    if (raw == nullptr) return absl::InternalError("RSA key generation failed.");
  } else {
    BioPtr in(BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())));
    if (in == nullptr) return absl::InternalError("BIO_new_mem_buf failed.");
    raw = PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr);
    if (raw == nullptr) return absl::InvalidArgumentError("The callback private key is not a PEM private key.");
  }
  auto key = std::make_unique<Key>(raw);
  if (!EVP_PKEY_is_a(key->pkey, "RSA")) {
    return absl::InvalidArgumentError("The callback private key is not an RSA key.");
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (out == nullptr || PEM_write_bio_PUBKEY(out.get(), key->pkey) != 1) {
    return absl::InternalError("PEM_write_bio_PUBKEY failed.");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  std::string pem(data, static_cast<size_t>(len));
  return std::unique_ptr<CallbackSigner>(new CallbackSigner(std::move(key), std::move(pem)));
}

absl::StatusOr<std::string> CallbackSigner::SignBase64(absl::string_view data) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  size_t len = static_cast<size_t>(EVP_PKEY_get_size(key_->pkey));
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_md5(), nullptr, key_->pkey) != 1) {
    return absl::InternalError("EVP_DigestSignInit (RSA-MD5) failed.");
  }
  std::string signature(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return absl::InternalError("EVP_DigestSign (RSA-MD5) failed.");
  }
  signature.resize(len);
  return Base64Encode(signature);
}

std::string CallbackStringToSign(absl::string_view request_target, absl::string_view body) {
  const size_t question = request_target.find('?');
  absl::string_view path = request_target.substr(0, question);
  absl::string_view raw_suffix =
      question == absl::string_view::npos ? absl::string_view() : request_target.substr(question);
  // UNCONFIRMED: whether OSS turns '+' in the path into a space; PercentDecode keeps '+'.
  return absl::StrCat(PercentDecode(path), raw_suffix, "\n", body);
}

}  // namespace ossemu
