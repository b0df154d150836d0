// End-to-end tests: the emulator on a real socket (port 0), requests built by hand with curl.
// Signing uses this file's own small helpers (policy JSON, V4/V1 form signatures, V4 header
// signature from the reference-vector-checked emulator primitives), never service/ code.

#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "crypto.h"
#include "emulator.h"
#include "gtest/gtest.h"
#include "http_server.h"
#include "v4_auth.h"

namespace ossemu {
namespace {

using json = nlohmann::json;
using Fields = std::vector<std::pair<std::string, std::string>>;

constexpr char kBucket[] = "examplebucket";
constexpr char kRegion[] = "cn-hangzhou";

struct Reply {
  long status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    (*static_cast<std::map<std::string, std::string>*>(user))[absl::AsciiStrToLower(
        line.substr(0, colon))] = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return size * n;
}

Reply Http(const std::string& method, const std::string& url,
           const std::vector<std::string>& headers, const std::string& body = "") {
  Reply reply;
  CURL* curl = curl_easy_init();
  curl_slist* list = nullptr;
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  list = curl_slist_append(list, "Expect:");
  bool has_type = false;
  for (const std::string& h : headers) has_type = has_type || absl::StartsWithIgnoreCase(h, "content-type:");
  if (!has_type) list = curl_slist_append(list, "Content-Type:");  // no curl default type
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (method == "POST" || method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  }
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return reply;
}

std::string ErrorCode(const Reply& r) {
  size_t a = r.body.find("<Code>");
  size_t b = r.body.find("</Code>");
  if (a == std::string::npos || b == std::string::npos) return "";
  return r.body.substr(a + 6, b - a - 6);
}

std::string Iso(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}
std::string OssDate(absl::Time t) {
  return absl::FormatTime("%Y%m%dT%H%M%SZ", t, absl::UTCTimeZone());
}

// A multipart/form-data body built by hand.
struct Form {
  Fields fields;
  std::string file_name = "photo.png";
  std::string file_type = "image/png";
  std::string file_data = "hello, oss";
  Fields after_file;
  bool include_file = true;

  std::string Body(const std::string& boundary) const {
    std::string b;
    auto part = [&](const std::string& name, const std::string& value) {
      absl::StrAppend(&b, "--", boundary, "\r\nContent-Disposition: form-data; name=\"", name,
                      "\"\r\n\r\n", value, "\r\n");
    };
    for (const auto& [n, v] : fields) part(n, v);
    if (include_file) {
      absl::StrAppend(&b, "--", boundary, "\r\nContent-Disposition: form-data; name=\"file\"; ",
                      "filename=\"", file_name, "\"\r\nContent-Type: ", file_type, "\r\n\r\n",
                      file_data, "\r\n");
    }
    for (const auto& [n, v] : after_file) part(n, v);
    absl::StrAppend(&b, "--", boundary, "--\r\n");
    return b;
  }
};

struct Signer {
  std::string ak = "ak";
  std::string sk = "sk";
  std::string region = kRegion;
  std::string token;
  absl::Time when = absl::Now();
  absl::Time expiration = absl::Now() + absl::Hours(1);

