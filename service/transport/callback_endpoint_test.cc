#include "service/transport/callback_endpoint.h"

#include <string>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/metrics.h"
#include "service/common/thread_pool.h"

namespace ossup::transport {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class CallbackEndpointProbesTest : public ::testing::Test {
 protected:
  CallbackEndpointProbesTest() {
    CallbackEndpointDeps deps;
    deps.pool = &pool_;
    deps.ready = [this] { return ready_; };
    deps.metrics = &registry_;
    endpoint_ = std::make_unique<CallbackEndpoint>(std::move(deps), CallbackEndpointOptions{});
  }

  // Sends one request and waits for the answer (which may come from the pool).
  HttpResponse Send(std::string method, std::string target) {
    HttpRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    HttpResponse response;
    absl::Notification answered;
    endpoint_->Handle(std::move(request), [&](HttpResponse r) {
      response = std::move(r);
      answered.Notify();
    });
    answered.WaitForNotification();
    return response;
  }

  ThreadPool pool_{2, 100};
  metrics::Registry registry_;
  absl::Status ready_;
  std::unique_ptr<CallbackEndpoint> endpoint_;
};

TEST_F(CallbackEndpointProbesTest, ReadyzFollowsTheReadinessCheck) {
  EXPECT_EQ(Send("GET", "/readyz").status, 200);
  ready_ = absl::FailedPreconditionError("schema is behind");
  const HttpResponse not_ready = Send("GET", "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_THAT(not_ready.body, HasSubstr("schema is behind"));
}

TEST_F(CallbackEndpointProbesTest, MetricsCountRequestsByRouteMethodAndCode) {
  EXPECT_EQ(Send("GET", "/healthz").status, 200);
  EXPECT_EQ(Send("GET", "/healthz?verbose=1").status, 200);
  ready_ = absl::UnavailableError("database unreachable");
  EXPECT_EQ(Send("GET", "/readyz").status, 503);
  EXPECT_EQ(Send("GET", "/oss/callback").status, 405);
  EXPECT_EQ(Send("BREW", "/coffee").status, 404);

  const HttpResponse metrics = Send("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = metrics.body;
  EXPECT_THAT(text, HasSubstr("# TYPE ossup_http_requests_total counter\n"));
  EXPECT_THAT(
      text,
      HasSubstr("ossup_http_requests_total{route=\"healthz\",method=\"GET\",code=\"200\"} 2\n"));
  EXPECT_THAT(
      text,
      HasSubstr("ossup_http_requests_total{route=\"readyz\",method=\"GET\",code=\"503\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("ossup_http_requests_total{route=\"callback\",method=\"GET\",code=\"405\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("ossup_http_requests_total{route=\"other\",method=\"other\",code=\"404\"} 1\n"));
  // The scrape itself is counted once answered, so it is not in its own output.
  EXPECT_THAT(text, Not(HasSubstr("route=\"metrics\"")));
  EXPECT_THAT(text, HasSubstr("# TYPE ossup_http_request_duration_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("ossup_http_request_duration_seconds_bucket{route=\"healthz\","
                              "code=\"200\",le=\"+Inf\"} 2\n"));
  EXPECT_THAT(
      text,
      HasSubstr("ossup_http_request_duration_seconds_count{route=\"readyz\",code=\"503\"} 1\n"));

  EXPECT_THAT(
      Send("GET", "/metrics").body,
      HasSubstr("ossup_http_requests_total{route=\"metrics\",method=\"GET\",code=\"200\"} 1\n"));
}

TEST_F(CallbackEndpointProbesTest, MetricsIncludeOtherComponentsSeries) {
  registry_.AddGaugeCallback("ossup_test_gauge", "From elsewhere.", {}, [] {
    return std::vector<metrics::Sample>{{{}, 4}};
  });
  EXPECT_THAT(Send("GET", "/metrics").body, HasSubstr("\nossup_test_gauge 4\n"));
}

}  // namespace
}  // namespace ossup::transport
