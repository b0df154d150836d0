#include "service/remote/oss_client.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/clock.h"
#include "service/remote/testing/test_http_server.h"

namespace ossup::remote {
namespace {

using ::testing::HasSubstr;
using testing::TestHttpServer;

constexpr char kObjectHeaders[] =
    "ETag: \"5EB63BBBE01EEED093CB22BB8F5ACDC3\"\r\n"
    "Content-Type: image/png\r\n"
    "x-oss-hash-crc64ecma: 12345\r\n";

class CurlOssClientTest : public ::testing::Test {
 protected:
  CurlOssClientTest() {
    credentials_.access_key_id = "LTAItest";
    credentials_.access_key_secret = "secret";
    endpoint_ = {"http", absl::StrCat("127.0.0.1:", server_.port()), false, "cn-hangzhou"};
  }
  std::unique_ptr<CurlOssClient> MakeClient() {
    auto client = CurlOssClient::Create(&clock_);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  TestHttpServer server_;
  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  protocol::Credentials credentials_;
  OssEndpoint endpoint_;
};

TEST_F(CurlOssClientTest, ReadsTheObjectFromASignedHeadRequest) {
  server_.Set("/avatars/a%20b.png", {200, kObjectHeaders, std::string(1234, 'x')});
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  auto head =
      client->HeadObject(endpoint_, credentials_, "media", "avatars/a b.png", absl::Seconds(5));
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->size, 1234);
  EXPECT_EQ(head->etag, "5EB63BBBE01EEED093CB22BB8F5ACDC3");
  EXPECT_EQ(head->content_type, "image/png");
  EXPECT_EQ(head->crc64, "12345");
  const std::vector<std::string> heads = server_.heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(heads[0], "HEAD /avatars/a%20b.png HTTP/1.1\r\n")) << heads[0];
  EXPECT_THAT(heads[0], HasSubstr("x-oss-date: 20231114T221320Z"));
  EXPECT_THAT(heads[0], HasSubstr("authorization: OSS4-HMAC-SHA256 Credential=LTAItest/20231114/"
                                  "cn-hangzhou/oss/aliyun_v4_request"));
}

TEST_F(CurlOssClientTest, MapsOssAnswersToStatusCodes) {
  server_.Set("/denied", {403, "x-oss-ec: 0003-00000001\r\n", ""});
  server_.Set("/broken", {500, "", ""});
  server_.Set("/no-length", {200, "", "", absl::ZeroDuration(), /*content_length=*/false});
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  auto call = [&](absl::string_view key) {
    return client->HeadObject(endpoint_, credentials_, "media", key, absl::Seconds(5)).status();
  };
  EXPECT_EQ(call("missing").code(), absl::StatusCode::kNotFound);
  const absl::Status denied = call("denied");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.message(), HasSubstr("EC 0003-00000001"));
  EXPECT_EQ(call("broken").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(call("no-length").code(), absl::StatusCode::kUnavailable);
  endpoint_.scheme = "ftp";
  EXPECT_EQ(call("missing").code(), absl::StatusCode::kInvalidArgument);
}

// Beyond max_in_flight a request is refused at once, without reaching OSS.
TEST_F(CurlOssClientTest, RefusesRequestsBeyondTheInFlightLimit) {
  server_.Set("/slow", {200, kObjectHeaders, "abc", absl::Milliseconds(300)});
  EXPECT_FALSE(CurlOssClient::Create(&clock_, {.max_in_flight = 0}).ok());
  auto client = CurlOssClient::Create(&clock_, {.max_in_flight = 2});
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->max_in_flight(), 2);
  absl::BlockingCounter answered(3);
  absl::Mutex mu;
  std::vector<absl::Status> results;
  for (int i = 0; i < 3; ++i) {
    (*client)->HeadObjectAsync(endpoint_, credentials_, "media", "slow", absl::Seconds(5),
                               [&](absl::StatusOr<ObjectHead> head) {
                                 {
                                   absl::MutexLock lock(&mu);
                                   results.push_back(head.status());
                                 }
                                 answered.DecrementCount();
                               });
  }
  answered.Wait();
  absl::MutexLock lock(&mu);
  ASSERT_EQ(results.size(), 3u);
  // The refusal comes first: the other two wait 300 ms for the server.
  EXPECT_TRUE(absl::IsUnavailable(results[0])) << results[0];
  EXPECT_THAT(results[0].message(), HasSubstr("2 requests already wait for OSS"));
  EXPECT_TRUE(results[1].ok()) << results[1];
  EXPECT_TRUE(results[2].ok()) << results[2];
  EXPECT_EQ(server_.requests(), 2);
}

// No thread waits per request: slow answers overlap, and each is delivered once to its caller.
TEST_F(CurlOssClientTest, AsyncRequestsRunConcurrently) {
  server_.Set("/slow", {200, kObjectHeaders, "abc", absl::Milliseconds(400)});
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  constexpr int kRequests = 20;
  absl::BlockingCounter answered(kRequests);
  std::atomic<int> ok{0};
  const absl::Time start = absl::Now();
  for (int i = 0; i < kRequests; ++i) {
    client->HeadObjectAsync(endpoint_, credentials_, "media", "slow", absl::Seconds(5),
                            [&](absl::StatusOr<ObjectHead> head) {
                              if (head.ok() && head->size == 3) ++ok;
                              answered.DecrementCount();
                            });
  }
  EXPECT_EQ(client->InFlight(), kRequests);  // the server holds every answer for 400 ms
  answered.Wait();
  EXPECT_EQ(client->InFlight(), 0);
  EXPECT_EQ(ok.load(), kRequests);
  // One after another they would take 8 s.
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  EXPECT_EQ(server_.requests(), kRequests);
}

TEST_F(CurlOssClientTest, SlowOssTimesOut) {
  server_.Set("/slow", {200, kObjectHeaders, "abc", absl::Milliseconds(3000)});
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  const absl::Time start = absl::Now();
  const absl::Status status =
      client->HeadObject(endpoint_, credentials_, "media", "slow", absl::Milliseconds(200))
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("media/slow"));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(2000));
}

// Shutting down loses no accepted confirmation: the destructor waits for the answers.
TEST_F(CurlOssClientTest, DestructionFinishesRequestsInFlight) {
  server_.Set("/slow", {200, kObjectHeaders, "abc", absl::Milliseconds(300)});
  auto client = MakeClient();
  ASSERT_NE(client, nullptr);
  absl::Mutex mu;
  std::vector<absl::StatusCode> codes;
  for (int i = 0; i < 3; ++i) {
    client->HeadObjectAsync(endpoint_, credentials_, "media", "slow", absl::Seconds(5),
                            [&](absl::StatusOr<ObjectHead> head) {
                              absl::MutexLock lock(&mu);
                              codes.push_back(head.status().code());
                            });
  }
  client.reset();
  absl::MutexLock lock(&mu);
  EXPECT_THAT(codes, ::testing::ElementsAre(absl::StatusCode::kOk, absl::StatusCode::kOk,
                                            absl::StatusCode::kOk));
}

}  // namespace
}  // namespace ossup::remote
