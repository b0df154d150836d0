// Unit tests of the emulator's protocol pieces against the reference vectors (§3.1–3.3).

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "config.h"
#include "cors.h"
#include "crypto.h"
#include "gtest/gtest.h"
#include "multipart.h"
#include "oss_error.h"
#include "policy.h"
#include "v4_auth.h"

namespace ossemu {
namespace {

TEST(CryptoTest, Crc64CheckValue) {
  Crc64 crc;
  crc.Update("1234");
  crc.Update("56789");
  EXPECT_EQ(crc.Value(), 0x995DC9BBDF1939FAULL);
  EXPECT_EQ(Crc64().Value(), 0u);
}

TEST(CryptoTest, Md5AndHex) {
  Md5 md5;
  md5.Update("hello");
  std::string raw = md5.Final();
  EXPECT_EQ(UpperHex(raw), "5D41402ABC4B2A76B9719D911017C592");
  EXPECT_EQ(Base64(raw), "XUFAKrxLKna5cZ2REBfFkg==");
}

TEST(CryptoTest, V4KeyChainVector) {
  std::string k_date = HmacSha256("aliyun_v4sk", "20231216");
  EXPECT_EQ(LowerHex(k_date), "151acc75ab7203acc219c35ef7415d0c604d059c7140665fe78233ec8ae7f9ea");
  EXPECT_EQ(LowerHex(V4SigningKey("sk", "20231216", "cn-hangzhou")),
            "b412a03b134ebddd720f5167b5de6db66620ebb3b01cff4d49e3ccb09f8de97f");
}

constexpr char kPost1Policy[] =
    "eyJleHBpcmF0aW9uIjoiMjAyMy0xMi0xNlQxNzoyMDo1Ny4wMDBaIiwiY29uZGl0aW9ucyI6W3siYnVja2V0IjoiZXhhbXBs"
    "ZWJ1Y2tldCJ9LHsieC1vc3Mtc2lnbmF0dXJlLXZlcnNpb24iOiJPU1M0LUhNQUMtU0hBMjU2In0seyJ4LW9zcy1jcmVkZW50"
    "aWFsIjoiYWsvMjAyMzEyMTYvY24taGFuZ3pob3Uvb3NzL2FsaXl1bl92NF9yZXF1ZXN0In0seyJ4LW9zcy1kYXRlIjoiMjAy"
    "MzEyMTZUMTYyMDU3WiJ9LFsiY29udGVudC1sZW5ndGgtcmFuZ2UiLDEsMTAyNF0sWyJzdGFydHMtd2l0aCIsIiRrZXkiLCJ1"
    "c2VyL2VyaWMvIl1dfQ==";

TEST(CryptoTest, V4PostPolicyVector) {
  EXPECT_EQ(LowerHex(HmacSha256(V4SigningKey("sk", "20231216", "cn-hangzhou"), kPost1Policy)),
            "9f051693c17c32d241e6817940beb477664f54868da11772a3bd2455291a5bdb");
  EXPECT_EQ(Base64(HmacSha1("sk", kPost1Policy)), "Ir+DHUp6Xolj2RCcQ/A7RqADWSw=");
}

TEST(CryptoTest, V1PostVectors) {
  const std::string secret(30, 'B');
  EXPECT_EQ(Base64(HmacSha1(secret,
                            "eyJleHBpcmF0aW9uIjoiMjAyMC0wMy0xOVQwMzo0NDowNi40NzZaIiwiY29uZGl0aW9u"
                            "cyI6W3siYnVja2V0IjoiZ2VuLXBvc3QtcG9saWN5In0sWyJlcSIsIiRrZXkiLCJ1c2Vy"
                            "XC9lcmljXC9cXCR7ZmlsZW5hbWV9Il0sWyJzdGFydHMtd2l0aCIsIiRrZXkiLCJ1c2Vy"
                            "XC9lcmljIl0sWyJzdGFydHMtd2l0aCIsIiR4LW9zcy1tZXRhLXRhZyIsImR1bW15X2V0"
                            "YWciXSxbImNvbnRlbnQtbGVuZ3RoLXJhbmdlIiwxLDEwMjRdXX0=")),
            "9fs2TRS2W2k5hV8mLsvqZBnlC2M=");
}

// Go SDK v2 TestV4AuthHeader (reference §3.1).
TEST(V4AuthTest, OfficialHeaderVector) {
  V4Request req;
  req.method = "PUT";
  req.bucket = "bucket";
  req.key = "1234+-/123/1.txt";
  req.raw_query = "%2Bparam1=value3&%2Bparam2=&%7Cparam1=value4&%7Cparam2=&param1=value1&param2=";
  req.headers = {{"x-oss-head1", "value"},          {"abc", "value"},
                 {"ZAbc", "value"},                 {"XYZ", "value"},
                 {"content-type", "text/plain"},    {"x-oss-content-sha256", "UNSIGNED-PAYLOAD"},
                 {"x-oss-date", "20231216T162057Z"}, {"Date", "Sat, 16 Dec 2023 16:20:57 GMT"}};
  std::string canonical = V4CanonicalRequest(req, {});
  EXPECT_EQ(canonical,
            "PUT\n/bucket/1234%2B-/123/1.txt\n"
            "%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2\n"
            "content-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\n"
            "x-oss-date:20231216T162057Z\nx-oss-head1:value\n\n\nUNSIGNED-PAYLOAD");
  EXPECT_EQ(LowerHex(Sha256(canonical)),
            "f4613657f1b108998e8dbd10a1aa5da621dc2c6e02c9ddec0f163664848704c4");
  EXPECT_EQ(V4HeaderSignature(req, "sk", "20231216", "cn-hangzhou", {}),
            "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe");
}

TEST(V4AuthTest, ParseAuthorization) {
  absl::StatusOr<V4Authorization> a = ParseV4Authorization(
      "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,"
      "AdditionalHeaders=Host;abc,Signature=00ff");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->access_key_id, "ak");
  EXPECT_EQ(a->region, "cn-hangzhou");
  EXPECT_EQ(a->additional_headers, (std::vector<std::string>{"host", "abc"}));
  EXPECT_EQ(a->signature, "00ff");
  EXPECT_FALSE(ParseV4Authorization("OSS ak:sig").ok());
  EXPECT_FALSE(ParseV4Authorization("OSS4-HMAC-SHA256 Credential=ak/2023/x/oss/aliyun_v4_request,"
                                    "Signature=a")
                   .ok());
  EXPECT_FALSE(ParseV4Authorization("OSS4-HMAC-SHA256 Signature=a").ok());
}

class RecordingSink : public MultipartSink {
 public:
  absl::Status OnPartBegin(const PartHeaders& h) override {
    log += absl::StrCat("[", h.name, "|", h.filename, "|", h.content_type, "]");
    return absl::OkStatus();
  }
  absl::Status OnPartData(absl::string_view d) override {
    log.append(d.data(), d.size());
    return absl::OkStatus();
  }
  absl::Status OnPartEnd() override {
    log += "<end>";
    return absl::OkStatus();
  }
  std::string log;
};

constexpr char kBody[] =
    "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\na/b\r\n"
    "--XyZ\r\ncontent-disposition: form-data; name=\"file\"; filename=\"x \\\"q\\\".txt\"\r\n"
    "Content-Type: text/plain\r\n\r\nline1\r\n--XyYnot\r\n\r\n--XyZ--\r\nepilogue";

TEST(MultipartTest, ParsesInAnyChunking) {
  const std::string expected =
      "[key||]a/b<end>[file|x \"q\".txt|text/plain]line1\r\n--XyYnot\r\n<end>";
  for (size_t step : {size_t{1}, size_t{2}, size_t{7}, sizeof(kBody)}) {
    RecordingSink sink;
    MultipartParser parser("XyZ", &sink);
    std::string body = kBody;
    for (size_t i = 0; i < body.size(); i += step) {
      ASSERT_TRUE(parser.Feed(absl::string_view(body).substr(i, step)).ok());
    }
    ASSERT_TRUE(parser.Finish().ok());
    EXPECT_EQ(sink.log, expected) << "step " << step;
  }
}

TEST(MultipartTest, RejectsMalformed) {
  RecordingSink sink;
  MultipartParser truncated("XyZ", &sink);
  EXPECT_TRUE(truncated.Feed("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv").ok());
  EXPECT_FALSE(truncated.Finish().ok());

  MultipartParser no_name("XyZ", &sink);
  EXPECT_FALSE(no_name.Feed("--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--").ok());

  MultipartParser huge_headers("XyZ", &sink);
  EXPECT_FALSE(huge_headers.Feed("--XyZ\r\nX: " + std::string(20000, 'a')).ok());

  EXPECT_FALSE(BoundaryFromContentType("text/plain").ok());
  EXPECT_FALSE(BoundaryFromContentType("multipart/form-data").ok());
  EXPECT_EQ(*BoundaryFromContentType("multipart/form-data; boundary=\"a b\""), "a b");
}

TEST(PolicyTest, ParsesAndUnescapes) {
  absl::StatusOr<PostPolicy> p = PostPolicy::Parse(
      R"({"expiration":"2020-03-19T03:44:06.476Z","conditions":[{"bucket":"gen-post-policy"},)"
      R"(["eq","$key","user\/eric\/\\${filename}"],["content-length-range",1,1024]]})");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->conditions().size(), 2u);
  EXPECT_EQ(p->conditions()[1].values[0], "user/eric/${filename}");
  EXPECT_EQ(p->length_range()->second, 1024);
  EXPECT_EQ(p->expiration(), absl::FromUnixMillis(1584589446476));
  auto lookup = [](absl::string_view f) -> std::optional<std::string> {
    if (f == "bucket") return "gen-post-policy";
    if (f == "key") return "user/eric/${filename}";
    return std::nullopt;
  };
  EXPECT_TRUE(p->CheckConditions(lookup).ok());
  EXPECT_EQ(OssCode(p->CheckExpiration(absl::Now())), "AccessDenied");
  EXPECT_EQ(OssCode(p->CheckLength(1025)), "EntityTooLarge");
  EXPECT_EQ(OssCode(p->CheckLength(0)), "EntityTooSmall");
  EXPECT_TRUE(p->CheckLength(1024).ok());
}

