#include "service/transport/http_server.h"

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "service/common/thread_name.h"

namespace ossup::transport {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::chrono::milliseconds ToChrono(absl::Duration d) {
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

struct Shared {
  HttpServerOptions options;
  HttpHandler handler;
  std::atomic<size_t> connections{0};
  // Requests whose headers have arrived and whose answer is not written yet.
  std::atomic<int> in_flight{0};
  std::atomic<bool> draining{false};
  // Set once the drain is over: a request parsed after that is not handed to the handler (its
  // answer could no longer be written), the connection is closed instead.
  std::atomic<bool> stopped{false};
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Shared> shared)
      : stream_(std::move(socket)), shared_(std::move(shared)) {
    beast::error_code ec;
    const auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) peer_ = absl::StrCat(endpoint.address().to_string(), ":", endpoint.port());
  }
  ~Session() {
    Uncount();
    shared_->connections.fetch_sub(1);
  }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(shared_->options.max_header_bytes));
    parser_->body_limit(shared_->options.max_body_bytes);
    stream_.expires_after(ToChrono(shared_->options.read_timeout));
    // Headers first: from then on the request counts as in flight, so a drain waits for it.
    http::async_read_header(
        stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
          if (ec) return self->OnRead(ec);
          self->counted_ = true;
          self->shared_->in_flight.fetch_add(1);
          http::async_read(self->stream_, self->buffer_, *self->parser_,
                           [self](beast::error_code ec, size_t) { self->OnRead(ec); });
        });
  }

  // Ends this request's share of in_flight (once; on this session's strand).
  void Uncount() {
    if (!counted_) return;
    counted_ = false;
    shared_->in_flight.fetch_sub(1);
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return Close();
    if (ec == http::error::body_limit) {
      return Write(Plain(413, "request body too large"), /*keep_alive=*/false, 11);
    }
    if (ec == http::error::header_limit) {
      return Write(Plain(431, "request headers too large"), /*keep_alive=*/false, 11);
    }
    if (ec) {
      // Timeouts, resets and malformed requests: nothing useful can be answered reliably.
      if (ec != beast::error::timeout && ec != net::error::operation_aborted &&
          ec != net::error::connection_reset && ec != net::error::eof) {
        return Write(Plain(400, "malformed HTTP request"), /*keep_alive=*/false, 11);
      }
      return Close();
    }
    http::request<http::string_body> req = parser_->release();
    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.version = req.version();
    for (const auto& field : req) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(req.body());
    request.peer = peer_;
    const bool keep_alive =
        req.keep_alive() && ++served_ < shared_->options.max_requests_per_connection;
    const int version = req.version();
    // No read deadline while the handler works; the write gets its own.
    stream_.expires_never();
    // Counted (above) before this check, and Stop() sets `stopped` before its last wait for
    // in_flight: either the drain sees this request or this request sees the drain is over.
    if (shared_->stopped.load()) return Close();
    auto self = shared_from_this();
    shared_->handler(std::move(request), [self, keep_alive, version](HttpResponse response) {
      net::post(self->stream_.get_executor(),
                [self, keep_alive, version, response = std::move(response)]() mutable {
                  // While draining, every answer closes its connection.
                  const bool keep = keep_alive && !self->shared_->draining.load();
                  self->Write(std::move(response), keep, version);
                });
    });
  }

  static HttpResponse Plain(int status, absl::string_view message) {
    HttpResponse r;
    r.status = status;
    r.content_type = "text/plain";
    r.body = absl::StrCat(message, "\n");
    return r;
  }

  void Write(HttpResponse response, bool keep_alive, int version) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), version);
    res->set(http::field::server, "ossup");
    res->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) res->set(name, value);
    res->body() = std::move(response.body);
    res->keep_alive(keep_alive);
    // Always a Content-Length, never chunked: OSS requires it of callback answers.
    res->prepare_payload();
    stream_.expires_after(ToChrono(shared_->options.read_timeout));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        self->Uncount();
                        if (ec || !keep_alive) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    Uncount();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  std::shared_ptr<Shared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string peer_;
  unsigned served_ = 0;
  bool counted_ = false;  // this request is part of shared_->in_flight
};

class BeastHttpServer final : public HttpServer {
 public:
  BeastHttpServer(HttpServerOptions options, HttpHandler handler)
      : ioc_(options.io_threads), acceptor_(net::make_strand(ioc_)) {
    shared_ = std::make_shared<Shared>();
    shared_->options = std::move(options);
    shared_->handler = std::move(handler);
  }

  ~BeastHttpServer() override { Stop(absl::ZeroDuration()); }

  absl::Status Listen() {
    beast::error_code ec;
    const auto address = net::ip::make_address(shared_->options.address, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("http: bad listen address '", shared_->options.address, "'"));
    }
    const tcp::endpoint endpoint(address, shared_->options.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("http: cannot listen on ",
                                                 shared_->options.address, ":",
                                                 shared_->options.port, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    // Keeps run() going while no socket operation is pending: a drain after the acceptor closed
    // may have nothing to wait on but handlers answering from the worker pool.
    work_.emplace(net::make_work_guard(ioc_));
    for (int i = 0; i < std::max(1, shared_->options.io_threads); ++i) {
      threads_.push_back(NamedThread("ossup-http", [this] { ioc_.run(); }));
    }
    return absl::OkStatus();
  }

  uint16_t port() const override { return port_; }

  void Shutdown() override { Stop(shared_->options.drain_timeout); }

 private:
  void Stop(absl::Duration drain) {
    absl::MutexLock lock(&shutdown_mu_);
    if (stopped_) return;
    stopped_ = true;
    shared_->draining = true;
    // Stop accepting on the acceptor's own strand (it is not thread-safe), then give the
    // requests already handed out time to be answered.
    auto closed = std::make_shared<absl::Notification>();
    net::post(acceptor_.get_executor(), [this, closed] {
      beast::error_code ignored;
      acceptor_.close(ignored);
      closed->Notify();
    });
    closed->WaitForNotificationWithTimeout(absl::Seconds(1));
    const absl::Time deadline = absl::Now() + drain;
    auto wait_for_quiet = [&] {
      while (shared_->in_flight.load() > 0 && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(5));
      }
    };
    wait_for_quiet();
    shared_->stopped = true;
    wait_for_quiet();  // a request counted just before `stopped` was set
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    // No thread runs the io_context any more, so the acceptor can be closed directly.
    beast::error_code ignored;
    acceptor_.close(ignored);
  }

  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
      // Closed by Stop(): an accept that completed just before must not start another one.
      if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
      if (!ec) {
        if (shared_->connections.fetch_add(1) >= shared_->options.max_connections) {
          shared_->connections.fetch_sub(1);
          beast::error_code ignored;
          s.close(ignored);  // over the limit: refuse cheaply
        } else {
          std::make_shared<Session>(std::move(s), shared_)->Start();
        }
      }
      Accept();
    });
  }

  net::io_context ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  tcp::acceptor acceptor_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  absl::Mutex shutdown_mu_;
  bool stopped_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                              HttpHandler handler) {
  if (!handler) return absl::InvalidArgumentError("http: no handler");
  auto server = std::make_unique<BeastHttpServer>(std::move(options), std::move(handler));
  if (absl::Status st = server->Listen(); !st.ok()) return st;
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace ossup::transport
