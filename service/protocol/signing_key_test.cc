#include "service/protocol/signing_key.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/protocol/crypto.h"

namespace ossup::protocol {
namespace {

// Reference §3.1: derived keys for sk="sk", 20231216, cn-hangzhou.
TEST(SigningKeyTest, OfficialChainVector) {
  EXPECT_EQ(HexEncode(*HmacSha256("aliyun_v4sk", "20231216")),
            "151acc75ab7203acc219c35ef7415d0c604d059c7140665fe78233ec8ae7f9ea");
  auto key = DeriveV4SigningKey("sk", "20231216", "cn-hangzhou");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(HexEncode(*key), "b412a03b134ebddd720f5167b5de6db66620ebb3b01cff4d49e3ccb09f8de97f");
}

TEST(SigningKeyTest, DateFormats) {
  const absl::Time t = absl::FromUnixSeconds(1702743657);
  EXPECT_EQ(V4Date(t), "20231216");
  EXPECT_EQ(V4DateTime(t), "20231216T162057Z");
  EXPECT_EQ(V4Scope("20231216", "cn-hangzhou"), "20231216/cn-hangzhou/oss/aliyun_v4_request");
}

TEST(SigningKeyTest, RegionValidation) {
  EXPECT_TRUE(ValidateRegion("cn-hangzhou").ok());
  EXPECT_FALSE(ValidateRegion("oss-cn-hangzhou").ok());
  EXPECT_FALSE(ValidateRegion("").ok());
  EXPECT_FALSE(ValidateRegion("cn/hangzhou").ok());
  EXPECT_FALSE(ValidateRegion("CN-HANGZHOU").ok());
}

TEST(SigningKeyTest, CacheReturnsSameKeyAndSeparatesInputs) {
  SigningKeyCache cache(/*max_entries=*/2);
  auto a = cache.Get("sk", "20231216", "cn-hangzhou");
  auto b = cache.Get("sk", "20231216", "cn-hangzhou");
  auto c = cache.Get("sk", "20231217", "cn-hangzhou");
  auto d = cache.Get("sk2", "20231216", "cn-hangzhou");  // forces a reset at capacity
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_NE(*a, *d);
  EXPECT_EQ(*cache.Get("sk", "20231216", "cn-hangzhou"), *a);
}

}  // namespace
}  // namespace ossup::protocol
