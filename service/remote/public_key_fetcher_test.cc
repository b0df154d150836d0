#include "service/remote/public_key_fetcher.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/clock.h"
#include "service/protocol/callback_verifier.h"
#include "service/protocol/testing/callback_signer_for_tests.h"
#include "service/remote/testing/test_http_server.h"

namespace ossup::remote {
namespace {

using testing::CannedResponse;
using ::testing::HasSubstr;
using testing::TestHttpServer;

class PublicKeyFetcherTest : public ::testing::Test {
 protected:
  PublicKeyFetcherTest() {
    server_.Set("/key.pem", {200, "", std::string(protocol::kOssCallbackPublicKeyPem)});
    options_.allowed_key_url_prefixes = {server_.Prefix()};
    options_.allow_insecure_http = true;
    options_.total_timeout = absl::Milliseconds(300);
    options_.clock = &clock_;
  }
  std::unique_ptr<PublicKeyFetcher> MakeFetcher() {
    auto fetcher = PublicKeyFetcher::Create(options_);
    EXPECT_TRUE(fetcher.ok()) << fetcher.status();
    return fetcher.ok() ? *std::move(fetcher) : nullptr;
  }

  TestHttpServer server_;
  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  PublicKeyFetcherOptions options_;
};

TEST_F(PublicKeyFetcherTest, FetchesAndCaches) {
  auto fetcher = MakeFetcher();
  ASSERT_NE(fetcher, nullptr);
  for (int i = 0; i < 3; ++i) {
    auto key = fetcher->GetKey(server_.Url("/key.pem"));
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ((*key)->spki_sha256_hex(), protocol::kOssCallbackPublicKeySha256);
  }
  EXPECT_EQ(server_.requests(), 1);
  EXPECT_EQ(fetcher->fetch_count(), 1);
}

TEST_F(PublicKeyFetcherTest, RefetchesAfterTtl) {
  options_.cache_ttl = absl::Minutes(10);
  auto fetcher = MakeFetcher();
  ASSERT_NE(fetcher, nullptr);
  ASSERT_TRUE(fetcher->GetKey(server_.Url("/key.pem")).ok());
  clock_.Advance(absl::Minutes(9));
  ASSERT_TRUE(fetcher->GetKey(server_.Url("/key.pem")).ok());
  EXPECT_EQ(server_.requests(), 1);
  clock_.Advance(absl::Minutes(2));
  ASSERT_TRUE(fetcher->GetKey(server_.Url("/key.pem")).ok());
  EXPECT_EQ(server_.requests(), 2);
}

TEST_F(PublicKeyFetcherTest, RedirectIsNotFollowed) {
  server_.Set("/moved.pem", {302, "Location: /key.pem\r\n", ""});
  auto fetcher = MakeFetcher();
  ASSERT_NE(fetcher, nullptr);
  const absl::Status status = fetcher->GetKey(server_.Url("/moved.pem")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("redirect not followed"));
  EXPECT_EQ(server_.requests(), 1);
}

TEST_F(PublicKeyFetcherTest, OversizeBodyIsRefused) {
  server_.Set("/big.pem", {200, "", std::string(20000, 'A')});
  auto fetcher = MakeFetcher();
  ASSERT_NE(fetcher, nullptr);
  const absl::Status status = fetcher->GetKey(server_.Url("/big.pem")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("exceeds 16384 bytes"));
}

TEST_F(PublicKeyFetcherTest, OversizeBodyWithoutContentLengthIsAborted) {
  // A declared Content-Length is caught by MAXFILESIZE; without one the write callback must stop
  // the transfer.
  options_.max_body_bytes = 100;
  server_.Set("/big.pem", {200, "", std::string(5000, 'A'), absl::ZeroDuration(), false});
  auto fetcher = MakeFetcher();
  ASSERT_NE(fetcher, nullptr);
  EXPECT_THAT(fetcher->GetKey(server_.Url("/big.pem")).status().message(),
              HasSubstr("exceeds 100 bytes"));
}

TEST_F(PublicKeyFetcherTest, NotFoundIsNegativelyCached) {
  options_.negative_cache_ttl = absl::Seconds(10);
  auto fetcher = MakeFetcher();
  ASSERT_NE(fetcher, nullptr);
  for (int i = 0; i < 3; ++i) {
    const absl::Status status = fetcher->GetKey(server_.Url("/missing.pem")).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(status.message(), HasSubstr("HTTP 404"));
  }
  EXPECT_EQ(server_.requests(), 1);
  clock_.Advance(absl::Seconds(11));
  server_.Set("/missing.pem", {200, "", std::string(protocol::kOssCallbackPublicKeyPem)});
  EXPECT_TRUE(fetcher->GetKey(server_.Url("/missing.pem")).ok());
  EXPECT_EQ(server_.requests(), 2);
}

TEST_F(PublicKeyFetcherTest, SlowServerTimesOut) {
  server_.Set("/slow.pem",
              {200, "", std::string(protocol::kOssCallbackPublicKeyPem), absl::Milliseconds(1500)});
  auto fetcher = MakeFetcher();
  ASSERT_NE(fetcher, nullptr);
  const absl::Time start = absl::Now();
  const absl::Status status = fetcher->GetKey(server_.Url("/slow.pem")).status();
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("failed"));
  EXPECT_LT(took, absl::Milliseconds(1000));
}

TEST_F(PublicKeyFetcherTest, GarbagePemIsBadKey) {
  server_.Set("/garbage.pem", {200, "", "-----BEGIN PUBLIC KEY-----\nnope\n"});
  auto fetcher = MakeFetcher();
  ASSERT_NE(fetcher, nullptr);
  const absl::Status status = fetcher->GetKey(server_.Url("/garbage.pem")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("/garbage.pem"));
}

TEST_F(PublicKeyFetcherTest, ConcurrentCallersShareOneFetch) {
  server_.Set("/key.pem",
              {200, "", std::string(protocol::kOssCallbackPublicKeyPem), absl::Milliseconds(200)});
  options_.total_timeout = absl::Seconds(2);
  auto fetcher = MakeFetcher();
  ASSERT_NE(fetcher, nullptr);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (fetcher->GetKey(server_.Url("/key.pem")).ok()) ++ok;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok, 8);
  EXPECT_EQ(server_.requests(), 1);
}

