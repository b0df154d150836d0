#include "callback/callback_codec.h"

#include <string>

#include "gtest/gtest.h"

namespace ossemu {
namespace {

TEST(CallbackCodecTest, Base64RoundTripsAllTailLengths) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("{}"), "e30=");
  for (const std::string text : {"", "f", "fo", "foo", "foob", "\xff\xfe\x00"}) {
    absl::StatusOr<std::string> decoded = Base64DecodeStrict(Base64Encode(text));
    ASSERT_TRUE(decoded.ok()) << text;
    EXPECT_EQ(*decoded, text);
  }
}

TEST(CallbackCodecTest, Base64DecodeRefusesNonStrictInput) {
  for (const char* bad : {"e30", "e30=\n", "e3 0=", "e=0=", "e30-", "_30=", "Zh==", "Zm9=", "====",
                          "Zg=a"}) {
    EXPECT_FALSE(Base64DecodeStrict(bad).ok()) << bad;
  }
}

TEST(CallbackCodecTest, UrlEncodeKeepsOnlyUnreserved) {
  EXPECT_EQ(UrlEncodeComponent("headSculpture/jikang2.jpg"), "headSculpture%2Fjikang2.jpg");
  EXPECT_EQ(UrlEncodeComponent("a b+c~d-e._f&=%"), "a%20b%2Bc~d-e._f%26%3D%25");
  EXPECT_EQ(UrlEncodeComponent("\xe4\xb8\xad"), "%E4%B8%AD");
}

TEST(CallbackCodecTest, PercentDecodeKeepsPlusAndMalformedEscapes) {
  EXPECT_EQ(PercentDecode("/a%20b+c%2Fd"), "/a b+c/d");
  EXPECT_EQ(PercentDecode("/x%2"), "/x%2");
  EXPECT_EQ(PercentDecode("%zz%41"), "%zzA");
}

TEST(CallbackCodecTest, XmlEscapeEscapesMarkup) {
  EXPECT_EQ(XmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
}

TEST(CallbackCodecTest, ParsesCallbackUrls) {
  absl::StatusOr<CallbackUrl> url = ParseCallbackUrl("121.43.113.8:23456/index.html");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->scheme, "http");
  EXPECT_EQ(url->host, "121.43.113.8");
  EXPECT_EQ(url->port, 23456);
  EXPECT_EQ(url->target, "/index.html");
  EXPECT_EQ(url->ToString(), "http://121.43.113.8:23456/index.html");

  url = ParseCallbackUrl("HTTPS://app.example.com?a=1&b=%20#frag");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->port, 0);
  EXPECT_EQ(url->target, "/?a=1&b=%20");

  url = ParseCallbackUrl("http://oss-demo.aliyuncs.com:23450");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->target, "/");
}

TEST(CallbackCodecTest, RefusesBadCallbackUrls) {
  for (const char* bad : {"10.101.166.30:test", "http://h:0/", "http://h:65536/", "http://h:/",
                          "ftp://h/", "http://[::1]:80/", "http://u:p@h/", "http:///x", "",
                          "http://h h/", "http://h:1:2/", "http://h/a b", "http://h/\r\nX: y",
                          "http://h/\xe4\xb8\xad"}) {
    EXPECT_FALSE(ParseCallbackUrl(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace ossemu