  std::string Credential() const {
    return absl::StrCat(ak, "/", absl::FormatTime("%Y%m%d", when, absl::UTCTimeZone()), "/",
                        region, "/oss/aliyun_v4_request");
  }
  // Adds policy + V4 fields; `conditions` are extra policy conditions.
  void SignV4(Form* form, json conditions) const {
    conditions.push_back({{"x-oss-signature-version", "OSS4-HMAC-SHA256"}});
    conditions.push_back({{"x-oss-credential", Credential()}});
    conditions.push_back({{"x-oss-date", OssDate(when)}});
    json policy = {{"expiration", Iso(expiration)}, {"conditions", conditions}};
    std::string b64 = Base64(policy.dump());
    std::string date = absl::FormatTime("%Y%m%d", when, absl::UTCTimeZone());
    form->fields.insert(form->fields.begin(),
                        {{"policy", b64},
                         {"x-oss-signature-version", "OSS4-HMAC-SHA256"},
                         {"x-oss-credential", Credential()},
                         {"x-oss-date", OssDate(when)},
                         {"x-oss-signature",
                          LowerHex(HmacSha256(V4SigningKey(sk, date, region), b64))}});
    if (!token.empty()) form->fields.insert(form->fields.begin(), {"x-oss-security-token", token});
  }
  void SignV1(Form* form, json conditions) const {
    json policy = {{"expiration", Iso(expiration)}, {"conditions", conditions}};
    std::string b64 = Base64(policy.dump());
    form->fields.insert(form->fields.begin(), {{"OSSAccessKeyId", ak},
                                               {"policy", b64},
                                               {"Signature", Base64(HmacSha1(sk, b64))}});
  }
  // Authorization + x-oss-date headers for a V4 header-signed request.
  std::vector<std::string> HeaderAuth(const std::string& method, const std::string& key,
                                      const std::string& raw_query = "",
                                      const Fields& extra = {}) const {
    std::string date = OssDate(when);
    V4Request req{method, kBucket, key, raw_query,
                  {{"x-oss-date", date}, {"x-oss-content-sha256", "UNSIGNED-PAYLOAD"}}};
    std::vector<std::string> lines = {"x-oss-date: " + date,
                                      "x-oss-content-sha256: UNSIGNED-PAYLOAD"};
    for (const auto& [n, v] : extra) {
      req.headers.emplace_back(n, v);
      lines.push_back(n + ": " + v);
    }
    std::string sig = V4HeaderSignature(req, sk, date.substr(0, 8), region, {});
    lines.push_back(absl::StrCat("Authorization: OSS4-HMAC-SHA256 Credential=", Credential(),
                                 ",Signature=", sig));
    return lines;
  }
};

// A callback dispatcher double: records calls, answers like a healthy app server.
class FakeDispatcher : public CallbackDispatcher {
 public:
  absl::StatusOr<ParsedCallback> Parse(
      absl::string_view callback_base64,
      const std::vector<std::pair<std::string, std::string>>& vars) const override {
    if (callback_base64 == "bad") {
      return absl::InvalidArgumentError("The callback configuration is not json format.");
    }
    ParsedCallback p;
    p.urls = {"http://app.invalid/cb"};
    p.vars = vars;
    return p;
  }
  CallbackOutcome Dispatch(const ParsedCallback&, const UploadFacts& facts,
                           absl::string_view) override {
    last_facts = facts;
    ++calls;
    CallbackOutcome o;
    if (faults != nullptr && faults->drop.load()) {
      o.http_status = 203;
      o.content_type = "application/xml";
      o.body = "<Error><Code>CallbackFailed</Code></Error>";
      o.message = "Error status : -1.";
      return o;
    }
    o.content_type = "application/json";
    o.body = R"({"Status":"OK"})";
    return o;
  }
  std::string PublicKeyPem() const override { return "-----BEGIN PUBLIC KEY-----\nX\n"; }
  UploadFacts last_facts;
  std::atomic<int> calls{0};
  const CallbackFaults* faults = nullptr;
};

class EmulatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = std::filesystem::temp_directory_path() / ("ossemu-" + RandomHex(6));
    absl::StatusOr<EmulatorConfig> config = ParseConfig(R"({
      "default_bucket": "examplebucket",
      "buckets": [
        {"name": "examplebucket", "region": "cn-hangzhou",
         "credentials": [
           {"access_key_id": "ak", "access_key_secret": "sk"},
           {"access_key_id": "STS.ak", "access_key_secret": "stssk", "security_token": "token"},
           {"access_key_id": "STS.old", "access_key_secret": "oldsk", "security_token": "t2",
            "expires_at": "2020-01-01T00:00:00Z"}],
         "cors": [{"allowed_origins": ["http://localhost:*"], "allowed_methods": ["POST", "GET"],
                   "allowed_headers": ["*"], "expose_headers": ["ETag", "x-oss-request-id"],
                   "max_age_seconds": 100}]},
        {"name": "other", "region": "cn-beijing",
         "credentials": [{"access_key_id": "ak2", "access_key_secret": "sk2"}]}
      ]})");
    ASSERT_TRUE(config.ok()) << config.status();
    EmulatorOptions options;
    options.config = *config;
    options.data_dir = data_dir_.string();
    dispatcher_.faults = &faults_;
    options.dispatcher = &dispatcher_;
    options.faults = &faults_;
    absl::StatusOr<std::unique_ptr<Emulator>> emulator = Emulator::Create(std::move(options));
    ASSERT_TRUE(emulator.ok()) << emulator.status();
    emulator_ = *std::move(emulator);
    HttpServerOptions http;
    http.log_requests = false;
    absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(http, emulator_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    base_ = absl::StrCat("http://127.0.0.1:", server_->port());
  }
  void TearDown() override {
    if (server_) server_->Stop();
    std::error_code ec;
    std::filesystem::remove_all(data_dir_, ec);
  }

