#include "client/raw_http_request.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ossup::client {
namespace {

using ::testing::HasSubstr;

TEST(RawHttpRequestTest, ParsesCrlfCaptureWithContentLength) {
  auto r = ParseRawHttpRequest(
      "POST /index.php?id=1&index=2 HTTP/1.1\r\nHost: h\r\nAuthorization: abc=\r\n"
      "Content-Length: 18\r\n\r\nbucket=yonghu-test");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->target, "/index.php?id=1&index=2");
  EXPECT_EQ(r->version, "HTTP/1.1");
  ASSERT_EQ(r->headers.size(), 3u);
  EXPECT_EQ(r->headers[1].first, "Authorization");
  EXPECT_EQ(r->headers[1].second, "abc=");
  EXPECT_EQ(r->body, "bucket=yonghu-test");
  EXPECT_TRUE(r->warnings.empty());
}

TEST(RawHttpRequestTest, LfLinesTrailingBytesAndNoContentLength) {
  auto r = ParseRawHttpRequest("POST /cb HTTP/1.0\nContent-Length: 2\n\n{}\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "{}");
  ASSERT_EQ(r->warnings.size(), 1u);  // the editor's final newline
  auto no_length = ParseRawHttpRequest("POST /cb HTTP/1.1\r\nHost: h\r\n\r\na=1\r\nb");
  ASSERT_TRUE(no_length.ok());
  EXPECT_EQ(no_length->body, "a=1\r\nb");  // the rest, byte for byte
  auto repeated =
      ParseRawHttpRequest("POST /cb HTTP/1.1\nContent-Length: 2\nContent-Length: 2\n\n{}");
  ASSERT_TRUE(repeated.ok()) << repeated.status();  // the same length twice is not ambiguous
  EXPECT_EQ(repeated->body, "{}");
  auto headers_only = ParseRawHttpRequest("POST /cb HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(headers_only.ok());
  EXPECT_EQ(headers_only->body, "");
}

TEST(RawHttpRequestTest, RefusesWhatCannotBeAReliableCapture) {
  EXPECT_FALSE(ParseRawHttpRequest("").ok());
  EXPECT_THAT(ParseRawHttpRequest("hello\r\n\r\n").status().message(), HasSubstr("first line"));
  EXPECT_THAT(ParseRawHttpRequest("POST /cb HTTP/1.1\r\nbroken header\r\n\r\n").status().message(),
              HasSubstr("malformed header"));
  EXPECT_THAT(ParseRawHttpRequest("POST /cb HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort")
                  .status()
                  .message(),
              HasSubstr("only 5 body bytes"));
  EXPECT_FALSE(ParseRawHttpRequest("POST /cb HTTP/1.1\r\nContent-Length: x\r\n\r\n").ok());
  EXPECT_THAT(
      ParseRawHttpRequest("POST /cb HTTP/1.1\r\nHost: h\r\nAuthorization: abc=").status().message(),
      HasSubstr("no blank line"));
  EXPECT_THAT(ParseRawHttpRequest("POST /cb HTTP/1.1\r\nContent-Length: 2\r\n"
                                  "Content-Length: 3\r\n\r\nabc")
                  .status()
                  .message(),
              HasSubstr("conflicting Content-Length"));
  std::string many = "POST /cb HTTP/1.1\r\n";
  for (int i = 0; i < 150; ++i) many += "X-H: v\r\n";
  EXPECT_FALSE(ParseRawHttpRequest(many + "\r\n").ok());
}

}  // namespace
}  // namespace ossup::client
