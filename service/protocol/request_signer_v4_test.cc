#include "service/protocol/request_signer_v4.h"

#include <functional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ossup::protocol {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// The request of the Go SDK v2 TestV4Auth* vectors (oss/signer/signer_test.go).
V4RequestToSign SdkRequest() {
  V4RequestToSign r;
  r.method = "PUT";
  r.bucket = "bucket";
  r.object_key = "1234+-/123/1.txt";
  r.query = {{"param1", "value1"}, {"+param1", "value3"}, {"|param1", "value4"},
             {"+param2", ""},      {"|param2", ""},       {"param2", ""}};
  r.headers = {{"x-oss-head1", "value"},
               {"abc", "value"},
               {"ZAbc", "value"},
               {"XYZ", "value"},
               {"content-type", "text/plain"},
               {"x-oss-content-sha256", "UNSIGNED-PAYLOAD"}};
  return r;
}

Credentials Ak() { return Credentials{"ak", "sk", "", absl::InfiniteFuture()}; }

std::string AuthorizationOf(const V4SignedRequest& signed_request) {
  for (const auto& [name, value] : signed_request.headers_to_add) {
    if (name == "authorization") return value;
  }
  return "";
}

// Reference §3.1 / Go SDK TestV4AuthHeader.
TEST(RequestSignerV4Test, OfficialVector) {
  SigningKeyCache cache;
  auto s =
      SignRequestV4(SdkRequest(), Ak(), "cn-hangzhou", absl::FromUnixSeconds(1702743657), &cache);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->canonical_request,
            "PUT\n"
            "/bucket/1234%2B-/123/1.txt\n"
            "%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2\n"
            "content-type:text/plain\n"
            "x-oss-content-sha256:UNSIGNED-PAYLOAD\n"
            "x-oss-date:20231216T162057Z\n"
            "x-oss-head1:value\n"
            "\n"
            "\n"
            "UNSIGNED-PAYLOAD");
  EXPECT_THAT(s->string_to_sign, HasSubstr("OSS4-HMAC-SHA256\n20231216T162057Z\n"
                                           "20231216/cn-hangzhou/oss/aliyun_v4_request\n"));
  EXPECT_EQ(s->signature_hex, "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe");
  // x-oss-content-sha256 was given, so it is not added again.
  EXPECT_THAT(
      s->headers_to_add,
      UnorderedElementsAre(
          Pair("authorization",
               "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,"
               "Signature=e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"),
          Pair("x-oss-date", "20231216T162057Z")));

  // Same result without a cache, and from the cache a second time.
  auto uncached =
      SignRequestV4(SdkRequest(), Ak(), "cn-hangzhou", absl::FromUnixSeconds(1702743657), nullptr);
  auto cached_again =
      SignRequestV4(SdkRequest(), Ak(), "cn-hangzhou", absl::FromUnixSeconds(1702743657), &cache);
  ASSERT_TRUE(uncached.ok() && cached_again.ok());
  EXPECT_EQ(uncached->signature_hex, s->signature_hex);
  EXPECT_EQ(cached_again->signature_hex, s->signature_hex);
}

// Go SDK TestV4AuthHeader (header order and content-sha256 presence do not matter).
TEST(RequestSignerV4Test, AddsContentSha256WhenAbsent) {
  V4RequestToSign r = SdkRequest();
  r.headers.pop_back();  // x-oss-content-sha256
  std::swap(r.headers[0], r.headers[4]);
  auto s = SignRequestV4(r, Ak(), "cn-hangzhou", absl::FromUnixSeconds(1702743657), nullptr);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->signature_hex, "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe");
  EXPECT_THAT(s->headers_to_add,
              ::testing::Contains(Pair("x-oss-content-sha256", "UNSIGNED-PAYLOAD")));
}

