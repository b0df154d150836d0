#include "callback/callback_template.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace ossemu {
namespace {

UploadFacts Facts() {
  UploadFacts facts;
  facts.bucket = "bkt";
  facts.object = "dir/a b+\"q\".jpg";
  facts.etag = "D41D8CD98F00B204E9800998ECF8427E";
  facts.size = 114020;
  facts.mime_type = "image/jpeg";
  facts.crc64 = "18446744073709551615";
  facts.content_md5 = "1B2M2Y8AsgTpgAmY7PhCfg==";
  facts.client_ip = "10.0.0.7";
  facts.request_id = "REQ1";
  return facts;
}

std::string Render(const std::string& body, bool json,
                   const std::vector<std::pair<std::string, std::string>>& vars = {}) {
  absl::StatusOr<std::vector<TemplatePart>> parts = ParseTemplate(body);
  EXPECT_TRUE(parts.ok()) << parts.status();
  if (!parts.ok()) return "";
  return RenderTemplate(*parts, json, Facts(), vars);
}

TEST(CallbackTemplateTest, RefusesMalformedPlaceholders) {
  for (const char* bad : {"$x:v}", "a=$", "a=${object", "a=${}", "a=$ {object}", "${a${b}}"}) {
    EXPECT_FALSE(ParseTemplate(bad).ok()) << bad;
  }
  EXPECT_EQ(ParseTemplate("$x:v}").status().message(), "Left brace must be adjacent to dollar sign.");
}

TEST(CallbackTemplateTest, SplitsLiteralsAndVariables) {
  absl::StatusOr<std::vector<TemplatePart>> parts = ParseTemplate("a=${object}&b={}${x:v}");
  ASSERT_TRUE(parts.ok());
  ASSERT_EQ(parts->size(), 4u);
  EXPECT_FALSE((*parts)[0].is_variable);
  EXPECT_EQ((*parts)[1].text, "object");
  EXPECT_EQ((*parts)[2].text, "&b={}");
  EXPECT_EQ((*parts)[3].text, "x:v");
}

TEST(CallbackTemplateTest, FormBodyUrlEncodesValuesOnly) {
  EXPECT_EQ(Render("o=${object}&m=${mimeType}&s=${size}&h=${imageInfo.height}&v=${x:v}&u=${x:nope}"
                   "&lit=a b/c",
                   false, {{"x:v", "1&2"}}),
            "o=dir%2Fa%20b%2B%22q%22.jpg&m=image%2Fjpeg&s=114020&h=&v=1%262&u=&lit=a b/c");
}

TEST(CallbackTemplateTest, JsonBodyQuotesStringsAndLeavesNumbersBare) {
  EXPECT_EQ(Render("{\"o\":${object},\"s\":${size},\"w\":${imageInfo.width},\"c\":${crc64},"
                   "\"v\":${x:v},\"op\":${operation},\"vpc\":${vpcId}}",
                   true, {{"x:v", "line\nbreak\\"}}),
            "{\"o\":\"dir/a b+\\\"q\\\".jpg\",\"s\":114020,\"w\":\"\",\"c\":\"18446744073709551615\","
            "\"v\":\"line\\nbreak\\\\\",\"op\":\"PostObject\",\"vpc\":\"\"}");
  // Not validated: a form-shaped template with JSON type renders as OSS did (soonio/osd capture).
  EXPECT_EQ(Render("filename=${object}&size=${size}", true),
            "filename=\"dir/a b+\\\"q\\\".jpg\"&size=114020");
}

TEST(CallbackTemplateTest, AllSystemVariablesRender) {
  EXPECT_EQ(Render("${bucket}|${etag}|${crc64}|${contentMd5}|${clientIp}|${reqId}|${operation}|"
                   "${imageInfo.format}|${vpcId}",
                   false),
            "bkt|D41D8CD98F00B204E9800998ECF8427E|18446744073709551615|1B2M2Y8AsgTpgAmY7PhCfg%3D%3D|"
            "10.0.0.7|REQ1|PostObject||");
}

}  // namespace
}  // namespace ossemu