  Reply Post(const Form& form, std::vector<std::string> headers = {}) {
    headers.push_back("Content-Type: multipart/form-data; boundary=9431149156168");
    return Http("POST", base_ + "/", headers, form.Body("9431149156168"));
  }
  // A V4-signed form for `key` with `conditions` (plus bucket) in the policy.
  Form V4Form(const std::string& key, json conditions = json::array()) {
    Form form;
    form.fields = {{"key", key}};
    conditions.push_back({{"bucket", kBucket}});
    signer_.SignV4(&form, conditions);
    return form;
  }
  size_t TempFiles() const {
    size_t n = 0;
    for (auto& e : std::filesystem::directory_iterator(data_dir_ / "tmp")) n += e.is_regular_file();
    return n;
  }

  std::filesystem::path data_dir_;
  FakeDispatcher dispatcher_;
  CallbackFaults faults_;
  std::unique_ptr<Emulator> emulator_;
  std::unique_ptr<HttpServer> server_;
  std::string base_;
  Signer signer_;
};

TEST_F(EmulatorTest, V4PostStoresObjectAndV4HeaderAuthReadsIt) {
  Form form = V4Form("user/a.png", json::array({json::array({"starts-with", "$key", "user/"}),
                                                json::array({"content-length-range", 1, 1024})}));
  form.fields.push_back({"x-oss-meta-owner", "eric"});
  Reply r = Post(form);
  ASSERT_EQ(r.status, 204) << r.body;
  Md5 md5;
  md5.Update("hello, oss");
  std::string raw_md5 = md5.Final();
  Crc64 crc;
  crc.Update("hello, oss");
  EXPECT_EQ(r.Header("etag"), absl::StrCat("\"", UpperHex(raw_md5), "\""));
  EXPECT_EQ(r.Header("content-md5"), Base64(raw_md5));
  EXPECT_EQ(r.Header("x-oss-hash-crc64ecma"), std::to_string(crc.Value()));
  EXPECT_EQ(r.Header("server"), "AliyunOSS");
  EXPECT_EQ(r.Header("x-oss-request-id").size(), 24u);

  Reply head = Http("HEAD", base_ + "/user/a.png", signer_.HeaderAuth("HEAD", "user/a.png"));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("content-length"), "10");
  EXPECT_EQ(head.Header("content-type"), "image/png");
  EXPECT_EQ(head.Header("x-oss-meta-owner"), "eric");
  EXPECT_EQ(head.Header("etag"), r.Header("etag"));

  Reply get = Http("GET", base_ + "/user/a.png", signer_.HeaderAuth("GET", "user/a.png"));
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "hello, oss");
  EXPECT_EQ(get.Header("x-oss-hash-crc64ecma"), r.Header("x-oss-hash-crc64ecma"));

  Reply list = Http("GET", base_ + "/?prefix=user%2F&max-keys=10",
                    signer_.HeaderAuth("GET", "", "prefix=user%2F&max-keys=10"));
  EXPECT_EQ(list.status, 200) << list.body;
  EXPECT_TRUE(absl::StrContains(list.body, "<Key>user/a.png</Key>")) << list.body;

  Reply anon = Http("GET", base_ + "/user/a.png", {});
  EXPECT_EQ(anon.status, 403);
  std::vector<std::string> bad = signer_.HeaderAuth("GET", "user/b.png");  // signed for another key
  EXPECT_EQ(ErrorCode(Http("GET", base_ + "/user/a.png", bad)), "SignatureDoesNotMatch");

  Reply del = Http("DELETE", base_ + "/user/a.png", signer_.HeaderAuth("DELETE", "user/a.png"));
  EXPECT_EQ(del.status, 204);
  Reply gone = Http("GET", base_ + "/user/a.png", signer_.HeaderAuth("GET", "user/a.png"));
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(ErrorCode(gone), "NoSuchKey");
  EXPECT_EQ(TempFiles(), 0u);
}

