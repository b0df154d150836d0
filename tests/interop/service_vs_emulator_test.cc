// The service's protocol code against the independent emulator: forms our FormIssuer signs are
// accepted (and their bindings enforced) by an implementation written separately from the same
// reference, the callbacks it sends verify with our CallbackVerifier and with the openssl CLI,
// and our HeadObject client reads the stored object back.
#include <curl/curl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/clock.h"
#include "service/domain/form_issuer.h"
#include "service/domain/upload_rules.h"
#include "service/protocol/callback_body.h"
#include "service/protocol/callback_verifier.h"
#include "service/protocol/crypto.h"
#include "service/protocol/public_key.h"
#include "service/remote/oss_client.h"
#include "service/remote/public_key_fetcher.h"
#include "service/transport/http_server.h"
#include "tests/support/emulator_process.h"

namespace ossup {
namespace {

using ::testing::HasSubstr;

constexpr char kEmulatorConfig[] = R"({
  "default_bucket": "media",
  "buckets": [{"name": "media", "region": "cn-hangzhou",
               "credentials": [{"access_key_id": "LTAI-interop", "access_key_secret": "interop-secret"}]}]
})";

struct Reply {
  long status = 0;
  std::string body;
};

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// POSTs the form as a browser would: fields in order, then the file part last.
Reply PostForm(const protocol::PostForm& form,
               const std::vector<std::pair<std::string, std::string>>& overrides,
               const std::string& file_content, const std::string& file_type) {
  CURL* curl = curl_easy_init();
  curl_mime* mime = curl_mime_init(curl);
  for (const auto& field : form.fields) {
    std::string value = field.value;
    for (const auto& [name, v] : overrides) {
      if (name == field.name) value = v;
    }
    curl_mimepart* part = curl_mime_addpart(mime);
    curl_mime_name(part, field.name.c_str());
    curl_mime_data(part, value.data(), value.size());
  }
  curl_mimepart* file = curl_mime_addpart(mime);
  curl_mime_name(file, form.file_field.c_str());
  curl_mime_filename(file, "photo.png");
  curl_mime_type(file, file_type.c_str());
  curl_mime_data(file, file_content.data(), file_content.size());
  Reply reply;
  curl_easy_setopt(curl, CURLOPT_URL, form.url.c_str());
  curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  }
  curl_mime_free(mime);
  curl_easy_cleanup(curl);
  return reply;
}

std::string Get(const std::string& url) {
  std::string body;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  return body;
}

class ServiceVsEmulatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto emulator = testing::EmulatorProcess::Start(kEmulatorConfig, OSSEMU_BINARY);
    ASSERT_TRUE(emulator.ok()) << emulator.status();
    emulator_ = *std::move(emulator);

    auto server = transport::HttpServer::Start(
        {}, [this](transport::HttpRequest req, transport::HttpRespond respond) {
          {
            absl::MutexLock lock(&mu_);
            callbacks_.push_back(req);
          }
          respond({200, "application/json", R"({"status":"recorded"})", {}});
        });
    ASSERT_TRUE(server.ok()) << server.status();
    callback_server_ = *std::move(server);

    domain::BucketConfig bucket;
    bucket.name = "media";
    bucket.region = "cn-hangzhou";
    bucket.scheme = "http";
    bucket.endpoint_host = absl::StrCat("127.0.0.1:", emulator_->port());
    bucket.virtual_hosted = false;  // the emulator's plain address serves its default bucket
    bucket.credentials = {"LTAI-interop", "interop-secret", "", absl::InfiniteFuture()};
    auto issuer = domain::FormIssuer::Create(
        {bucket},
        {{absl::StrCat("http://127.0.0.1:", callback_server_->port(), "/oss/callback?src=emu")},
         "",
         false},
        "interop-token-key-0123456789");
    ASSERT_TRUE(issuer.ok()) << issuer.status();
    issuer_ = *std::move(issuer);
  }

  domain::Upload NewUpload(const std::string& key, int64_t max_size) {
    domain::Upload u;
    u.id = domain::NewUploadId(random_);
    u.bucket = "media";
    u.object_key = key;
    u.content_types = {"image/png"};
    u.min_size = 1;
    u.max_size = max_size;
    u.expire_time = absl::Now() + absl::Minutes(10);
    return u;
  }

  std::vector<transport::HttpRequest> Callbacks() {
    absl::MutexLock lock(&mu_);
    return callbacks_;
  }

  std::unique_ptr<testing::EmulatorProcess> emulator_;
  std::unique_ptr<transport::HttpServer> callback_server_;
  std::unique_ptr<domain::FormIssuer> issuer_;
  SeededRandomForTests random_{42};
  absl::Mutex mu_;
  std::vector<transport::HttpRequest> callbacks_;
};