TEST(PolicyTest, RejectsBadDocuments) {
  for (const char* bad : {
           "not json",
           R"({"conditions":[{"a":"b"}]})",
           R"({"expiration":"2020-01-01T00:00:00Z"})",
           R"({"expiration":"2020-01-01T00:00:00Z","conditions":[]})",
           R"({"expiration":5,"conditions":[{"a":"b"}]})",
           R"({"expiration":"tomorrow","conditions":[{"a":"b"}]})",
           R"({"expiration":"2020-01-01T00:00:00Z","conditions":[{"a":"b","c":"d"}]})",
           R"({"expiration":"2020-01-01T00:00:00Z","conditions":[["eq","key","v"]]})",
           R"({"expiration":"2020-01-01T00:00:00Z","conditions":[["content-length-range",5,1]]})",
           R"({"expiration":"2020-01-01T00:00:00Z","conditions":[["bogus","$key","v"]]})",
       }) {
    absl::StatusOr<PostPolicy> p = PostPolicy::Parse(bad);
    EXPECT_EQ(OssCode(p.status()), "InvalidPolicyDocument") << bad;
  }
  std::string deep = R"({"expiration":"2030-01-01T00:00:00Z","conditions":[["eq","$key",)" +
                     std::string(100000, '[') + std::string(100000, ']') + "]]}";
  EXPECT_EQ(OssCode(PostPolicy::Parse(deep).status()), "InvalidPolicyDocument");
}

