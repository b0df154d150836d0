#include "service/domain/upload_rules.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service/protocol/callback_body.h"
#include "service/protocol/callback_params.h"
#include "service/protocol/post_form.h"

namespace ossup::domain {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

UploadLimits Limits() {
  UploadLimits limits;
  limits.buckets = {"media", "archive"};
  return limits;
}

CreateUploadInput ValidInput() {
  CreateUploadInput in;
  in.ns = "acme";
  in.subject = "user-42";
  in.key_prefix = "avatars/";
  in.file_name = "me.png";
  in.content_types = {"image/png", "image/jpeg"};
  in.min_size = 1;
  in.max_size = 1 << 20;
  in.metadata = {{"album", "holiday"}};
  return in;
}

TEST(ValidateCreateUploadTest, AcceptsAValidRequest) {
  EXPECT_TRUE(ValidateCreateUpload(ValidInput(), Limits()).ok());
  CreateUploadInput exact = ValidInput();
  exact.key_prefix.clear();
  exact.file_name.clear();
  exact.object_key = "avatars/42.png";
  EXPECT_TRUE(ValidateCreateUpload(exact, Limits()).ok());
}

TEST(ValidateCreateUploadTest, NamesTheOffendingField) {
  const std::vector<std::pair<std::string, std::function<void(CreateUploadInput&)>>> cases = {
      {"parent", [](auto& in) { in.ns = "Acme"; }},
      {"subject", [](auto& in) { in.subject = ""; }},
      {"subject", [](auto& in) { in.subject = std::string(257, 's'); }},
      {"object_key", [](auto& in) { in.object_key = "both/set"; }},
      {"object_key",
       [](auto& in) {
         in.key_prefix.clear();
         in.file_name.clear();
       }},
      {"object_key",
       [](auto& in) {
         in.key_prefix.clear();
         in.file_name.clear();
         in.object_key = "/leading-slash";
       }},
      {"key_template.prefix", [](auto& in) { in.key_prefix = "avatars"; }},
      {"key_template.file_name", [](auto& in) { in.file_name.clear(); }},
      {"constraints.content_types", [](auto& in) { in.content_types = {"png"}; }},
      {"constraints.content_types", [](auto& in) { in.content_types = {"Image/PNG"}; }},
      {"constraints.content_types",
       [](auto& in) {
         in.content_types = {"a/b", "a/b"};
       }},
      {"constraints.max_size", [](auto& in) { in.max_size = 0; }},
      {"constraints.max_size", [](auto& in) { in.max_size = int64_t{6} << 30; }},
      {"constraints.min_size", [](auto& in) { in.min_size = in.max_size + 1; }},
      {"ttl", [](auto& in) { in.ttl = absl::Seconds(-1); }},
      {"metadata",
       [](auto& in) {
         in.metadata = {{"Bad", "x"}};
       }},
      {"metadata",
       [](auto& in) {
         in.metadata = {{"a", std::string(300, 'v')}};
       }},
      {"metadata",
       [](auto& in) {
         in.metadata = {{"a", "1"}, {"a", "2"}};
       }},
      {"metadata",
       [](auto& in) {
         in.metadata.clear();
         for (int i = 0; i < 17; ++i) in.metadata.emplace_back("k" + std::to_string(i), "v");
       }},
      {"bucket", [](auto& in) { in.bucket = "not-configured"; }},
      {"request_id", [](auto& in) { in.request_id = "has space"; }},
  };
  for (const auto& [field, mutate] : cases) {
    CreateUploadInput in = ValidInput();
    mutate(in);
    const absl::Status st = ValidateCreateUpload(in, Limits());
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(std::string(st.message()), testing::StartsWith(field + ":")) << st;
  }
}

TEST(EffectiveTtlTest, DefaultsAndClamps) {
  CreateUploadInput in = ValidInput();
  EXPECT_EQ(EffectiveTtl(in, Limits()), absl::Minutes(15));
  in.ttl = absl::Seconds(5);
  EXPECT_EQ(EffectiveTtl(in, Limits()), absl::Minutes(1));
  in.ttl = absl::Hours(100);
  EXPECT_EQ(EffectiveTtl(in, Limits()), absl::Hours(24));
  in.ttl = absl::Minutes(30);
  EXPECT_EQ(EffectiveTtl(in, Limits()), absl::Minutes(30));
}

TEST(SanitizeFileNameTest, KeepsOnlyASafeLastSegment) {
  EXPECT_EQ(SanitizeFileName("photo.png"), "photo.png");
  EXPECT_EQ(SanitizeFileName("C:\\Users\\me\\photo.png"), "photo.png");
  EXPECT_EQ(SanitizeFileName("../../etc/passwd"), "passwd");
  EXPECT_EQ(SanitizeFileName(".."), "file");
  EXPECT_EQ(SanitizeFileName(".hidden"), "hidden");
  EXPECT_EQ(SanitizeFileName("my holiday (1).jpg"), "my_holiday_1_.jpg");
  EXPECT_EQ(SanitizeFileName("\xe4\xb8\xad\xe6\x96\x87.txt"), "txt");
  EXPECT_EQ(SanitizeFileName("${filename}"), "filename_");
  EXPECT_EQ(SanitizeFileName(""), "file");
  const std::string long_name = std::string(300, 'a') + ".tar";
  const std::string s = SanitizeFileName(long_name);
  EXPECT_EQ(s.size(), 128u);
  EXPECT_THAT(s, testing::EndsWith(".tar"));
}

TEST(IdsTest, UploadIdsAreUuidV4AndKeysAreUnique) {
  SeededRandomForTests random(7);
  const std::string id = NewUploadId(random);
  EXPECT_THAT(id,
              MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  EXPECT_NE(NewUploadId(random), id);
  const std::string a = GenerateObjectKey("avatars/", "C:\\x\\me.png", random);
  const std::string b = GenerateObjectKey("avatars/", "C:\\x\\me.png", random);
  EXPECT_THAT(a, MatchesRegex("avatars/[0-9a-f]{24}/me\\.png"));
  EXPECT_NE(a, b);
  EXPECT_TRUE(protocol::ValidateObjectKey(a).ok());
}

TEST(RequestFingerprintTest, SeparatesDifferentRequests) {
  const CreateUploadInput base = ValidInput();
  CreateUploadInput same = base;
  same.request_id = "retry-1";  // not part of the fingerprint
  std::reverse(same.metadata.begin(), same.metadata.end());
  EXPECT_EQ(RequestFingerprint(base), RequestFingerprint(same));
  EXPECT_EQ(RequestFingerprint(base).size(), 32u);

  std::vector<CreateUploadInput> variants(6, base);
  variants[0].subject = "user-43";
  variants[1].file_name = "you.png";
  variants[2].max_size += 1;
  variants[3].content_types = {"image/png"};
  variants[4].metadata = {{"album", "work"}};
  variants[5].ttl = absl::Minutes(5);
  for (const auto& v : variants) EXPECT_NE(RequestFingerprint(v), RequestFingerprint(base));
  // Length-prefixed fields: moving bytes between fields changes the fingerprint.
  CreateUploadInput shifted = base;
  shifted.subject = "user-4";
  shifted.key_prefix = "2avatars/";
  EXPECT_NE(RequestFingerprint(shifted), RequestFingerprint(base));
}

TEST(NewPendingUploadTest, FillsTheRecord) {
  const absl::Time now = absl::FromUnixMicros(1795000000123456);
  CreateUploadInput in = ValidInput();
  in.metadata = {{"z", "1"}, {"a", "2"}};
  const Upload u = NewPendingUpload(in, Limits(), "id-1", "avatars/x/me.png", "tok", now);
  EXPECT_EQ(u.state, UploadState::kPending);
  EXPECT_EQ(u.bucket, "media");  // the default bucket
  EXPECT_EQ(u.expire_time - u.create_time, absl::Minutes(15));
  EXPECT_EQ(u.metadata.front().first, "a");  // sorted
  EXPECT_EQ(u.callback_token_sha256.size(), 32u);
  EXPECT_EQ(u.request_fingerprint, RequestFingerprint(in));
}

// The callback body we bind, once OSS substitutes its variables, parses back to the payload.
TEST(CallbackBodyTest, TemplateRoundTripsThroughOssSubstitution) {
  Upload u;
  u.id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  u.metadata = {{"album", "say \"hi\" ${object}"}};
  auto tmpl = CallbackBodyTemplateFor(u, "00112233445566778899aabbccddeeff");
  ASSERT_TRUE(tmpl.ok()) << tmpl.status();
  // The template is one OSS accepts.
  protocol::CallbackParams params{{"https://cb.example.com/oss/callback"},
                                  "",
                                  std::nullopt,
                                  protocol::CallbackBodyType::kJson,
                                  *tmpl};
  EXPECT_TRUE(protocol::ValidateCallbackParams(params).ok());
  // Substitute as OSS does for JSON bodies: strings quoted, size bare.
  std::string body = *tmpl;
  const std::vector<std::pair<std::string, std::string>> vars = {
      {"${bucket}", "\"media\""},
      {"${object}", "\"avatars/x/me.png\""},
      {"${size}", "1234"},
      {"${mimeType}", "\"image/png\""},
      {"${etag}", "\"5B74FC97CC385B45C6C8B7782D5A2140\""}};
  for (const auto& [placeholder, value] : vars) {
    body.replace(body.find(placeholder), placeholder.size(), value);
  }
  auto parsed = protocol::CallbackBody::Parse(protocol::CallbackBodyType::kJson, body);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << body;
  auto payload = ParseCallbackPayload(*parsed);
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ(payload->upload_id, u.id);
  EXPECT_EQ(payload->token, "00112233445566778899aabbccddeeff");
  EXPECT_EQ(payload->object, (ObjectInfo{"media", "avatars/x/me.png", 1234, "image/png",
                                         "5B74FC97CC385B45C6C8B7782D5A2140"}));
  EXPECT_EQ(*parsed->GetString("meta.album"), "say \"hi\" ${object}");
}

// The same for the form encoding: OSS URL-encodes substituted values.
TEST(CallbackBodyTest, FormTemplateRoundTripsThroughOssSubstitution) {
  Upload u;
  u.id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  u.metadata = {{"album", "a&b=c ${x}"}};
  auto tmpl = CallbackBodyTemplateFor(u, "00112233445566778899aabbccddeeff",
                                      protocol::CallbackBodyType::kFormUrlEncoded);
  ASSERT_TRUE(tmpl.ok()) << tmpl.status();
  protocol::CallbackParams params{{"https://cb.example.com/oss/callback"},
                                  "",
                                  std::nullopt,
                                  protocol::CallbackBodyType::kFormUrlEncoded,
                                  *tmpl};
  EXPECT_TRUE(protocol::ValidateCallbackParams(params).ok());
  std::string body = *tmpl;
  const std::vector<std::pair<std::string, std::string>> vars = {
      {"${bucket}", "media"},
      {"${object}", "avatars%2Fx%2Fme%20%281%29.png"},
      {"${size}", "1234"},
      {"${mimeType}", "image%2Fpng"},
      {"${etag}", "5B74FC97CC385B45C6C8B7782D5A2140"}};
  for (const auto& [placeholder, value] : vars) {
    body.replace(body.find(placeholder), placeholder.size(), value);
  }
  auto parsed = protocol::CallbackBody::Parse(protocol::CallbackBodyType::kFormUrlEncoded, body);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << body;
  auto payload = ParseCallbackPayload(*parsed);
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ(payload->upload_id, u.id);
  EXPECT_EQ(payload->object.key, "avatars/x/me (1).png");
  EXPECT_EQ(payload->object.size, 1234);
  EXPECT_EQ(payload->object.content_type, "image/png");
  EXPECT_EQ(*parsed->GetString("meta.album"), "a&b=c ${x}");
}

TEST(CallbackBodyTest, MissingFieldsAreErrors) {
  auto parsed = protocol::CallbackBody::Parse(protocol::CallbackBodyType::kJson,
                                              R"({"upload_id":"x","token":"t"})");
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(ParseCallbackPayload(*parsed).ok());
}

TEST(CheckObjectTest, ReportsEveryMismatch) {
  Upload u;
  u.bucket = "media";
  u.object_key = "avatars/x/me.png";
  u.min_size = 10;
  u.max_size = 100;
  u.content_types = {"image/png"};
  const ObjectInfo good{"media", "avatars/x/me.png", 50, "image/png", "E"};
  EXPECT_EQ(CheckObjectAgainstUpload(u, good), std::nullopt);
  ObjectInfo o = good;
  o.content_type = "IMAGE/PNG; charset=binary";
  EXPECT_EQ(CheckObjectAgainstUpload(u, o), std::nullopt);

  o = good;
  o.bucket = "other";
  EXPECT_THAT(CheckObjectAgainstUpload(u, o).value_or(""), HasSubstr("bucket"));
  o = good;
  o.key = "avatars/x/you.png";
  EXPECT_THAT(CheckObjectAgainstUpload(u, o).value_or(""), HasSubstr("key"));
  o = good;
  o.size = 101;
  EXPECT_THAT(CheckObjectAgainstUpload(u, o).value_or(""), HasSubstr("size"));
  o.size = 9;
  EXPECT_THAT(CheckObjectAgainstUpload(u, o).value_or(""), HasSubstr("size"));
  o = good;
  o.content_type = "text/html";
  EXPECT_THAT(CheckObjectAgainstUpload(u, o).value_or(""), HasSubstr("content type"));
  u.content_types.clear();
  EXPECT_EQ(CheckObjectAgainstUpload(u, o), std::nullopt);
}

}  // namespace
}  // namespace ossup::domain
