#include "service/protocol/callback_verifier.h"

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/protocol/crypto.h"
#include "service/protocol/testing/callback_signer_for_tests.h"
#include "service/protocol/testing/callback_test_vectors.h"

namespace ossup::protocol {
namespace {

using ::testing::HasSubstr;
using Headers = std::vector<std::pair<std::string, std::string>>;

// Reference §3.5 vectors, under the short names used below.
constexpr absl::string_view kTarget1 = testing::kVector1Target;
constexpr absl::string_view kBody1 = testing::kVector1Body;
constexpr absl::string_view kAuth1 = testing::kVector1Authorization;
constexpr absl::string_view kKeyUrlHttpsB64 = testing::kOssKeyUrlHttpsBase64;
constexpr absl::string_view kKeyUrlHttpB64 = testing::kOssKeyUrlHttpBase64;
using testing::kAlphasnowBody;
using testing::kAlphasnowTarget;
constexpr absl::string_view kAlphasnowPem = testing::kAlphasnowPublicKeyPem;
constexpr absl::string_view kAlphasnowAuth = testing::kAlphasnowAuthorization;

constexpr absl::string_view kLocalPrefix = "http://127.0.0.1:9/";
constexpr absl::string_view kLocalKeyUrl = "http://127.0.0.1:9/public.pem";

// Pinned keys plus a call counter, to prove refused URLs never reach the provider.
class CountingProvider : public PublicKeyProvider {
 public:
  absl::StatusOr<std::shared_ptr<const RsaPublicKey>> GetKey(absl::string_view url) override {
    ++calls;
    return pinned.GetKey(url);
  }
  PinnedKeyProvider pinned;
  std::atomic<int> calls{0};
};

class CallbackVerifierTest : public ::testing::Test {
 protected:
  CallbackVerification Verify(absl::string_view target, absl::string_view body,
                              const Headers& headers) {
    CallbackVerifier verifier(&provider_, options_);
    return verifier.Verify({target, headers, body});
  }
  static Headers Vector1Headers(absl::string_view key_url_b64 = kKeyUrlHttpsB64) {
    return {{"Content-Type", "application/x-www-form-urlencoded"},
            {"authorization", std::string(kAuth1)},
            {"x-oss-pub-key-url", std::string(key_url_b64)}};
  }

