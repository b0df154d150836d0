// The only translation unit that includes Boost.Beast.
#include "http_server.h"

#include <unistd.h>

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <limits>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ossemu {

absl::string_view HttpRequestHead::Header(absl::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return "";
}

bool HttpRequestHead::HasHeader(absl::string_view lower_name) const {
  for (const auto& h : headers) {
    if (h.first == lower_name) return true;
  }
  return false;
}

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class ServerImpl;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ServerImpl* server);
  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHead(); });
  }

 private:
  void ReadHead();
  void OnHead(beast::error_code ec);
  void ReadBody();
  void OnBody(beast::error_code ec);
  void RunFinish();
  void Write(HttpResponse response);
  void Fail(http::status status);
  template <class Body>
  void Send(std::shared_ptr<http::response<Body>> res, bool keep_alive, uint64_t bytes);
  void Close();

  beast::tcp_stream stream_;
  ServerImpl* server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::buffer_body>> parser_;
  std::array<char, 64 * 1024> chunk_;
  std::unique_ptr<HttpExchange> exchange_;
  std::string peer_ip_;
  std::string method_;
  std::string target_;
  bool keep_alive_ = false;
  uint64_t bytes_in_ = 0;
  std::chrono::steady_clock::time_point start_;
};

class ServerImpl : public HttpServer {
 public:
  ServerImpl(const HttpServerOptions& options, HttpHandler* handler)
      : options_(options),
        handler_(handler),
        ioc_(options.io_threads),
        acceptor_(net::make_strand(ioc_)),
        workers_(static_cast<size_t>(options.worker_threads)) {}
  ~ServerImpl() override { Stop(); }

  absl::Status Listen() {
    beast::error_code ec;
    net::ip::address address = net::ip::make_address(options_.host, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("bad listen host ", options_.host));
    tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("cannot listen: ", ec.message()));
    port_ = acceptor_.local_endpoint().port();
    DoAccept();
    for (int i = 0; i < options_.io_threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
    return absl::OkStatus();
  }

  uint16_t port() const override { return port_; }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    ioc_.stop();
    for (std::thread& t : threads_) t.join();
    workers_.join();
  }

  const HttpServerOptions& options() const { return options_; }
  HttpHandler* handler() const { return handler_; }
  net::thread_pool& workers() { return workers_; }

 private:
  void DoAccept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
      if (!ec) std::make_shared<Session>(std::move(s), this)->Start();
      if (acceptor_.is_open() && ec != net::error::operation_aborted) DoAccept();
    });
  }

  HttpServerOptions options_;
  HttpHandler* handler_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  net::thread_pool workers_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
};

Session::Session(tcp::socket socket, ServerImpl* server)
    : stream_(std::move(socket)), server_(server) {
  beast::error_code ec;
  tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
  if (!ec) peer_ip_ = peer.address().to_string();
}

void Session::ReadHead() {
  parser_.emplace();
  parser_->header_limit(server_->options().header_limit);
  // The real per-request limit is set once the handler has seen the head; the default (1 MiB)
  // would already fail the header read for a larger Content-Length.
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());  // boost::none misbehaves in 1.74
  exchange_.reset();
  bytes_in_ = 0;
  method_ = "-";
  target_ = "-";
  stream_.expires_after(std::chrono::seconds(server_->options().idle_timeout_seconds));
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHead(ec); });
}

void Session::OnHead(beast::error_code ec) {
  start_ = std::chrono::steady_clock::now();
  if (ec == http::error::header_limit) return Fail(http::status::request_header_fields_too_large);
  if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
      ec == net::error::operation_aborted || ec == net::error::connection_reset) {
    return Close();
  }
  if (ec) return Fail(http::status::bad_request);
  auto& req = parser_->get();
  HttpRequestHead head;
  head.method = std::string(req.method_string());
  head.target = std::string(req.target());
  for (const auto& field : req) {
    head.headers.emplace_back(absl::AsciiStrToLower(std::string(field.name_string())),
                              std::string(field.value()));
  }
  head.peer_ip = peer_ip_;
  if (parser_->content_length()) head.content_length = *parser_->content_length();
  method_ = head.method;
  target_ = head.target.substr(0, 512);
  keep_alive_ = req.keep_alive();
  uint64_t limit = server_->handler()->BodyLimit(head);
  if (head.content_length && *head.content_length > limit) {
    return Fail(http::status::payload_too_large);
  }
  parser_->body_limit(limit);
  bool expect_continue = beast::iequals(req[http::field::expect], "100-continue");
  exchange_ = server_->handler()->Begin(std::move(head));
  if (expect_continue && !parser_->is_done()) {
    auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
    http::async_write(stream_, *cont,
                      [self = shared_from_this(), cont](beast::error_code wec, size_t) {
                        if (wec) return self->Close();
                        self->ReadBody();
                      });
    return;
  }
  ReadBody();
}