TEST_F(EmulatorTest, V1PostWorksAndSuccessStatus201) {
  Form form;
  form.fields = {{"key", "v1.txt"}, {"success_action_status", "201"}};
  signer_.SignV1(&form, json::array({{{"bucket", kBucket}}}));
  Reply r = Post(form);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "<Key>v1.txt</Key>")) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "<Bucket>examplebucket</Bucket>"));
}

TEST_F(EmulatorTest, V1PartialFieldsRejected) {
  Form form;
  form.fields = {{"key", "v1.txt"}, {"OSSAccessKeyId", "ak"}};
  EXPECT_EQ(ErrorCode(Post(form)), "InvalidArgument");
}

TEST_F(EmulatorTest, ExpiredPolicy) {
  signer_.expiration = absl::Now() - absl::Seconds(1);
  Reply r = Post(V4Form("a.txt"));
  EXPECT_EQ(r.status, 403);
  EXPECT_TRUE(absl::StrContains(r.body, "Policy expired.")) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "<EC>0006-00000213</EC>")) << r.body;
}

TEST_F(EmulatorTest, EachConditionTypeFails) {
  struct Case {
    json condition;
    Fields extra;
  };
  std::vector<Case> cases = {
      {json{{"x-oss-meta-a", "1"}}, {{"x-oss-meta-a", "2"}}},
      {json::array({"eq", "$key", "b.txt"}), {}},
      {json::array({"starts-with", "$key", "user/"}), {}},
      {json::array({"in", "$content-type", json::array({"image/jpeg"})}),
       {{"Content-Type", "image/png"}}},
      {json::array({"not-in", "$cache-control", json::array({"no-cache"})}),
       {{"Cache-Control", "no-cache"}}},
      {json{{"bucket", "other"}}, {}},
  };
  for (const Case& c : cases) {
    Form form = V4Form("a.txt", json::array({c.condition}));
    for (const auto& f : c.extra) form.fields.push_back(f);
    Reply r = Post(form);
    EXPECT_EQ(r.status, 403) << c.condition.dump();
    EXPECT_EQ(ErrorCode(r), "AccessDenied") << c.condition.dump();
    EXPECT_TRUE(absl::StrContains(r.body, "Policy Condition failed: ")) << r.body;
  }
  // And the passing forms, with case-insensitive field names.
  Form ok = V4Form("user/a.txt",
                   json::array({json::array({"in", "$content-type", json::array({"image/png"})}),
                                json::array({"not-in", "$cache-control", json::array({"x"})}),
                                json::array({"eq", "$KEY", "user/a.txt"})}));
  ok.fields.push_back({"Content-Type", "image/png"});
  EXPECT_EQ(Post(ok).status, 204);
}

