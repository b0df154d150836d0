#include "service/protocol/policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service/protocol/crypto.h"
#include "service/protocol/post_form.h"
#include "service/protocol/signing_key.h"

namespace ossup::protocol {
namespace {

using ::testing::HasSubstr;

absl::Time ParseRfc3339(const std::string& s) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, s, &t, &err)) << err;
  return t;
}

// Reference §3.2 V4-POST-1, byte for byte.
TEST(PolicyDocumentTest, V4Post1Vector) {
  PolicyDocument doc(ParseRfc3339("2023-12-16T17:20:57Z"));
  doc.AddExact("bucket", "examplebucket")
      .AddExact("x-oss-signature-version", "OSS4-HMAC-SHA256")
      .AddExact("x-oss-credential", "ak/20231216/cn-hangzhou/oss/aliyun_v4_request")
      .AddExact("x-oss-date", "20231216T162057Z")
      .AddContentLengthRange(1, 1024)
      .AddStartsWith("key", "user/eric/");
  auto json = doc.Serialize();
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json,
            R"({"expiration":"2023-12-16T17:20:57.000Z","conditions":[{"bucket":"examplebucket"},)"
            R"({"x-oss-signature-version":"OSS4-HMAC-SHA256"},)"
            R"({"x-oss-credential":"ak/20231216/cn-hangzhou/oss/aliyun_v4_request"},)"
            R"({"x-oss-date":"20231216T162057Z"},["content-length-range",1,1024],)"
            R"(["starts-with","$key","user/eric/"]]})");
  const std::string b64 = Base64Encode(*json);
  EXPECT_EQ(b64,
            "eyJleHBpcmF0aW9uIjoiMjAyMy0xMi0xNlQxNzoyMDo1Ny4wMDBaIiwiY29uZGl0aW9ucyI6W3siYnVja2V0Ij"
            "oiZXhhbXBsZWJ1Y2tldCJ9LHsieC1vc3Mtc2lnbmF0dXJlLXZlcnNpb24iOiJPU1M0LUhNQUMtU0hBMjU2In0s"
            "eyJ4LW9zcy1jcmVkZW50aWFsIjoiYWsvMjAyMzEyMTYvY24taGFuZ3pob3Uvb3NzL2FsaXl1bl92NF9yZXF1ZX"
            "N0In0seyJ4LW9zcy1kYXRlIjoiMjAyMzEyMTZUMTYyMDU3WiJ9LFsiY29udGVudC1sZW5ndGgtcmFuZ2UiLDEs"
            "MTAyNF0sWyJzdGFydHMtd2l0aCIsIiRrZXkiLCJ1c2VyL2VyaWMvIl1dfQ==");
  auto key = DeriveV4SigningKey("sk", "20231216", "cn-hangzhou");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*SignPolicyV4(*key, b64),
            "9f051693c17c32d241e6817940beb477664f54868da11772a3bd2455291a5bdb");
  EXPECT_EQ(*SignPolicyV1("sk", b64), "Ir+DHUp6Xolj2RCcQ/A7RqADWSw=");
}

