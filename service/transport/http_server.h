#ifndef OSSUP_SERVICE_TRANSPORT_HTTP_SERVER_H_
#define OSSUP_SERVICE_TRANSPORT_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// A small HTTP/1.1 server for the callback endpoint and the health probes (Boost.Beast, kept in
// one translation unit). It hands handlers the request exactly as received (raw target, header
// list, raw body bytes), because the OSS callback signature covers those bytes.
namespace ossup::transport {

struct HttpRequest {
  std::string method;
  std::string target;  // raw request-target, e.g. "/oss/callback?x=1"
  std::vector<std::pair<std::string, std::string>> headers;  // in order, as received
  std::string body;                                          // raw bytes (Content-Length)
  std::string peer;                                          // "ip:port"
  int version = 11;                                          // 10 or 11
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Handlers may answer later (from another thread) through the callback; exactly once.
using HttpRespond = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest, HttpRespond)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 = ephemeral
  int io_threads = 2;
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 64 * 1024;
  // Whole request (headers and body) must arrive within this; also the idle keep-alive limit.
  absl::Duration read_timeout = absl::Seconds(10);
  // Connections beyond this are closed on accept.
  size_t max_connections = 1024;
  // Requests served per connection before it is closed.
  unsigned max_requests_per_connection = 10000;
  // Shutdown() waits this long for requests already handed to the handler to be answered: OSS
  // never retries a callback, so one dropped mid-flight becomes a 203 for the uploader although
  // the service may have recorded it.
  absl::Duration drain_timeout = absl::Seconds(10);
};

class HttpServer {
 public:
  // Binds and starts serving. The handler runs on an I/O thread: hand blocking work to a pool.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                           HttpHandler handler);
  virtual ~HttpServer() = default;

  virtual uint16_t port() const = 0;
  // Stops accepting, lets requests in flight be answered (each with "Connection: close") for up
  // to `drain_timeout`, then closes every connection and joins the threads. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace ossup::transport

#endif  // OSSUP_SERVICE_TRANSPORT_HTTP_SERVER_H_