TEST_F(EmulatorTest, WrongSignature) {
  signer_.sk = "wrong";
  Reply r = Post(V4Form("a.txt"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(ErrorCode(r), "SignatureDoesNotMatch");
  Form v1;
  v1.fields = {{"key", "a.txt"}};
  signer_.SignV1(&v1, json::array({{{"bucket", kBucket}}}));
  EXPECT_EQ(ErrorCode(Post(v1)), "SignatureDoesNotMatch");
}

TEST_F(EmulatorTest, WrongRegionAndDate) {
  signer_.region = "cn-beijing";
  EXPECT_EQ(ErrorCode(Post(V4Form("a.txt"))), "InvalidArgument");
  signer_.region = kRegion;
  // x-oss-date's day differs from the credential's.
  Form form = V4Form("a.txt");
  for (auto& [n, v] : form.fields) {
    if (n == "x-oss-date") v = OssDate(signer_.when - absl::Hours(48));
  }
  EXPECT_EQ(ErrorCode(Post(form)), "InvalidArgument");
  // Signed 8 days ago: outside the 7-day window.
  signer_.when = absl::Now() - absl::Hours(24 * 8);
  EXPECT_EQ(ErrorCode(Post(V4Form("a.txt"))), "AccessDenied");
  // Signed 20 minutes in the future.
  signer_.when = absl::Now() + absl::Minutes(20);
  EXPECT_EQ(ErrorCode(Post(V4Form("a.txt"))), "RequestTimeTooSkewed");
}

TEST_F(EmulatorTest, UnknownAccessKey) {
  signer_.ak = "nobody";
  Reply r = Post(V4Form("a.txt"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(ErrorCode(r), "InvalidAccessKeyId");
}

TEST_F(EmulatorTest, StsTokenRequiredAndExpiry) {
  signer_.ak = "STS.ak";
  signer_.sk = "stssk";
  Reply missing = Post(V4Form("a.txt"));
  EXPECT_EQ(ErrorCode(missing), "InvalidAccessKeyId");
  EXPECT_TRUE(absl::StrContains(missing.body, "Security Token may be lost")) << missing.body;
  signer_.token = "token";
  EXPECT_EQ(Post(V4Form("a.txt", json::array({{{"x-oss-security-token", "token"}}}))).status, 204);
  signer_.ak = "STS.old";
  signer_.sk = "oldsk";
  signer_.token = "t2";
  EXPECT_EQ(ErrorCode(Post(V4Form("a.txt"))), "InvalidAccessKeyId");
}

TEST_F(EmulatorTest, MissingKeyAndKeyAfterFile) {
  Form form = V4Form("a.txt");
  form.fields.erase(form.fields.begin() + static_cast<long>(form.fields.size()) - 1);  // drop key
  Reply r = Post(form);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "InvalidArgument");
  form.after_file = {{"key", "a.txt"}};
  r = Post(form);
  EXPECT_EQ(ErrorCode(r), "InvalidArgument");
  EXPECT_TRUE(absl::StrContains(r.body, "order of the fields")) << r.body;
  EXPECT_EQ(TempFiles(), 0u);
}

TEST_F(EmulatorTest, TooLargeAndTooSmall) {
  Form big = V4Form("a.txt", json::array({json::array({"content-length-range", 1, 5})}));
  Reply r = Post(big);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "EntityTooLarge");
  Form small = V4Form("a.txt", json::array({json::array({"content-length-range", 100, 200})}));
  r = Post(small);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "EntityTooSmall");
  EXPECT_EQ(TempFiles(), 0u);
}

TEST_F(EmulatorTest, ForbidOverwrite) {
  ASSERT_EQ(Post(V4Form("a.txt")).status, 204);
  Form again = V4Form("a.txt");
  again.fields.push_back({"x-oss-forbid-overwrite", "true"});
  Reply r = Post(again);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ErrorCode(r), "FileAlreadyExists");
  Form allowed = V4Form("a.txt");
  allowed.fields.push_back({"x-oss-forbid-overwrite", "false"});
  EXPECT_EQ(Post(allowed).status, 204);
}

TEST_F(EmulatorTest, MalformedMultipart) {
  Reply r = Http("POST", base_ + "/",
                 {"Content-Type: multipart/form-data; boundary=abc"},
                 "--abc\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nx");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "MalformedPOSTRequest");
  r = Http("POST", base_ + "/", {"Content-Type: text/plain"}, "hello");
  EXPECT_EQ(ErrorCode(r), "MalformedPOSTRequest");
}

TEST_F(EmulatorTest, FieldAfterFileIgnoredAndContentTypePrecedence) {
  Form form = V4Form("late.txt");
  form.after_file = {{"x-oss-meta-late", "1"}, {"submit", "Upload"}};
  form.fields.push_back({"Content-Type", "text/plain"});
  ASSERT_EQ(Post(form).status, 204);
  Reply head = Http("HEAD", base_ + "/late.txt", signer_.HeaderAuth("HEAD", "late.txt"));
  EXPECT_EQ(head.Header("x-oss-meta-late"), "");
  EXPECT_EQ(head.Header("content-type"), "text/plain");

  Form form2 = V4Form("ct.txt");
  form2.fields.push_back({"Content-Type", "text/plain"});
  form2.fields.push_back({"x-oss-content-type", "application/json"});
  ASSERT_EQ(Post(form2).status, 204);
  head = Http("HEAD", base_ + "/ct.txt", signer_.HeaderAuth("HEAD", "ct.txt"));
  EXPECT_EQ(head.Header("content-type"), "application/json");
}