// Reference §3.2 V4-POST-2: STS token and callback bound in the policy.
TEST(PolicyDocumentTest, V4Post2VectorWithStsAndCallback) {
  const std::string callback =
      "eyJjYWxsYmFja1VybCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUuY29tL29zcy9jYWxsYmFjayIsImNhbGxiYWNrQm9keS"
      "I6IntcImJ1Y2tldFwiOiR7YnVja2V0fSxcIm9iamVjdFwiOiR7b2JqZWN0fSxcInNpemVcIjoke3NpemV9LFwibWlt"
      "ZVR5cGVcIjoke21pbWVUeXBlfSxcInVpZFwiOiR7eDp1aWR9fSIsImNhbGxiYWNrQm9keVR5cGUiOiJhcHBsaWNhdG"
      "lvbi9qc29uIn0=";
  PolicyDocument doc(ParseRfc3339("2023-12-16T17:20:57Z"));
  doc.AddExact("bucket", "examplebucket")
      .AddExact("x-oss-signature-version", "OSS4-HMAC-SHA256")
      .AddExact("x-oss-credential", "STS.ak/20231216/cn-hangzhou/oss/aliyun_v4_request")
      .AddExact("x-oss-date", "20231216T162057Z")
      .AddExact("x-oss-security-token", "token")
      .AddExact("callback", callback)
      .AddEq("key", "user/eric/a.png")
      .AddContentLengthRange(1, 10485760)
      .AddIn("content-type", {"image/png", "image/jpeg"});
  auto json = doc.Serialize();
  ASSERT_TRUE(json.ok()) << json.status();
  const std::string b64 = Base64Encode(*json);
  EXPECT_EQ(
      b64,
      "eyJleHBpcmF0aW9uIjoiMjAyMy0xMi0xNlQxNzoyMDo1Ny4wMDBaIiwiY29uZGl0aW9ucyI6W3siYnVja2V0Ijoi"
      "ZXhhbXBsZWJ1Y2tldCJ9LHsieC1vc3Mtc2lnbmF0dXJlLXZlcnNpb24iOiJPU1M0LUhNQUMtU0hBMjU2In0seyJ4"
      "LW9zcy1jcmVkZW50aWFsIjoiU1RTLmFrLzIwMjMxMjE2L2NuLWhhbmd6aG91L29zcy9hbGl5dW5fdjRfcmVxdWVz"
      "dCJ9LHsieC1vc3MtZGF0ZSI6IjIwMjMxMjE2VDE2MjA1N1oifSx7Ingtb3NzLXNlY3VyaXR5LXRva2VuIjoidG9r"
      "ZW4ifSx7ImNhbGxiYWNrIjoiZXlKallXeHNZbUZqYTFWeWJDSTZJbWgwZEhCek9pOHZZWEJ3TG1WNFlXMXdiR1V1"
      "WTI5dEwyOXpjeTlqWVd4c1ltRmpheUlzSW1OaGJHeGlZV05yUW05a2VTSTZJbnRjSW1KMVkydGxkRndpT2lSN1lu"
      "VmphMlYwZlN4Y0ltOWlhbVZqZEZ3aU9pUjdiMkpxWldOMGZTeGNJbk5wZW1WY0lqb2tlM05wZW1WOUxGd2liV2x0"
      "WlZSNWNHVmNJam9rZTIxcGJXVlVlWEJsZlN4Y0luVnBaRndpT2lSN2VEcDFhV1I5ZlNJc0ltTmhiR3hpWVdOclFt"
      "OWtlVlI1Y0dVaU9pSmhjSEJzYVdOaGRHbHZiaTlxYzI5dUluMD0ifSxbImVxIiwiJGtleSIsInVzZXIvZXJpYy9h"
      "LnBuZyJdLFsiY29udGVudC1sZW5ndGgtcmFuZ2UiLDEsMTA0ODU3NjBdLFsiaW4iLCIkY29udGVudC10eXBlIixb"
      "ImltYWdlL3BuZyIsImltYWdlL2pwZWciXV1dfQ==");
  auto key = DeriveV4SigningKey("sk", "20231216", "cn-hangzhou");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*SignPolicyV4(*key, b64),
            "5f1bcdc7d75bd3a747d53661653048f994ada042fa576e15108e1fb8de64acca");
}

// Reference §3.3: the Java SDK's V1 vectors (signature over the given base64 policy).
TEST(PolicyDocumentTest, V1JavaSdkVectors) {
  const std::string secret(30, 'B');
  EXPECT_EQ(
      *SignPolicyV1(secret,
                    "eyJleHBpcmF0aW9uIjoiMjAyMC0wMy0xOVQwMzo0NDowNi40NzZaIiwiY29uZGl0aW9ucyI6W3siYn"
                    "Vja2V0IjoiZ2VuLXBvc3QtcG9saWN5In0sWyJlcSIsIiRrZXkiLCJ1c2VyXC9lcmljXC9cXCR7Zmls"
                    "ZW5hbWV9Il0sWyJzdGFydHMtd2l0aCIsIiRrZXkiLCJ1c2VyXC9lcmljIl0sWyJzdGFydHMtd2l0aC"
                    "IsIiR4LW9zcy1tZXRhLXRhZyIsImR1bW15X2V0YWciXSxbImNvbnRlbnQtbGVuZ3RoLXJhbmdlIiwx"
                    "LDEwMjRdXX0="),
      "9fs2TRS2W2k5hV8mLsvqZBnlC2M=");
  EXPECT_EQ(
      *SignPolicyV1(secret,
                    "eyJleHBpcmF0aW9uIjoiMjAyMC0wMy0xOVQwMzo0NDowNi40NzZaIiwiY29uZGl0aW9ucyI6W3siYn"
                    "Vja2V0IjoiZ2VuLXBvc3QtcG9saWN5In0sWyJzdGFydHMtd2l0aCIsIiRrZXkiLCJ1c2VyXC9lcmlj"
                    "Il0sWyJzdGFydHMtd2l0aCIsIiR4LW9zcy1tZXRhLXRhZyIsImR1bW15X2V0YWciXSxbImNvbnRlbn"
                    "QtbGVuZ3RoLXJhbmdlIiwxLDEwMjRdLFsiaW4iLCIkY29udGVudC10eXBlIixbImltYWdlXC9qcGci"
                    "LCJpbWFnZVwvcG5nIl1dLFsibm90LWluIiwiJGNhY2hlLWNvbnRyb2wiLFsibm8tY2FjaGUiXV1dfQ"
                    "=="),
      "/yrk/7alTmdIh9a3YOkkIcKYlbA=");
}