TEST_F(ServiceVsEmulatorTest, IssuedFormUploadsAndTheCallbackVerifies) {
  const domain::Upload upload = NewUpload("avatars/interop/photo.png", 1 << 20);
  auto form = issuer_->Issue(upload, absl::Now());
  ASSERT_TRUE(form.ok()) << form.status();
  const std::string content = "\x89PNG\r\n\x1a\n fake image bytes";
  const Reply reply = PostForm(*form, {}, content, "image/png");
  // OSS relays the callback server's answer with 200 when the callback succeeded.
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.body, R"({"status":"recorded"})");

  const auto callbacks = Callbacks();
  ASSERT_EQ(callbacks.size(), 1u);
  const transport::HttpRequest& cb = callbacks[0];
  EXPECT_EQ(cb.method, "POST");
  EXPECT_EQ(cb.target, "/oss/callback?src=emu");

  // Our verifier, fetching the emulator's key over http from an allowlisted prefix.
  const std::string prefix = emulator_->base_url() + "/";
  remote::PublicKeyFetcherOptions fetch_options;
  fetch_options.allowed_key_url_prefixes = {prefix};
  fetch_options.allow_insecure_http = true;
  auto fetcher = remote::PublicKeyFetcher::Create(fetch_options);
  ASSERT_TRUE(fetcher.ok()) << fetcher.status();
  protocol::PinnedKeyProvider keys(fetcher->get());
  protocol::CallbackVerifierOptions verify_options;
  verify_options.allowed_key_url_prefixes = {prefix};
  protocol::CallbackVerifier verifier(&keys, verify_options);
  const protocol::CallbackVerification verified = verifier.Verify({cb.target, cb.headers, cb.body});
  ASSERT_TRUE(verified.ok()) << verified.message;

  // With the default allowlist (OSS's key host only) the same callback is refused, unfetched.
  protocol::CallbackVerifier strict(&keys, protocol::CallbackVerifierOptions{});
  EXPECT_EQ(strict.Verify({cb.target, cb.headers, cb.body}).error,
            protocol::CallbackVerifyError::kKeyUrlNotAllowed);

  // The body carries what we bound and what OSS substituted.
  auto body = protocol::CallbackBody::Parse(protocol::CallbackBodyType::kJson, cb.body);
  ASSERT_TRUE(body.ok()) << body.status() << "\n" << cb.body;
  auto payload = domain::ParseCallbackPayload(*body);
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ(payload->upload_id, upload.id);
  EXPECT_EQ(payload->token, issuer_->CallbackToken(upload.id));
  EXPECT_EQ(payload->object.bucket, "media");
  EXPECT_EQ(payload->object.key, upload.object_key);
  EXPECT_EQ(payload->object.size, static_cast<int64_t>(content.size()));
  EXPECT_EQ(domain::CheckObjectAgainstUpload(upload, payload->object), std::nullopt);

  // Our HeadObject (V4 header auth) reads the stored object; it matches the callback.
  auto client = remote::CurlOssClient::Create(&RealClock::Get());
  ASSERT_TRUE(client.ok());
  const std::optional<domain::BucketConfig> bucket = issuer_->bucket("media");
  auto head =
      (*client)->HeadObject({"http", bucket->endpoint_host, false, bucket->region},
                            bucket->credentials, "media", upload.object_key, absl::Seconds(5));
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->size, static_cast<int64_t>(content.size()));
  EXPECT_EQ(absl::AsciiStrToLower(head->etag), absl::AsciiStrToLower(payload->object.etag));
  EXPECT_EQ(head->etag, absl::AsciiStrToUpper(protocol::HexEncode(*protocol::Md5(content))));
  EXPECT_EQ(head->content_type, "image/png");
  EXPECT_EQ((*client)
                ->HeadObject({"http", bucket->endpoint_host, false, bucket->region},
                             bucket->credentials, "media", "avatars/missing.png", absl::Seconds(5))
                .status()
                .code(),
            absl::StatusCode::kNotFound);

  // The openssl CLI agrees on the signature (independent of both implementations).
  std::string auth_b64, key_url_b64;
  for (const auto& [name, value] : cb.headers) {
    if (absl::EqualsIgnoreCase(name, "authorization")) auth_b64 = value;
    if (absl::EqualsIgnoreCase(name, "x-oss-pub-key-url")) key_url_b64 = value;
  }
  // Per process: the release and sanitizer trees may run this test at the same time.
  const std::string dir = ::testing::TempDir() + "/ossup-interop-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/sig.bin") << *protocol::Base64DecodeStrict(auth_b64);
  std::ofstream(dir + "/data.bin") << verified.string_to_sign;
  std::ofstream(dir + "/pub.pem") << Get(*protocol::Base64DecodeStrict(key_url_b64));
  const std::string command =
      absl::StrCat("openssl dgst -md5 -verify ", dir, "/pub.pem -signature ", dir, "/sig.bin ", dir,
                   "/data.bin 2>&1");
  std::FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char out[256] = {0};
  const size_t n = std::fread(out, 1, sizeof(out) - 1, pipe);
  pclose(pipe);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(std::string(out, n), "Verified OK\n");
}

