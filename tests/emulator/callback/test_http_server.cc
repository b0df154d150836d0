#include "callback/test_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace ossemu::testing {
namespace {

int BindLoopback(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// Waits up to 50 ms for `fd` to become readable.
bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 50) > 0;
}

bool SendAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::string RecordedRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

bool RecordedRequest::HasHeader(absl::string_view name) const {
  for (const auto& header : headers) {
    if (absl::EqualsIgnoreCase(header.first, name)) return true;
  }
  return false;
}

TestHttpServer::TestHttpServer() {
  listen_fd_ = BindLoopback(&port_);
  if (listen_fd_ < 0 || listen(listen_fd_, 16) != 0) {
    port_ = 0;
    return;
  }
  thread_ = std::thread([this] { Serve(); });
}

TestHttpServer::~TestHttpServer() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::string TestHttpServer::Url(absl::string_view target) const {
  return absl::StrCat("http://127.0.0.1:", port_, target);
}

void TestHttpServer::SetReply(TestReply reply) {
  absl::MutexLock lock(&mu_);
  reply_ = std::move(reply);
}

bool TestHttpServer::WaitForRequests(size_t count, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return requests_.size() >= count; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

std::vector<RecordedRequest> TestHttpServer::Requests() {
  absl::MutexLock lock(&mu_);
  return requests_;
}

void TestHttpServer::Serve() {
  while (!stop_.load()) {
    if (!Readable(listen_fd_)) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    HandleConnection(fd);
    close(fd);
  }
}

void TestHttpServer::HandleConnection(int fd) {
  std::string data;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  size_t header_end = std::string::npos;
  size_t content_length = 0;
  // Read the head, then Content-Length bytes of body.
  while (!stop_.load() && absl::Now() < give_up) {
    if (header_end == std::string::npos) {
      header_end = data.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        for (absl::string_view line : absl::StrSplit(absl::string_view(data).substr(0, header_end), "\r\n")) {
          const size_t colon = line.find(':');
          if (colon != absl::string_view::npos &&
              absl::EqualsIgnoreCase(line.substr(0, colon), "content-length")) {
            (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(colon + 1)), &content_length);
          }
        }
      }
    }
    if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) break;
    if (!Readable(fd)) continue;
    char buffer[4096];
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return;
    data.append(buffer, static_cast<size_t>(n));
  }
  if (header_end == std::string::npos) return;

  RecordedRequest request;
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(data).substr(0, header_end), "\r\n");
  request.request_line = std::string(lines[0]);
  std::vector<absl::string_view> words = absl::StrSplit(lines[0], ' ');
  if (words.size() >= 2) request.target = std::string(words[1]);
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) continue;
    request.headers.emplace_back(std::string(lines[i].substr(0, colon)),
                                 std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
  }
  request.body = data.substr(header_end + 4, content_length);

  TestReply reply;
  {
    absl::MutexLock lock(&mu_);
    requests_.push_back(std::move(request));
    reply = reply_;
  }
  const absl::Time answer_at = absl::Now() + reply.delay;
  while (!stop_.load() && absl::Now() < answer_at) absl::SleepFor(absl::Milliseconds(10));

  std::string response = absl::StrCat("HTTP/1.1 ", reply.status, " ", reply.reason, "\r\n");
  if (!reply.content_type.empty()) absl::StrAppend(&response, "Content-Type: ", reply.content_type, "\r\n");
  if (reply.chunked) {
    absl::StrAppend(&response, "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    char size_line[32];
    std::snprintf(size_line, sizeof(size_line), "%zx\r\n", reply.body.size());
    absl::StrAppend(&response, size_line, reply.body, "\r\n0\r\n\r\n");
  } else {
    absl::StrAppend(&response, "Content-Length: ", reply.body.size(), "\r\nConnection: close\r\n\r\n",
                    reply.body);
  }
  SendAll(fd, response);
}

int UnusedPort() {
  int port = 0;
  const int fd = BindLoopback(&port);
  if (fd >= 0) close(fd);
  return port;
}

}  // namespace ossemu::testing