// Go SDK TestV4AuthHeaderToken.
TEST(RequestSignerV4Test, OfficialStsVector) {
  Credentials sts{"ak", "sk", "token", absl::InfiniteFuture()};
  auto s =
      SignRequestV4(SdkRequest(), sts, "cn-hangzhou", absl::FromUnixSeconds(1702784856), nullptr);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(AuthorizationOf(*s),
            "OSS4-HMAC-SHA256 Credential=ak/20231217/cn-hangzhou/oss/aliyun_v4_request,"
            "Signature=b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea");
  EXPECT_THAT(s->headers_to_add, ::testing::Contains(Pair("x-oss-security-token", "token")));
  EXPECT_THAT(s->canonical_request, HasSubstr("\nx-oss-security-token:token\n"));
}

// Go SDK TestV4AuthHeaderWithAdditionalHeaders, both cases.
TEST(RequestSignerV4Test, OfficialAdditionalHeadersVectors) {
  constexpr absl::string_view kExpected =
      "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,"
      "AdditionalHeaders=abc;zabc,"
      "Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f";
  for (const std::vector<std::string>& additional :
       {std::vector<std::string>{"ZAbc", "abc"},
        // Default-signed and absent names are dropped from the list.
        std::vector<std::string>{"x-oss-no-exist", "ZAbc", "x-oss-head1", "abc"}}) {
    V4RequestToSign r = SdkRequest();
    r.additional_headers = additional;
    auto s = SignRequestV4(r, Ak(), "cn-hangzhou", absl::FromUnixSeconds(1702747512), nullptr);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(AuthorizationOf(*s), kExpected);
    EXPECT_THAT(s->canonical_request, HasSubstr("\nabc:value\ncontent-type:text/plain\n"));
    EXPECT_THAT(s->canonical_request, HasSubstr("\nzabc:value\n\nabc;zabc\nUNSIGNED-PAYLOAD"));
  }
}

TEST(RequestSignerV4Test, CanonicalUriForBucketAndServiceRequests) {
  V4RequestToSign r;
  r.method = "GET";
  r.bucket = "bucket";
  r.query = {{"acl", ""}};
  auto bucket_level =
      SignRequestV4(r, Ak(), "cn-hangzhou", absl::FromUnixSeconds(1702743657), nullptr);
  ASSERT_TRUE(bucket_level.ok()) << bucket_level.status();
  EXPECT_THAT(bucket_level->canonical_request, ::testing::StartsWith("GET\n/bucket/\nacl\n"));

  r.bucket.clear();
  r.query.clear();
  auto service_level =
      SignRequestV4(r, Ak(), "cn-hangzhou", absl::FromUnixSeconds(1702743657), nullptr);
  ASSERT_TRUE(service_level.ok()) << service_level.status();
  EXPECT_THAT(service_level->canonical_request, ::testing::StartsWith("GET\n/\n\n"));

  r.object_key = "key";  // a key without a bucket
  EXPECT_FALSE(
      SignRequestV4(r, Ak(), "cn-hangzhou", absl::FromUnixSeconds(1702743657), nullptr).ok());
}

TEST(RequestSignerV4Test, EncodesKeyAndQueryPerRfc3986) {
  V4RequestToSign r;
  r.method = "GET";
  r.bucket = "bucket";
  r.object_key = "a b/ü~*.txt";
  r.query = {{"response-content-type", "text/plain; charset=utf-8"}};
  auto s = SignRequestV4(r, Ak(), "cn-hangzhou", absl::FromUnixSeconds(1702743657), nullptr);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(s->canonical_request,
              ::testing::StartsWith("GET\n/bucket/a%20b/%C3%BC~%2A.txt\n"
                                    "response-content-type=text%2Fplain%3B%20charset%3Dutf-8\n"));
}

