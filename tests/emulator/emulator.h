#ifndef OSSEMU_EMULATOR_H_
#define OSSEMU_EMULATOR_H_

// The emulator's request router: turns HTTP requests into OSS operations and OSS answers
// (request id, Server header, CORS headers, error XML).

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "callback/callback_dispatcher.h"
#include "config.h"
#include "http_server.h"
#include "operation.h"
#include "storage.h"

namespace ossemu {

struct EmulatorOptions {
  EmulatorConfig config;
  std::string data_dir;
  CallbackDispatcher* dispatcher = nullptr;  // optional, not owned, must outlive the Emulator
  CallbackFaults* faults = nullptr;          // optional, not owned (the dispatcher's switches)
  std::function<absl::Time()> clock;         // default absl::Now
};

class Emulator : public HttpHandler {
 public:
  static absl::StatusOr<std::unique_ptr<Emulator>> Create(EmulatorOptions options);

  std::unique_ptr<HttpExchange> Begin(HttpRequestHead head) override;
  uint64_t BodyLimit(const HttpRequestHead& head) const override;

 private:
  explicit Emulator(EmulatorOptions options);

  // Resolves bucket, key and query; sets ctx->bucket to nullptr for an unknown virtual host.
  RequestContext Address(HttpRequestHead head) const;

  EmulatorOptions options_;
  Storage storage_;
  std::atomic<bool> fail_before_store_{false};
  Services services_;
};

}  // namespace ossemu

#endif  // OSSEMU_EMULATOR_H_
