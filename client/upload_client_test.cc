// UploadClient against an in-process scripted UploadService on an ephemeral port: retries,
// deadlines, the idempotency key, and the resuming watch.
#include "client/upload_client.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ossup::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::UploadEvent Event(int64_t sequence) {
  v1::UploadEvent e;
  e.set_sequence(sequence);
  e.set_type(v1::UploadEvent::COMPLETED);
  e.mutable_upload()->set_name("namespaces/ns/uploads/u" + std::to_string(sequence));
  return e;
}

// Each method follows a script set by the test; everything it saw is recorded.
class ScriptedService final : public v1::UploadService::Service {
 public:
  grpc::Status CreateUpload(grpc::ServerContext* ctx, const v1::CreateUploadRequest* request,
                            v1::CreateUploadResponse* response) override {
    absl::MutexLock lock(&mu);
    RecordAuth(ctx);
    create_request_ids.push_back(request->request_id());
    if (create_failures > 0) {
      --create_failures;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection reset");
    }
    response->mutable_upload()->set_name("namespaces/ns/uploads/new");
    return grpc::Status::OK;
  }

  grpc::Status GetUpload(grpc::ServerContext* ctx, const v1::GetUploadRequest* request,
                         v1::Upload* response) override {
    {
      absl::MutexLock lock(&mu);
      RecordAuth(ctx);
      ++get_calls;
      if (get_status.size() > 0) {
        grpc::Status status = get_status.front();
        get_status.erase(get_status.begin());
        if (!status.ok()) return status;
      }
    }
    if (get_delay > absl::ZeroDuration()) absl::SleepFor(get_delay);
    response->set_name(request->name());
    response->set_state(cancelled ? v1::Upload::CANCELLED : v1::Upload::PENDING);
    return grpc::Status::OK;
  }

  grpc::Status ListUploads(grpc::ServerContext*, const v1::ListUploadsRequest*,
                           v1::ListUploadsResponse* response) override {
    absl::MutexLock lock(&mu);
    ++list_calls;
    if (!list_status.ok()) return list_status;
    response->set_event_sequence(head_sequence);
    return grpc::Status::OK;
  }

  grpc::Status CancelUpload(grpc::ServerContext*, const v1::CancelUploadRequest* request,
                            v1::Upload* response) override {
    absl::MutexLock lock(&mu);
    ++cancel_calls;
    if (cancelled) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "upload is CANCELLED");
    }
    cancelled = true;
    if (lose_first_cancel_answer) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "answer lost");
    }
    response->set_name(request->name());
    response->set_state(v1::Upload::CANCELLED);
    return grpc::Status::OK;
  }

  // Serves events from `log` after the requested sequence. The first `streams_to_break` streams
  // end with UNAVAILABLE after `break_after` events; later ones first replay `replay` events the
  // client already has, then serve the rest and wait for cancellation.
  grpc::Status WatchUploads(grpc::ServerContext* ctx, const v1::WatchUploadsRequest* request,
                            grpc::ServerWriter<v1::UploadEvent>* writer) override {
    bool break_this;
    int64_t after = request->after_sequence();
    std::vector<v1::UploadEvent> send;
    {
      absl::MutexLock lock(&mu);
      RecordAuth(ctx);
      watch_after.push_back(after);
      if (!watch_status.ok()) return watch_status;
      break_this = streams_to_break > 0;
      if (break_this) --streams_to_break;
      for (const auto& e : log) {
        if (e.sequence() > after - (break_this ? 0 : replay)) send.push_back(e);
      }
    }
    int sent = 0;
    for (const auto& e : send) {
      if (break_this && sent == break_after) break;
      if (!writer->Write(e)) return grpc::Status::CANCELLED;
      ++sent;
    }
    if (break_this) {
      absl::MutexLock lock(&mu);
      return break_status;
    }
    while (!ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
    return grpc::Status::CANCELLED;
  }

  void RecordAuth(grpc::ServerContext* ctx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = ctx->client_metadata().find("authorization");
    auth.emplace_back(it == ctx->client_metadata().end()
                          ? std::string()
                          : std::string(it->second.data(), it->second.size()));
  }

  absl::Mutex mu;
  std::vector<std::string> auth ABSL_GUARDED_BY(mu);
  int create_failures ABSL_GUARDED_BY(mu) = 0;
  std::vector<std::string> create_request_ids ABSL_GUARDED_BY(mu);
  std::vector<grpc::Status> get_status ABSL_GUARDED_BY(mu);
  int get_calls ABSL_GUARDED_BY(mu) = 0;
  absl::Duration get_delay = absl::ZeroDuration();
  grpc::Status list_status ABSL_GUARDED_BY(mu);
  int list_calls ABSL_GUARDED_BY(mu) = 0;
  int64_t head_sequence ABSL_GUARDED_BY(mu) = 0;
  std::atomic<bool> cancelled{false};
  bool lose_first_cancel_answer ABSL_GUARDED_BY(mu) = false;
  int cancel_calls ABSL_GUARDED_BY(mu) = 0;
  std::vector<v1::UploadEvent> log ABSL_GUARDED_BY(mu);
  std::vector<int64_t> watch_after ABSL_GUARDED_BY(mu);
  grpc::Status watch_status ABSL_GUARDED_BY(mu);
  int streams_to_break ABSL_GUARDED_BY(mu) = 0;
  int break_after ABSL_GUARDED_BY(mu) = 0;
  int replay ABSL_GUARDED_BY(mu) = 0;
  grpc::Status break_status ABSL_GUARDED_BY(mu){grpc::StatusCode::UNAVAILABLE,
                                                "replica restarting"};
};

class UploadClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
  }
  void TearDown() override { server_->Shutdown(absl::ToChronoTime(absl::Now())); }

  UploadClient Client(absl::Duration timeout = absl::Seconds(5)) {
    ClientOptions options;
    options.token = "secret-token";
    options.call_timeout = timeout;
    options.retry.initial_backoff = absl::Milliseconds(1);
    options.retry.max_backoff = absl::Milliseconds(4);
    options.sleep = [this](absl::Duration d) {
      sleeps_.push_back(d);
      absl::SleepFor(d);
    };
    return UploadClient(channel_, options);
  }

  ScriptedService service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::vector<absl::Duration> sleeps_;
};

TEST_F(UploadClientTest, GetRetriesUnavailableWithBackoffAndSendsTheToken) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.get_status = {grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"),
                           grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "busy")};
  }
  absl::StatusOr<v1::Upload> upload = Client().GetUpload("namespaces/ns/uploads/a");
  ASSERT_TRUE(upload.ok()) << upload.status();
  EXPECT_EQ(upload->name(), "namespaces/ns/uploads/a");
  absl::MutexLock lock(&service_.mu);
  EXPECT_EQ(service_.get_calls, 3);
  EXPECT_EQ(sleeps_.size(), 2u);
  for (const auto& a : service_.auth) EXPECT_EQ(a, "Bearer secret-token");
}

TEST_F(UploadClientTest, DoesNotRetryErrorsThatWouldRepeat) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.list_status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_size: too big");
  }
  v1::ListUploadsRequest request;
  request.set_parent("namespaces/ns");
  absl::StatusOr<v1::ListUploadsResponse> page = Client().ListUploads(request);
  EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(page.status().message(), HasSubstr("ListUploads: page_size: too big"));
  absl::MutexLock lock(&service_.mu);
  EXPECT_EQ(service_.list_calls, 1);
}

TEST_F(UploadClientTest, GivesUpAfterMaxAttempts) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.get_status.assign(10, grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
  }
  absl::StatusOr<v1::Upload> upload = Client().GetUpload("namespaces/ns/uploads/a");
  EXPECT_EQ(upload.status().code(), absl::StatusCode::kUnavailable);
  absl::MutexLock lock(&service_.mu);
  EXPECT_EQ(service_.get_calls, 5);  // RetryPolicy::max_attempts
}

TEST_F(UploadClientTest, EveryCallHasADeadline) {
  service_.get_delay = absl::Seconds(1);
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::Upload> upload =
      Client(absl::Milliseconds(200)).GetUpload("namespaces/ns/uploads/a");
  EXPECT_EQ(upload.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(900));
}

