#include "client/upload_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <thread>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace ossup::client {
namespace {

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

void PrepareContext(grpc::ClientContext* ctx, const std::string& token) {
  if (!token.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
}

// 128 random bits as 32 hex digits: an AIP-155 request id nobody else will pick.
std::string RandomRequestId() {
  absl::BitGen gen;
  return absl::StrCat("uploadctl-", absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16),
                      absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16));
}

double UnitRandom() {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen();
  absl::MutexLock lock(&mu);
  return absl::Uniform<double>(*gen, 0.0, 1.0);
}

// Stream endings after which reconnecting can help: the service went away, restarted, shed load,
// or dropped us for lagging. Everything else (bad request, permissions, purged resume point) would
// fail the same way again.
bool ShouldReconnect(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:  // cancelled by the server (shutdown), not by us
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
      return true;
    default:
      return false;
  }
}

// A stream that stayed open this long was healthy even without events; its end starts the
// reconnect backoff over.
constexpr absl::Duration kHealthyStreamAge = absl::Seconds(10);
constexpr int kMaxSameErrorWithoutProgress = 10;

class ResumingEventStream final : public EventStream {
 public:
  ResumingEventStream(std::shared_ptr<grpc::ChannelInterface> channel, ClientOptions client,
                      WatchOptions options, v1::WatchUploadsRequest request)
      : stub_(v1::UploadService::NewStub(std::move(channel))),
        client_(std::move(client)),
        options_(std::move(options)),
        request_(std::move(request)),
        read_sequence_(request_.after_sequence()),
        handed_sequence_(request_.after_sequence()) {
    reader_ = std::thread([this] { ReadLoop(); });
  }

  ~ResumingEventStream() override {
    Cancel();
    reader_.join();
  }

  absl::StatusOr<v1::UploadEvent> Next(absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return cancelled_ || !buffer_.empty() || done_;
    };
    mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
    if (cancelled_) return absl::CancelledError("the watch was cancelled");
    if (!buffer_.empty()) {
      v1::UploadEvent event = std::move(buffer_.front());
      buffer_.pop_front();
      handed_sequence_ = event.sequence();
      return event;
    }
    if (done_) return final_status_;
    return absl::DeadlineExceededError("no event before the deadline");
  }

  void Cancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (current_ != nullptr) current_->TryCancel();
  }

  int64_t last_sequence() const override {
    absl::MutexLock lock(&mu_);
    return handed_sequence_;
  }

  int reconnects() const override {
    absl::MutexLock lock(&mu_);
    return reconnects_;
  }

 private:
  void ReadLoop() {
    int failures_in_a_row = 0;
    int same_error_in_a_row = 0;
    absl::StatusCode last_error = absl::StatusCode::kOk;
    while (true) {
      auto ctx = std::make_shared<grpc::ClientContext>();
      PrepareContext(ctx.get(), client_.token);
      {
        absl::MutexLock lock(&mu_);
        if (cancelled_) break;
        current_ = ctx;
      }
      v1::WatchUploadsRequest request = request_;
      request.set_after_sequence(read_sequence_);
      const absl::Time opened = absl::Now();
      bool delivered = false;
      std::unique_ptr<grpc::ClientReader<v1::UploadEvent>> reader =
          stub_->WatchUploads(ctx.get(), request);
      v1::UploadEvent event;
      while (reader->Read(&event)) {
        // The service resumes strictly after read_sequence_; this guard keeps the promise even
        // against a replica that would repeat itself.
        if (event.sequence() <= read_sequence_) continue;
        read_sequence_ = event.sequence();
        delivered = true;
        absl::MutexLock lock(&mu_);
        auto has_room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return cancelled_ || buffer_.size() < std::max<size_t>(options_.max_buffered_events, 1);
        };
        mu_.Await(absl::Condition(&has_room));
        if (cancelled_) break;
        buffer_.push_back(std::move(event));
      }
      absl::Status status = FromGrpc(reader->Finish());
      // A clean end is a server shutting down; it must never become an OK "error".
      if (status.ok()) status = absl::UnavailableError("the service ended the stream");
      // A stream that delivered or lived a while was healthy: start the backoff over.
      if (delivered || absl::Now() - opened >= kHealthyStreamAge) {
        failures_in_a_row = 0;
        same_error_in_a_row = 0;
      }
      same_error_in_a_row = status.code() == last_error ? same_error_in_a_row + 1 : 1;
      last_error = status.code();
      ++failures_in_a_row;
      absl::Duration delay;
      {
        absl::MutexLock lock(&mu_);
        current_.reset();
        if (cancelled_) break;
        if (!ShouldReconnect(status.code())) {
          final_status_ = status;
          break;
        }
        if (options_.max_reconnects > 0 && failures_in_a_row > options_.max_reconnects) {
          final_status_ =
              absl::Status(status.code(), absl::StrCat("gave up after ", options_.max_reconnects,
                                                       " reconnect attempts: ", status.message()));
          break;
        }
        // UNAVAILABLE is what restarts look like and is retried for as long as the caller wants;
        // another error that repeats without progress (an event the client cannot parse or that
        // exceeds its message limit) would repeat forever.
        if (status.code() != absl::StatusCode::kUnavailable &&
            same_error_in_a_row >= kMaxSameErrorWithoutProgress) {
          final_status_ = absl::Status(status.code(),
                                       absl::StrCat("the same error ", same_error_in_a_row,
                                                    " times without progress: ", status.message()));
          break;
        }
        delay = Backoff(client_.retry, failures_in_a_row - 1, UnitRandom());
      }
      // Outside the lock: the callback may log slowly or call back into this stream.
      if (options_.on_reconnect) options_.on_reconnect(status, delay);
      absl::MutexLock lock(&mu_);
      auto cancelled = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return cancelled_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&cancelled), delay)) break;
      ++reconnects_;
    }
    absl::MutexLock lock(&mu_);
    if (cancelled_ && final_status_.ok()) {
      final_status_ = absl::CancelledError("the watch was cancelled");
    }
    done_ = true;
  }

  const std::unique_ptr<v1::UploadService::Stub> stub_;
  const ClientOptions client_;
  const WatchOptions options_;
  const v1::WatchUploadsRequest request_;
  int64_t read_sequence_;  // reader thread only

  mutable absl::Mutex mu_;
  std::deque<v1::UploadEvent> buffer_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<grpc::ClientContext> current_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_status_ ABSL_GUARDED_BY(mu_);
  int64_t handed_sequence_ ABSL_GUARDED_BY(mu_);
  int reconnects_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread reader_;
};

}  // namespace

