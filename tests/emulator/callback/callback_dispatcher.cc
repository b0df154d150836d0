#include "callback/callback_dispatcher.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "callback/callback_codec.h"
#include "callback/callback_parser.h"
#include "callback/callback_sender.h"
#include "callback/callback_signer.h"
#include "callback/callback_template.h"
#include "nlohmann/json.hpp"

namespace ossemu {
namespace {

constexpr char kConnectFailed[] =
    "Error status : -1. OSS can not connect to your callbackUrl, please check it.";

// One prepared callback request per callbackUrl, all with the same body.
using PreparedCallback = std::vector<HttpPostRequest>;

std::string TimeoutMessage(absl::Duration cost, absl::Duration timeout) {
  return absl::StrCat("Error status : -1. reply timeout, cost: ", absl::ToInt64Milliseconds(cost),
                      " MS, timeout: ", absl::ToInt64Milliseconds(timeout), " MS");
}

CallbackOutcome Failed(std::string message, const UploadFacts& facts, absl::string_view host_id) {
  CallbackOutcome outcome;
  outcome.http_status = 203;
  outcome.content_type = "application/xml";
  outcome.body = absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>CallbackFailed</Code>\n"
      "  <Message>", XmlEscape(message), "</Message>\n  <RequestId>", XmlEscape(facts.request_id),
      "</RequestId>\n  <HostId>", XmlEscape(host_id),
      "</HostId>\n  <EC>0007-00000203</EC>\n"
      "  <RecommendDoc>https://api.aliyun.com/troubleshoot?q=0007-00000203</RecommendDoc>\n"
      "</Error>");
  outcome.message = std::move(message);
  return outcome;
}

// Judges one reply as OSS does; an empty message means success.
std::string JudgeReply(const HttpPostReply& reply, absl::Duration cost, absl::Duration timeout) {
  switch (reply.result) {
    case HttpPostReply::Result::kTimeout:
      return TimeoutMessage(cost, timeout);
    case HttpPostReply::Result::kConnectFailed:
      return kConnectFailed;
    case HttpPostReply::Result::kTooLarge:
      return "Response body is too large.";  // UNCONFIRMED wording
    case HttpPostReply::Result::kResponse:
      break;
  }
  if (reply.status != 200) return absl::StrCat("Error status : ", reply.status, ".");
  // UNCONFIRMED wording: OSS documents the requirement, not its message.
  if (!reply.has_content_length) return "Response has no Content-Length header.";
  const bool bom = reply.body.size() >= 3 && reply.body.compare(0, 3, "\xEF\xBB\xBF") == 0;
  if (bom || !nlohmann::json::accept(reply.body)) return "Response body is not valid json format.";
  return "";
}

class CallbackDispatcherImpl final : public CallbackDispatcher {
 public:
  CallbackDispatcherImpl(CallbackDispatcherOptions options, std::unique_ptr<CallbackSigner> signer)
      : options_(std::move(options)), signer_(std::move(signer)) {}

  ~CallbackDispatcherImpl() override {
    shutdown_.Notify();
    std::vector<Background> threads;
    {
      absl::MutexLock lock(&mu_);
      threads.swap(background_);
    }
    for (Background& background : threads) background.thread.join();
  }

  absl::StatusOr<ParsedCallback> Parse(
      absl::string_view callback_base64,
      const std::vector<std::pair<std::string, std::string>>& x_vars) const override {
    return ParseCallbackParameter(callback_base64, x_vars);
  }

  CallbackOutcome Dispatch(const ParsedCallback& callback, const UploadFacts& facts,
                           absl::string_view host_id) override {
    const absl::Time start = absl::Now();
    const absl::Time deadline = start + options_.timeout;
    absl::StatusOr<PreparedCallback> prepared = Prepare(callback, facts);
    if (!prepared.ok()) return Failed(std::string(prepared.status().message()), facts, host_id);

    // Faults: drop wins over delay, delay over duplicate.
    const CallbackFaults* faults = options_.faults;
    if (faults != nullptr && faults->drop.load()) return Failed(kConnectFailed, facts, host_id);
    if (faults != nullptr && faults->delay.load()) {
      // OSS gave up at the deadline; the app sees the callback only afterwards. A dispatcher
      // destroyed before the deadline skips the late send.
      StartBackground([this, deadline, request = *prepared] {
        if (shutdown_.WaitForNotificationWithDeadline(deadline)) return;
        SendToFirstAccepting(request, absl::Now());
      });
      absl::SleepFor(deadline - absl::Now());
      return Failed(TimeoutMessage(absl::Now() - start, options_.timeout), facts, host_id);
    }

    CallbackOutcome outcome = SendToFirstAccepting(*prepared, start);
    if (faults != nullptr && faults->duplicate.load()) {
      // The second copy goes out after the first completed, off the caller's clock.
      StartBackground([this, request = *std::move(prepared)] {
        if (shutdown_.HasBeenNotified()) return;
        SendToFirstAccepting(request, absl::Now());
      });
    }
    if (outcome.http_status != 200) return Failed(std::move(outcome.message), facts, host_id);
    return outcome;
  }

