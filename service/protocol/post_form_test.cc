#include "service/protocol/post_form.h"

#include <algorithm>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service/protocol/crypto.h"

namespace ossup::protocol {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1702743657);  // 2023-12-16T16:20:57Z

Credentials Ak() { return {"ak", "sk", "", absl::InfiniteFuture()}; }

PostObjectSpec BasicSpec() {
  PostObjectSpec spec;
  spec.bucket = "examplebucket";
  spec.key = "user/eric/a.png";
  spec.min_size = 1;
  spec.max_size = 10485760;
  spec.content_type_mode = PostObjectSpec::ContentTypeMode::kExact;
  spec.content_types = {"image/png"};
  spec.callback = "e30=";
  spec.expiration = kNow + absl::Minutes(15);
  return spec;
}

std::vector<std::string> Names(const PostForm& form) {
  std::vector<std::string> names;
  for (const auto& f : form.fields) names.push_back(f.name);
  return names;
}

std::string FieldValue(const PostForm& form, absl::string_view name) {
  for (const auto& f : form.fields) {
    if (f.name == name) return f.value;
  }
  return "<missing>";
}

// The conditions of the signed policy, decoded from the `policy` field itself.
nlohmann::json Conditions(const PostForm& form) {
  auto decoded = Base64DecodeStrict(FieldValue(form, "policy"));
  EXPECT_TRUE(decoded.ok());
  return nlohmann::json::parse(*decoded)["conditions"];
}

class PostFormSignerTest : public ::testing::Test {
 protected:
  SigningKeyCache cache_;
  PostFormSigner signer_{&cache_};
};

TEST_F(PostFormSignerTest, V4FormBindsEverythingThatMatters) {
  auto form = signer_.Sign(BasicSpec(), Ak(), "cn-hangzhou",
                           "https://examplebucket.oss-cn-hangzhou.aliyuncs.com/",
                           SignatureVersion::kV4, kNow);
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_THAT(Names(*form),
              ElementsAre("key", "Content-Type", "x-oss-content-type", "x-oss-object-acl",
                          "callback", "x-oss-signature-version", "x-oss-credential", "x-oss-date",
                          "policy", "x-oss-signature"));
  EXPECT_EQ(form->file_field, "file");
  EXPECT_TRUE(form->client_fields.empty());
  EXPECT_EQ(FieldValue(*form, "x-oss-credential"), "ak/20231216/cn-hangzhou/oss/aliyun_v4_request");
  EXPECT_EQ(FieldValue(*form, "x-oss-date"), "20231216T162057Z");
  EXPECT_EQ(form->policy_base64, FieldValue(*form, "policy"));

  const nlohmann::json conditions = Conditions(*form);
  EXPECT_THAT(conditions, Contains(nlohmann::json{{"bucket", "examplebucket"}}));
  EXPECT_THAT(conditions, Contains(nlohmann::json{"eq", "$key", "user/eric/a.png"}));
  EXPECT_THAT(conditions, Contains(nlohmann::json{"content-length-range", 1, 10485760}));
  EXPECT_THAT(conditions, Contains(nlohmann::json{"eq", "$content-type", "image/png"}));
  // x-oss-content-type would override Content-Type when OSS stores the object.
  EXPECT_THAT(conditions, Contains(nlohmann::json{"eq", "$x-oss-content-type", "image/png"}));
  EXPECT_THAT(conditions, Contains(nlohmann::json{"eq", "$x-oss-object-acl", "default"}));
  EXPECT_THAT(conditions, Contains(nlohmann::json{{"callback", "e30="}}));
  EXPECT_THAT(conditions, Contains(nlohmann::json{{"x-oss-date", "20231216T162057Z"}}));
  EXPECT_THAT(conditions,
              Contains(nlohmann::json{{"x-oss-signature-version", "OSS4-HMAC-SHA256"}}));
  EXPECT_THAT(conditions,
              Contains(nlohmann::json{
                  {"x-oss-credential", "ak/20231216/cn-hangzhou/oss/aliyun_v4_request"}}));

  // The signature is the V4 HMAC of exactly the policy field.
  auto key = DeriveV4SigningKey("sk", "20231216", "cn-hangzhou");
  EXPECT_EQ(FieldValue(*form, "x-oss-signature"), *SignPolicyV4(*key, form->policy_base64));
  EXPECT_EQ(form->expiration, kNow + absl::Minutes(15));
  EXPECT_THAT(form->policy_json, HasSubstr(R"("expiration":"2023-12-16T16:35:57.000Z")"));
}

