// A C++ client for ossup.upload.v1.UploadService.
//
// Every call has a deadline. Calls that are safe to repeat are retried with exponential backoff
// and jitter when the failure says "try again" (UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED):
// GetUpload, ListUploads, CancelUpload (a repeated cancel that finds the upload already
// CANCELLED succeeds), and CreateUpload, which is made idempotent by giving it a request_id
// (AIP-155) when the caller did not. Watch() returns an EventStream that reconnects after a
// service restart or a dropped connection and resumes after the last sequence it delivered, so
// the caller sees every event once, in order.
//
// Thread-safe: one UploadClient may be shared by many threads (it holds only a gRPC channel).
#ifndef OSSUP_CLIENT_UPLOAD_CLIENT_H_
#define OSSUP_CLIENT_UPLOAD_CLIENT_H_

#include <grpcpp/channel.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ossup/upload/v1/upload_service.grpc.pb.h"

namespace ossup::client {

namespace v1 = ::ossup::upload::v1;

struct RetryPolicy {
  // Attempts per call, the first included; 1 disables retries.
  int max_attempts = 5;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  double multiplier = 2.0;
};

struct ClientOptions {
  // Sent as "authorization: Bearer <token>" on every call.
  std::string token;
  // Deadline of one unary call, retries and backoff included.
  absl::Duration call_timeout = absl::Seconds(15);
  RetryPolicy retry;
  // Sleeps between attempts; tests replace it to run without waiting.
  std::function<void(absl::Duration)> sleep = [](absl::Duration d) { absl::SleepFor(d); };
};

struct WatchOptions {
  // Reconnect attempts in a row without receiving an event before the stream gives up
  // (0 = never give up). Backoff between them follows `ClientOptions::retry`'s durations.
  int max_reconnects = 0;
  // Called (on the stream's reader thread) before each reconnect with the status that ended the
  // previous stream and the delay before the next attempt. For logs; must not block.
  std::function<void(const absl::Status&, absl::Duration)> on_reconnect;
  // Events buffered before the reader stops reading (gRPC flow control then holds the server).
  size_t max_buffered_events = 1024;
};

class EventStream;

class UploadClient {
 public:
  UploadClient(std::shared_ptr<grpc::ChannelInterface> channel, ClientOptions options);

  // Retried only when `request.request_id()` is set; it is filled with a random id when empty,
  // so retries of one call cannot create two uploads.
  absl::StatusOr<v1::CreateUploadResponse> CreateUpload(v1::CreateUploadRequest request) const;
  absl::StatusOr<v1::Upload> GetUpload(const std::string& name) const;
  absl::StatusOr<v1::ListUploadsResponse> ListUploads(const v1::ListUploadsRequest& request) const;
  absl::StatusOr<v1::Upload> CancelUpload(const std::string& name) const;

  // The event-log sequence a watch of `parent` ("namespaces/{ns}") can start after without
  // missing an event committed from now on (ListUploads' event_sequence).
  absl::StatusOr<int64_t> CurrentEventSequence(const std::string& parent) const;

  // Starts a resuming watch. A request with `from_now` (or no start) is first pinned to
  // CurrentEventSequence(), so a reconnect cannot skip events committed while it was away.
  // Fails only when that pinning fails; stream errors surface from EventStream::Next().
  absl::StatusOr<std::unique_ptr<EventStream>> Watch(v1::WatchUploadsRequest request,
                                                     WatchOptions options = {}) const;

 private:
  template <typename Response, typename Call>
  absl::StatusOr<Response> CallWithRetries(const char* method, bool idempotent, Call call) const;

  std::shared_ptr<grpc::ChannelInterface> channel_;
  std::unique_ptr<v1::UploadService::Stub> stub_;
  ClientOptions options_;
};

// A watch that survives disconnects. Events are read on a background thread into a bounded
// buffer; Next() hands them out in sequence order, each once.
class EventStream {
 public:
  virtual ~EventStream() = default;

  // The next event, waiting until `deadline`. Errors: DEADLINE_EXCEEDED when the deadline passes
  // (the stream stays usable); CANCELLED after Cancel(); and, final, what the service answered
  // that a reconnect cannot fix (OUT_OF_RANGE when the resume point was purged: re-list and watch
  // again; PERMISSION_DENIED; INVALID_ARGUMENT ...) or the last error once `max_reconnects` ran
  // out.
  virtual absl::StatusOr<v1::UploadEvent> Next(absl::Time deadline = absl::InfiniteFuture()) = 0;

  // Ends the stream; a blocked Next() returns CANCELLED. Safe from any thread.
  virtual void Cancel() = 0;

  // The sequence of the last event handed out by Next() (the resume point).
  virtual int64_t last_sequence() const = 0;
  // Streams opened after the first.
  virtual int reconnects() const = 0;
};

// True for status codes after which repeating an idempotent call may succeed.
bool IsRetryable(absl::StatusCode code);

// The delay before retry number `retry` (0-based): d = initial * multiplier^retry capped at
// max_backoff, then jittered into [d/2, d] by `unit_random` in [0, 1).
absl::Duration Backoff(const RetryPolicy& policy, int retry, double unit_random);

}  // namespace ossup::client

#endif  // OSSUP_CLIENT_UPLOAD_CLIENT_H_