// The Java vector A's key condition: a literal "${filename}" is written as "\${filename}"; its
// JSON text therefore reads "\\${filename}" (reference §1.3).
TEST(PolicyDocumentTest, EscapesDollarInValues) {
  PolicyDocument doc(ParseRfc3339("2020-03-19T03:44:06.476Z"));
  doc.AddEq("key", "user/eric/${filename}").AddNotIn("cache-control", {"no-cache"});
  auto json = doc.Serialize();
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(
      *json,
      R"({"expiration":"2020-03-19T03:44:06.476Z","conditions":[)"
      R"(["eq","$key","user/eric/\\${filename}"],["not-in","$cache-control",["no-cache"]]]})");
}

TEST(PolicyDocumentTest, EscapesJsonSpecialCharactersAndKeepsUnicode) {
  PolicyDocument doc(absl::FromUnixSeconds(0));
  doc.AddEq("key", "a\"b/\xe4\xb8\xad\xe6\x96\x87.png");
  auto json = doc.Serialize();
  ASSERT_TRUE(json.ok());
  EXPECT_THAT(*json, HasSubstr(R"("a\"b/)"
                               "\xe4\xb8\xad\xe6\x96\x87.png\""));
  EXPECT_THAT(*json, HasSubstr(R"("expiration":"1970-01-01T00:00:00.000Z")"));
  // The document parses back to the same values.
  auto parsed = nlohmann::json::parse(*json);
  EXPECT_EQ(parsed["conditions"][0][2], "a\"b/\xe4\xb8\xad\xe6\x96\x87.png");
}

TEST(PolicyDocumentTest, RejectsBadInput) {
  const absl::Time t = absl::FromUnixSeconds(0);
  EXPECT_FALSE(PolicyDocument(t).Serialize().ok());  // no conditions
  EXPECT_FALSE(PolicyDocument(t).AddEq("key", "bad\xff").Serialize().ok());
  EXPECT_FALSE(PolicyDocument(t).AddEq("key", "new\nline").Serialize().ok());
  EXPECT_FALSE(PolicyDocument(t).AddEq("key", "back\\slash").Serialize().ok());
  EXPECT_FALSE(PolicyDocument(t).AddEq("$key", "x").Serialize().ok());
  EXPECT_FALSE(PolicyDocument(t).AddEq("", "x").Serialize().ok());
  EXPECT_FALSE(
      PolicyDocument(t).AddEq("key", std::string(kMaxPolicyValueBytes + 1, 'a')).Serialize().ok());
  EXPECT_FALSE(PolicyDocument(t).AddContentLengthRange(10, 1).Serialize().ok());
  EXPECT_FALSE(PolicyDocument(t).AddContentLengthRange(-1, 1).Serialize().ok());
  EXPECT_FALSE(PolicyDocument(t).AddIn("content-type", {}).Serialize().ok());
  PolicyDocument many(t);
  for (size_t i = 0; i <= kMaxPolicyConditions; ++i) many.AddEq("key", "x");
  EXPECT_FALSE(many.Serialize().ok());
  // The first error sticks even if later calls are fine.
  auto st = PolicyDocument(t).AddEq("key", "bad\xff").AddEq("key", "good").Serialize();
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.status().message(), HasSubstr("UTF-8"));
}

TEST(PolicyDocumentTest, JsonStringEscapingMatchesNlohmann) {
  std::string all;
  for (int c = 0; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  all += "\xe4\xb8\xad\xf0\x9f\x93\xb7\xe2\x80\xa8";
  for (const std::string& s : {all, std::string(), std::string("plain"), std::string("\"\\")}) {
    std::string ours;
    AppendJsonString(&ours, s);
    EXPECT_EQ(ours, nlohmann::json(s).dump());
  }
}

TEST(PolicyDocumentTest, Utf8Validation) {
  EXPECT_TRUE(IsPrintableUtf8(""));
  EXPECT_TRUE(IsPrintableUtf8("plain ascii ~"));
  EXPECT_TRUE(IsPrintableUtf8("\xe4\xb8\xad"));       // U+4E2D
  EXPECT_TRUE(IsPrintableUtf8("\xf0\x9f\x98\x80"));   // U+1F600
  EXPECT_FALSE(IsPrintableUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsPrintableUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsPrintableUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsPrintableUtf8("\xe4\xb8"));          // truncated
  EXPECT_FALSE(IsPrintableUtf8("\xc2\x85"));          // C1 control (NEL)
  EXPECT_FALSE(IsPrintableUtf8(std::string("a\0b", 3)));
  EXPECT_FALSE(IsPrintableUtf8("\x7f"));
}

}  // namespace
}  // namespace ossup::protocol