TEST(RequestSignerV4Test, RejectsBadInput) {
  const absl::Time t = absl::FromUnixSeconds(1702743657);
  auto fails = [&](const V4RequestToSign& r, const Credentials& c = Ak(),
                   absl::string_view region = "cn-hangzhou", absl::Time now = absl::Now()) {
    auto s = SignRequestV4(r, c, region, now, nullptr);
    return !s.ok() && (s.status().code() == absl::StatusCode::kInvalidArgument ||
                       s.status().code() == absl::StatusCode::kFailedPrecondition);
  };
  EXPECT_TRUE(SignRequestV4(SdkRequest(), Ak(), "cn-hangzhou", t, nullptr).ok());

  V4RequestToSign r = SdkRequest();
  for (const char* method : {"put", "PATCH", "", "GET ", "OPTIONS"}) {
    r.method = method;
    EXPECT_TRUE(fails(r)) << method;
  }
  EXPECT_TRUE(fails(SdkRequest(), Ak(), "oss-cn-hangzhou"));
  EXPECT_TRUE(fails(SdkRequest(), Ak(), ""));
  EXPECT_TRUE(fails(SdkRequest(), Credentials{"", "sk", "", absl::InfiniteFuture()}));
  EXPECT_TRUE(fails(SdkRequest(), Credentials{"a/k", "sk", "", absl::InfiniteFuture()}));
  EXPECT_TRUE(fails(SdkRequest(), Credentials{"ak", "", "", absl::InfiniteFuture()}));
  EXPECT_TRUE(fails(SdkRequest(), Credentials{"ak", "sk", "tok en", absl::InfiniteFuture()}));
  // Expired STS credentials.
  EXPECT_TRUE(fails(SdkRequest(), Credentials{"ak", "sk", "token", t}, "cn-hangzhou", t));
  EXPECT_TRUE(fails(SdkRequest(), Ak(), "cn-hangzhou", absl::InfiniteFuture()));
  EXPECT_TRUE(fails(SdkRequest(), Ak(), "cn-hangzhou", absl::InfinitePast()));

  auto with = [](std::function<void(V4RequestToSign&)> mutate) {
    V4RequestToSign r = SdkRequest();
    mutate(r);
    return r;
  };
  EXPECT_TRUE(fails(with([](auto& r) { r.bucket = "Bucket"; })));
  EXPECT_TRUE(fails(with([](auto& r) { r.bucket = "ab"; })));
  EXPECT_TRUE(fails(with([](auto& r) { r.bucket = "-bucket"; })));
  EXPECT_TRUE(fails(with([](auto& r) { r.object_key = "/abs"; })));
  EXPECT_TRUE(fails(with([](auto& r) { r.object_key = std::string(1024, 'k'); })));
  EXPECT_FALSE(fails(with([](auto& r) { r.object_key = std::string(1023, 'k'); })));
  EXPECT_TRUE(fails(with([](auto& r) { r.query.emplace_back("param1", "again"); })));
  EXPECT_TRUE(fails(with([](auto& r) { r.query.emplace_back("", "v"); })));
  EXPECT_TRUE(fails(with([](auto& r) { r.query.emplace_back("big", std::string(4097, 'v')); })));
  EXPECT_TRUE(fails(with([](auto& r) {
    for (int i = 0; i < 65; ++i) r.query.emplace_back("p" + std::to_string(i), "");
  })));
  EXPECT_TRUE(fails(with([](auto& r) { r.headers.emplace_back("X-OSS-HEAD1", "dup"); })));
  EXPECT_TRUE(fails(with([](auto& r) { r.headers.emplace_back("x-oss-meta-a", "a\r\nb: c"); })));
  EXPECT_TRUE(fails(with([](auto& r) { r.headers.emplace_back("bad name", "v"); })));
  EXPECT_TRUE(fails(with([](auto& r) { r.headers.emplace_back("", "v"); })));
  EXPECT_TRUE(
      fails(with([](auto& r) { r.headers.emplace_back("x-big", std::string(8193, 'v')); })));
  EXPECT_TRUE(fails(with([](auto& r) {
    for (int i = 0; i < 60; ++i) r.headers.emplace_back("h" + std::to_string(i), "v");
  })));
  EXPECT_TRUE(fails(with([](auto& r) { r.headers.emplace_back("Authorization", "x"); })));
  EXPECT_TRUE(fails(with([](auto& r) { r.headers.emplace_back("x-oss-date", "x"); })));
  EXPECT_TRUE(fails(with([](auto& r) { r.headers.emplace_back("x-oss-security-token", "x"); })));
  EXPECT_TRUE(fails(with([](auto& r) { r.headers[5].second = std::string(64, 'a'); })));
  EXPECT_TRUE(fails(with([](auto& r) { r.additional_headers = {"bad name"}; })));
  EXPECT_TRUE(fails(with([](auto& r) { r.additional_headers.assign(17, "abc"); })));
}