  CountingProvider provider_;
  CallbackVerifierOptions options_;
};

TEST(CallbackStringToSignTest, Vector1MatchesReference) {
  const auto sts = CallbackStringToSign(kTarget1, kBody1);
  ASSERT_TRUE(sts.ok()) << sts.status();
  EXPECT_EQ(*sts, "/index.php?id=1&index=2\nbucket=yonghu-test");
  EXPECT_EQ(HexEncode(*Md5(*sts)), testing::kVector1Md5Hex);
}

TEST(CallbackStringToSignTest, DecodesPathOnlyAndKeepsSuffixVerbatim) {
  EXPECT_EQ(*CallbackStringToSign("/a%20b+c%2Fd?x=%20&y=+", "B"), "/a b+c/d?x=%20&y=+\nB");
  EXPECT_EQ(*CallbackStringToSign("/p", ""), "/p\n");
  EXPECT_EQ(*CallbackStringToSign("/p?", "b"), "/p?\nb");
  EXPECT_EQ(*CallbackStringToSign("/p?a?b%zz", "b"), "/p?a?b%zz\nb");
  EXPECT_FALSE(CallbackStringToSign("", "b").ok());
  EXPECT_FALSE(CallbackStringToSign("index.php", "b").ok());
  EXPECT_FALSE(CallbackStringToSign("http://host/index.php", "b").ok());
  EXPECT_FALSE(CallbackStringToSign("/a%2", "b").ok());
  EXPECT_FALSE(CallbackStringToSign("/a%zz?x", "b").ok());
}

TEST_F(CallbackVerifierTest, Vector1VerifiesWithBothKeyUrlForms) {
  for (const absl::string_view b64 : {kKeyUrlHttpsB64, kKeyUrlHttpB64}) {
    const CallbackVerification v = Verify(kTarget1, kBody1, Vector1Headers(b64));
    EXPECT_TRUE(v.ok()) << CallbackVerifyErrorName(v.error) << ": " << v.message;
    EXPECT_TRUE(v.ToStatus().ok());
    EXPECT_EQ(v.string_to_sign, "/index.php?id=1&index=2\nbucket=yonghu-test");
    EXPECT_EQ(v.string_to_sign_md5_hex, testing::kVector1Md5Hex);
  }
  EXPECT_EQ(provider_.calls, 2);
}

TEST_F(CallbackVerifierTest, Vector1HeaderNamesAreCaseInsensitive) {
  const Headers headers = {{"AUTHORIZATION", std::string(kAuth1)},
                           {"X-Oss-Pub-Key-Url", std::string(kKeyUrlHttpB64)}};
  EXPECT_TRUE(Verify(kTarget1, kBody1, headers).ok());
}

TEST_F(CallbackVerifierTest, ChangedAuthorizationCharFails) {
  Headers headers = Vector1Headers();
  headers[1].second[10] = headers[1].second[10] == 'A' ? 'B' : 'A';
  const CallbackVerification v = Verify(kTarget1, kBody1, headers);
  EXPECT_EQ(v.error, CallbackVerifyError::kSignatureMismatch) << v.message;
  EXPECT_EQ(v.ToStatus().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(CallbackVerifierTest, ChangedBodyByteFails) {
  EXPECT_EQ(Verify(kTarget1, "bucket=yonghu-tesT", Vector1Headers()).error,
            CallbackVerifyError::kSignatureMismatch);
}

TEST_F(CallbackVerifierTest, DroppedQueryOrSpuriousQuestionMarkFails) {
  EXPECT_EQ(Verify("/index.php", kBody1, Vector1Headers()).error,
            CallbackVerifyError::kSignatureMismatch);
  EXPECT_EQ(Verify("/index.php?", kBody1, Vector1Headers()).error,
            CallbackVerifyError::kSignatureMismatch);
  EXPECT_EQ(Verify("/index.php?id=1&index=2?", kBody1, Vector1Headers()).error,
            CallbackVerifyError::kSignatureMismatch);
}

TEST_F(CallbackVerifierTest, DisallowedKeyUrlsAreRefusedBeforeAnyLookup) {
  for (const absl::string_view url : {
           "https://example.com/callback_pub_key_v1.pem",
           "https://gosspublic.alicdn.com.evil.example/callback_pub_key_v1.pem",
           "https://gosspublic.alicdn.com@evil.example/x.pem",
       }) {
    const CallbackVerification v = Verify(kTarget1, kBody1, Vector1Headers(Base64Encode(url)));
    EXPECT_EQ(v.error, CallbackVerifyError::kKeyUrlNotAllowed) << url;
    EXPECT_EQ(v.key_url, url);
    EXPECT_EQ(v.ToStatus().code(), absl::StatusCode::kUnauthenticated);
  }
  // Non-printable key URLs are refused too and reported escaped.
  const CallbackVerification v =
      Verify(kTarget1, kBody1, Vector1Headers(Base64Encode("https://gosspublic.alicdn.com/\n")));
  EXPECT_EQ(v.error, CallbackVerifyError::kKeyUrlNotAllowed);
  EXPECT_EQ(v.key_url, "https://gosspublic.alicdn.com/\\n");
  EXPECT_EQ(provider_.calls, 0);
}

TEST_F(CallbackVerifierTest, AlphasnowVectorWithPinnedKey) {
  ASSERT_TRUE(provider_.pinned.AddPin(kLocalKeyUrl, kAlphasnowPem).ok());
  const Headers headers = {{"Authorization", std::string(kAlphasnowAuth)},
                           {"x-oss-pub-key-url", Base64Encode(kLocalKeyUrl)}};
  // Not allowed under the default prefixes.
  EXPECT_EQ(Verify(kAlphasnowTarget, kAlphasnowBody, headers).error,
            CallbackVerifyError::kKeyUrlNotAllowed);
  EXPECT_EQ(provider_.calls, 0);
  options_.allowed_key_url_prefixes = {std::string(kLocalPrefix)};
  const CallbackVerification v = Verify(kAlphasnowTarget, kAlphasnowBody, headers);
  EXPECT_TRUE(v.ok()) << v.message;
  EXPECT_EQ(Verify(kAlphasnowTarget, std::string(kAlphasnowBody) + "&", headers).error,
            CallbackVerifyError::kSignatureMismatch);
  // The OSS key does not verify the alphasnow signature.
  options_ = CallbackVerifierOptions();
  EXPECT_EQ(Verify(kAlphasnowTarget, kAlphasnowBody,
                   {{"Authorization", std::string(kAlphasnowAuth)},
                    {"x-oss-pub-key-url", std::string(kKeyUrlHttpsB64)}})
                .error,
            CallbackVerifyError::kSignatureMismatch);
}

TEST_F(CallbackVerifierTest, MissingHeaders) {
  const CallbackVerification no_auth =
      Verify(kTarget1, kBody1, {{"x-oss-pub-key-url", std::string(kKeyUrlHttpsB64)}});
  EXPECT_EQ(no_auth.error, CallbackVerifyError::kMissingAuthorization);
  EXPECT_EQ(no_auth.ToStatus().code(), absl::StatusCode::kUnauthenticated);
  // Diagnostics are still there for the CLI.
  EXPECT_EQ(no_auth.string_to_sign_md5_hex, testing::kVector1Md5Hex);
  EXPECT_EQ(Verify(kTarget1, kBody1, {{"Authorization", std::string(kAuth1)}}).error,
            CallbackVerifyError::kMissingKeyUrl);
  EXPECT_EQ(Verify(kTarget1, kBody1, {}).error, CallbackVerifyError::kMissingAuthorization);
  EXPECT_EQ(provider_.calls, 0);
}

TEST_F(CallbackVerifierTest, DuplicateSignatureHeadersAreAmbiguous) {
  Headers dup_auth = Vector1Headers();
  dup_auth.emplace_back("Authorization", std::string(kAuth1));
  EXPECT_EQ(Verify(kTarget1, kBody1, dup_auth).error, CallbackVerifyError::kBadRequest);
  Headers dup_url = Vector1Headers();
  dup_url.emplace_back("X-OSS-PUB-KEY-URL", std::string(kKeyUrlHttpB64));
  const CallbackVerification v = Verify(kTarget1, kBody1, dup_url);
  EXPECT_EQ(v.error, CallbackVerifyError::kBadRequest);
  EXPECT_EQ(v.ToStatus().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(provider_.calls, 0);
}

TEST_F(CallbackVerifierTest, BadBase64) {
  Headers headers = Vector1Headers();
  headers[1].second = "Bearer " + std::string(kAuth1);
  EXPECT_EQ(Verify(kTarget1, kBody1, headers).error,
            CallbackVerifyError::kBadAuthorizationEncoding);
  headers[1].second = std::string(kAuth1.substr(0, kAuth1.size() - 1));  // Lost padding.
  EXPECT_EQ(Verify(kTarget1, kBody1, headers).error,
            CallbackVerifyError::kBadAuthorizationEncoding);
  headers[1].second = std::string(4000, 'A');
  EXPECT_EQ(Verify(kTarget1, kBody1, headers).error,
            CallbackVerifyError::kBadAuthorizationEncoding);
  headers[1].second = "";
  EXPECT_EQ(Verify(kTarget1, kBody1, headers).error,
            CallbackVerifyError::kBadAuthorizationEncoding);
  // Surrounding whitespace is HTTP framing and tolerated.
  headers[1].second = " " + std::string(kAuth1) + " ";
  EXPECT_TRUE(Verify(kTarget1, kBody1, headers).ok());

  headers = Vector1Headers("https://gosspublic.alicdn.com/callback_pub_key_v1.pem");
  const CallbackVerification v = Verify(kTarget1, kBody1, headers);
  EXPECT_EQ(v.error, CallbackVerifyError::kBadKeyUrlEncoding);
  EXPECT_EQ(v.ToStatus().code(), absl::StatusCode::kInvalidArgument);
  headers = Vector1Headers(std::string(5000, 'A'));
  EXPECT_EQ(Verify(kTarget1, kBody1, headers).error, CallbackVerifyError::kBadKeyUrlEncoding);
  EXPECT_EQ(provider_.calls, 1);  // Only the whitespace-tolerated request got as far.
}

// A signature whose size no RSA key can produce is refused before any key lookup, so junk
// Authorization values cannot drive key fetches (review finding M1).
TEST_F(CallbackVerifierTest, ImplausibleSignatureSizesNeverReachTheProvider) {
  Headers headers = Vector1Headers();
  headers[1].second = "QUJD";  // 3 bytes
  EXPECT_EQ(Verify(kTarget1, kBody1, headers).error,
            CallbackVerifyError::kBadAuthorizationEncoding);
  headers[1].second = std::string(1368, 'A');  // 1026 bytes
  EXPECT_EQ(Verify(kTarget1, kBody1, headers).error,
            CallbackVerifyError::kBadAuthorizationEncoding);
  EXPECT_EQ(provider_.calls, 0);
}

// A genuine OSS signature proves OSS sent the request, not that our bucket holds the object:
// someone else's policy on their own bucket can make OSS send us any literal body. The verifier
// accepts it by design; the service must confirm with HeadObject (see callback_verifier.h).
TEST_F(CallbackVerifierTest, SignatureSaysNothingAboutWhichAccountSentIt) {
  const CallbackVerification v = Verify(kTarget1, kBody1, Vector1Headers());
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(v.string_to_sign, "/index.php?id=1&index=2\nbucket=yonghu-test");
}

TEST_F(CallbackVerifierTest, OversizeAndMalformedTargetAndBody) {
  options_.max_target_bytes = 16;
  options_.max_body_bytes = 10;
  EXPECT_EQ(Verify(kTarget1, "small", Vector1Headers()).error, CallbackVerifyError::kBadRequest);
  EXPECT_EQ(Verify("/short", kBody1, Vector1Headers()).error, CallbackVerifyError::kBadRequest);
  options_ = CallbackVerifierOptions();
  EXPECT_EQ(Verify(std::string(8193, '/'), kBody1, Vector1Headers()).error,
            CallbackVerifyError::kBadRequest);
  EXPECT_EQ(Verify(kTarget1, std::string(64 * 1024 + 1, 'b'), Vector1Headers()).error,
            CallbackVerifyError::kBadRequest);
  EXPECT_EQ(Verify("/index%2.php?id=1&index=2", kBody1, Vector1Headers()).error,
            CallbackVerifyError::kBadRequest);
  EXPECT_EQ(Verify("index.php?id=1&index=2", kBody1, Vector1Headers()).error,
            CallbackVerifyError::kBadRequest);
  EXPECT_EQ(provider_.calls, 0);
}

TEST_F(CallbackVerifierTest, PercentDecodedPathWithGeneratedKey) {
  auto signer = testing::CallbackSignerForTests::Generate(1024);
  ASSERT_TRUE(signer.ok()) << signer.status();
  ASSERT_TRUE(provider_.pinned.AddPin(kLocalKeyUrl, signer->public_key_pem()).ok());
  options_.allowed_key_url_prefixes = {std::string(kLocalPrefix)};
  constexpr absl::string_view kTarget = "/a%20b+c?x=%20&y=+";
  constexpr absl::string_view kBody = "{\"k\":1}";

  const auto sign = [&](absl::string_view sts) {
    return *signer->SignatureHeaders(sts, kLocalKeyUrl);
  };
  const CallbackVerification v = Verify(kTarget, kBody, sign("/a b+c?x=%20&y=+\n{\"k\":1}"));
  EXPECT_TRUE(v.ok()) << v.message;
  EXPECT_EQ(v.string_to_sign, "/a b+c?x=%20&y=+\n{\"k\":1}");
  EXPECT_EQ(v.key_url, kLocalKeyUrl);
  // Signing the raw path, a decoded query, or '+' as space must all fail.
  for (const absl::string_view wrong :
       {"/a%20b+c?x=%20&y=+\n{\"k\":1}", "/a b+c?x= &y=+\n{\"k\":1}",
        "/a b c?x=%20&y=+\n{\"k\":1}"}) {
    EXPECT_EQ(Verify(kTarget, kBody, sign(wrong)).error, CallbackVerifyError::kSignatureMismatch)
        << wrong;
  }
}

// A provider that fails in a chosen way, to check the error mapping.
class FailingProvider : public PublicKeyProvider {
 public:
  explicit FailingProvider(absl::Status status) : status_(std::move(status)) {}
  absl::StatusOr<std::shared_ptr<const RsaPublicKey>> GetKey(absl::string_view) override {
    return status_;
  }

 private:
  absl::Status status_;
};

TEST(CallbackVerifierErrorsTest, ProviderFailuresAreMapped) {
  const Headers headers = {{"authorization", std::string(kAuth1)},
                           {"x-oss-pub-key-url", std::string(kKeyUrlHttpsB64)}};
  const struct {
    absl::Status status;
    CallbackVerifyError error;
    absl::StatusCode code;
  } cases[] = {
      {absl::UnavailableError("HTTP 404"), CallbackVerifyError::kKeyFetchFailed,
       absl::StatusCode::kUnavailable},
      {absl::DeadlineExceededError("timeout"), CallbackVerifyError::kKeyFetchFailed,
       absl::StatusCode::kUnavailable},
      {absl::InvalidArgumentError("bad PEM"), CallbackVerifyError::kBadKey,
       absl::StatusCode::kUnavailable},
      {absl::PermissionDeniedError("not allowed"), CallbackVerifyError::kKeyUrlNotAllowed,
       absl::StatusCode::kUnauthenticated},
  };
  for (const auto& c : cases) {
    FailingProvider provider(c.status);
    CallbackVerifier verifier(&provider, CallbackVerifierOptions());
    const CallbackVerification v = verifier.Verify({kTarget1, headers, kBody1});
    EXPECT_EQ(v.error, c.error) << c.status;
    EXPECT_EQ(v.ToStatus().code(), c.code) << c.status;
    EXPECT_THAT(v.message, HasSubstr(c.status.message()));
    EXPECT_THAT(std::string(v.ToStatus().message()), HasSubstr(CallbackVerifyErrorName(c.error)));
  }
}

TEST(CallbackVerifierErrorsTest, NamesAreDistinct) {
  EXPECT_EQ(CallbackVerifyErrorName(CallbackVerifyError::kOk), "OK");
  EXPECT_EQ(CallbackVerifyErrorName(CallbackVerifyError::kSignatureMismatch), "SIGNATURE_MISMATCH");
  EXPECT_EQ(CallbackVerifyErrorName(CallbackVerifyError::kKeyUrlNotAllowed), "KEY_URL_NOT_ALLOWED");
}

TEST_F(CallbackVerifierTest, ConcurrentVerificationsShareOneKey) {
  CallbackVerifier verifier(&provider_, options_);
  const Headers good = Vector1Headers();
  std::atomic<int> ok{0};
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (verifier.Verify({kTarget1, good, kBody1}).ok()) ++ok;
        if (verifier.Verify({"/index.php", good, kBody1}).error ==
            CallbackVerifyError::kSignatureMismatch) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok, 800);
  EXPECT_EQ(mismatches, 800);
}

}  // namespace
}  // namespace ossup::protocol
