#ifndef OSSUP_SERVICE_REMOTE_OSS_CLIENT_H_
#define OSSUP_SERVICE_REMOTE_OSS_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
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
};

// libcurl implementation with V4 header signing (protocol::SignRequestV4).
// Keeps idle libcurl handles, and with them their open connections, so confirmations reuse a
// kept-alive (and, over HTTPS, already-handshaken) connection instead of opening one per callback.
class CurlOssClient final : public OssClient {
 public:
  static absl::StatusOr<std::unique_ptr<CurlOssClient>> Create(const Clock* clock);
  ~CurlOssClient() override;

  absl::StatusOr<ObjectHead> HeadObject(const OssEndpoint& endpoint,
                                        const protocol::Credentials& credentials,
                                        absl::string_view bucket, absl::string_view key,
                                        absl::Duration timeout) override;

 private:
  explicit CurlOssClient(const Clock* clock) : clock_(clock) {}
  CurlEasy AcquireHandle();
  void ReleaseHandle(CurlEasy handle);

  const Clock* clock_;
  protocol::SigningKeyCache key_cache_;
  absl::Mutex idle_mu_;
  std::vector<CurlEasy> idle_ ABSL_GUARDED_BY(idle_mu_);
};

}  // namespace ossup::remote

#endif  // OSSUP_SERVICE_REMOTE_OSS_CLIENT_H_
