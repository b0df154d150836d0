#include "service/protocol/callback_params.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service/protocol/crypto.h"

namespace ossup::protocol {
namespace {

using ::testing::HasSubstr;

// Reference §3.4, Java SDK v2 CallbackHelperTest, form body.
TEST(CallbackParamsTest, JavaSdkFormVector) {
  auto body = CallbackBodyTemplate(CallbackBodyType::kFormUrlEncoded)
                  .AddVariable("bucket", "bucket")
                  .AddVariable("object", "object")
                  .AddVariable("my_var", "x:my_var")
                  .Render();
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "bucket=${bucket}&object=${object}&my_var=${x:my_var}");
  CallbackParams params{{"http://oss-demo.aliyuncs.com:23450"},
                        "oss-cn-hangzhou.aliyuncs.com",
                        false,
                        CallbackBodyType::kFormUrlEncoded,
                        *body};
  auto encoded = EncodeCallbackParams(params);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ(*encoded,
            "eyJjYWxsYmFja1VybCI6Imh0dHA6Ly9vc3MtZGVtby5hbGl5dW5jcy5jb206MjM0NTAiLCJjYWxsYmFja0hvc3"
            "QiOiJvc3MtY24taGFuZ3pob3UuYWxpeXVuY3MuY29tIiwiY2FsbGJhY2tCb2R5IjoiYnVja2V0PSR7YnVja2V0"
            "fSZvYmplY3Q9JHtvYmplY3R9Jm15X3Zhcj0ke3g6bXlfdmFyfSIsImNhbGxiYWNrQm9keVR5cGUiOiJhcHBsaW"
            "NhdGlvbi94LXd3dy1mb3JtLXVybGVuY29kZWQiLCJjYWxsYmFja1NOSSI6ZmFsc2V9");
}

// Reference §3.4, JSON body: placeholders unquoted.
TEST(CallbackParamsTest, JavaSdkJsonVector) {
  auto body = CallbackBodyTemplate(CallbackBodyType::kJson)
                  .AddVariable("bucket", "bucket")
                  .AddVariable("object", "object")
                  .AddVariable("mimeType", "mimeType")
                  .AddVariable("size", "size")
                  .AddVariable("my_var1", "x:my_var1")
                  .AddVariable("my_var2", "x:my_var2")
                  .Render();
  ASSERT_TRUE(body.ok()) << body.status();
  CallbackParams params{{"http://oss-demo.aliyuncs.com:23450"},
                        "oss-cn-hangzhou.aliyuncs.com",
                        false,
                        CallbackBodyType::kJson,
                        *body};
  EXPECT_EQ(*EncodeCallbackParams(params),
            "eyJjYWxsYmFja1VybCI6Imh0dHA6Ly9vc3MtZGVtby5hbGl5dW5jcy5jb206MjM0NTAiLCJjYWxsYmFja0hvc3"
            "QiOiJvc3MtY24taGFuZ3pob3UuYWxpeXVuY3MuY29tIiwiY2FsbGJhY2tCb2R5Ijoie1wiYnVja2V0XCI6JHti"
            "dWNrZXR9LFwib2JqZWN0XCI6JHtvYmplY3R9LFwibWltZVR5cGVcIjoke21pbWVUeXBlfSxcInNpemVcIjoke3"
            "NpemV9LFwibXlfdmFyMVwiOiR7eDpteV92YXIxfSxcIm15X3ZhcjJcIjoke3g6bXlfdmFyMn19IiwiY2FsbGJh"
            "Y2tCb2R5VHlwZSI6ImFwcGxpY2F0aW9uL2pzb24iLCJjYWxsYmFja1NOSSI6ZmFsc2V9");
}

// Reference §3.2 V4-POST-2's callback parameter (no host, no SNI key).
TEST(CallbackParamsTest, V4Post2CallbackVector) {
  CallbackParams params;
  params.urls = {"https://app.example.com/oss/callback"};
  params.body_type = CallbackBodyType::kJson;
  params.body = *CallbackBodyTemplate(CallbackBodyType::kJson)
                     .AddVariable("bucket", "bucket")
                     .AddVariable("object", "object")
                     .AddVariable("size", "size")
                     .AddVariable("mimeType", "mimeType")
                     .AddVariable("uid", "x:uid")
                     .Render();
  EXPECT_EQ(*EncodeCallbackParams(params),
            "eyJjYWxsYmFja1VybCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUuY29tL29zcy9jYWxsYmFjayIsImNhbGxiYWNrQm"
            "9keSI6IntcImJ1Y2tldFwiOiR7YnVja2V0fSxcIm9iamVjdFwiOiR7b2JqZWN0fSxcInNpemVcIjoke3NpemV9"
            "LFwibWltZVR5cGVcIjoke21pbWVUeXBlfSxcInVpZFwiOiR7eDp1aWR9fSIsImNhbGxiYWNrQm9keVR5cGUiOi"
            "JhcHBsaWNhdGlvbi9qc29uIn0=");
}

TEST(CallbackBodyTemplateTest, LiteralsAreEscapedForTheBodyType) {
  auto json = CallbackBodyTemplate(CallbackBodyType::kJson)
                  .AddLiteral("upload_id", "u-1")
                  .AddLiteral("note", "say \"hi\" ${object} \xe4\xb8\xad")
                  .AddVariable("object", "object")
                  .Render();
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json,
            "{\"upload_id\":\"u-1\",\"note\":\"say \\\"hi\\\" \\u0024{object} \xe4\xb8\xad\","
            "\"object\":${object}}");
  // Once OSS substitutes the placeholder, the literal reads back unchanged.
  const std::string substituted =
      "{\"upload_id\":\"u-1\",\"note\":\"say \\\"hi\\\" \\u0024{object} "
      "\xe4\xb8\xad\",\"object\":\"a.png\"}";
  EXPECT_EQ(nlohmann::json::parse(substituted)["note"], "say \"hi\" ${object} \xe4\xb8\xad");