TEST_F(EmulatorTest, FilenameSubstitutionMatchesUnexpandedKey) {
  // The policy matches the literal "${filename}" (escaped as \$ in the policy value).
  Form form = V4Form("user/${filename}",
                     json::array({json::array({"eq", "$key", "user/\\${filename}"})}));
  form.file_name = "cat.png";
  ASSERT_EQ(Post(form).status, 204);
  Reply head = Http("HEAD", base_ + "/user/cat.png", signer_.HeaderAuth("HEAD", "user/cat.png"));
  EXPECT_EQ(head.status, 200);
}

TEST_F(EmulatorTest, FieldLimits) {
  Form form = V4Form("a.txt");
  form.fields.push_back({"x-oss-meta-big", std::string(2 * 1024 * 1024 + 1, 'a')});
  EXPECT_EQ(ErrorCode(Post(form)), "FieldItemTooLong");
  Form many = V4Form("a.txt");
  for (int i = 0; i < 70; ++i) many.fields.push_back({absl::StrCat("x:f", i), "v"});
  EXPECT_EQ(ErrorCode(Post(many)), "FieldItemTooLong");
}

TEST_F(EmulatorTest, CorsPreflightAndActualResponse) {
  Reply ok = Http("OPTIONS", base_ + "/",
                  {"Origin: http://localhost:3000", "Access-Control-Request-Method: POST",
                   "Access-Control-Request-Headers: content-type"});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.Header("access-control-allow-origin"), "http://localhost:3000");
  EXPECT_EQ(ok.Header("access-control-max-age"), "100");
  EXPECT_TRUE(absl::StrContains(ok.Header("access-control-allow-methods"), "POST"));

  Reply refused = Http("OPTIONS", base_ + "/",
                       {"Origin: https://evil.example", "Access-Control-Request-Method: POST"});
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(ErrorCode(refused), "AccessForbidden");
  Reply bad_method = Http("OPTIONS", base_ + "/",
                          {"Origin: http://localhost:1", "Access-Control-Request-Method: PUT"});
  EXPECT_EQ(bad_method.status, 403);

  Reply post = Post(V4Form("cors.txt"), {"Origin: http://localhost:3000"});
  EXPECT_EQ(post.status, 204);
  EXPECT_EQ(post.Header("access-control-allow-origin"), "http://localhost:3000");
  EXPECT_EQ(post.Header("access-control-expose-headers"), "ETag, x-oss-request-id");
}

TEST_F(EmulatorTest, VirtualHostAddressing) {
  // "other" lives in cn-beijing with its own key; addressed through the Host header.
  Signer other;
  other.ak = "ak2";
  other.sk = "sk2";
  other.region = "cn-beijing";
  Form form;
  form.fields = {{"key", "vh.txt"}};
  other.SignV4(&form, json::array({{{"bucket", "other"}}}));
  Reply r = Post(form, {"Host: other.oss-cn-beijing.aliyuncs.com"});
  EXPECT_EQ(r.status, 204) << r.body;
  // The same form against the default bucket fails (unknown key there).
  EXPECT_EQ(ErrorCode(Post(form)), "InvalidAccessKeyId");
}

TEST_F(EmulatorTest, CallbackRelayedAndBadCallbackRejected) {
  Form form = V4Form("cb.txt");
  form.fields.push_back({"callback", "eyJ9"});
  form.fields.push_back({"x:uid", "42"});
  Reply r = Post(form);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"Status":"OK"})");
  EXPECT_EQ(dispatcher_.last_facts.object, "cb.txt");
  EXPECT_EQ(dispatcher_.last_facts.size, 10);
  EXPECT_EQ(dispatcher_.last_facts.client_ip, "127.0.0.1");
  EXPECT_EQ(dispatcher_.last_facts.request_id, r.Header("x-oss-request-id"));

  Form bad = V4Form("cb2.txt");
  bad.fields.push_back({"callback", "bad"});
  Reply rb = Post(bad);
  EXPECT_EQ(rb.status, 400);
  EXPECT_TRUE(absl::StrContains(rb.body, "not json format")) << rb.body;
  EXPECT_EQ(Http("HEAD", base_ + "/cb2.txt", signer_.HeaderAuth("HEAD", "cb2.txt")).status, 404);
  EXPECT_EQ(dispatcher_.calls.load(), 1);
}

