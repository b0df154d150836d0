#ifndef OSSEMU_OPERATION_H_
#define OSSEMU_OPERATION_H_

// What an OSS operation sees: shared services, the addressed request, and the Operation interface
// the Emulator wraps into an HttpExchange (which adds request id, CORS and error XML).

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "callback/callback_dispatcher.h"
#include "config.h"
#include "http_server.h"
#include "storage.h"

namespace ossemu {

// Long-lived state shared by all requests; every member outlives the requests.
struct Services {
  const EmulatorConfig* config = nullptr;
  Storage* storage = nullptr;
  CallbackDispatcher* dispatcher = nullptr;  // optional
  std::atomic<bool>* fail_before_store = nullptr;
  std::function<absl::Time()> clock;
};

struct RequestContext {
  HttpRequestHead head;
  const BucketConfig* bucket = nullptr;
  std::string host;     // Host header without port
  std::string host_id;  // what <HostId> says
  std::string request_id;
  std::string key;        // decoded object key from the path ("" for "/")
  std::string raw_query;  // without '?'
};

class Operation {
 public:
  virtual ~Operation() = default;
  virtual void OnBody(absl::string_view chunk) = 0;
  // A success response (any status, OSS headers included) or an OSS error status.
  virtual absl::StatusOr<HttpResponse> Finish() = 0;
  // See HttpExchange::FinishIsQuick.
  virtual bool FinishIsQuick() const { return false; }
};

}  // namespace ossemu

#endif  // OSSEMU_OPERATION_H_
