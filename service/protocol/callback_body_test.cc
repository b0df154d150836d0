#include "service/protocol/callback_body.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ossup::protocol {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr auto kForm = CallbackBodyType::kFormUrlEncoded;
constexpr auto kJson = CallbackBodyType::kJson;

absl::StatusCode ParseCode(CallbackBodyType type, absl::string_view raw,
                           const CallbackBodyLimits& limits = {}) {
  return CallbackBody::Parse(type, raw, limits).status().code();
}

TEST(CallbackBodyTypeTest, FromContentType) {
  EXPECT_EQ(*CallbackBodyTypeFromContentType("application/x-www-form-urlencoded"), kForm);
  EXPECT_EQ(*CallbackBodyTypeFromContentType("Application/X-WWW-Form-Urlencoded"), kForm);
  EXPECT_EQ(*CallbackBodyTypeFromContentType("application/json"), kJson);
  EXPECT_EQ(*CallbackBodyTypeFromContentType("application/json; charset=utf-8"), kJson);
  EXPECT_EQ(*CallbackBodyTypeFromContentType(" APPLICATION/JSON ;charset=UTF-8"), kJson);
  for (absl::string_view bad : {"", "text/plain", "application/jsonx", "application/json-patch",
                                "multipart/form-data; boundary=x", "json"}) {
    EXPECT_FALSE(CallbackBodyTypeFromContentType(bad).ok()) << bad;
  }
  EXPECT_FALSE(
      CallbackBodyTypeFromContentType(absl::StrCat("application/json;", std::string(300, 'a')))
          .ok());
}

// Reference §2.5: substituted values are URL-encoded in form bodies.
TEST(CallbackBodyFormTest, RealisticOssBody) {
  auto body = CallbackBody::Parse(
      kForm,
      "bucket=examplebucket&object=headSculpture%2Fjikang2.jpg&etag="
      "D8E8FCA2DC0F896FD7CB4CB0031BA249"
      "&size=5385&mimeType=image%2Fjpeg&imageInfo.height=&imageInfo.width=&uid=a+b%20c");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body->GetString("object"), "headSculpture/jikang2.jpg");
  EXPECT_EQ(*body->GetString("mimeType"), "image/jpeg");
  EXPECT_EQ(*body->GetInt64("size"), 5385);
  EXPECT_EQ(*body->GetString("imageInfo.height"), "");
  EXPECT_EQ(*body->GetString("uid"), "a b c");
  EXPECT_EQ(body->fields().size(), 8u);
  EXPECT_EQ(body->fields().front().first, "bucket");  // body order kept
}

TEST(CallbackBodyFormTest, TolerantShapes) {
  auto body = CallbackBody::Parse(kForm, "&a=1&&bare&empty=&c=x=y&%E5%90%8D=%E5%80%A4&");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_THAT(body->fields(), ElementsAre(Pair("a", "1"), Pair("bare", ""), Pair("empty", ""),
                                          Pair("c", "x=y"), Pair("名", "値")));
  EXPECT_TRUE(body->Has("bare"));
  EXPECT_FALSE(body->Has("missing"));
  EXPECT_EQ(body->GetString("missing").status().code(), absl::StatusCode::kNotFound);
  auto empty = CallbackBody::Parse(kForm, "");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->fields().empty());
}

TEST(CallbackBodyFormTest, RejectsMalformed) {
  for (absl::string_view bad :
       {"a=%", "a=%4", "a=%zz", "a%=1", "a=1&b=%G0", "=v", "=", "a=1&a=2", "a=1&%61=2", "a&a="}) {
    EXPECT_EQ(ParseCode(kForm, bad), absl::StatusCode::kInvalidArgument) << bad;
  }
  auto dup = CallbackBody::Parse(kForm, "size=1&size=2");
  EXPECT_THAT(dup.status().message(), HasSubstr("'size'"));
  auto escape = CallbackBody::Parse(kForm, "size=1%Z");
  EXPECT_THAT(escape.status().message(), HasSubstr("'size'"));
}

// Reference §2.5, Cloudreve: numbers bare, strings quoted.
TEST(CallbackBodyJsonTest, CloudreveBody) {
  auto body = CallbackBody::Parse(
      kJson, R"({"name":"2f7b…d5.jpg","source_name":"1/1_hFRtDLgM_2f7b…d5.jpg","size":114020,)"
             R"("pic_info":"810,539"})");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body->GetString("name"), "2f7b…d5.jpg");
  EXPECT_EQ(*body->GetString("source_name"), "1/1_hFRtDLgM_2f7b…d5.jpg");
  EXPECT_EQ(*body->GetString("size"), "114020");
  EXPECT_EQ(*body->GetInt64("size"), 114020);
  EXPECT_EQ(*body->GetString("pic_info"), "810,539");
  EXPECT_EQ(body->GetInt64("pic_info").status().code(), absl::StatusCode::kInvalidArgument);
}