void Session::ReadBody() {
  if (parser_->is_done()) return RunFinish();
  auto& body = parser_->get().body();
  body.data = chunk_.data();
  body.size = chunk_.size();
  body.more = true;
  stream_.expires_after(std::chrono::seconds(server_->options().idle_timeout_seconds));
  http::async_read_some(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
}

void Session::OnBody(beast::error_code ec) {
  if (ec == http::error::need_buffer) ec = {};
  if (ec == http::error::body_limit) return Fail(http::status::payload_too_large);
  if (ec) return Close();
  size_t got = chunk_.size() - parser_->get().body().size;
  if (got > 0) {
    bytes_in_ += got;
    exchange_->OnBody(absl::string_view(chunk_.data(), got));
  }
  ReadBody();
}

void Session::RunFinish() {
  stream_.expires_never();
  if (exchange_->FinishIsQuick()) {
    HttpResponse response = exchange_->Finish();
    exchange_.reset();
    return Write(std::move(response));
  }
  // Finish may block (upload callback): run it on a worker, write back on the connection's strand.
  net::post(server_->workers(), [self = shared_from_this()] {
    HttpResponse response = self->exchange_->Finish();
    self->exchange_.reset();  // release temp files etc. before the response goes out
    net::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
      self->Write(std::move(response));
    });
  });
}

void Session::Write(HttpResponse r) {
  bool keep = keep_alive_ && !r.close;
  auto status = static_cast<http::status>(r.status);
  auto fill = [&](auto& res) {
    for (const auto& [name, value] : r.headers) res.insert(name, value);
    res.keep_alive(keep);
  };
  stream_.expires_after(std::chrono::seconds(server_->options().idle_timeout_seconds));
  if (r.body_fd >= 0) {
    auto res = std::make_shared<http::response<http::file_body>>(status, 11);
    beast::file file;
    file.native_handle(r.body_fd);
    beast::error_code ec;
    res->body().reset(std::move(file), ec);
    fill(*res);
    res->prepare_payload();
    return Send(res, keep, r.fd_size);
  }
  if (r.head_content_length) {
    auto res = std::make_shared<http::response<http::empty_body>>(status, 11);
    fill(*res);
    res->content_length(*r.head_content_length);
    return Send(res, keep, 0);
  }
  auto res = std::make_shared<http::response<http::string_body>>(status, 11);
  fill(*res);
  uint64_t bytes = r.body.size();
  res->body() = std::move(r.body);
  res->prepare_payload();
  Send(res, keep, bytes);
}

void Session::Fail(http::status status) {
  auto res = std::make_shared<http::response<http::string_body>>(status, 11);
  res->set(http::field::server, "AliyunOSS");
  res->keep_alive(false);
  res->prepare_payload();
  Send(res, false, 0);
}

template <class Body>
void Session::Send(std::shared_ptr<http::response<Body>> res, bool keep_alive, uint64_t bytes) {
  if (server_->options().log_requests) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start_)
                  .count();
    std::fprintf(stderr, "%s\n",
                 absl::StrFormat("%s %s %d in=%d out=%d %dms", method_, target_, res->result_int(),
                                 bytes_in_, bytes, ms)
                     .c_str());
  }
  http::async_write(stream_, *res,
                    [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                      if (ec || !keep_alive) return self->Close();
                      self->ReadHead();
                    });
}

void Session::Close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.close();
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              HttpHandler* handler) {
  auto server = std::make_unique<ServerImpl>(options, handler);
  absl::Status status = server->Listen();
  if (!status.ok()) return status;
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace ossemu
