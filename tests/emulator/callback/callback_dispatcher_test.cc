#include "callback/callback_dispatcher.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "callback/test_http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ossemu {
namespace {

using ::ossemu::testing::RecordedRequest;
using ::ossemu::testing::TestHttpServer;
using ::ossemu::testing::TestReply;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kKeyUrl[] = "http://127.0.0.1:9/callback_pub_key_v1.pem";

// ---- Independent verification (OpenSSL only; nothing from the module under test). ----

std::string DecodeBase64(const std::string& text) {
  std::string out(text.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return "";
  size_t len = static_cast<size_t>(n);
  if (absl::EndsWith(text, "==")) len -= 2;
  else if (absl::EndsWith(text, "=")) len -= 1;
  out.resize(len);
  return out;
}

std::string EncodeBase64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Reference §2.7 step 5-6: percent-decoded path + raw "?query" + "\n" + raw body.
std::string StringToSign(const std::string& target, const std::string& body) {
  const size_t q = target.find('?');
  const std::string path = target.substr(0, q);
  std::string decoded;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size() && absl::ascii_isxdigit(path[i + 1]) &&
        absl::ascii_isxdigit(path[i + 2])) {
      decoded.push_back(static_cast<char>(std::stoi(path.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      decoded.push_back(path[i]);
    }
  }
  return decoded + (q == std::string::npos ? "" : target.substr(q)) + "\n" + body;
}

bool VerifyRsaMd5(const std::string& public_pem, const std::string& data,
                  const std::string& signature_base64) {
  BIO* bio = BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return false;
  const std::string signature = DecodeBase64(signature_base64);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, EVP_md5(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

// `openssl dgst -md5 -verify pub.pem -signature sig.bin data.bin`; returns its output.
std::string VerifyWithOpensslCli(const std::string& public_pem, const std::string& data,
                                 const std::string& signature_base64) {
  char dir_template[] = "/tmp/emu_callback_test_XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) return "mkdtemp failed";
  const std::string d(dir);
  std::ofstream(d + "/pub.pem", std::ios::binary) << public_pem;
  std::ofstream(d + "/sig.bin", std::ios::binary) << DecodeBase64(signature_base64);
  std::ofstream(d + "/data.bin", std::ios::binary) << data;
  const std::string command = absl::StrCat("openssl dgst -md5 -verify ", d, "/pub.pem -signature ",
                                           d, "/sig.bin ", d, "/data.bin 2>&1");
  std::string output;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[256];
    while (fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
    pclose(pipe);
  }
  std::remove((d + "/pub.pem").c_str());
  std::remove((d + "/sig.bin").c_str());
  std::remove((d + "/data.bin").c_str());
  rmdir(dir);
  return output;
}

std::string Md5Base64(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  return EncodeBase64(std::string(reinterpret_cast<char*>(digest), len));
}

// The verifier itself agrees with real OSS: reference §3.5 vector #1 and its negatives.
TEST(CallbackVerifierTest, TestVerifierAcceptsOssVectorAndRefusesNegatives) {
  const std::string oss_key =
      "-----BEGIN PUBLIC KEY-----\n"
      "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKs/JBGzwUB2aVht4crBx3oIPBLNsjGs\n"
      "C0fTXv+nvlmklvkcolvpvXLTjaxUHR3W9LXxQ2EHXAJfCB+6H2YF1k8CAwEAAQ==\n"
      "-----END PUBLIC KEY-----\n";
  const std::string auth =
      "kKQeGTRccDKyHB3H9vF+xYMSrmhMZjzzl2/kdD1ktNVgbWEfYTQG0G2SU/RaHBovRCE8OkQDjC3uG33esH2txA==";
  EXPECT_TRUE(VerifyRsaMd5(oss_key, StringToSign("/index.php?id=1&index=2", "bucket=yonghu-test"), auth));
  EXPECT_FALSE(VerifyRsaMd5(oss_key, StringToSign("/index.php?id=1&index=2", "bucket=yonghu-tesT"), auth));
  EXPECT_FALSE(VerifyRsaMd5(oss_key, StringToSign("/index.php", "bucket=yonghu-test"), auth));
  EXPECT_THAT(VerifyWithOpensslCli(oss_key, StringToSign("/index.php?id=1&index=2", "bucket=yonghu-test"),
                                   auth),
              HasSubstr("Verified OK"));
}

// ---- Dispatcher fixture. ----

TestReply Status(int status, std::string reason, std::string body = "{}") {
  TestReply reply;
  reply.status = status;
  reply.reason = std::move(reason);
  reply.body = std::move(body);
  return reply;
}

TestReply Body(std::string body) { return Status(200, "OK", std::move(body)); }

TestReply Chunked() {
  TestReply reply;
  reply.chunked = true;
  return reply;
}

class CallbackDispatchTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(server_.port(), 0); }

  std::unique_ptr<CallbackDispatcher> MakeDispatcher(absl::Duration timeout = absl::Seconds(5)) {
    CallbackDispatcherOptions options;
    options.public_key_url = kKeyUrl;
    options.timeout = timeout;
    options.faults = &faults_;
    absl::StatusOr<std::unique_ptr<CallbackDispatcher>> dispatcher =
        CallbackDispatcher::Create(std::move(options));
    EXPECT_TRUE(dispatcher.ok()) << dispatcher.status();
    return dispatcher.ok() ? *std::move(dispatcher) : nullptr;
  }

  static ParsedCallback MustParse(const CallbackDispatcher& dispatcher, const nlohmann::json& config,
                                  const std::vector<std::pair<std::string, std::string>>& vars = {}) {
    absl::StatusOr<ParsedCallback> parsed = dispatcher.Parse(EncodeBase64(config.dump()), vars);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    return parsed.ok() ? *parsed : ParsedCallback();
  }

  static nlohmann::json FormConfig(const std::string& urls) {
    return {{"callbackUrl", urls}, {"callbackBody", "object=${object}&size=${size}"}};
  }

  static UploadFacts Facts() {
    UploadFacts facts;
    facts.bucket = "examplebucket";
    facts.object = "user/eric/a b+c.png";
    facts.etag = "D41D8CD98F00B204E9800998ECF8427E";
    facts.size = 5385;
    facts.mime_type = "image/png";
    facts.crc64 = "5847311839238466040";
    facts.content_md5 = "1B2M2Y8AsgTpgAmY7PhCfg==";
    facts.client_ip = "203.0.113.9";
    facts.request_id = "5C7D2F1A0000000000000001";
    return facts;
  }

  // Asserts the request carries a signature that verifies with the dispatcher's public key,
  // both through the OpenSSL API and the OpenSSL CLI.
  static void ExpectSigned(const CallbackDispatcher& dispatcher, const RecordedRequest& request) {
    const std::string data = StringToSign(request.target, request.body);
    const std::string auth = request.Header("Authorization");
    ASSERT_FALSE(auth.empty());
    EXPECT_TRUE(VerifyRsaMd5(dispatcher.PublicKeyPem(), data, auth));
    EXPECT_THAT(VerifyWithOpensslCli(dispatcher.PublicKeyPem(), data, auth), HasSubstr("Verified OK"));
    EXPECT_EQ(DecodeBase64(request.Header("x-oss-pub-key-url")), kKeyUrl);
  }

  static void ExpectFailed(const CallbackOutcome& outcome, const std::string& message) {
    EXPECT_EQ(outcome.http_status, 203);
    EXPECT_EQ(outcome.content_type, "application/xml");
    EXPECT_EQ(outcome.message, message);
    EXPECT_THAT(outcome.body, HasSubstr("<Code>CallbackFailed</Code>"));
    EXPECT_THAT(outcome.body, HasSubstr("<EC>0007-00000203</EC>"));
  }

  TestHttpServer server_;
  CallbackFaults faults_;
};

TEST_F(CallbackDispatchTest, FormCallbackBodyHeadersAndSignature) {
  auto dispatcher = MakeDispatcher();
  ASSERT_NE(dispatcher, nullptr);
  const ParsedCallback callback = MustParse(
      *dispatcher,
      {{"callbackUrl", server_.Url("/cb")},
       {"callbackHost", "app.example.com"},
       {"callbackBody",
        "bucket=${bucket}&object=${object}&size=${size}&mimeType=${mimeType}&height=${imageInfo."
        "height}&my_var=${x:my_var}&lit=a b/c"}},
      {{"x:my_var", "v&1 2"}});
  const CallbackOutcome outcome = dispatcher->Dispatch(callback, Facts(), "examplebucket.oss");
  EXPECT_EQ(outcome.http_status, 200) << outcome.message;
  EXPECT_EQ(outcome.body, "{\"Status\":\"OK\"}");
  EXPECT_EQ(outcome.content_type, "application/json");
  EXPECT_EQ(outcome.message, "");

  ASSERT_TRUE(server_.WaitForRequests(1, absl::Seconds(5)));
  const RecordedRequest request = server_.Requests()[0];
  EXPECT_EQ(request.request_line, "POST /cb HTTP/1.1");
  const std::string body =
      "bucket=examplebucket&object=user%2Feric%2Fa%20b%2Bc.png&size=5385&mimeType=image%2Fpng"
      "&height=&my_var=v%261%202&lit=a b/c";
  EXPECT_EQ(request.body, body);
  EXPECT_EQ(request.Header("Host"), "app.example.com");
  EXPECT_EQ(request.Header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(request.Header("Content-Length"), std::to_string(body.size()));
  EXPECT_EQ(request.Header("Content-MD5"), Md5Base64(body));
  EXPECT_THAT(request.Header("Date"), ::testing::EndsWith(" GMT"));
  EXPECT_EQ(request.Header("User-Agent"), "aliyun-oss-callback");
  EXPECT_EQ(request.Header("x-oss-request-id"), "5C7D2F1A0000000000000001");
  EXPECT_EQ(request.Header("x-oss-bucket"), "examplebucket");
  EXPECT_EQ(request.Header("x-oss-tag"), "CALLBACK");
  EXPECT_FALSE(request.HasHeader("Transfer-Encoding"));
  EXPECT_FALSE(request.HasHeader("Expect"));
  ExpectSigned(*dispatcher, request);
}

TEST_F(CallbackDispatchTest, JsonCallbackQuotesStringsAndLeavesSizeBare) {
  auto dispatcher = MakeDispatcher();
  ASSERT_NE(dispatcher, nullptr);
  const ParsedCallback callback = MustParse(
      *dispatcher,
      {{"callbackUrl", server_.Url("/json")},
       {"callbackBodyType", "application/json"},
       {"callbackBody",
        "{\"bucket\":${bucket},\"object\":${object},\"size\":${size},\"mimeType\":${mimeType},"
        "\"uid\":${x:uid},\"missing\":${x:missing}}"}},
      {{"x:uid", "say \"hi\"\\"}});
  const CallbackOutcome outcome = dispatcher->Dispatch(callback, Facts(), "host");
  EXPECT_EQ(outcome.http_status, 200) << outcome.message;
  ASSERT_TRUE(server_.WaitForRequests(1, absl::Seconds(5)));
  const RecordedRequest request = server_.Requests()[0];
  EXPECT_EQ(request.body,
            "{\"bucket\":\"examplebucket\",\"object\":\"user/eric/a b+c.png\",\"size\":5385,"
            "\"mimeType\":\"image/png\",\"uid\":\"say \\\"hi\\\"\\\\\",\"missing\":\"\"}");
  EXPECT_TRUE(nlohmann::json::accept(request.body));
  EXPECT_EQ(request.Header("Content-Type"), "application/json");
  EXPECT_EQ(request.Header("Host"), absl::StrCat("127.0.0.1:", server_.port()));
  ExpectSigned(*dispatcher, request);
}

TEST_F(CallbackDispatchTest, QueryStringUrlSignsDecodedPathAndRawQuery) {
  auto dispatcher = MakeDispatcher();
  ASSERT_NE(dispatcher, nullptr);
  const ParsedCallback callback = MustParse(*dispatcher, FormConfig(server_.Url("/c%62?a=1&b=%20")));
  EXPECT_EQ(dispatcher->Dispatch(callback, Facts(), "host").http_status, 200);
  ASSERT_TRUE(server_.WaitForRequests(1, absl::Seconds(5)));
  const RecordedRequest request = server_.Requests()[0];
  EXPECT_EQ(request.target, "/c%62?a=1&b=%20");
  ExpectSigned(*dispatcher, request);
  const std::string auth = request.Header("Authorization");
  EXPECT_TRUE(VerifyRsaMd5(dispatcher->PublicKeyPem(), "/cb?a=1&b=%20\n" + request.body, auth));
  // Neither a decoded query nor a dropped query verifies.
  EXPECT_FALSE(VerifyRsaMd5(dispatcher->PublicKeyPem(), "/cb?a=1&b= \n" + request.body, auth));
  EXPECT_FALSE(VerifyRsaMd5(dispatcher->PublicKeyPem(), "/cb\n" + request.body, auth));
}

TEST_F(CallbackDispatchTest, RelaysTheAppBodyAndContentTypeVerbatim) {
  TestReply reply;
  reply.content_type = "application/json; charset=utf-8";
  reply.body = "{\"a\": [1, 2], \"s\": \"\\u00e9\"}";
  server_.SetReply(reply);
  auto dispatcher = MakeDispatcher();
  ASSERT_NE(dispatcher, nullptr);
  const CallbackOutcome outcome =
      dispatcher->Dispatch(MustParse(*dispatcher, FormConfig(server_.Url("/"))), Facts(), "host");
  EXPECT_EQ(outcome.http_status, 200);
  EXPECT_EQ(outcome.body, reply.body);
  EXPECT_EQ(outcome.content_type, "application/json; charset=utf-8");

  reply.content_type.clear();  // no Content-Type: defaults to application/json
  server_.SetReply(reply);
  EXPECT_EQ(dispatcher->Dispatch(MustParse(*dispatcher, FormConfig(server_.Url("/"))), Facts(), "host")
                .content_type,
            "application/json");
}

TEST_F(CallbackDispatchTest, FailedCallbackXmlIsExactAndEscaped) {
  TestReply reply;
  reply.status = 301;
  reply.reason = "Moved Permanently";
  server_.SetReply(reply);
  auto dispatcher = MakeDispatcher();
  ASSERT_NE(dispatcher, nullptr);
  UploadFacts facts = Facts();
  facts.request_id = "R<&>";
  const CallbackOutcome outcome = dispatcher->Dispatch(
      MustParse(*dispatcher, FormConfig(server_.Url("/"))), facts, "bucket.oss-cn-hangzhou.aliyuncs.com");
  ExpectFailed(outcome, "Error status : 301.");
  EXPECT_EQ(outcome.body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>CallbackFailed</Code>\n"
            "  <Message>Error status : 301.</Message>\n  <RequestId>R&lt;&amp;&gt;</RequestId>\n"
            "  <HostId>bucket.oss-cn-hangzhou.aliyuncs.com</HostId>\n  <EC>0007-00000203</EC>\n"
            "  <RecommendDoc>https://api.aliyun.com/troubleshoot?q=0007-00000203</RecommendDoc>\n"
            "</Error>");
}

TEST_F(CallbackDispatchTest, BadAppAnswersGive203WithOssMessages) {
  auto dispatcher = MakeDispatcher();
  ASSERT_NE(dispatcher, nullptr);
  const ParsedCallback callback = MustParse(*dispatcher, FormConfig(server_.Url("/")));
  struct Case {
    TestReply reply;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({Status(500, "Internal Server Error"), "Error status : 500."});
  cases.push_back({Status(204, "No Content", ""), "Error status : 204."});
  cases.push_back({Body("OK"), "Response body is not valid json format."});
  cases.push_back({Body("\xEF\xBB\xBF{\"Status\":\"OK\"}"),
                   "Response body is not valid json format."});
  cases.push_back({Chunked(), "Response has no Content-Length header."});
  cases.push_back({Body("\"" + std::string(3 * 1024 * 1024, 'a') + "\""), "Response body is too large."});
  for (const Case& c : cases) {
    server_.SetReply(c.reply);
    ExpectFailed(dispatcher->Dispatch(callback, Facts(), "host"), c.message);
  }
  EXPECT_EQ(server_.Requests().size(), cases.size());
}

TEST_F(CallbackDispatchTest, UnreachableUrlGivesConnectFailure) {
  auto dispatcher = MakeDispatcher();
  ASSERT_NE(dispatcher, nullptr);
  const std::string url = absl::StrCat("http://127.0.0.1:", testing::UnusedPort(), "/cb");
  ExpectFailed(dispatcher->Dispatch(MustParse(*dispatcher, FormConfig(url)), Facts(), "host"),
               "Error status : -1. OSS can not connect to your callbackUrl, please check it.");
}

TEST_F(CallbackDispatchTest, SlowAppTimesOut) {
  TestReply reply;
  reply.delay = absl::Seconds(2);
  server_.SetReply(reply);
  auto dispatcher = MakeDispatcher(absl::Milliseconds(300));
  ASSERT_NE(dispatcher, nullptr);
  const absl::Time start = absl::Now();
  const CallbackOutcome outcome =
      dispatcher->Dispatch(MustParse(*dispatcher, FormConfig(server_.Url("/slow"))), Facts(), "host");
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1500));
  EXPECT_EQ(outcome.http_status, 203);
  EXPECT_THAT(outcome.message, StartsWith("Error status : -1. reply timeout, cost: "));
  EXPECT_THAT(outcome.message, ::testing::EndsWith(" MS, timeout: 300 MS"));
  EXPECT_TRUE(server_.WaitForRequests(1, absl::Seconds(1)));
}

TEST_F(CallbackDispatchTest, FallsBackToTheNextUrl) {
  auto dispatcher = MakeDispatcher();
  ASSERT_NE(dispatcher, nullptr);
  const std::string dead = absl::StrCat("http://127.0.0.1:", testing::UnusedPort(), "/dead");
  CallbackOutcome outcome = dispatcher->Dispatch(
      MustParse(*dispatcher, FormConfig(dead + ";" + server_.Url("/second"))), Facts(), "host");
  EXPECT_EQ(outcome.http_status, 200) << outcome.message;
  ASSERT_TRUE(server_.WaitForRequests(1, absl::Seconds(5)));
  EXPECT_EQ(server_.Requests()[0].target, "/second");
  ExpectSigned(*dispatcher, server_.Requests()[0]);  // signed for its own path

  TestHttpServer failing;
  failing.SetReply(Status(502, "Bad Gateway"));
  outcome = dispatcher->Dispatch(
      MustParse(*dispatcher, FormConfig(failing.Url("/first") + ";" + server_.Url("/third"))), Facts(),
      "host");
  EXPECT_EQ(outcome.http_status, 200) << outcome.message;
  EXPECT_EQ(failing.Requests().size(), 1u);
  ASSERT_TRUE(server_.WaitForRequests(2, absl::Seconds(5)));
  EXPECT_EQ(server_.Requests()[1].target, "/third");

  // All fail: the last failure is reported.
  outcome = dispatcher->Dispatch(MustParse(*dispatcher, FormConfig(dead + ";" + failing.Url("/x"))),
                                 Facts(), "host");
  ExpectFailed(outcome, "Error status : 502.");
}

TEST_F(CallbackDispatchTest, DropFaultSendsNothing) {
  faults_.drop = true;
  auto dispatcher = MakeDispatcher();
  ASSERT_NE(dispatcher, nullptr);
  ExpectFailed(dispatcher->Dispatch(MustParse(*dispatcher, FormConfig(server_.Url("/"))), Facts(), "host"),
               "Error status : -1. OSS can not connect to your callbackUrl, please check it.");
  EXPECT_FALSE(server_.WaitForRequests(1, absl::Milliseconds(300)));
}

TEST_F(CallbackDispatchTest, DelayFaultTimesOutThenSendsLate) {
  faults_.delay = true;
  auto dispatcher = MakeDispatcher(absl::Milliseconds(300));
  ASSERT_NE(dispatcher, nullptr);
  const absl::Time start = absl::Now();
  const CallbackOutcome outcome =
      dispatcher->Dispatch(MustParse(*dispatcher, FormConfig(server_.Url("/late"))), Facts(), "host");
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Milliseconds(1500));
  EXPECT_EQ(outcome.http_status, 203);
  EXPECT_THAT(outcome.message, StartsWith("Error status : -1. reply timeout, cost: "));
  ASSERT_TRUE(server_.WaitForRequests(1, absl::Seconds(5)));
  const RecordedRequest request = server_.Requests()[0];
  EXPECT_EQ(request.target, "/late");
  ExpectSigned(*dispatcher, request);
}

TEST_F(CallbackDispatchTest, DuplicateFaultSendsTwiceAndReportsTheFirst) {
  faults_.duplicate = true;
  auto dispatcher = MakeDispatcher();
  ASSERT_NE(dispatcher, nullptr);
  const CallbackOutcome outcome =
      dispatcher->Dispatch(MustParse(*dispatcher, FormConfig(server_.Url("/dup"))), Facts(), "host");
  EXPECT_EQ(outcome.http_status, 200) << outcome.message;
  ASSERT_TRUE(server_.WaitForRequests(2, absl::Seconds(5)));
  const std::vector<RecordedRequest> requests = server_.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].body, requests[1].body);
  EXPECT_EQ(requests[0].Header("Authorization"), requests[1].Header("Authorization"));
}

