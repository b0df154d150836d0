#include "service/protocol/crypto.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ossup::protocol {
namespace {

TEST(CryptoTest, KnownDigests) {
  EXPECT_EQ(HexEncode(*Md5("")), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(HexEncode(*Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(*HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 2202 test case 2.
  EXPECT_EQ(HexEncode(*HmacSha1("Jefe", "what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

TEST(CryptoTest, HmacWithEmptyKeyAndData) {
  EXPECT_EQ(HexEncode(*HmacSha256("", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(CryptoTest, Base64RoundTripHasNoLineBreaks) {
  const std::string long_input(1000, 'x');
  const std::string encoded = Base64Encode(long_input);
  EXPECT_EQ(encoded.find('\n'), std::string::npos);
  EXPECT_EQ(*Base64DecodeStrict(encoded), long_input);
  EXPECT_EQ(Base64Encode("{}"), "e30=");
}

TEST(CryptoTest, Base64DecodeStrictRejectsSloppyInput) {
  EXPECT_FALSE(Base64DecodeStrict("e30").ok());     // missing padding
  EXPECT_FALSE(Base64DecodeStrict("e3 0=").ok());   // whitespace
  EXPECT_FALSE(Base64DecodeStrict("e3=0").ok());    // padding in the middle
  EXPECT_FALSE(Base64DecodeStrict("e30=\n").ok());  // trailing newline
  EXPECT_FALSE(Base64DecodeStrict("e-_=").ok());    // URL-safe alphabet
  EXPECT_FALSE(Base64DecodeStrict("====").ok());
  EXPECT_EQ(*Base64DecodeStrict(""), "");
  EXPECT_EQ(*Base64DecodeStrict("YQ=="), "a");
}

TEST(CryptoTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

}  // namespace
}  // namespace ossup::protocol
