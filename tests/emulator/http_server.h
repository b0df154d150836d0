#ifndef OSSEMU_HTTP_SERVER_H_
#define OSSEMU_HTTP_SERVER_H_

// A small HTTP/1.1 server interface. The Boost.Beast implementation lives in http_server.cc only
// (it is slow to compile); everything else sees these types.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ossemu {

struct HttpRequestHead {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercase
  std::string peer_ip;
  std::optional<uint64_t> content_length;

  // The first value of a header (lowercase name), or "".
  absl::string_view Header(absl::string_view lower_name) const;
  bool HasHeader(absl::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When >= 0 the body is `fd_size` bytes read from this file descriptor (the server closes it).
  int body_fd = -1;
  uint64_t fd_size = 0;
  // HEAD: send this Content-Length but no body.
  std::optional<uint64_t> head_content_length;
  bool close = false;  // close the connection after this response
};

// One request: body bytes arrive through OnBody, then Finish produces the response. Finish may
// block (e.g. an upload callback) and runs on a worker thread, not on an I/O thread.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  virtual void OnBody(absl::string_view chunk) = 0;
  virtual HttpResponse Finish() = 0;
  // True when Finish only reads a little local state (HEAD/GET of metadata): it then runs on the
  // connection's I/O thread instead of a worker, saving two thread handoffs per request.
  virtual bool FinishIsQuick() const { return false; }
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Called once the request head has been read. Must not block.
  virtual std::unique_ptr<HttpExchange> Begin(HttpRequestHead head) = 0;
  // The largest body accepted for this request (the server answers 413 beyond it).
  virtual uint64_t BodyLimit(const HttpRequestHead& head) const = 0;
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  int io_threads = 2;
  int worker_threads = 4;
  uint32_t header_limit = 16 * 1024;
  int idle_timeout_seconds = 60;
  bool log_requests = true;  // one line per request on stderr
};

class HttpServer {
 public:
  // Binds and starts serving; `handler` must outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           HttpHandler* handler);
  virtual ~HttpServer() = default;
  virtual uint16_t port() const = 0;
  // Stops accepting, closes connections and joins all threads. Idempotent.
  virtual void Stop() = 0;
};

}  // namespace ossemu

#endif  // OSSEMU_HTTP_SERVER_H_