bool IsRetryable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kResourceExhausted ||
         code == absl::StatusCode::kAborted;
}

absl::Duration Backoff(const RetryPolicy& policy, int retry, double unit_random) {
  const double exp = std::pow(std::max(policy.multiplier, 1.0), std::min(retry, 62));
  absl::Duration d = std::min(policy.initial_backoff * exp, policy.max_backoff);
  // "Equal jitter": at least half the step, so replicas retrying together spread out but no
  // retry comes back immediately.
  return d / 2 + d / 2 * std::clamp(unit_random, 0.0, 1.0);
}

UploadClient::UploadClient(std::shared_ptr<grpc::ChannelInterface> channel, ClientOptions options)
    : channel_(std::move(channel)),
      stub_(v1::UploadService::NewStub(channel_)),
      options_(std::move(options)) {}

template <typename Response, typename Call>
absl::StatusOr<Response> UploadClient::CallWithRetries(const char* method, bool idempotent,
                                                       Call call) const {
  const absl::Time deadline = absl::Now() + options_.call_timeout;
  const int attempts = idempotent ? std::max(options_.retry.max_attempts, 1) : 1;
  absl::Status last;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    grpc::ClientContext ctx;
    PrepareContext(&ctx, options_.token);
    ctx.set_deadline(absl::ToChronoTime(deadline));
    Response response;
    last = FromGrpc(call(&ctx, &response, attempt));
    if (last.ok()) return response;
    if (!IsRetryable(last.code()) || attempt + 1 == attempts) break;
    const absl::Duration delay = Backoff(options_.retry, attempt, UnitRandom());
    if (absl::Now() + delay >= deadline) break;
    options_.sleep(delay);
  }
  return absl::Status(last.code(), absl::StrCat(method, ": ", last.message()));
}

absl::StatusOr<v1::CreateUploadResponse> UploadClient::CreateUpload(
    v1::CreateUploadRequest request) const {
  if (request.request_id().empty()) request.set_request_id(RandomRequestId());
  return CallWithRetries<v1::CreateUploadResponse>(
      "CreateUpload", true, [&](grpc::ClientContext* ctx, v1::CreateUploadResponse* out, int) {
        return stub_->CreateUpload(ctx, request, out);
      });
}

absl::StatusOr<v1::Upload> UploadClient::GetUpload(const std::string& name) const {
  v1::GetUploadRequest request;
  request.set_name(name);
  return CallWithRetries<v1::Upload>("GetUpload", true,
                                     [&](grpc::ClientContext* ctx, v1::Upload* out, int) {
                                       return stub_->GetUpload(ctx, request, out);
                                     });
}

absl::StatusOr<v1::ListUploadsResponse> UploadClient::ListUploads(
    const v1::ListUploadsRequest& request) const {
  return CallWithRetries<v1::ListUploadsResponse>(
      "ListUploads", true, [&](grpc::ClientContext* ctx, v1::ListUploadsResponse* out, int) {
        return stub_->ListUploads(ctx, request, out);
      });
}

absl::StatusOr<v1::Upload> UploadClient::CancelUpload(const std::string& name) const {
  v1::CancelUploadRequest request;
  request.set_name(name);
  return CallWithRetries<v1::Upload>(
      "CancelUpload", true, [&](grpc::ClientContext* ctx, v1::Upload* out, int attempt) {
        grpc::Status status = stub_->CancelUpload(ctx, request, out);
        // A retry after a lost answer finds the upload already cancelled: that is our success.
        if (attempt > 0 && status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
          grpc::ClientContext get_ctx;
          PrepareContext(&get_ctx, options_.token);
          get_ctx.set_deadline(ctx->deadline());
          v1::GetUploadRequest get;
          get.set_name(name);
          if (stub_->GetUpload(&get_ctx, get, out).ok() && out->state() == v1::Upload::CANCELLED) {
            return grpc::Status::OK;
          }
        }
        return status;
      });
}

absl::StatusOr<int64_t> UploadClient::CurrentEventSequence(const std::string& parent) const {
  v1::ListUploadsRequest request;
  request.set_parent(parent);
  request.set_page_size(1);
  absl::StatusOr<v1::ListUploadsResponse> page = ListUploads(request);
  if (!page.ok()) return page.status();
  return page->event_sequence();
}

absl::StatusOr<std::unique_ptr<EventStream>> UploadClient::Watch(v1::WatchUploadsRequest request,
                                                                 WatchOptions options) const {
  if (request.start_case() != v1::WatchUploadsRequest::kAfterSequence) {
    absl::StatusOr<int64_t> now = CurrentEventSequence(request.parent());
    if (!now.ok()) return now.status();
    request.set_after_sequence(*now);
  }
  if (request.after_sequence() < 0) {
    return absl::InvalidArgumentError("after_sequence: must not be negative");
  }
  return std::make_unique<ResumingEventStream>(channel_, options_, std::move(options),
                                               std::move(request));
}

}  // namespace ossup::client