TEST_F(PublicKeyFetcherTest, UrlOutsidePrefixesIsRefusedWithoutFetching) {
  auto fetcher = MakeFetcher();
  ASSERT_NE(fetcher, nullptr);
  for (const std::string& url :
       {std::string(protocol::kOssCallbackPublicKeyUrlHttps),
        std::string("http://127.0.0.1:1/key.pem"), server_.Url("/key.pem?x=1")}) {
    EXPECT_EQ(fetcher->GetKey(url).status().code(), absl::StatusCode::kPermissionDenied) << url;
  }
  EXPECT_EQ(server_.requests(), 0);
  EXPECT_EQ(fetcher->fetch_count(), 0);
}

TEST_F(PublicKeyFetcherTest, HttpIsUpgradedToHttpsUnlessInsecureAllowed) {
  options_.allow_insecure_http = false;
  auto fetcher = MakeFetcher();
  ASSERT_NE(fetcher, nullptr);
  // The plain-HTTP test server cannot speak TLS, so the upgraded fetch fails.
  const absl::Status status = fetcher->GetKey(server_.Url("/key.pem")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("https://127.0.0.1:"));
  EXPECT_EQ(server_.requests(), 0);
}

TEST_F(PublicKeyFetcherTest, CacheIsBounded) {
  options_.max_cache_entries = 2;
  for (const char* path : {"/a.pem", "/b.pem", "/c.pem"}) {
    server_.Set(path, {200, "", std::string(protocol::kOssCallbackPublicKeyPem)});
  }
  auto fetcher = MakeFetcher();
  ASSERT_NE(fetcher, nullptr);
  for (const char* path : {"/a.pem", "/b.pem", "/c.pem", "/c.pem"}) {
    clock_.Advance(absl::Seconds(1));
    EXPECT_TRUE(fetcher->GetKey(server_.Url(path)).ok()) << path;
  }
  EXPECT_EQ(server_.requests(), 3);
  // "/a.pem" was the oldest entry and got evicted.
  EXPECT_TRUE(fetcher->GetKey(server_.Url("/a.pem")).ok());
  EXPECT_EQ(server_.requests(), 4);
}

// End to end: pinned OSS keys first, unknown (allowed) URLs fetched, then verified.
TEST_F(PublicKeyFetcherTest, VerifierFetchesUnpinnedKeyOnce) {
  auto signer = protocol::testing::CallbackSignerForTests::Generate(1024);
  ASSERT_TRUE(signer.ok()) << signer.status();
  server_.Set("/emulator.pem", {200, "", signer->public_key_pem()});
  auto fetcher = MakeFetcher();
  ASSERT_NE(fetcher, nullptr);
  protocol::PinnedKeyProvider keys(fetcher.get());
  protocol::CallbackVerifierOptions verifier_options;
  verifier_options.allowed_key_url_prefixes = {server_.Prefix()};
  const protocol::CallbackVerifier verifier(&keys, verifier_options);

  const std::string key_url = server_.Url("/emulator.pem");
  const auto headers = signer->SignatureHeaders("/cb?x=1\n{}", key_url);
  ASSERT_TRUE(headers.ok()) << headers.status();
  for (int i = 0; i < 3; ++i) {
    const protocol::CallbackVerification v = verifier.Verify({"/cb?x=1", *headers, "{}"});
    EXPECT_TRUE(v.ok()) << v.message;
  }
  EXPECT_EQ(verifier.Verify({"/cb?x=2", *headers, "{}"}).error,
            protocol::CallbackVerifyError::kSignatureMismatch);
  EXPECT_EQ(server_.requests(), 1);
}

TEST(PublicKeyFetcherCreateTest, RejectsBadOptions) {
  PublicKeyFetcherOptions options;
  EXPECT_TRUE(PublicKeyFetcher::Create(options).ok());
  options.allowed_key_url_prefixes = {"https://gosspublic.alicdn.com"};
  EXPECT_FALSE(PublicKeyFetcher::Create(options).ok());
  options = PublicKeyFetcherOptions();
  options.total_timeout = absl::ZeroDuration();
  EXPECT_FALSE(PublicKeyFetcher::Create(options).ok());
  options = PublicKeyFetcherOptions();
  options.max_body_bytes = 1 << 20;
  EXPECT_FALSE(PublicKeyFetcher::Create(options).ok());
  options = PublicKeyFetcherOptions();
  options.max_cache_entries = 0;
  EXPECT_FALSE(PublicKeyFetcher::Create(options).ok());
  // Zero TTLs would make callers waiting on one fetch refetch one after another.
  options = PublicKeyFetcherOptions();
  options.negative_cache_ttl = absl::ZeroDuration();
  EXPECT_FALSE(PublicKeyFetcher::Create(options).ok());
  options = PublicKeyFetcherOptions();
  options.cache_ttl = absl::ZeroDuration();
  EXPECT_FALSE(PublicKeyFetcher::Create(options).ok());
}

}  // namespace
}  // namespace ossup::remote
