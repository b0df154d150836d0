#include "service/transport/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ossup::transport {
namespace {

using ::testing::HasSubstr;

// A raw TCP client: the point is to control every byte on the wire.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~RawClient() { close(fd_); }
  bool connected() const { return connected_; }
  void Send(absl::string_view bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  // Reads one response: headers, then Content-Length bytes of body.
  std::string ReadResponse() {
    std::string data;
    char buf[4096];
    while (true) {
      const size_t header_end = data.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        size_t length = 0;
        const size_t cl = data.find("Content-Length: ");
        if (cl != std::string::npos && cl < header_end) {
          length = std::stoul(data.substr(cl + 16));
        }
        if (data.size() >= header_end + 4 + length) {
          std::string response = data.substr(0, header_end + 4 + length);
          pending_ = data.substr(header_end + 4 + length);
          return response;
        }
      }
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return data;  // closed or timed out
      data.append(buf, static_cast<size_t>(n));
    }
  }
  // True when the server closed the connection (recv returns 0).
  bool ClosedByPeer() {
    char c;
    return recv(fd_, &c, 1, 0) == 0;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions options = {}) {
    auto server = HttpServer::Start(options, [this](HttpRequest req, HttpRespond respond) {
      {
        absl::MutexLock lock(&mu_);
        requests_.push_back(req);
      }
      HttpResponse res;
      res.body = absl::StrCat(R"({"target":")", req.target, R"(","bytes":)", req.body.size(), "}");
      if (req.target == "/async" || req.target == "/slow") {
        // Answer later from another thread, as a handler that uses a worker pool does.
        const absl::Duration delay =
            req.target == "/slow" ? absl::Milliseconds(400) : absl::Milliseconds(50);
        std::thread([respond = std::move(respond), res, delay]() mutable {
          absl::SleepFor(delay);
          respond(res);
        }).detach();
        return;
      }
      respond(res);
    });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  std::vector<HttpRequest> Requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

  absl::Mutex mu_;
  std::vector<HttpRequest> requests_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, HandsOverTheRawTargetHeadersAndBody) {
  StartServer();
  RawClient client(server_->port());
  ASSERT_TRUE(client.connected());
  const std::string body = "a=1&b=%2F+x";
  client.Send(absl::StrCat("POST /oss/cb%20x?q=%2F&z HTTP/1.1\r\nHost: h\r\n",
                           "Authorization: c2ln\r\nx-oss-pub-key-url: dXJs\r\n",
                           "Content-Length: ", body.size(), "\r\n\r\n", body));
  const std::string response = client.ReadResponse();
  EXPECT_THAT(response, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(response, HasSubstr("Content-Length: "));
  EXPECT_THAT(response, HasSubstr(R"({"target":"/oss/cb%20x?q=%2F&z","bytes":11})"));
  const auto requests = Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/oss/cb%20x?q=%2F&z");
  EXPECT_EQ(requests[0].body, body);
  EXPECT_THAT(requests[0].headers, ::testing::Contains(std::make_pair(std::string("Authorization"),
                                                                      std::string("c2ln"))));
  EXPECT_THAT(requests[0].peer, ::testing::StartsWith("127.0.0.1:"));
}

TEST_F(HttpServerTest, KeepAliveAndAsyncAnswers) {
  StartServer();
  RawClient client(server_->port());
  client.Send("GET /async HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_THAT(client.ReadResponse(), HasSubstr(R"({"target":"/async")"));
  client.Send("GET /second HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_THAT(client.ReadResponse(), HasSubstr(R"({"target":"/second")"));
  EXPECT_EQ(Requests().size(), 2u);
}

TEST_F(HttpServerTest, Http10IsAnsweredAndClosed) {
  StartServer();
  RawClient client(server_->port());
  client.Send("POST /cb HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}");
  const std::string response = client.ReadResponse();
  EXPECT_THAT(response, HasSubstr("HTTP/1.0 200 OK"));
  EXPECT_THAT(response, HasSubstr("Content-Length: 26"));
  EXPECT_TRUE(client.ClosedByPeer());
}

TEST_F(HttpServerTest, LimitsAreEnforced) {
  HttpServerOptions options;
  options.max_body_bytes = 100;
  options.max_header_bytes = 1024;
  options.read_timeout = absl::Milliseconds(300);
  StartServer(options);
  {
    RawClient client(server_->port());
    client.Send("POST /cb HTTP/1.1\r\nContent-Length: 101\r\n\r\n");
    EXPECT_THAT(client.ReadResponse(), HasSubstr("413"));
  }
  {
    RawClient client(server_->port());
    client.Send(absl::StrCat("GET / HTTP/1.1\r\nX-Big: ", std::string(2000, 'a'), "\r\n\r\n"));
    EXPECT_THAT(client.ReadResponse(), HasSubstr("431"));
  }
  {
    RawClient client(server_->port());
    client.Send("GARBAGE\r\n\r\n");
    EXPECT_THAT(client.ReadResponse(), HasSubstr("400"));
  }
  {
    // A client that stops mid-request is cut off after the read timeout.
    RawClient client(server_->port());
    client.Send("POST /cb HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    const absl::Time start = absl::Now();
    EXPECT_TRUE(client.ClosedByPeer());
    EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  }
  EXPECT_TRUE(Requests().empty());
}

TEST_F(HttpServerTest, ConnectionsBeyondTheLimitAreRefused) {
  HttpServerOptions options;
  options.max_connections = 2;
  StartServer(options);
  RawClient a(server_->port());
  RawClient b(server_->port());
  a.Send("GET /a HTTP/1.1\r\n\r\n");
  b.Send("GET /b HTTP/1.1\r\n\r\n");
  EXPECT_THAT(a.ReadResponse(), HasSubstr("200"));
  EXPECT_THAT(b.ReadResponse(), HasSubstr("200"));
  RawClient c(server_->port());
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(HttpServerTest, ShutdownIsIdempotentAndFreesThePort) {
  StartServer();
  const uint16_t port = server_->port();
  server_->Shutdown();
  server_->Shutdown();
  RawClient client(port);
  EXPECT_FALSE(client.connected());
}

TEST_F(HttpServerTest, ShutdownAnswersRequestsInFlightThenCloses) {
  StartServer();
  const uint16_t port = server_->port();
  RawClient client(port);
  client.Send("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
  // Shutdown starts while the handler is still working on the request.
  while (Requests().empty()) absl::SleepFor(absl::Milliseconds(2));
  std::thread stopper([this] { server_->Shutdown(); });
  absl::SleepFor(absl::Milliseconds(100));
  RawClient late(port);
  EXPECT_FALSE(late.connected()) << "a draining server accepts no new connections";
  const std::string response = client.ReadResponse();
  stopper.join();
  EXPECT_THAT(response, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(response, HasSubstr("Connection: close"));
}

TEST_F(HttpServerTest, ShutdownWaitsForARequestWhoseBodyIsStillArriving) {
  StartServer();
  RawClient client(server_->port());
  client.Send("POST /async HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello");
  absl::SleepFor(absl::Milliseconds(50));  // headers parsed, half the body in
  std::thread stopper([this] { server_->Shutdown(); });
  absl::SleepFor(absl::Milliseconds(100));
  client.Send("world");
  const std::string response = client.ReadResponse();
  stopper.join();
  EXPECT_THAT(response, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(response, HasSubstr(R"("bytes":10)"));
}

TEST_F(HttpServerTest, ShutdownDoesNotWaitPastTheDrainTimeout) {
  HttpServerOptions options;
  options.drain_timeout = absl::Milliseconds(50);
  StartServer(options);
  RawClient client(server_->port());
  client.Send("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  while (Requests().empty()) absl::SleepFor(absl::Milliseconds(2));
  const absl::Time start = absl::Now();
  server_->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(300));
  absl::SleepFor(absl::Milliseconds(450));  // the late answer finds the server gone, harmlessly
}

}  // namespace
}  // namespace ossup::transport
