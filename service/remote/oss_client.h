#ifndef OSSUP_SERVICE_REMOTE_OSS_CLIENT_H_
#define OSSUP_SERVICE_REMOTE_OSS_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/common/clock.h"
#include "service/protocol/credentials.h"
#include "service/protocol/signing_key.h"
#include "service/remote/curl_util.h"

namespace ossup::remote {

// Where a bucket is served.
struct OssEndpoint {
  std::string scheme = "https";
  // "oss-cn-hangzhou.aliyuncs.com", or "127.0.0.1:9000" for a local emulator.
  std::string host;
  // true: https://<bucket>.<host>/<key>; false: <scheme>://<host>/<key> (the emulator's default
  // bucket on plain addresses).
  bool virtual_hosted = true;
  std::string region;  // plain region id for V4 signing
};

// What HeadObject says about a stored object.
struct ObjectHead {
  int64_t size = 0;
  std::string etag;  // without quotes
  std::string content_type;
  std::string crc64;  // x-oss-hash-crc64ecma
};

using HeadObjectDone = std::function<void(absl::StatusOr<ObjectHead>)>;

// The OSS calls the service itself makes. The seam lets the callback path be tested without OSS.
class OssClient {
 public:
  virtual ~OssClient() = default;
  // NotFound when the object does not exist; Unavailable on network errors and timeouts;
  // PermissionDenied on 403.
  virtual absl::StatusOr<ObjectHead> HeadObject(const OssEndpoint& endpoint,
                                                const protocol::Credentials& credentials,
                                                absl::string_view bucket, absl::string_view key,
                                                absl::Duration timeout) = 0;
  // The same without a waiting thread: `done` gets the result exactly once, possibly on another
  // thread, and must not block. This default answers at once from HeadObject().
  virtual void HeadObjectAsync(const OssEndpoint& endpoint,
                               const protocol::Credentials& credentials, absl::string_view bucket,
                               absl::string_view key, absl::Duration timeout, HeadObjectDone done) {
    done(HeadObject(endpoint, credentials, bucket, key, timeout));
  }
};

// Limits of CurlOssClient (config: head_object.*).
struct CurlOssClientOptions {
  // Requests waiting for OSS at once; beyond this HeadObject answers Unavailable at once, so an
  // OSS slowdown turns into quick 503s (OSS reports CallbackFailed) rather than unbounded memory.
  int max_in_flight = 4096;
  // Connections open to one OSS host at most (beyond, requests wait inside libcurl, within their
  // timeouts), so a burst or a slow OSS cannot take thousands of sockets. Half as many idle ones
  // are kept for reuse, as concurrent confirmations usually need.
  int max_connections_per_host = 128;
};

// libcurl implementation with V4 header signing (protocol::SignRequestV4).
//
// Every request runs on one thread of its own that drives all of them at once (curl multi), so a
// confirmation occupies no thread while it waits for OSS: with a blocking call per callback, each
// one cost a worker thread's wake-up and sleep, which on 2 cores was a large part of the
// callback's CPU. The connections (kept alive, and over HTTPS already handshaken) live in the
// multi handle and are reused by later requests.
class CurlOssClient final : public OssClient {
 public:
  // InvalidArgument when an option is below 1.
  static absl::StatusOr<std::unique_ptr<CurlOssClient>> Create(
      const Clock* clock, const CurlOssClientOptions& options = {});
  // Finishes the requests in flight (each within its timeout, calling its `done`), then stops.
  ~CurlOssClient() override;

  absl::StatusOr<ObjectHead> HeadObject(const OssEndpoint& endpoint,
                                        const protocol::Credentials& credentials,
                                        absl::string_view bucket, absl::string_view key,
                                        absl::Duration timeout) override;
  // Requests waiting for OSS now (for a gauge), and at most.
  int InFlight();
  int max_in_flight() const { return max_in_flight_; }

  // `done` runs on the client's thread: it must not throw, block, or call HeadObject() (which
  // would wait for that very thread); calling HeadObjectAsync again is fine. No call may race
  // the destructor.
  void HeadObjectAsync(const OssEndpoint& endpoint, const protocol::Credentials& credentials,
                       absl::string_view bucket, absl::string_view key, absl::Duration timeout,
                       HeadObjectDone done) override;

 private:
  struct Transfer;

  CurlOssClient(const Clock* clock, CurlMulti multi, int max_in_flight);
  void Run();
  void Finish(std::unique_ptr<Transfer> transfer, CURLcode rc);
  CurlEasy AcquireHandle();
  void ReleaseHandle(CurlEasy handle);

  const Clock* clock_;
  const int max_in_flight_;
  protocol::SigningKeyCache key_cache_;
  const CurlMulti multi_;
  absl::Mutex idle_mu_;
  std::vector<CurlEasy> idle_ ABSL_GUARDED_BY(idle_mu_);
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Transfer>> incoming_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace ossup::remote

#endif  // OSSUP_SERVICE_REMOTE_OSS_CLIENT_H_
