#ifndef OSSEMU_CALLBACK_TEST_HTTP_SERVER_H_
#define OSSEMU_CALLBACK_TEST_HTTP_SERVER_H_

// A minimal HTTP/1.1 server for tests: 127.0.0.1, ephemeral port, one connection at a time on
// its own thread. It records each raw request and answers with a configurable reply.

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ossemu::testing {

struct RecordedRequest {
  std::string request_line;  // "POST /cb?a=1 HTTP/1.1"
  std::string target;        // "/cb?a=1"
  std::vector<std::pair<std::string, std::string>> headers;  // as received
  std::string body;

  // The first header with this name (case-insensitive), or "" if absent.
  std::string Header(absl::string_view name) const;
  bool HasHeader(absl::string_view name) const;
};

struct TestReply {
  int status = 200;
  std::string reason = "OK";
  std::string content_type = "application/json";  // empty = no Content-Type header
  std::string body = "{\"Status\":\"OK\"}";
  bool chunked = false;           // Transfer-Encoding: chunked instead of Content-Length
  absl::Duration delay;           // wait before answering
};

class TestHttpServer {
 public:
  TestHttpServer();  // binds and starts serving; port() == 0 if that failed
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  int port() const { return port_; }
  std::string Url(absl::string_view target) const;
  void SetReply(TestReply reply);

  // Waits until at least `count` requests arrived; false on timeout.
  bool WaitForRequests(size_t count, absl::Duration timeout);
  std::vector<RecordedRequest> Requests();

 private:
  void Serve();
  void HandleConnection(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  TestReply reply_ ABSL_GUARDED_BY(mu_);
  std::vector<RecordedRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// A 127.0.0.1 port nobody listens on (bound, then closed).
int UnusedPort();

}  // namespace ossemu::testing

#endif  // OSSEMU_CALLBACK_TEST_HTTP_SERVER_H_