TEST_F(PostFormSignerTest, ChangingAnyBoundValueChangesTheSignature) {
  const auto sign = [&](const PostObjectSpec& spec) {
    auto form = signer_.Sign(spec, Ak(), "cn-hangzhou", "https://x/", SignatureVersion::kV4, kNow);
    EXPECT_TRUE(form.ok()) << form.status();
    return FieldValue(*form, "x-oss-signature");
  };
  const std::string base = sign(BasicSpec());
  std::vector<PostObjectSpec> variants(6, BasicSpec());
  variants[0].key = "user/eric/b.png";
  variants[1].max_size = 10485761;
  variants[2].content_types = {"image/jpeg"};
  variants[3].bucket = "otherbucket";
  variants[4].callback = "e31=";
  variants[5].expiration += absl::Seconds(1);
  for (const auto& v : variants) EXPECT_NE(sign(v), base);
}

TEST_F(PostFormSignerTest, StsTokenIsSentAndBound) {
  Credentials sts{"STS.ak", "sk", "token", kNow + absl::Minutes(5)};
  auto form =
      signer_.Sign(BasicSpec(), sts, "cn-hangzhou", "https://x/", SignatureVersion::kV4, kNow);
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(FieldValue(*form, "x-oss-security-token"), "token");
  EXPECT_THAT(Conditions(*form), Contains(nlohmann::json{{"x-oss-security-token", "token"}}));
  // The policy cannot outlive the STS credentials.
  EXPECT_EQ(form->expiration, kNow + absl::Minutes(5));
  EXPECT_THAT(form->policy_json, HasSubstr(R"("expiration":"2023-12-16T16:25:57.000Z")"));

  sts.expiration = kNow;
  EXPECT_EQ(signer_.Sign(BasicSpec(), sts, "cn-hangzhou", "https://x/", SignatureVersion::kV4, kNow)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(PostFormSignerTest, V1Form) {
  auto form =
      signer_.Sign(BasicSpec(), Ak(), "cn-hangzhou", "https://x/", SignatureVersion::kV1, kNow);
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_THAT(Names(*form),
              ElementsAre("key", "Content-Type", "x-oss-content-type", "x-oss-object-acl",
                          "callback", "OSSAccessKeyId", "policy", "Signature"));
  EXPECT_EQ(FieldValue(*form, "Signature"), *SignPolicyV1("sk", form->policy_base64));
  EXPECT_THAT(Conditions(*form),
              Not(Contains(nlohmann::json{{"x-oss-signature-version", "OSS4-HMAC-SHA256"}})));
}

TEST_F(PostFormSignerTest, OptionalFieldsAreSentInOrderAndBound) {
  PostObjectSpec spec = BasicSpec();
  spec.content_type_mode = PostObjectSpec::ContentTypeMode::kOneOf;
  spec.content_types = {"image/png", "image/jpeg"};
  spec.success_action_status = 200;
  spec.forbid_overwrite = true;
  spec.object_acl = "private";
  spec.content_disposition = "attachment";
  spec.metadata = {{"owner", "alice"}, {"price", "$5"}};
  spec.callback_vars = {{"x:uid", "42"}};
  auto form = signer_.Sign(spec, Ak(), "cn-hangzhou", "https://x/", SignatureVersion::kV4, kNow);
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_THAT(Names(*form),
              ElementsAre("key", "x-oss-object-acl", "Content-Disposition",
                          "success_action_status", "x-oss-forbid-overwrite", "x-oss-meta-owner",
                          "x-oss-meta-price", "callback", "x:uid", "x-oss-signature-version",
                          "x-oss-credential", "x-oss-date", "policy", "x-oss-signature"));
  EXPECT_THAT(form->client_fields, ElementsAre("Content-Type", "x-oss-content-type"));
  EXPECT_EQ(FieldValue(*form, "x-oss-meta-price"), "$5");  // the form value is literal
  const nlohmann::json conditions = Conditions(*form);
  for (const char* field : {"$content-type", "$x-oss-content-type"}) {
    EXPECT_THAT(conditions, Contains(nlohmann::json{"in", field, {"image/png", "image/jpeg"}}));
  }
  EXPECT_THAT(conditions, Contains(nlohmann::json{"eq", "$x-oss-object-acl", "private"}));
  EXPECT_THAT(conditions, Contains(nlohmann::json{"eq", "$content-disposition", "attachment"}));
  EXPECT_THAT(conditions, Contains(nlohmann::json{"eq", "$success_action_status", "200"}));
  EXPECT_THAT(conditions, Contains(nlohmann::json{"eq", "$x-oss-forbid-overwrite", "true"}));
  EXPECT_THAT(conditions, Contains(nlohmann::json{"eq", "$x-oss-meta-owner", "alice"}));
  // '$' in a policy value is escaped (reference §1.3).
  EXPECT_THAT(conditions, Contains(nlohmann::json{"eq", "$x-oss-meta-price", "\\$5"}));
  EXPECT_THAT(conditions, Contains(nlohmann::json{"eq", "$x:uid", "42"}));
}

TEST_F(PostFormSignerTest, PrefixModeLetsTheClientNameTheFileUnderThePrefix) {
  PostObjectSpec spec = BasicSpec();
  spec.key_mode = PostObjectSpec::KeyMode::kPrefix;
  spec.key = "user/eric/";
  spec.content_type_mode = PostObjectSpec::ContentTypeMode::kStartsWith;
  spec.content_types = {"image/"};
  auto form = signer_.Sign(spec, Ak(), "cn-hangzhou", "https://x/", SignatureVersion::kV4, kNow);
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(FieldValue(*form, "key"), "user/eric/${filename}");
  EXPECT_THAT(Conditions(*form), Contains(nlohmann::json{"starts-with", "$key", "user/eric/"}));
  EXPECT_THAT(Conditions(*form),
              Contains(nlohmann::json{"starts-with", "$content-type", "image/"}));
}

TEST_F(PostFormSignerTest, RejectsWhatOssWouldRejectOrWeCannotBind) {
  const auto status_of = [&](const PostObjectSpec& spec) {
    return signer_.Sign(spec, Ak(), "cn-hangzhou", "https://x/", SignatureVersion::kV4, kNow)
        .status();
  };
  std::vector<std::pair<std::string, std::function<void(PostObjectSpec&)>>> cases = {
      {"bucket", [](auto& s) { s.bucket = "Bad_Bucket"; }},
      {"bucket", [](auto& s) { s.bucket = "ab"; }},
      {"key", [](auto& s) { s.key = ""; }},
      {"key", [](auto& s) { s.key = "/abs"; }},
      {"key", [](auto& s) { s.key = "a\\b"; }},
      {"key", [](auto& s) { s.key = "a/${filename}"; }},
      {"key", [](auto& s) { s.key = std::string(1024, 'k'); }},
      {"key", [](auto& s) { s.key = "bad\xff"; }},
      {"key",
       [](auto& s) {
         s.key_mode = PostObjectSpec::KeyMode::kPrefix;
         s.key = "";
       }},
      {"size", [](auto& s) { s.max_size = 0; }},
      {"size",
       [](auto& s) {
         s.min_size = 11;
         s.max_size = 10;
       }},
      {"size", [](auto& s) { s.max_size = int64_t{6} << 30; }},
      {"content_types", [](auto& s) { s.content_types = {"png"}; }},
      {"content_types",
       [](auto& s) {
         s.content_types = {"image/png", "image/gif"};
       }},
      {"content_types", [](auto& s) { s.content_types = {"image/png withspace"}; }},
      {"success_action_status", [](auto& s) { s.success_action_status = 302; }},
      {"metadata",
       [](auto& s) {
         s.metadata = {{"Upper", "v"}};
       }},
      {"metadata",
       [](auto& s) {
         s.metadata = {{"big", std::string(9000, 'v')}};
       }},
      {"callback", [](auto& s) { s.callback = "not base64!"; }},
      {"callback_vars",
       [](auto& s) {
         s.callback_vars = {{"uid", "1"}};
       }},
      {"callback_vars",
       [](auto& s) {
         s.callback_vars = {{"x:Uid", "1"}};
       }},
      {"expiration", [](auto& s) { s.expiration = kNow; }},
      {"expiration", [](auto& s) { s.expiration = kNow + absl::Hours(24 * 8); }},
  };
  for (auto& [field, mutate] : cases) {
    PostObjectSpec spec = BasicSpec();
    mutate(spec);
    const absl::Status st = status_of(spec);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(st.message(), HasSubstr(field)) << st;
  }
  EXPECT_FALSE(
      signer_.Sign(BasicSpec(), Ak(), "oss-cn-hangzhou", "https://x/", SignatureVersion::kV4, kNow)
          .ok());
  EXPECT_FALSE(signer_
                   .Sign(BasicSpec(), {"a/k", "sk", "", absl::InfiniteFuture()}, "cn-hangzhou",
                         "https://x/", SignatureVersion::kV4, kNow)
                   .ok());
}

TEST(BucketPostUrlTest, Forms) {
  EXPECT_EQ(BucketPostUrl("https", "oss-cn-hangzhou.aliyuncs.com", "b1", true),
            "https://b1.oss-cn-hangzhou.aliyuncs.com/");
  EXPECT_EQ(BucketPostUrl("http", "127.0.0.1:9000", "b1", false), "http://127.0.0.1:9000/");
}

}  // namespace
}  // namespace ossup::protocol