  std::string PublicKeyPem() const override { return signer_->public_key_pem(); }

 private:
  // Renders the body and signs one request per URL. callbackSNI is not honoured: libcurl
  // cannot easily be stopped from sending SNI, so the emulator always sends it for https
  // (OSS sends none when callbackSNI is false). Tests use http.
  absl::StatusOr<PreparedCallback> Prepare(const ParsedCallback& callback,
                                           const UploadFacts& facts) const {
    absl::StatusOr<std::vector<TemplatePart>> parts = ParseTemplate(callback.body_template);
    if (!parts.ok()) return parts.status();
    const std::string body = RenderTemplate(*parts, callback.json_body, facts, callback.vars);
    const std::string date =
        absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::Now(), absl::UTCTimeZone());
    PreparedCallback prepared;
    for (const std::string& raw_url : callback.urls) {
      absl::StatusOr<CallbackUrl> url = ParseCallbackUrl(raw_url);
      if (!url.ok()) return url.status();
      absl::StatusOr<std::string> signature =
          signer_->SignBase64(CallbackStringToSign(url->target, body));
      if (!signature.ok()) return signature.status();
      HttpPostRequest request;
      request.url = url->ToString();
      request.body = body;
      request.headers = {
          absl::StrCat("Authorization: ", *signature),
          absl::StrCat("x-oss-pub-key-url: ", Base64Encode(options_.public_key_url)),
          absl::StrCat("Content-Type: ", callback.json_body ? "application/json"
                                                            : "application/x-www-form-urlencoded"),
          absl::StrCat("Content-MD5: ", Base64Encode(Md5(body))),
          absl::StrCat("Date: ", date),
          "User-Agent: aliyun-oss-callback",
          absl::StrCat("x-oss-request-id: ", facts.request_id),
          absl::StrCat("x-oss-bucket: ", facts.bucket),
          "x-oss-tag: CALLBACK",
          "Connection: close",
          "Accept:",  // curl's default, OSS sends none
          "Expect:",  // no 100-continue round trip
      };
      // The connection still goes to the URL's host; only the Host header changes.
      if (!callback.host.empty()) request.headers.push_back(absl::StrCat("Host: ", callback.host));
      prepared.push_back(std::move(request));
    }
    return prepared;
  }

  // Tries the URLs in order until one answers acceptably or options_.timeout after `start`
  // has passed. The outcome's message is the last failure's (UNCONFIRMED which one OSS reports
  // when all fail).
  CallbackOutcome SendToFirstAccepting(const PreparedCallback& requests, absl::Time start) {
    const absl::Duration budget = options_.timeout;
    const absl::Time deadline = start + budget;
    CallbackOutcome outcome;
    outcome.http_status = 203;
    outcome.message = kConnectFailed;
    for (const HttpPostRequest& request : requests) {
      if (absl::Now() >= deadline) {
        outcome.message = TimeoutMessage(absl::Now() - start, budget);
        break;
      }
      const HttpPostReply reply = HttpPost(request, deadline - absl::Now());
      outcome.message = JudgeReply(reply, absl::Now() - start, budget);
      if (outcome.message.empty()) {
        outcome.http_status = 200;
        outcome.content_type = reply.content_type.empty() ? "application/json" : reply.content_type;
        outcome.body = reply.body;
        break;
      }
      if (reply.result == HttpPostReply::Result::kTimeout) break;
    }
    return outcome;
  }

  struct Background {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  // Runs `work` on its own thread; threads that have finished are joined here, the rest in the
  // destructor.
  void StartBackground(std::function<void()> work) {
    absl::MutexLock lock(&mu_);
    std::erase_if(background_, [](Background& background) {
      if (!background.done->load()) return false;
      background.thread.join();
      return true;
    });
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread thread([work = std::move(work), done] {
      work();
      done->store(true);
    });
    background_.push_back({std::move(thread), std::move(done)});
  }

  const CallbackDispatcherOptions options_;
  const std::unique_ptr<CallbackSigner> signer_;
  absl::Notification shutdown_;
  absl::Mutex mu_;
  std::vector<Background> background_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<CallbackDispatcher>> CallbackDispatcher::Create(
    CallbackDispatcherOptions options) {
  absl::StatusOr<std::unique_ptr<CallbackSigner>> signer =
      CallbackSigner::Create(options.private_key_pem);
  if (!signer.ok()) return signer.status();
  return std::unique_ptr<CallbackDispatcher>(
      new CallbackDispatcherImpl(std::move(options), *std::move(signer)));
}

}  // namespace ossemu