TEST_F(UploadClientTest, CreateGetsARequestIdSoRetriesCannotDuplicate) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.create_failures = 2;
  }
  v1::CreateUploadRequest request;
  request.set_parent("namespaces/ns");
  absl::StatusOr<v1::CreateUploadResponse> created = Client().CreateUpload(request);
  ASSERT_TRUE(created.ok()) << created.status();
  absl::MutexLock lock(&service_.mu);
  ASSERT_EQ(service_.create_request_ids.size(), 3u);
  EXPECT_FALSE(service_.create_request_ids[0].empty());
  EXPECT_EQ(service_.create_request_ids[1], service_.create_request_ids[0]);
  EXPECT_EQ(service_.create_request_ids[2], service_.create_request_ids[0]);
}

TEST_F(UploadClientTest, CreateKeepsTheCallersRequestId) {
  v1::CreateUploadRequest request;
  request.set_request_id("mine-1");
  ASSERT_TRUE(Client().CreateUpload(request).ok());
  absl::MutexLock lock(&service_.mu);
  EXPECT_THAT(service_.create_request_ids, ElementsAre("mine-1"));
}

TEST_F(UploadClientTest, CancelWhoseAnswerWasLostSucceedsOnRetry) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.lose_first_cancel_answer = true;
  }
  absl::StatusOr<v1::Upload> upload = Client().CancelUpload("namespaces/ns/uploads/a");
  ASSERT_TRUE(upload.ok()) << upload.status();
  EXPECT_EQ(upload->state(), v1::Upload::CANCELLED);
}

TEST_F(UploadClientTest, CancelOfAnAlreadyFinishedUploadStillFails) {
  service_.cancelled = true;  // a first attempt that fails this way was not ours
  absl::StatusOr<v1::Upload> upload = Client().CancelUpload("namespaces/ns/uploads/a");
  EXPECT_EQ(upload.status().code(), absl::StatusCode::kFailedPrecondition);
}

v1::WatchUploadsRequest After(int64_t sequence) {
  v1::WatchUploadsRequest request;
  request.set_parent("namespaces/ns");
  request.set_after_sequence(sequence);
  return request;
}

std::vector<int64_t> Drain(EventStream& stream, int n) {
  std::vector<int64_t> seen;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<v1::UploadEvent> e = stream.Next(absl::Now() + absl::Seconds(10));
    if (!e.ok()) {
      ADD_FAILURE() << e.status();
      break;
    }
    seen.push_back(e->sequence());
  }
  return seen;
}

TEST_F(UploadClientTest, WatchResumesAfterBrokenStreamsWithoutGapsOrDuplicates) {
  {
    absl::MutexLock lock(&service_.mu);
    for (int i = 1; i <= 10; ++i) service_.log.push_back(Event(i));
    service_.streams_to_break = 2;
    service_.break_after = 3;
    service_.replay = 2;  // the healthy stream repeats two events the client already has
  }
  std::atomic<int> reconnect_notices{0};
  WatchOptions options;
  options.on_reconnect = [&](const absl::Status& s, absl::Duration) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
    ++reconnect_notices;
  };
  const v1::WatchUploadsRequest request = After(0);
  auto stream = Client().Watch(request, options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_THAT(Drain(**stream, 10), ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
  EXPECT_EQ((*stream)->last_sequence(), 10);
  EXPECT_EQ((*stream)->reconnects(), 2);
  EXPECT_EQ(reconnect_notices.load(), 2);
  absl::MutexLock lock(&service_.mu);
  EXPECT_THAT(service_.watch_after, ElementsAre(0, 3, 6));
  for (const auto& a : service_.auth) EXPECT_EQ(a, "Bearer secret-token");
}

TEST_F(UploadClientTest, WatchFromNowIsPinnedToTheCurrentSequence) {
  {
    absl::MutexLock lock(&service_.mu);
    for (int i = 1; i <= 7; ++i) service_.log.push_back(Event(i));
    service_.head_sequence = 5;
  }
  v1::WatchUploadsRequest request;
  request.set_parent("namespaces/ns");
  request.set_from_now(true);
  auto stream = Client().Watch(request);
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_THAT(Drain(**stream, 2), ElementsAre(6, 7));
  absl::MutexLock lock(&service_.mu);
  EXPECT_THAT(service_.watch_after, ElementsAre(5));
}

TEST_F(UploadClientTest, WatchStopsOnErrorsAReconnectCannotFix) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.watch_status = grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "purged");
  }
  const v1::WatchUploadsRequest request = After(1);
  auto stream = Client().Watch(request);
  ASSERT_TRUE(stream.ok());
  absl::StatusOr<v1::UploadEvent> e = (*stream)->Next(absl::Now() + absl::Seconds(10));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*stream)->reconnects(), 0);
}