  auto form = CallbackBodyTemplate(CallbackBodyType::kFormUrlEncoded)
                  .AddLiteral("note", "a b&c=d$e")
                  .AddVariable("size", "size")
                  .Render();
  ASSERT_TRUE(form.ok());
  EXPECT_EQ(*form, "note=a%20b%26c%3Dd%24e&size=${size}");
  // The rendered templates pass OSS's own template rules.
  CallbackParams params{{"https://cb.example.com/oss"}, "", std::nullopt, std::nullopt, *form};
  EXPECT_TRUE(ValidateCallbackParams(params).ok());
  params.body = *json;
  EXPECT_TRUE(ValidateCallbackParams(params).ok());
}

TEST(CallbackBodyTemplateTest, RejectsBadFields) {
  using T = CallbackBodyTemplate;
  EXPECT_FALSE(T(CallbackBodyType::kJson).Render().ok());
  EXPECT_FALSE(T(CallbackBodyType::kJson).AddVariable("a", "Object").Render().ok());
  EXPECT_FALSE(T(CallbackBodyType::kJson).AddVariable("a", "x:Upper").Render().ok());
  EXPECT_FALSE(T(CallbackBodyType::kJson).AddVariable("a", "uid").Render().ok());
  EXPECT_FALSE(T(CallbackBodyType::kJson).AddLiteral("a b", "v").Render().ok());
  EXPECT_FALSE(T(CallbackBodyType::kJson).AddLiteral("a", "x").AddLiteral("a", "y").Render().ok());
  EXPECT_FALSE(T(CallbackBodyType::kJson).AddLiteral("a", "bad\xff").Render().ok());
  EXPECT_FALSE(T(CallbackBodyType::kFormUrlEncoded).AddLiteral("a", "tab\t").Render().ok());
}

TEST(CallbackParamsTest, RejectsWhatOssRejects) {
  const auto check = [](CallbackParams p, absl::string_view want) {
    const absl::Status st = ValidateCallbackParams(p);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << want;
    EXPECT_THAT(st.message(), HasSubstr(want));
  };
  const CallbackParams good{
      {"https://cb.example.com/oss?x=1"}, "", std::nullopt, std::nullopt, "object=${object}"};
  EXPECT_TRUE(ValidateCallbackParams(good).ok());

  auto p = good;
  p.urls = {};
  check(p, "1-5 URLs");
  p.urls = std::vector<std::string>(6, "https://a.example.com/");
  check(p, "1-5 URLs");
  p = good;
  p.urls = {"10.101.166.30:test"};
  check(p, "must start with http");
  p.urls = {"http://10.101.166.30:test/"};
  check(p, "invalid port");
  p.urls = {"http://10.0.0.1:70000/"};
  check(p, "invalid port");
  p.urls = {"http://[::1]:8080/"};
  check(p, "IPv6");
  p.urls = {"https://a.example.com/x;https://b.example.com/"};
  check(p, "';'");
  p.urls = {"https://user@a.example.com/"};
  check(p, "user information");
  p.urls = {"https://a.example.com/\xe4\xb8\xad"};
  check(p, "printable ASCII");
  p.urls = {"https://a.example.com/cb+x"};
  check(p, "must not contain '%' or '+'");
  p.urls = {"https://a.example.com/a%2Fb?x=1"};
  check(p, "must not contain '%' or '+'");
  p.urls = {"https://a.example.com/cb?q=a+b%20c"};  // the query is signed verbatim: fine
  EXPECT_TRUE(ValidateCallbackParams(p).ok());
  p = good;
  p.host = "bad host";
  check(p, "callback host");
  p = good;
  p.body = "";
  check(p, "must not be empty");
  p.body = "v=$x:v}";
  check(p, "left brace");
  p.body = "v=${x:v";
  check(p, "unterminated");
  p.body = "v=${filename}";
  check(p, "unknown variable");
  p.body = "v=${Object}";
  check(p, "unknown variable");
  p.body = std::string(6000, 'a');
  EXPECT_FALSE(CallbackParamsJson(p).ok());
}

TEST(CallbackParamsTest, MultipleUrlsAreJoinedWithSemicolons) {
  CallbackParams p{{"https://a.example.com/cb", "https://b.example.com:8443/cb"},
                   "",
                   true,
                   std::nullopt,
                   "object=${object}"};
  auto json = CallbackParamsJson(p);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, R"({"callbackUrl":"https://a.example.com/cb;https://b.example.com:8443/cb",)"
                   R"("callbackBody":"object=${object}","callbackSNI":true})");
}

}  // namespace
}  // namespace ossup::protocol