// Every signed component feeds the signature; unsigned headers do not.
TEST(RequestSignerV4Test, EverySignedComponentChangesTheSignature) {
  const absl::Time t = absl::FromUnixSeconds(1702743657);
  const std::string base =
      SignRequestV4(SdkRequest(), Ak(), "cn-hangzhou", t, nullptr)->signature_hex;
  struct Case {
    const char* name;
    std::function<void(V4RequestToSign&, Credentials&, std::string&, absl::Time&)> mutate;
  };
  const Case cases[] = {
      {"method", [](auto& r, auto&, auto&, auto&) { r.method = "POST"; }},
      {"bucket", [](auto& r, auto&, auto&, auto&) { r.bucket = "bucket2"; }},
      {"key", [](auto& r, auto&, auto&, auto&) { r.object_key = "1234+-/123/2.txt"; }},
      {"query name", [](auto& r, auto&, auto&, auto&) { r.query[0].first = "param3"; }},
      {"query value", [](auto& r, auto&, auto&, auto&) { r.query[0].second = "value2"; }},
      {"empty query value", [](auto& r, auto&, auto&, auto&) { r.query[3].second = "x"; }},
      {"extra query", [](auto& r, auto&, auto&, auto&) { r.query.emplace_back("acl", ""); }},
      {"oss header", [](auto& r, auto&, auto&, auto&) { r.headers[0].second = "value2"; }},
      {"new oss header",
       [](auto& r, auto&, auto&, auto&) { r.headers.emplace_back("x-oss-meta-a", "1"); }},
      {"content-type", [](auto& r, auto&, auto&, auto&) { r.headers[4].second = "text/html"; }},
      {"content-md5",
       [](auto& r, auto&, auto&, auto&) { r.headers.emplace_back("Content-MD5", "x"); }},
      {"additional header", [](auto& r, auto&, auto&, auto&) { r.additional_headers = {"abc"}; }},
      {"secret", [](auto&, auto& c, auto&, auto&) { c.access_key_secret = "sk2"; }},
      {"token", [](auto&, auto& c, auto&, auto&) { c.security_token = "token"; }},
      {"region", [](auto&, auto&, auto& region, auto&) { region = "cn-beijing"; }},
      {"time", [](auto&, auto&, auto&, auto& now) { now += absl::Seconds(1); }},
  };
  for (const Case& c : cases) {
    V4RequestToSign r = SdkRequest();
    Credentials creds = Ak();
    std::string region = "cn-hangzhou";
    absl::Time now = t;
    c.mutate(r, creds, region, now);
    auto s = SignRequestV4(r, creds, region, now, nullptr);
    ASSERT_TRUE(s.ok()) << c.name << ": " << s.status();
    EXPECT_NE(s->signature_hex, base) << c.name;
  }
  // Not signed: non-OSS headers not listed in additional_headers, and the AccessKey ID (it is
  // only named in Credential=).
  V4RequestToSign r = SdkRequest();
  r.headers[1].second = "other";
  EXPECT_EQ(SignRequestV4(r, Ak(), "cn-hangzhou", t, nullptr)->signature_hex, base);
  Credentials other_id = Ak();
  other_id.access_key_id = "ak2";
  EXPECT_EQ(SignRequestV4(SdkRequest(), other_id, "cn-hangzhou", t, nullptr)->signature_hex, base);
}

}  // namespace
}  // namespace ossup::protocol