TEST_F(UploadClientTest, WatchGivesUpAfterMaxReconnects) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.streams_to_break = 100;
  }
  WatchOptions options;
  options.max_reconnects = 3;
  const v1::WatchUploadsRequest request = After(0);
  auto stream = Client().Watch(request, options);
  ASSERT_TRUE(stream.ok());
  absl::StatusOr<v1::UploadEvent> e = (*stream)->Next(absl::Now() + absl::Seconds(10));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(e.status().message(), HasSubstr("gave up after 3 reconnect attempts"));
  absl::MutexLock lock(&service_.mu);
  EXPECT_EQ(service_.watch_after.size(), 4u);
}

TEST_F(UploadClientTest, WatchTreatsACleanEndAsARestartNeverAsSuccess) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.streams_to_break = 100;
    service_.break_status = grpc::Status::OK;
  }
  WatchOptions options;
  options.max_reconnects = 2;
  const v1::WatchUploadsRequest request = After(0);
  auto stream = Client().Watch(request, options);
  ASSERT_TRUE(stream.ok());
  absl::StatusOr<v1::UploadEvent> e = (*stream)->Next(absl::Now() + absl::Seconds(10));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(e.status().message(), HasSubstr("the service ended the stream"));
}

TEST_F(UploadClientTest, WatchGivesUpOnAnErrorThatRepeatsWithoutProgress) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.streams_to_break = 100;
    service_.break_status = grpc::Status(grpc::StatusCode::INTERNAL, "cannot parse");
  }
  const v1::WatchUploadsRequest request = After(0);
  auto stream = Client().Watch(request);  // max_reconnects 0: UNAVAILABLE would retry forever
  ASSERT_TRUE(stream.ok());
  absl::StatusOr<v1::UploadEvent> e = (*stream)->Next(absl::Now() + absl::Seconds(20));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(e.status().message(), HasSubstr("the same error 10 times without progress"));
  absl::MutexLock lock(&service_.mu);
  EXPECT_EQ(service_.watch_after.size(), 10u);
}

TEST_F(UploadClientTest, NextHonoursItsDeadlineAndCancelWakesIt) {
  const v1::WatchUploadsRequest request = After(0);
  auto stream = Client().Watch(request);
  ASSERT_TRUE(stream.ok());
  EXPECT_EQ((*stream)->Next(absl::Now() + absl::Milliseconds(50)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  absl::Notification started;
  std::thread waiter([&] {
    started.Notify();
    EXPECT_EQ((*stream)->Next().status().code(), absl::StatusCode::kCancelled);
  });
  started.WaitForNotification();
  absl::SleepFor(absl::Milliseconds(20));
  (*stream)->Cancel();
  waiter.join();
}

TEST(BackoffTest, GrowsExponentiallyWithinBoundsAndJitter) {
  RetryPolicy policy;
  policy.initial_backoff = absl::Milliseconds(100);
  policy.max_backoff = absl::Seconds(1);
  policy.multiplier = 2;
  EXPECT_EQ(Backoff(policy, 0, 1.0), absl::Milliseconds(100));
  EXPECT_EQ(Backoff(policy, 0, 0.0), absl::Milliseconds(50));
  EXPECT_EQ(Backoff(policy, 2, 0.0), absl::Milliseconds(200));
  EXPECT_EQ(Backoff(policy, 10, 0.0), absl::Milliseconds(500));
  EXPECT_EQ(Backoff(policy, 1000, 1.0), absl::Seconds(1));
}

TEST(RetryableTest, OnlyTransientCodes) {
  EXPECT_TRUE(IsRetryable(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(IsRetryable(absl::StatusCode::kResourceExhausted));
  EXPECT_TRUE(IsRetryable(absl::StatusCode::kAborted));
  EXPECT_FALSE(IsRetryable(absl::StatusCode::kDeadlineExceeded));
  EXPECT_FALSE(IsRetryable(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(IsRetryable(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace ossup::client
