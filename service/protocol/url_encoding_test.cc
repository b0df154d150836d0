#include "service/protocol/url_encoding.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ossup::protocol {
namespace {

TEST(UrlEncodingTest, EncodesEverythingButUnreserved) {
  EXPECT_EQ(PercentEncode("a-b_c.d~e"), "a-b_c.d~e");
  EXPECT_EQ(PercentEncode("a b+c/d$"), "a%20b%2Bc%2Fd%24");
  EXPECT_EQ(PercentEncode("1234+-/123/1.txt", /*keep_slash=*/true), "1234%2B-/123/1.txt");
  EXPECT_EQ(PercentEncode("\xe4\xb8\xad"), "%E4%B8%AD");
}

TEST(UrlEncodingTest, DecodesAndKeepsPlusByDefault) {
  EXPECT_EQ(*PercentDecode("a%20b+c%2fd"), "a b+c/d");
  EXPECT_EQ(*PercentDecode("a%20b+c", /*plus_as_space=*/true), "a b c");
  EXPECT_EQ(*PercentDecode(""), "");
}

TEST(UrlEncodingTest, RejectsMalformedEscapes) {
  EXPECT_FALSE(PercentDecode("%").ok());
  EXPECT_FALSE(PercentDecode("abc%4").ok());
  EXPECT_FALSE(PercentDecode("%zz").ok());
  EXPECT_FALSE(PercentDecode("%4g").ok());
  EXPECT_TRUE(PercentDecode("%41").ok());
}

TEST(UrlEncodingTest, RoundTripsArbitraryBytes) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(*PercentDecode(PercentEncode(all)), all);
}

}  // namespace
}  // namespace ossup::protocol
