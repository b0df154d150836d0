#include "callback/callback_parser.h"

#include <string>
#include <utility>
#include <vector>

#include "callback/callback_codec.h"
#include "gtest/gtest.h"

namespace ossemu {
namespace {

using Vars = std::vector<std::pair<std::string, std::string>>;

// Reference §3.4, aliyun/alibabacloud-oss-java-sdk-v2 CallbackHelperTest.
constexpr char kJavaFormCallback[] =
    "eyJjYWxsYmFja1VybCI6Imh0dHA6Ly9vc3MtZGVtby5hbGl5dW5jcy5jb206MjM0NTAiLCJjYWxsYmFja0hvc3QiOiJv"
    "c3MtY24taGFuZ3pob3UuYWxpeXVuY3MuY29tIiwiY2FsbGJhY2tCb2R5IjoiYnVja2V0PSR7YnVja2V0fSZvYmplY3Q9"
    "JHtvYmplY3R9Jm15X3Zhcj0ke3g6bXlfdmFyfSIsImNhbGxiYWNrQm9keVR5cGUiOiJhcHBsaWNhdGlvbi94LXd3dy1m"
    "b3JtLXVybGVuY29kZWQiLCJjYWxsYmFja1NOSSI6ZmFsc2V9";
constexpr char kJavaJsonCallback[] =
    "eyJjYWxsYmFja1VybCI6Imh0dHA6Ly9vc3MtZGVtby5hbGl5dW5jcy5jb206MjM0NTAiLCJjYWxsYmFja0hvc3QiOiJv"
    "c3MtY24taGFuZ3pob3UuYWxpeXVuY3MuY29tIiwiY2FsbGJhY2tCb2R5Ijoie1wiYnVja2V0XCI6JHtidWNrZXR9LFwi"
    "b2JqZWN0XCI6JHtvYmplY3R9LFwibWltZVR5cGVcIjoke21pbWVUeXBlfSxcInNpemVcIjoke3NpemV9LFwibXlfdmFy"
    "MVwiOiR7eDpteV92YXIxfSxcIm15X3ZhcjJcIjoke3g6bXlfdmFyMn19IiwiY2FsbGJhY2tCb2R5VHlwZSI6ImFwcGxp"
    "Y2F0aW9uL2pzb24iLCJjYWxsYmFja1NOSSI6ZmFsc2V9";
// Reference §3.2 V4-POST-2 callback.
constexpr char kV4PostCallback[] =
    "eyJjYWxsYmFja1VybCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUuY29tL29zcy9jYWxsYmFjayIsImNhbGxiYWNrQm9keSI6"
    "IntcImJ1Y2tldFwiOiR7YnVja2V0fSxcIm9iamVjdFwiOiR7b2JqZWN0fSxcInNpemVcIjoke3NpemV9LFwibWltZVR5"
    "cGVcIjoke21pbWVUeXBlfSxcInVpZFwiOiR7eDp1aWR9fSIsImNhbGxiYWNrQm9keVR5cGUiOiJhcHBsaWNhdGlvbi9q"
    "c29uIn0=";

absl::Status ParseJson(const std::string& json, const Vars& vars = {}) {
  return ParseCallbackParameter(Base64Encode(json), vars).status();
}

TEST(CallbackParseTest, AcceptsJavaSdkFormVector) {
  absl::StatusOr<ParsedCallback> parsed = ParseCallbackParameter(kJavaFormCallback, {{"x:my_var", "v"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->urls, std::vector<std::string>{"http://oss-demo.aliyuncs.com:23450/"});
  EXPECT_EQ(parsed->host, "oss-cn-hangzhou.aliyuncs.com");
  EXPECT_FALSE(parsed->sni);
  EXPECT_FALSE(parsed->json_body);
  EXPECT_EQ(parsed->body_template, "bucket=${bucket}&object=${object}&my_var=${x:my_var}");
  EXPECT_EQ(parsed->vars, (Vars{{"x:my_var", "v"}}));
}

TEST(CallbackParseTest, AcceptsJavaSdkJsonVectorAndV4PostVector) {
  absl::StatusOr<ParsedCallback> parsed = ParseCallbackParameter(kJavaJsonCallback, {});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->json_body);
  EXPECT_EQ(parsed->body_template,
            "{\"bucket\":${bucket},\"object\":${object},\"mimeType\":${mimeType},\"size\":${size},"
            "\"my_var1\":${x:my_var1},\"my_var2\":${x:my_var2}}");
  parsed = ParseCallbackParameter(kV4PostCallback, {{"x:uid", "42"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->urls, std::vector<std::string>{"https://app.example.com/oss/callback"});
  EXPECT_TRUE(parsed->json_body);
  EXPECT_TRUE(parsed->host.empty());
}

TEST(CallbackParseTest, AcceptsDocExampleWithoutSchemeAndSeveralUrls) {
  absl::StatusOr<ParsedCallback> parsed = ParseCallbackParameter(
      Base64Encode("{\"callbackUrl\":\"121.43.113.8:23456/index.html\",  \"callbackBody\":"
                   "\"bucket=${bucket}&imageInfo.format=${imageInfo.format}&my_var=${x:my_var}\"}"),
      {{"x:my_var", "for-callback-test"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->urls, std::vector<std::string>{"http://121.43.113.8:23456/index.html"});

  parsed = ParseCallbackParameter(
      Base64Encode("{\"callbackUrl\":\"http://a/1;https://b:8443/2?q=1;c/3;d;e;\","
                   "\"callbackBody\":\"x\",\"callbackSNI\":true}"),
      {});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->urls, (std::vector<std::string>{"http://a/1", "https://b:8443/2?q=1", "http://c/3",
                                                    "http://d/", "http://e/"}));
  EXPECT_TRUE(parsed->sni);
}

TEST(CallbackParseTest, RefusesBadBase64AndNonJson) {
  EXPECT_FALSE(ParseCallbackParameter("not base64!", {}).ok());
  EXPECT_FALSE(ParseCallbackParameter("e30", {}).ok());  // missing padding
  const absl::Status not_json = ParseJson("{\"callbackUrl\":\"http://a\",\"callbackBody\":\"a\"x\"}");
  EXPECT_EQ(not_json.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(not_json.message(), "The callback configuration is not json format.");
  EXPECT_EQ(ParseJson("[1,2]").message(), "The callback configuration is not json format.");
  EXPECT_EQ(ParseJson("\"str\"").message(), "The callback configuration is not json format.");
}

TEST(CallbackParseTest, RefusesBadFields) {
  const char* bad_configs[] = {
      "{}",                                                            // no callbackUrl
      "{\"callbackUrl\":\"\",\"callbackBody\":\"a\"}",                 // empty callbackUrl
      "{\"callbackUrl\":1,\"callbackBody\":\"a\"}",                    // not a string
      "{\"callbackUrl\":\"a;b;c;d;e;f\",\"callbackBody\":\"a\"}",      // 6 URLs
      "{\"callbackUrl\":\"10.101.166.30:test\",\"callbackBody\":\"a\"}",  // bad port
      "{\"callbackUrl\":\"http://[::1]:80/\",\"callbackBody\":\"a\"}",    // IPv6 literal
      "{\"callbackUrl\":\"ftp://a/\",\"callbackBody\":\"a\"}",            // scheme
      "{\"callbackUrl\":\"http://a;;http://b\",\"callbackBody\":\"a\"}",  // empty entry
      "{\"callbackUrl\":\"http://a\"}",                                // no callbackBody
      "{\"callbackUrl\":\"http://a\",\"callbackBody\":\"\"}",          // empty callbackBody
      "{\"callbackUrl\":\"http://a\",\"callbackBody\":\"$x:v}\"}",     // placeholder syntax
      "{\"callbackUrl\":\"http://a\",\"callbackBody\":\"${object\"}",  // unclosed
      "{\"callbackUrl\":\"http://a\",\"callbackBody\":\"a\",\"callbackBodyType\":\"text/plain\"}",
      "{\"callbackUrl\":\"http://a\",\"callbackBody\":\"a\",\"callbackBodyType\":7}",
      "{\"callbackUrl\":\"http://a\",\"callbackBody\":\"a\",\"callbackHost\":[]}",
      "{\"callbackUrl\":\"http://a\",\"callbackBody\":\"a\",\"callbackHost\":\"h\\r\\nX: y\"}",
      "{\"callbackUrl\":\"http://a\",\"callbackBody\":\"a\",\"callbackSNI\":\"true\"}",
  };
  for (const char* config : bad_configs) {
    const absl::Status status = ParseJson(config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << config;
  }
  EXPECT_EQ(ParseJson("{\"callbackUrl\":\"http://a\",\"callbackBody\":\"$x:v}\"}").message(),
            "Left brace must be adjacent to dollar sign.");
}

TEST(CallbackParseTest, RefusesBadAndExcessiveVariables) {
  const std::string ok = "{\"callbackUrl\":\"http://a\",\"callbackBody\":\"v=${x:v}\"}";
  EXPECT_TRUE(ParseJson(ok, {{"x:a_1", "v"}}).ok());
  for (const char* name : {"x:", "uid", "x:Uid", "x:a-b", "X:a", "x:a b"}) {
    EXPECT_EQ(ParseJson(ok, {{name, "v"}}).code(), absl::StatusCode::kInvalidArgument) << name;
  }
  Vars many;
  for (size_t i = 0; i <= kMaxCallbackVars; ++i) many.emplace_back("x:v" + std::to_string(i), "1");
  EXPECT_FALSE(ParseJson(ok, many).ok());
  EXPECT_FALSE(ParseJson(ok, {{"x:big", std::string(kMaxCallbackVarBytes, 'a')}}).ok());
}

TEST(CallbackParseTest, BoundsTheCallbackSize) {
  const std::string head = "{\"callbackUrl\":\"http://a\",\"callbackBody\":\"";
  const std::string fits(kMaxCallbackJsonBytes - head.size() - 2, 'b');
  EXPECT_TRUE(ParseJson(head + fits + "\"}").ok());
  EXPECT_FALSE(ParseJson(head + fits + "b\"}").ok());
}

}  // namespace
}  // namespace ossemu