TEST_F(EmulatorTest, FaultSwitchesAndPublicKey) {
  Reply set = Http("POST", base_ + "/_emulator/faults", {"Content-Type: application/json"},
                   R"({"callback":"drop","fail_before_store":true})");
  EXPECT_EQ(set.status, 200) << set.body;
  EXPECT_TRUE(faults_.drop.load());
  Reply r = Post(V4Form("f.txt"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(ErrorCode(r), "ServiceUnavailable");
  Http("POST", base_ + "/_emulator/faults", {}, R"({"callback":"none","fail_before_store":false})");
  EXPECT_FALSE(faults_.drop.load());
  EXPECT_EQ(Post(V4Form("f.txt")).status, 204);
  EXPECT_EQ(Http("POST", base_ + "/_emulator/faults", {}, "nope").status, 400);

  Reply pem = Http("GET", base_ + "/emulator/callback_pub_key.pem", {});
  EXPECT_EQ(pem.status, 200);
  EXPECT_TRUE(absl::StartsWith(pem.body, "-----BEGIN PUBLIC KEY-----"));
}

TEST_F(EmulatorTest, LargeFileStreamsToDisk) {
  Form form = V4Form("big.bin");
  form.file_data = std::string(3 * 1024 * 1024 + 17, 'z');
  ASSERT_EQ(Post(form).status, 204);
  Reply get = Http("GET", base_ + "/big.bin", signer_.HeaderAuth("GET", "big.bin"));
  EXPECT_EQ(get.body.size(), form.file_data.size());
  EXPECT_EQ(get.body, form.file_data);
}

TEST_F(EmulatorTest, KeepAliveServesSeveralRequests) {
  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, (base_ + "/missing").c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  long connects = 0;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
    long n = 0;
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &n);
    connects += n;
  }
  curl_easy_cleanup(curl);
  EXPECT_EQ(connects, 1);
}

TEST_F(EmulatorTest, CallbackFailureGives203AndKeepsObject) {
  faults_.drop = true;
  Form form = V4Form("cb203.txt");
  form.fields.push_back({"callback", "eyJ9"});
  Reply r = Post(form);
  faults_.drop = false;
  EXPECT_EQ(r.status, 203);
  EXPECT_TRUE(absl::StrContains(r.body, "CallbackFailed"));
  EXPECT_FALSE(r.Header("etag").empty());
  EXPECT_EQ(Http("HEAD", base_ + "/cb203.txt", signer_.HeaderAuth("HEAD", "cb203.txt")).status, 200);
}

TEST_F(EmulatorTest, ConcurrentUploads) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        Form form = V4Form(absl::StrCat("c/", t, "-", i));
        form.file_data = std::string(static_cast<size_t>(1000 * (t + 1) + i), 'a' + static_cast<char>(t));
        if (Post(form).status == 204) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 30);
  Reply list = Http("GET", base_ + "/?prefix=c%2F&max-keys=1000",
                    signer_.HeaderAuth("GET", "", "prefix=c%2F&max-keys=1000"));
  size_t count = 0;
  for (size_t pos = 0; (pos = list.body.find("<Key>", pos)) != std::string::npos; ++pos) ++count;
  EXPECT_EQ(count, 30u);
}

TEST_F(EmulatorTest, ExpectContinueChunkedAndHugeHeaders) {
  Form form = V4Form("chunked.txt");
  Reply r = Http("POST", base_ + "/",
                 {"Content-Type: multipart/form-data; boundary=b0", "Transfer-Encoding: chunked",
                  "Expect: 100-continue"},
                 form.Body("b0"));
  EXPECT_EQ(r.status, 204) << r.body;
  Reply big = Http("GET", base_ + "/x", {"X-Big: " + std::string(20000, 'a')});
  EXPECT_EQ(big.status, 431);
}

TEST_F(EmulatorTest, InvalidObjectName) {
  EXPECT_EQ(ErrorCode(Post(V4Form("/abs.txt"))), "InvalidObjectName");
  EXPECT_EQ(ErrorCode(Post(V4Form(std::string(1024, 'k')))), "InvalidObjectName");
}

