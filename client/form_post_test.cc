#include "client/form_post.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ossup::client {
namespace {

using ::testing::HasSubstr;

// The reference's §3.6 sample, as OSS sends it after a failed callback.
constexpr char kCallbackFailed[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>CallbackFailed</Code>"
    "<Message>Error status : 301.</Message><RequestId>5C3D9175B6FC201293AD****</RequestId>"
    "<HostId>bucket.oss-cn-hangzhou.aliyuncs.com</HostId><EC>0007-00000203</EC>"
    "<RecommendDoc>https://api.aliyun.com/troubleshoot?q=0007-00000203</RecommendDoc></Error>";

TEST(ParseOssErrorTest, ReadsTheElements) {
  const OssError e = ParseOssError(kCallbackFailed);
  EXPECT_EQ(e.code, "CallbackFailed");
  EXPECT_EQ(e.message, "Error status : 301.");
  EXPECT_EQ(e.request_id, "5C3D9175B6FC201293AD****");
  EXPECT_EQ(e.ec, "0007-00000203");
}

TEST(ParseOssErrorTest, DecodesEntitiesAndToleratesGarbage) {
  const OssError e = ParseOssError(
      "<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy Condition "
      "failed: [&quot;eq&quot;, &quot;$key&quot;, &quot;a&amp;b&quot;]</Message></Error>");
  EXPECT_EQ(e.message,
            "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$key\", \"a&b\"]");
  EXPECT_EQ(ParseOssError("").code, "");
  EXPECT_EQ(ParseOssError("<Code>unterminated").code, "");
  EXPECT_EQ(ParseOssError("{\"Status\":\"OK\"}").message, "");
}

TEST(ExplainOssAnswerTest, SaysWhatHappenedAndWhatToDo) {
  ::ossup::upload::v1::Constraints c;
  c.set_min_size(10);
  c.set_max_size(1000);
  EXPECT_THAT(ExplainOssAnswer(203, ParseOssError(kCallbackFailed), 5, c),
              HasSubstr("OSS stored the object, but its callback to the service failed: Error "
                        "status : 301."));
  EXPECT_THAT(ExplainOssAnswer(400, {"EntityTooLarge", "too big", "", ""}, 5000, c),
              HasSubstr("the file (5000 bytes) is larger than the signed limit of 1000 bytes"));
  EXPECT_THAT(ExplainOssAnswer(400, {"EntityTooSmall", "", "", ""}, 5, c),
              HasSubstr("smaller than the signed minimum of 10 bytes"));
  const OssError policy{"AccessDenied",
                        "Invalid according to Policy: Policy Condition failed: [\"eq\", "
                        "\"$content-type\", \"image/png\"]",
                        "RID", ""};
  const std::string why = ExplainOssAnswer(403, policy, 5, c);
  EXPECT_THAT(why, HasSubstr("a condition of the signed policy failed"));
  EXPECT_THAT(why, HasSubstr("[\"eq\", \"$content-type\", \"image/png\"]"));
  EXPECT_THAT(why, HasSubstr("OSS request id RID"));
  EXPECT_THAT(ExplainOssAnswer(502, {}, 5, c), HasSubstr("HTTP 502 without an error document"));
  EXPECT_THAT(ExplainOssAnswer(403, {"SignatureDoesNotMatch", "bad", "", ""}, 5, c),
              HasSubstr("HTTP 403 SignatureDoesNotMatch (bad)"));
}

TEST(PostFormFileTest, RefusesMissingFilesAndUnknownClientFields) {
  ::ossup::upload::v1::PostForm form;
  form.set_url("http://127.0.0.1:9/");
  form.set_file_field("file");
  EXPECT_EQ(PostFormFile(form, "/nonexistent/file", {}).status().code(),
            absl::StatusCode::kNotFound);
  form.add_client_fields("x-unknown");
  EXPECT_EQ(PostFormFile(form, "/etc/hostname", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PostFormFileTest, UnreachableOssIsUnavailable) {
  ::ossup::upload::v1::PostForm form;
  form.set_url("http://127.0.0.1:9/");  // discard port: nothing listens
  form.set_file_field("file");
  EXPECT_EQ(PostFormFile(form, "/etc/hostname", {}).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(PostFormFileTest, AStalledServerIsADeadlineNotAHang) {
  // Accepts the connection and never answers, like a wedged proxy.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::ossup::upload::v1::PostForm form;
  form.set_url("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/");
  form.set_file_field("file");
  FormPostOptions options;
  options.stall_timeout = absl::Seconds(1);
  const absl::Time start = absl::Now();
  absl::StatusOr<FormPostResult> r = PostFormFile(form, "/etc/hostname", options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  // Says what happened and which limit ended it, not just "Timeout was reached".
  EXPECT_THAT(r.status().message(), HasSubstr("too slow"));
  EXPECT_THAT(r.status().message(), HasSubstr("(stall limit 1s)"));
  // libcurl measures the stall over its own window (about 7 s here for a 1 s limit); the point
  // is that it ends.
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  ::close(listener);
}

}  // namespace
}  // namespace ossup::client
