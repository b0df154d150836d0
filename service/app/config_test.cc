#include "service/app/config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ossup::app {
namespace {

using ::testing::HasSubstr;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Per process: ctest runs the tests of this fixture concurrently.
    dir_ = ::testing::TempDir() + "/ossup-config-test-" + std::to_string(getpid());
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/callers.json")
        << R"({"callers":[{"name":"a","token_sha256":")" << std::string(64, 'a')
        << R"(","namespaces":["acme"]}]})";
    std::ofstream(dir_ + "/token.key") << "0123456789abcdef0123\n";
    std::ofstream(dir_ + "/bucket.secret") << "secret\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Json(const std::string& extra = "") {
    return R"({"database":{"url":"postgresql://db/x"},"callers_file":"callers.json",
      "token_key_file":"token.key","callback":{"urls":["https://cb.example.com/oss/callback"]},
      "buckets":[{"name":"media","region":"cn-hangzhou","endpoint_host":"oss-cn-hangzhou.aliyuncs.com",
      "access_key_id":"LTAI","access_key_secret_file":"bucket.secret"}])" +
           extra + "}";
  }
  std::string dir_;
};

TEST_F(ConfigTest, ParsesAndLoadsSecretFiles) {
  auto c =
      ParseConfig(Json(R"(,"callback_keys":{"fetch_unpinned":true},"worker_threads":8)"), dir_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->database_url, "postgresql://db/x");
  EXPECT_EQ(c->token_key, "0123456789abcdef0123");
  ASSERT_EQ(c->buckets.size(), 1u);
  EXPECT_EQ(c->buckets[0].credentials.access_key_secret, "secret");
  EXPECT_EQ(c->limits.buckets, std::vector<std::string>{"media"});
  EXPECT_TRUE(c->fetch_unpinned_keys);
  EXPECT_EQ(c->worker_threads, 8);
}

TEST_F(ConfigTest, OptionalSecretFilesAndGrace) {
  std::ofstream(dir_ + "/db.password") << "s3cret\n";
  std::ofstream(dir_ + "/sts.token") << "CAIS-token\n";
  std::string json = Json(R"(,"expiry_grace_seconds":5)");
  const std::string db = R"({"url":"postgresql://db/x"})";
  json.replace(json.find(db), db.size(),
               R"({"url":"postgresql://db/x","password_file":"db.password"})");
  json.replace(json.find(R"("access_key_secret_file")"), 0,
               R"("security_token_file":"sts.token",)");
  auto c = ParseConfig(json, dir_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->database_password_file, dir_ + "/db.password");
  EXPECT_EQ(c->buckets[0].credentials.security_token, "CAIS-token");
  EXPECT_EQ(c->bucket_token_files[0], dir_ + "/sts.token");
  EXPECT_EQ(c->expiry_grace, absl::Seconds(5));
  json.replace(json.find("db.password"), 11, "nope.password");
  EXPECT_THAT(ParseConfig(json, dir_).status().message(), HasSubstr("nope.password"));
}

TEST_F(ConfigTest, BadConfigNamesTheSetting) {
  EXPECT_THAT(ParseConfig("{", dir_).status().message(), HasSubstr("not a JSON object"));
  EXPECT_THAT(ParseConfig(R"({"callers_file":"x"})", dir_).status().message(),
              HasSubstr("database.url"));
  EXPECT_THAT(ParseConfig(Json(R"(,"worker_threads":"many")"), dir_).status().message(),
              HasSubstr("worker_threads"));
  EXPECT_THAT(ParseConfig(Json(R"(,"http":{"listen":"nope"})"), dir_).status().message(),
              HasSubstr("http.listen"));
  for (const char* bytes : {"100", "100000000"}) {
    EXPECT_THAT(
        ParseConfig(Json(absl::StrCat(R"(,"http":{"max_callback_body_bytes":)", bytes, "}")), dir_)
            .status()
            .message(),
        HasSubstr("http.max_callback_body_bytes must be 1024-8388608"));
  }
  EXPECT_THAT(
      ParseConfig(Json(R"(,"callback_keys":{"pins":[{"url":"u","pem_file":"missing.pem"}]})"), dir_)
          .status()
          .message(),
      HasSubstr("missing.pem"));
}

TEST_F(ConfigTest, HeadObjectLimits) {
  auto defaults = ParseConfig(Json(), dir_);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->head_object_max_in_flight, 4096);
  EXPECT_EQ(defaults->head_object_max_connections_per_host, 128);
  auto set = ParseConfig(
      Json(R"(,"head_object":{"max_in_flight":100,"max_connections_per_host":16})"), dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->head_object_max_in_flight, 100);
  EXPECT_EQ(set->head_object_max_connections_per_host, 16);
  EXPECT_THAT(ParseConfig(Json(R"(,"head_object":{"max_in_flight":0})"), dir_).status().message(),
              HasSubstr("head_object.max_in_flight must be 1-1000000"));
  EXPECT_THAT(ParseConfig(Json(R"(,"head_object":{"max_connections_per_host":20000})"), dir_)
                  .status()
                  .message(),
              HasSubstr("head_object.max_connections_per_host must be 1-10000"));
  EXPECT_THAT(ParseConfig(Json(R"(,"head_object":7)"), dir_).status().message(),
              HasSubstr("head_object must be an object"));
}

TEST_F(ConfigTest, EnvironmentOverridesTheFile) {
  auto c = ParseConfig(Json(), dir_);
  ASSERT_TRUE(c.ok());
  std::map<std::string, std::string> env = {
      {"OSSUP_DATABASE_URL", "postgresql://other/y"},
      {"OSSUP_HTTP_LISTEN", "0.0.0.0:9090"},
      {"OSSUP_CALLBACK_URLS", "https://a.example.com/cb;https://b.example.com/cb"},
      {"OSSUP_WORKER_THREADS", "4"}};
  auto lookup = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  ASSERT_TRUE(ApplyEnvironment(&*c, lookup).ok());
  EXPECT_EQ(c->database_url, "postgresql://other/y");
  EXPECT_EQ(c->http_listen_address, "0.0.0.0");
  EXPECT_EQ(c->http_port, 9090);
  EXPECT_EQ(c->callback.urls.size(), 2u);
  EXPECT_EQ(c->worker_threads, 4);
  env["OSSUP_WORKER_THREADS"] = "0";
  EXPECT_THAT(ApplyEnvironment(&*c, lookup).message(), HasSubstr("OSSUP_WORKER_THREADS"));
}

}  // namespace
}  // namespace ossup::app
