#ifndef OSSUP_SERVICE_TRANSPORT_CALLBACK_ENDPOINT_H_
#define OSSUP_SERVICE_TRANSPORT_CALLBACK_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "service/common/clock.h"
#include "service/common/metrics.h"
#include "service/common/thread_pool.h"
#include "service/domain/form_issuer.h"
#include "service/protocol/callback_verifier.h"
#include "service/remote/oss_client.h"
#include "service/storage/callback_batcher.h"
#include "service/transport/http_server.h"

namespace ossup::transport {

struct CallbackEndpointOptions {
  // Empty: no callback route (the probes and /metrics only, as for --role=grpc).
  std::string callback_path = "/oss/callback";
  // Confirm every reported object with HeadObject on our own bucket before trusting it: a valid
  // OSS signature does not prove which account's upload triggered the callback.
  bool confirm_with_head_object = true;
  absl::Duration head_timeout = absl::Seconds(2);
};

struct CallbackEndpointDeps {
  const protocol::CallbackVerifier* verifier = nullptr;
  storage::CallbackBatcher* batcher = nullptr;
  const domain::FormIssuer* issuer = nullptr;  // bucket endpoints and credentials
  remote::OssClient* oss = nullptr;
  const Clock* clock = nullptr;
  ThreadPool* pool = nullptr;
  // Readiness; /readyz answers 503 while it fails. Called on the I/O thread: it must be quick
  // (a cached result, as storage::ReadinessCheck::Current gives).
  std::function<absl::Status()> ready;
  // The endpoint registers its series here, and GET /metrics renders all of it (on the pool, as
  // gauge callbacks may read the database). A private registry when null.
  metrics::Registry* metrics = nullptr;
};

// The HTTP side: POST <callback_path> from OSS, GET /healthz and /readyz for probes, GET /metrics
// for Prometheus. Every answer is counted in ossup_http_requests_total{route,method,code} and
// timed in ossup_http_request_duration_seconds{route,code}; route is one of callback, healthz,
// readyz, metrics, other.
//
// A callback is answered within OSS's 5 s window: 200 with {"upload_id","state"} when recorded
// (OSS relays it to the uploader); 403 for a bad signature or token; 400 for a malformed body;
// 404 for an unknown upload; 409 when the object does not match the upload (REJECTED) or is not
// in our bucket; 503 when a dependency is down (OSS then reports CallbackFailed; the object stays
// stored, and the expiry sweep finds it). Duplicates of an accepted callback get the same answer
// and create no second event.
class CallbackEndpoint {
 public:
  CallbackEndpoint(CallbackEndpointDeps deps, CallbackEndpointOptions options);

  void Handle(HttpRequest request, HttpRespond respond);

 private:
  // The callback itself. Verification runs on the HTTP I/O thread that read the request when it
  // cannot block (every key pinned, none fetched: the production default; the body is bounded
  // by http.max_callback_body_bytes), else on a pool thread; then HeadObject on the OSS client's
  // thread; then the correlation is queued to the batcher, whose committer thread answers once
  // the batch committed. No thread waits for OSS or the database.
  void HandleCallback(std::shared_ptr<const HttpRequest> request, HttpRespond respond);
  // Answers `request` through `respond`.
  void Route(HttpRequest request, HttpRespond respond);
  absl::string_view RouteLabel(absl::string_view path) const;

  const CallbackEndpointDeps deps_;
  const CallbackEndpointOptions options_;
  std::unique_ptr<metrics::Registry> own_registry_;  // when deps_.metrics is null
  metrics::Registry* const registry_;
  metrics::CounterFamily& requests_;
  metrics::HistogramFamily& latency_;
};

}  // namespace ossup::transport

#endif  // OSSUP_SERVICE_TRANSPORT_CALLBACK_ENDPOINT_H_