TEST_F(EmulatorTest, PutObjectWithHeaderAuth) {
  Fields headers = {{"Content-Type", "text/csv"}, {"x-oss-meta-kind", "report"}};
  Reply put = Http("PUT", base_ + "/put/r.csv", signer_.HeaderAuth("PUT", "put/r.csv", "", headers),
                   "a,b\n1,2\n");
  ASSERT_EQ(put.status, 200) << put.body;
  Reply get = Http("GET", base_ + "/put/r.csv", signer_.HeaderAuth("GET", "put/r.csv"));
  EXPECT_EQ(get.body, "a,b\n1,2\n");
  EXPECT_EQ(get.Header("content-type"), "text/csv");
  EXPECT_EQ(get.Header("x-oss-meta-kind"), "report");
  EXPECT_EQ(get.Header("etag"), put.Header("etag"));

  // An unsigned x-oss-meta header changes the canonical request: refused.
  std::vector<std::string> tampered = signer_.HeaderAuth("PUT", "put/r.csv");
  tampered.push_back("x-oss-meta-kind: other");
  EXPECT_EQ(ErrorCode(Http("PUT", base_ + "/put/r.csv", tampered, "x")), "SignatureDoesNotMatch");

  Fields bad_md5 = {{"Content-MD5", "AAAAAAAAAAAAAAAAAAAAAA=="}};
  EXPECT_EQ(ErrorCode(Http("PUT", base_ + "/put/m", signer_.HeaderAuth("PUT", "put/m", "", bad_md5),
                           "x")),
            "InvalidDigest");
  Fields forbid = {{"x-oss-forbid-overwrite", "true"}};
  EXPECT_EQ(ErrorCode(Http("PUT", base_ + "/put/r.csv",
                           signer_.HeaderAuth("PUT", "put/r.csv", "", forbid), "y")),
            "FileAlreadyExists");
  Fields cb = {{"x-oss-callback", "eyJ9"}, {"x-oss-callback-var", Base64(R"({"x:a":"1"})")}};
  Reply with_cb = Http("PUT", base_ + "/put/cb", signer_.HeaderAuth("PUT", "put/cb", "", cb), "z");
  EXPECT_EQ(with_cb.status, 200);
  EXPECT_EQ(with_cb.body, R"({"Status":"OK"})");
  EXPECT_EQ(dispatcher_.last_facts.operation, "PutObject");
  EXPECT_EQ(TempFiles(), 0u);
}

// The real program: prints its port, serves, writes one log line per request, exits 0 on SIGTERM.
TEST(EmulatorProcessTest, StartsOnPortZeroAndStopsOnSigterm) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("ossemu-p-" + RandomHex(6));
  std::filesystem::create_directories(dir);
  std::string config = (dir / "config.json").string();
  {
    std::FILE* f = std::fopen(config.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(R"({"buckets":[{"name":"procbucket","region":"cn-shanghai","acl":"public-read-write"}]})", f);
    std::fclose(f);
  }
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  std::string err_path = (dir / "stderr.log").string();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], 1);
    std::FILE* err = std::freopen(err_path.c_str(), "w", stderr);
    (void)err;
    close(out[0]);
    std::string data = "--data_dir=" + (dir / "data").string();
    std::string cfg = "--config=" + config;
    execl(OSSEMU_BINARY, OSSEMU_BINARY, "--listen=127.0.0.1:0", data.c_str(), cfg.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string line;
  char c;
  while (line.size() < 200 && read(out[0], &c, 1) == 1 && c != '\n') line += c;
  close(out[0]);
  ASSERT_TRUE(absl::StartsWith(line, "oss-emulator listening on 127.0.0.1:")) << line;
  std::string base = "http://" + line.substr(std::string("oss-emulator listening on ").size());

  // Anonymous upload is allowed on a public-read-write bucket.
  Form form;
  form.fields = {{"key", "anon.txt"}};
  Reply r = Http("POST", base + "/", {"Content-Type: multipart/form-data; boundary=zz"},
                 form.Body("zz"));
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(Http("GET", base + "/anon.txt", {}).body, "hello, oss");

  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  std::FILE* f = std::fopen(err_path.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string log(4096, '\0');
  log.resize(std::fread(log.data(), 1, log.size(), f));
  std::fclose(f);
  EXPECT_TRUE(absl::StrContains(log, "POST / 204")) << log;
  EXPECT_TRUE(absl::StrContains(log, "GET /anon.txt 200")) << log;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace ossemu
