#include "service/domain/form_issuer.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service/domain/upload_rules.h"
#include "service/protocol/crypto.h"

namespace ossup::domain {
namespace {

using ::testing::HasSubstr;

BucketConfig Bucket() {
  BucketConfig b;
  b.name = "media";
  b.region = "cn-hangzhou";
  b.endpoint_host = "oss-cn-hangzhou.aliyuncs.com";
  b.credentials = {"LTAI-key", "secret", "", absl::InfiniteFuture()};
  return b;
}

CallbackConfig Callback() { return {{"https://uploads.example.com/oss/callback"}, "", false}; }

std::string Field(const protocol::PostForm& form, absl::string_view name) {
  for (const auto& f : form.fields) {
    if (f.name == name) return f.value;
  }
  return "<missing>";
}

TEST(FormIssuerTest, IssuesABoundFormWithTheUploadsCallback) {
  auto issuer = FormIssuer::Create({Bucket()}, Callback(), "0123456789abcdef0123");
  ASSERT_TRUE(issuer.ok()) << issuer.status();
  const absl::Time now = absl::FromUnixSeconds(1795000000);
  Upload u;
  u.id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  u.bucket = "media";
  u.object_key = "avatars/abc/me.png";
  u.content_types = {"image/png"};
  u.min_size = 1;
  u.max_size = 1000;
  u.expire_time = now + absl::Minutes(15);
  auto form = (*issuer)->Issue(u, now);
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->url, "https://media.oss-cn-hangzhou.aliyuncs.com/");
  EXPECT_EQ(Field(*form, "key"), "avatars/abc/me.png");
  EXPECT_EQ(Field(*form, "x-oss-forbid-overwrite"), "true");
  EXPECT_EQ(form->expiration, u.expire_time);

  const auto callback =
      nlohmann::json::parse(*protocol::Base64DecodeStrict(Field(*form, "callback")));
  EXPECT_EQ(callback["callbackUrl"], "https://uploads.example.com/oss/callback");
  EXPECT_EQ(callback["callbackBodyType"], "application/json");
  const std::string body = callback["callbackBody"];
  EXPECT_THAT(body, HasSubstr(absl::StrCat("\"upload_id\":\"", u.id, "\"")));
  const std::string token = (*issuer)->CallbackToken(u.id);
  EXPECT_THAT(body, HasSubstr(absl::StrCat("\"token\":\"", token, "\"")));
  EXPECT_EQ(token.size(), 32u);

  // Re-issuing (an idempotent replay) binds the same callback.
  auto again = (*issuer)->Issue(u, now + absl::Seconds(30));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Field(*again, "callback"), Field(*form, "callback"));
  // Tokens differ per upload and per key.
  EXPECT_NE((*issuer)->CallbackToken("other"), token);
  auto other_key = FormIssuer::Create({Bucket()}, Callback(), "another-key-of-16+bytes");
  EXPECT_NE((*other_key)->CallbackToken(u.id), token);
}

TEST(FormIssuerTest, RotatedCredentialsSignNewForms) {
  auto issuer = FormIssuer::Create({Bucket()}, Callback(), "0123456789abcdef0123");
  ASSERT_TRUE(issuer.ok());
  Upload u;
  u.id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  u.bucket = "media";
  u.object_key = "k";
  u.max_size = 10;
  const absl::Time now = absl::FromUnixSeconds(1795000000);
  u.expire_time = now + absl::Minutes(5);
  const std::string before = Field(*(*issuer)->Issue(u, now), "x-oss-signature");
  ASSERT_TRUE((*issuer)
                  ->SetCredentials("media", {"LTAI-key", "new-secret", "", absl::InfiniteFuture()})
                  .ok());
  EXPECT_EQ((*issuer)->bucket("media")->credentials.access_key_secret, "new-secret");
  EXPECT_NE(Field(*(*issuer)->Issue(u, now), "x-oss-signature"), before);
  EXPECT_FALSE((*issuer)->SetCredentials("gone", {"a", "b", "", absl::InfiniteFuture()}).ok());
  EXPECT_FALSE((*issuer)->SetCredentials("media", {"", "b", "", absl::InfiniteFuture()}).ok());
}

TEST(FormIssuerTest, RejectsBadConfiguration) {
  EXPECT_FALSE(FormIssuer::Create({}, Callback(), "0123456789abcdef").ok());
  EXPECT_FALSE(FormIssuer::Create({Bucket()}, Callback(), "short").ok());
  EXPECT_FALSE(FormIssuer::Create({Bucket(), Bucket()}, Callback(), "0123456789abcdef").ok());
  BucketConfig bad = Bucket();
  bad.region = "oss-cn-hangzhou";
  EXPECT_FALSE(FormIssuer::Create({bad}, Callback(), "0123456789abcdef").ok());
  EXPECT_FALSE(FormIssuer::Create({Bucket()}, {{"ftp://x/"}, "", false}, "0123456789abcdef").ok());
  auto issuer = FormIssuer::Create({Bucket()}, Callback(), "0123456789abcdef");
  Upload u;
  u.bucket = "gone";
  EXPECT_EQ((*issuer)->Issue(u, absl::Now()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace ossup::domain
