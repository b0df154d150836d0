#include "service/protocol/public_key.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/protocol/testing/callback_signer_for_tests.h"
#include "service/protocol/testing/callback_test_vectors.h"

namespace ossup::protocol {
namespace {

using ::testing::HasSubstr;

using testing::kAlphasnowPublicKeyPem;

TEST(RsaPublicKeyTest, OssKeyMatchesPin) {
  auto key = RsaPublicKey::FromPem(kOssCallbackPublicKeyPem);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ((*key)->bits(), 512);
  EXPECT_EQ((*key)->spki_sha256_hex(), kOssCallbackPublicKeySha256);
  EXPECT_NE((*key)->pkey(), nullptr);
}

TEST(RsaPublicKeyTest, ParsesOther1024BitKey) {
  auto key = RsaPublicKey::FromPem(kAlphasnowPublicKeyPem);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ((*key)->bits(), 1024);
  EXPECT_NE((*key)->spki_sha256_hex(), kOssCallbackPublicKeySha256);
}

TEST(RsaPublicKeyTest, RejectsGarbageAndOversize) {
  EXPECT_EQ(RsaPublicKey::FromPem("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RsaPublicKey::FromPem("not a pem").status().code(), absl::StatusCode::kInvalidArgument);
  std::string truncated(kOssCallbackPublicKeyPem.substr(0, 60));
  EXPECT_EQ(RsaPublicKey::FromPem(truncated).status().code(), absl::StatusCode::kInvalidArgument);
  const std::string big =
      std::string(kOssCallbackPublicKeyPem) + std::string(kMaxPublicKeyPemBytes, '\n');
  const auto status = RsaPublicKey::FromPem(big).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("exceeds"));
}

TEST(RsaPublicKeyTest, RejectsNonRsaKey) {
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(ec, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio, ec), 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(ec);
  const auto status = RsaPublicKey::FromPem(pem).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("not an RSA key"));
}

TEST(RsaPublicKeyTest, VerifyMd5DigestMatchesAndMismatches) {
  auto signer = testing::CallbackSignerForTests::Generate(1024);
  ASSERT_TRUE(signer.ok()) << signer.status();
  auto key = RsaPublicKey::FromPem(signer->public_key_pem());
  ASSERT_TRUE(key.ok()) << key.status();
  const std::string sig = *Base64DecodeStrict(*signer->SignBase64("hello"));
  EXPECT_TRUE(*(*key)->VerifyMd5Digest(*Md5("hello"), sig));
  EXPECT_FALSE(*(*key)->VerifyMd5Digest(*Md5("hellO"), sig));
  EXPECT_FALSE(*(*key)->VerifyMd5Digest(*Md5("hello"), sig.substr(1)));
  EXPECT_FALSE(*(*key)->VerifyMd5Digest(*Md5("hello"), std::string(sig.size(), '\xff')));
  EXPECT_FALSE((*key)->VerifyMd5Digest("short", sig).ok());
}

const std::vector<std::string>& Defaults() {
  static const auto* const kDefaults = new std::vector<std::string>(DefaultKeyUrlPrefixes());
  return *kDefaults;
}

TEST(KeyUrlAllowlistTest, AcceptsBothOssForms) {
  EXPECT_TRUE(CheckKeyUrlAllowed(kOssCallbackPublicKeyUrlHttp, Defaults()).ok());
  EXPECT_TRUE(CheckKeyUrlAllowed(kOssCallbackPublicKeyUrlHttps, Defaults()).ok());
  EXPECT_TRUE(
      CheckKeyUrlAllowed("https://gosspublic.alicdn.com/callback_pub_key_v2.pem", Defaults()).ok());
}

TEST(KeyUrlAllowlistTest, RefusesReferenceNegativeVectors) {
  for (const absl::string_view url : {
           "https://example.com/callback_pub_key_v1.pem",
           "https://gosspublic.alicdn.com.evil.example/callback_pub_key_v1.pem",
           "https://gosspublic.alicdn.com@evil.example/x.pem",
           "https://gosspublic.alicdn.com",
           "HTTPS://gosspublic.alicdn.com/callback_pub_key_v1.pem",
           "ftp://gosspublic.alicdn.com/callback_pub_key_v1.pem",
           "https://gosspublic.alicdn.com\\@evil.example/x.pem",
           "https://gosspublic.alicdn.com/callback_pub_key_v1.pem?x=1",
           "https://gosspublic.alicdn.com/callback_pub_key_v1.pem#frag",
           "https://gosspublic.alicdn.com/callback pub.pem",
           "https://gosspublic.alicdn.com/\x01.pem",
           "https://gosspublic.alicdn.com/\xc3\xa9.pem",
           "//gosspublic.alicdn.com/callback_pub_key_v1.pem",
           "",
       }) {
    const absl::Status status = CheckKeyUrlAllowed(url, Defaults());
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << url;
  }
  const std::string long_url = "https://gosspublic.alicdn.com/" + std::string(kMaxKeyUrlBytes, 'a');
  EXPECT_EQ(CheckKeyUrlAllowed(long_url, Defaults()).code(), absl::StatusCode::kPermissionDenied);
}

TEST(KeyUrlAllowlistTest, InvalidPrefixesNeverMatch) {
  const std::vector<std::string> no_slash = {"https://gosspublic.alicdn.com"};
  EXPECT_FALSE(ValidateKeyUrlPrefixes(no_slash).ok());
  EXPECT_FALSE(
      CheckKeyUrlAllowed("https://gosspublic.alicdn.com.evil.example/x.pem", no_slash).ok());
  for (const std::string prefix : {
           "https://gosspublic.alicdn.com",
           "https://user@host/",
           "gosspublic.alicdn.com/",
           "https:///",
           "https://host:/",
           "https://host:123456/",
           "https://ho st/",
           "https://host/?",
           "file:///etc/",
           "https://ho_st/",
       }) {
    EXPECT_FALSE(ValidateKeyUrlPrefixes({prefix}).ok()) << prefix;
  }
  EXPECT_TRUE(ValidateKeyUrlPrefixes(Defaults()).ok());
  EXPECT_TRUE(ValidateKeyUrlPrefixes({"http://127.0.0.1:8080/keys/"}).ok());
  EXPECT_TRUE(
      CheckKeyUrlAllowed("http://127.0.0.1:8080/keys/k.pem", {"http://127.0.0.1:8080/keys/"}).ok());
  EXPECT_FALSE(
      CheckKeyUrlAllowed("http://127.0.0.1:8080/other/k.pem", {"http://127.0.0.1:8080/keys/"})
          .ok());
}

class CountingProvider : public PublicKeyProvider {
 public:
  absl::StatusOr<std::shared_ptr<const RsaPublicKey>> GetKey(absl::string_view url) override {
    ++calls;
    last_url = std::string(url);
    return absl::UnavailableError("counting provider has no keys");
  }
  int calls = 0;
  std::string last_url;
};

TEST(PinnedKeyProviderTest, OssUrlsArePinnedAndNeverFetched) {
  CountingProvider fallback;
  PinnedKeyProvider provider(&fallback);
  for (const absl::string_view url :
       {kOssCallbackPublicKeyUrlHttp, kOssCallbackPublicKeyUrlHttps}) {
    auto key = provider.GetKey(url);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ((*key)->spki_sha256_hex(), kOssCallbackPublicKeySha256);
  }
  EXPECT_EQ(fallback.calls, 0);
  EXPECT_FALSE(provider.GetKey("https://gosspublic.alicdn.com/other.pem").ok());
  EXPECT_EQ(fallback.calls, 1);
  EXPECT_EQ(fallback.last_url, "https://gosspublic.alicdn.com/other.pem");
}

TEST(PinnedKeyProviderTest, WithoutFallbackUnknownUrlFails) {
  PinnedKeyProvider provider;
  const absl::Status status = provider.GetKey("https://gosspublic.alicdn.com/other.pem").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("no pinned key for URL and fetching is disabled"));
}

TEST(PinnedKeyProviderTest, MayBlockOnlyThroughItsFallback) {
  EXPECT_FALSE(PinnedKeyProvider().MayBlock());
  CountingProvider fallback;  // a provider that does not say otherwise may block
  EXPECT_TRUE(PinnedKeyProvider(&fallback).MayBlock());
  PinnedKeyProvider memory_only;
  EXPECT_FALSE(PinnedKeyProvider(&memory_only).MayBlock());
}

TEST(PinnedKeyProviderTest, AddPin) {
  PinnedKeyProvider provider;
  EXPECT_FALSE(provider.AddPin("http://127.0.0.1/k.pem", "garbage").ok());
  ASSERT_TRUE(provider.AddPin("http://127.0.0.1/k.pem", kAlphasnowPublicKeyPem).ok());
  auto key = provider.GetKey("http://127.0.0.1/k.pem");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ((*key)->bits(), 1024);
}

}  // namespace
}  // namespace ossup::protocol
