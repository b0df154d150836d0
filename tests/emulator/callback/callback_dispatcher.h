#ifndef OSSEMU_CALLBACK_CALLBACK_DISPATCHER_H_
#define OSSEMU_CALLBACK_CALLBACK_DISPATCHER_H_

// The emulator's upload-callback sender: the seam between the emulator core (HTTP server,
// PostObject, storage) and the callback module. Independent of service/: nothing here may
// include or link the service's protocol library.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ossemu {

// A validated callback parameter plus its x: variables, parsed before the object is stored
// (OSS refuses a bad callback with 400 InvalidArgument and stores nothing).
struct ParsedCallback {
  std::vector<std::string> urls;    // 1-5, tried in order
  std::string host;                 // callbackHost, empty = from the URL
  bool sni = false;                 // callbackSNI
  bool json_body = false;           // callbackBodyType == application/json
  std::string body_template;        // callbackBody
  std::vector<std::pair<std::string, std::string>> vars;  // x:name -> value
};

// What OSS knows about the stored object, substituted into ${...} system variables.
struct UploadFacts {
  std::string bucket;
  std::string object;
  std::string etag;          // without quotes
  int64_t size = 0;
  std::string mime_type;
  std::string crc64;         // decimal, as x-oss-hash-crc64ecma
  std::string content_md5;   // base64
  std::string client_ip;
  std::string request_id;
  std::string operation = "PostObject";
};

// The answer the uploader gets once the object is stored.
struct CallbackOutcome {
  int http_status = 200;     // 200 (callback succeeded, app body relayed) or 203 (CallbackFailed)
  std::string content_type;  // the app's Content-Type on success, application/xml on failure
  std::string body;          // the app's body verbatim, or the CallbackFailed XML
  std::string message;       // e.g. "Error status : 301." (empty on success)
};

// Test fault switches, flipped at run time through the emulator's admin endpoint.
struct CallbackFaults {
  std::atomic<bool> drop{false};       // never send; the uploader gets 203 as for a dead host
  std::atomic<bool> delay{false};      // send after the 5 s deadline has passed (OSS gave up)
  std::atomic<bool> duplicate{false};  // send the callback twice
};

struct CallbackDispatcherOptions {
  std::string private_key_pem;  // RSA key OSS signs with; empty = generate a 1024-bit key
  std::string public_key_url;   // what x-oss-pub-key-url points to (served by the core)
  absl::Duration timeout = absl::Seconds(5);
  const CallbackFaults* faults = nullptr;  // optional
};

class CallbackDispatcher {
 public:
  static absl::StatusOr<std::unique_ptr<CallbackDispatcher>> Create(
      CallbackDispatcherOptions options);
  virtual ~CallbackDispatcher() = default;

  // Validates the base64 `callback` form field and the x: fields as OSS does. The error message
  // is OSS's (e.g. "The callback configuration is not json format."), for an InvalidArgument.
  virtual absl::StatusOr<ParsedCallback> Parse(
      absl::string_view callback_base64,
      const std::vector<std::pair<std::string, std::string>>& x_vars) const = 0;

  // Substitutes, signs and POSTs the callback; blocks for at most options.timeout.
  virtual CallbackOutcome Dispatch(const ParsedCallback& callback, const UploadFacts& facts,
                                   absl::string_view host_id) = 0;

  // The PEM (SubjectPublicKeyInfo) served at public_key_url.
  virtual std::string PublicKeyPem() const = 0;
};

}  // namespace ossemu

#endif  // OSSEMU_CALLBACK_CALLBACK_DISPATCHER_H_