TEST(CorsTest, WildcardAndRules) {
  EXPECT_TRUE(WildcardMatch("https://*.example.com", "https://a.example.com"));
  EXPECT_FALSE(WildcardMatch("https://*.example.com", "http://a.example.com"));
  EXPECT_TRUE(WildcardMatch("*", "anything"));
  CorsRule rule;
  rule.allowed_origins = {"http://localhost:*"};
  rule.allowed_methods = {"POST", "GET"};
  rule.allowed_headers = {"x-oss-*", "content-type"};
  std::vector<CorsRule> rules = {rule};
  EXPECT_NE(MatchCors(rules, "http://localhost:3000", "POST", "Content-Type, x-oss-date"), nullptr);
  EXPECT_EQ(MatchCors(rules, "http://localhost:3000", "PUT", ""), nullptr);
  EXPECT_EQ(MatchCors(rules, "http://localhost:3000", "POST", "authorization"), nullptr);
  EXPECT_EQ(MatchCors(rules, "https://evil.example", "POST", ""), nullptr);
}

TEST(ConfigTest, ParsesAndValidates) {
  absl::StatusOr<EmulatorConfig> c = ParseConfig(R"({"buckets":[{"name":"b-1","region":"r",
      "credentials":[{"access_key_id":"STS.x","access_key_secret":"s","security_token":"t",
      "expires_at":"2030-01-01T00:00:00Z"}],
      "cors":[{"allowed_origins":["*"],"allowed_methods":["post"],"max_age_seconds":5}]}]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->default_bucket, "b-1");
  EXPECT_EQ(c->buckets[0].cors[0].allowed_methods[0], "POST");
  EXPECT_TRUE(c->buckets[0].FindCredential("STS.x")->expires_at.has_value());
  EXPECT_FALSE(ParseConfig(R"({"buckets":[{"name":"UPPER"}]})").ok());
  EXPECT_FALSE(ParseConfig(R"({"buckets":[]})").ok());
  EXPECT_FALSE(ParseConfig("[").ok());
}

TEST(ErrorTest, XmlShapeAndEscaping) {
  EXPECT_EQ(ErrorXml("AccessDenied", "a<b>&\"c\"", "RID", "h", "0006-00000213"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>AccessDenied</Code>\n"
            "  <Message>a&lt;b&gt;&amp;&quot;c&quot;</Message>\n  <RequestId>RID</RequestId>\n"
            "  <HostId>h</HostId>\n  <EC>0006-00000213</EC>\n</Error>\n");
  absl::Status s = OssError("FileAlreadyExists", "x");
  EXPECT_EQ(OssCode(s), "FileAlreadyExists");
  EXPECT_EQ(HttpStatusForCode(OssCode(s)), 409);
}

}  // namespace
}  // namespace ossemu
