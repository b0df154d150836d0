#ifndef OSSUP_SERVICE_REMOTE_TESTING_TEST_HTTP_SERVER_H_
#define OSSUP_SERVICE_REMOTE_TESTING_TEST_HTTP_SERVER_H_

// A minimal HTTP/1.1 server on 127.0.0.1 for the remote/ clients' tests (test-only, header-only).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace ossup::remote::testing {

struct CannedResponse {
  int status = 200;
  std::string extra_headers;  // Each line ending in "\r\n".
  std::string body;
  absl::Duration delay = absl::ZeroDuration();
  bool content_length = true;  // Without it the body ends at connection close.
};

// One request per connection, answered by method and path (GET and HEAD; a HEAD answer has the
// GET answer's headers and no body). Each connection is served on a thread of its own, so slow
// answers overlap. Keeps the head of every request it parsed.
class TestHttpServer {
 public:
  TestHttpServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TestHttpServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    std::vector<std::thread> connections;
    {
      absl::MutexLock lock(&mu_);
      connections.swap(connections_);
    }
    for (std::thread& t : connections) t.join();
    if (listen_fd_ >= 0) close(listen_fd_);
  }
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  void Set(const std::string& path, CannedResponse response) {
    absl::MutexLock lock(&mu_);
    responses_[path] = std::move(response);
  }
  // Requests parsed (GET or HEAD).
  int requests() const { return requests_; }
  // The request heads (request line and headers) parsed so far.
  std::vector<std::string> heads() {
    absl::MutexLock lock(&mu_);
    return heads_;
  }
  int port() const { return port_; }
  std::string Url(absl::string_view path) const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }
  std::string Prefix() const { return absl::StrCat("http://127.0.0.1:", port_, "/"); }

 private:
  void Serve() {
    while (!stop_) {
      pollfd pfd{listen_fd_, POLLIN, 0};
      if (poll(&pfd, 1, 20) <= 0) continue;
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      absl::MutexLock lock(&mu_);
      connections_.emplace_back([this, fd] {
        Handle(fd);
        close(fd);
      });
    }
  }

  void Handle(int fd) {
    std::string request;
    char buf[1024];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192) {
      pollfd pfd{fd, POLLIN, 0};
      if (poll(&pfd, 1, 1000) <= 0) return;
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) return;
      request.append(buf, static_cast<size_t>(n));
    }
    const bool head = request.rfind("HEAD ", 0) == 0;
    if (!head && request.rfind("GET ", 0) != 0) return;  // E.g. a TLS ClientHello.
    ++requests_;
    const size_t path_start = request.find(' ') + 1;
    const std::string path = request.substr(path_start, request.find(' ', path_start) - path_start);
    CannedResponse response{404, "", "not found", absl::ZeroDuration()};
    {
      absl::MutexLock lock(&mu_);
      heads_.push_back(request.substr(0, request.find("\r\n\r\n")));
      if (const auto it = responses_.find(path); it != responses_.end()) response = it->second;
    }
    const absl::Time until = absl::Now() + response.delay;
    while (!stop_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
    const std::string out = absl::StrCat(
        "HTTP/1.1 ", response.status, " Canned\r\n",
        response.content_length ? absl::StrCat("Content-Length: ", response.body.size(), "\r\n")
                                : "",
        "Connection: close\r\n", response.extra_headers, "\r\n", head ? "" : response.body);
    size_t sent = 0;
    while (sent < out.size()) {
      const ssize_t n = send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, CannedResponse> responses_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> heads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> connections_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace ossup::remote::testing

#endif  // OSSUP_SERVICE_REMOTE_TESTING_TEST_HTTP_SERVER_H_