TEST_F(ServiceVsEmulatorTest, TheEmulatorEnforcesWhatTheFormBinds) {
  const domain::Upload upload = NewUpload("avatars/interop/bound.png", 64);
  auto form = issuer_->Issue(upload, absl::Now());
  ASSERT_TRUE(form.ok()) << form.status();
  const std::string small = "0123456789";

  Reply r = PostForm(*form, {{"key", "avatars/interop/elsewhere.png"}}, small, "image/png");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_THAT(r.body, HasSubstr("<Code>AccessDenied</Code>"));

  r = PostForm(*form, {{"Content-Type", "text/html"}}, small, "image/png");
  EXPECT_EQ(r.status, 403) << r.body;
  r = PostForm(*form, {{"x-oss-content-type", "text/html"}}, small, "image/png");
  EXPECT_EQ(r.status, 403) << r.body;
  r = PostForm(*form, {{"x-oss-object-acl", "public-read"}}, small, "image/png");
  EXPECT_EQ(r.status, 403) << r.body;

  r = PostForm(*form, {}, std::string(65, 'x'), "image/png");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr("<Code>EntityTooLarge</Code>"));

  std::string policy;
  for (const auto& f : form->fields) {
    if (f.name == "policy") policy = f.value;
  }
  std::string decoded = *protocol::Base64DecodeStrict(policy);
  decoded.replace(decoded.find("\"media\""), 7, "\"other\"");
  r = PostForm(*form, {{"policy", protocol::Base64Encode(decoded)}}, small, "image/png");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_THAT(r.body, HasSubstr("<Code>SignatureDoesNotMatch</Code>"));
  EXPECT_TRUE(Callbacks().empty());  // nothing was stored, so nothing was called back

  // The untampered form works once; the same form cannot overwrite the object.
  r = PostForm(*form, {}, small, "image/png");
  EXPECT_EQ(r.status, 200) << r.body;
  r = PostForm(*form, {}, small, "image/png");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_THAT(r.body, HasSubstr("<Code>FileAlreadyExists</Code>"));
  EXPECT_EQ(Callbacks().size(), 1u);
}

}  // namespace
}  // namespace ossup