// Reference §2.5, soonio/osd: a form-style template sent as application/json. OSS sends it
// unvalidated; it is not JSON and we do not guess at another format.
TEST(CallbackBodyJsonTest, RejectsFormTemplateSentAsJson) {
  auto body = CallbackBody::Parse(
      kJson, R"(filename="local/var/www/zhuye.png"&size=5385&mimeType="application/octet-stream")"
             R"(&height=256&width=256)");
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(body.status().message(), HasSubstr("not valid JSON at byte"));
}

TEST(CallbackBodyJsonTest, ScalarsAsText) {
  auto body = CallbackBody::Parse(
      kJson, R"( {"s":"a\"b\\c\u00e9","t":true,"f":false,"n":null,"neg":-5,"fl":1.50,)"
             R"("exp":1e3,"u":18446744073709551615,"big":123456789012345678901234567890,)"
             R"("名前":"値","":"x"} )"
             "\n");
  // The empty key is refused by the shared name rule; check it separately below.
  EXPECT_FALSE(body.ok());
  EXPECT_THAT(body.status().message(), HasSubstr("empty name"));

  body = CallbackBody::Parse(
      kJson, R"( {"s":"a\"b\\c\u00e9","t":true,"f":false,"n":null,"neg":-5,"fl":1.50,)"
             R"("exp":1e3,"u":18446744073709551615,"big":123456789012345678901234567890,)"
             R"("名前":"値"} )"
             "\n");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_THAT(body->fields(),
              ElementsAre(Pair("s", "a\"b\\cé"), Pair("t", "true"), Pair("f", "false"),
                          Pair("n", ""), Pair("neg", "-5"), Pair("fl", "1.50"), Pair("exp", "1e3"),
                          Pair("u", "18446744073709551615"),
                          Pair("big", "123456789012345678901234567890"), Pair("名前", "値")));
  EXPECT_EQ(body->GetInt64("neg").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(body->GetInt64("fl").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(body->GetInt64("exp").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(body->GetInt64("t").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(body->GetInt64("n").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(body->GetInt64("u").status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(body->GetInt64("big").status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(body->GetInt64("missing").status().code(), absl::StatusCode::kNotFound);

  auto empty = CallbackBody::Parse(kJson, "{}");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->fields().empty());
}

TEST(CallbackBodyJsonTest, RejectsWrongStructure) {
  for (absl::string_view bad :
       {"", " ", "[]", "\"s\"", "5", "null", "{} {}", "{}x", "{", "{\"a\":1,}", "{\"a\":[1]}",
        "{\"a\":{}}", "{\"a\":{\"b\":1}}", "{'a':1}", "{\"a\":1e400}", "{\"a\":01}",
        "{\"a\":\"x\ny\"}", "{\"a\":1} // c", "{\"a\":NaN}"}) {
    EXPECT_EQ(ParseCode(kJson, bad), absl::StatusCode::kInvalidArgument) << bad;
  }
  auto nested = CallbackBody::Parse(kJson, R"({"ok":1,"pic":[810,539]})");
  EXPECT_THAT(nested.status().message(), HasSubstr("'pic'"));
}

TEST(CallbackBodyJsonTest, RejectsDuplicateKeys) {
  auto dup = CallbackBody::Parse(kJson, R"({"size":1,"size":2})");
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dup.status().message(), HasSubstr("'size'"));
  // Same key after unescaping.
  EXPECT_EQ(ParseCode(kJson, R"({"size":1,"\u0073ize":2})"), absl::StatusCode::kInvalidArgument);
}

TEST(CallbackBodyJsonTest, RejectsInvalidUtf8) {
  for (absl::string_view bad :
       {"{\"a\":\"\xff\"}", "{\"\xc3\":1}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xc0\xaf\"}"}) {
    auto body = CallbackBody::Parse(kJson, bad);
    EXPECT_EQ(body.status().code(), absl::StatusCode::kInvalidArgument);
    // The message escapes the offending bytes.
    for (char c : body.status().message()) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << body.status().message();
    }
  }
}

TEST(CallbackBodyJsonTest, DeepNestingRejectedWithoutRecursion) {
  constexpr int kDepth = 10000;
  const std::string arrays = std::string(kDepth, '[') + std::string(kDepth, ']');
  EXPECT_EQ(ParseCode(kJson, arrays), absl::StatusCode::kInvalidArgument);
  std::string objects;
  for (int i = 0; i < kDepth; ++i) objects += "{\"a\":";
  objects += "1" + std::string(kDepth, '}');
  EXPECT_EQ(ParseCode(kJson, objects), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCode(kJson, "{\"a\":" + arrays + "}"), absl::StatusCode::kInvalidArgument);
  // Unterminated, too.
  EXPECT_EQ(ParseCode(kJson, std::string(kDepth, '[')), absl::StatusCode::kInvalidArgument);
}

// Each limit in both formats: at the limit passes, one over fails.
TEST(CallbackBodyLimitsTest, DefaultLimits) {
  const CallbackBodyLimits defaults;
  auto form_of = [](const std::string& name, const std::string& value) {
    return absl::StrCat(name, "=", value);
  };
  auto json_of = [](const std::string& name, const std::string& value) {
    return absl::StrCat("{\"", name, "\":\"", value, "\"}");
  };
  for (CallbackBodyType type : {kForm, kJson}) {
    auto make = [&](const std::string& n, const std::string& v) {
      return type == kForm ? form_of(n, v) : json_of(n, v);
    };
    SCOPED_TRACE(type == kForm ? "form" : "json");
    EXPECT_TRUE(CallbackBody::Parse(type, make(std::string(128, 'n'), "v")).ok());
    EXPECT_EQ(ParseCode(type, make(std::string(129, 'n'), "v")),
              absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(CallbackBody::Parse(type, make("n", std::string(8192, 'v'))).ok());
    auto too_long = CallbackBody::Parse(type, make("n", std::string(8193, 'v')));
    EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(too_long.status().message(), HasSubstr("'n'"));

    std::string form_fields, json_fields;
    for (size_t i = 0; i < defaults.max_fields; ++i) {
      absl::StrAppend(&form_fields, "&f", i, "=1");
      absl::StrAppend(&json_fields, ",\"f", i, "\":1");
    }
    const std::string at_limit =
        type == kForm ? form_fields.substr(1) : absl::StrCat("{", json_fields.substr(1), "}");
    const std::string over = type == kForm ? absl::StrCat(form_fields, "&x=1")
                                           : absl::StrCat("{", json_fields.substr(1), ",\"x\":1}");
    EXPECT_TRUE(CallbackBody::Parse(type, at_limit).ok());
    EXPECT_EQ(ParseCode(type, over), absl::StatusCode::kInvalidArgument);

    // 64 KiB + 1 bytes, refused before parsing; padding is valid whitespace/empty segments.
    const std::string padding(64 * 1024 - (type == kForm ? 7 : 8), type == kForm ? '&' : ' ');
    const std::string at_bytes = type == kForm ? absl::StrCat("a=1", padding, "b=2")
                                               : absl::StrCat("{", padding, "\"a\":1}");
    ASSERT_EQ(at_bytes.size(), 64u * 1024 - 1);
    EXPECT_TRUE(CallbackBody::Parse(type, at_bytes + " ").ok());  // exactly 64 KiB
    auto huge = CallbackBody::Parse(type, at_bytes + "  ");
    EXPECT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(huge.status().message(), HasSubstr("65537 bytes"));
  }
}

TEST(CallbackBodyLimitsTest, CustomLimits) {
  CallbackBodyLimits limits;
  limits.max_bytes = 10;
  limits.max_fields = 2;
  limits.max_name_bytes = 2;
  limits.max_value_bytes = 3;
  EXPECT_TRUE(CallbackBody::Parse(kForm, "ab=123&c=", limits).ok());
  EXPECT_FALSE(CallbackBody::Parse(kForm, "ab=123&c=&&", limits).ok());  // 11 bytes
  EXPECT_FALSE(CallbackBody::Parse(kForm, "a&b&c", limits).ok());
  EXPECT_FALSE(CallbackBody::Parse(kForm, "abc=1", limits).ok());
  EXPECT_FALSE(CallbackBody::Parse(kForm, "a=1234", limits).ok());
  // Limits apply after decoding: "%41%42" is the 2-byte name "AB".
  EXPECT_TRUE(CallbackBody::Parse(kForm, "%41%42=1", limits).ok());
}

TEST(CallbackBodyTest, GetInt64Strictness) {
  auto body = CallbackBody::Parse(
      kForm,
      "zero=0&max=9223372036854775807&over=9223372036854775808&neg=-1&plus=%2B1&lead=%201"
      "&trail=1%20&frac=1.0&exp=1e3&octal=007&empty=&hex=0x10&huge=99999999999999999999999999");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body->GetInt64("zero"), 0);
  EXPECT_EQ(*body->GetInt64("max"), INT64_MAX);
  EXPECT_EQ(body->GetInt64("over").status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(body->GetInt64("huge").status().code(), absl::StatusCode::kOutOfRange);
  for (absl::string_view bad :
       {"neg", "plus", "lead", "trail", "frac", "exp", "octal", "empty", "hex"}) {
    auto v = body->GetInt64(bad);
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(v.status().message(), HasSubstr(absl::StrCat("'", bad, "'")));
  }
}

TEST(CallbackBodyTextTest, DecodedControlCharactersAndBadUtf8AreRefused) {
  EXPECT_FALSE(CallbackBody::Parse(CallbackBodyType::kFormUrlEncoded, "a=x%00y").ok());
  EXPECT_FALSE(CallbackBody::Parse(CallbackBodyType::kFormUrlEncoded, "a=%ff").ok());
  EXPECT_FALSE(CallbackBody::Parse(CallbackBodyType::kFormUrlEncoded, "a%0a=1").ok());
  EXPECT_FALSE(CallbackBody::Parse(CallbackBodyType::kJson, R"({"a":"x\u0000y"})").ok());
  EXPECT_FALSE(CallbackBody::Parse(CallbackBodyType::kJson, R"({"a":"line\nbreak"})").ok());
  EXPECT_TRUE(CallbackBody::Parse(CallbackBodyType::kFormUrlEncoded, "a=%E4%B8%AD").ok());
}

}  // namespace
}  // namespace ossup::protocol