// ---- Keys. ----

// Runs `write` on a memory BIO and returns what it wrote.
template <typename Write>
std::string WrittenPem(Write write) {
  BIO* bio = BIO_new(BIO_s_mem());
  write(bio);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

std::string PrivateKeyPem(EVP_PKEY* key) {
  return WrittenPem(
      [key](BIO* bio) { PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr); });
}

std::string PublicKeyPemOf(EVP_PKEY* key) {
  return WrittenPem([key](BIO* bio) { PEM_write_bio_PUBKEY(bio, key); });
}

TEST(CallbackKeyTest, LoadsTheGivenKeyOrGeneratesOne) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024));
  ASSERT_NE(key, nullptr);
  CallbackDispatcherOptions options;
  options.private_key_pem = PrivateKeyPem(key);
  absl::StatusOr<std::unique_ptr<CallbackDispatcher>> loaded = CallbackDispatcher::Create(options);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->PublicKeyPem(), PublicKeyPemOf(key));
  EVP_PKEY_free(key);

  absl::StatusOr<std::unique_ptr<CallbackDispatcher>> generated =
      CallbackDispatcher::Create(CallbackDispatcherOptions());
  ASSERT_TRUE(generated.ok()) << generated.status();
  EXPECT_THAT((*generated)->PublicKeyPem(), StartsWith("-----BEGIN PUBLIC KEY-----\n"));
  EXPECT_NE((*generated)->PublicKeyPem(), (*loaded)->PublicKeyPem());
}

TEST(CallbackKeyTest, RefusesNonRsaOrBrokenKeys) {
  CallbackDispatcherOptions options;
  options.private_key_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  EXPECT_EQ(CallbackDispatcher::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(ec, nullptr);
  options.private_key_pem = PrivateKeyPem(ec);
  EVP_PKEY_free(ec);
  EXPECT_EQ(CallbackDispatcher::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ossemu
