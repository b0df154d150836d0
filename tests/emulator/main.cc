// oss-emulator: a local, independent implementation of the OSS surface the service depends on.

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "config.h"
#include "emulator.h"
#include "http_server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "host:port to listen on (port 0 = any free port)");
ABSL_FLAG(std::string, data_dir, "/tmp/oss-emulator", "where objects and temp files are stored");
ABSL_FLAG(std::string, config, "", "bucket configuration JSON file (see README.md)");
ABSL_FLAG(std::string, callback_key, "", "PEM RSA private key for callback signatures (optional)");
ABSL_FLAG(std::string, public_host, "",
          "host[:port] used in the x-oss-pub-key-url (default: the listen address)");
ABSL_FLAG(int, io_threads, 2, "HTTP I/O threads");
ABSL_FLAG(bool, log_requests, true, "one stderr line per request");

#include "callback/callback_dispatcher.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "oss-emulator: %s\n", message.c_str());
  return 1;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  *out = text.str();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);

  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string listen = absl::GetFlag(FLAGS_listen);
  size_t colon = listen.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port > 65535) {
    return Fail("--listen must be host:port");
  }
  ossemu::HttpServerOptions http;
  http.host = listen.substr(0, colon);
  http.port = static_cast<uint16_t>(port);
  http.io_threads = absl::GetFlag(FLAGS_io_threads);
  http.log_requests = absl::GetFlag(FLAGS_log_requests);

  ossemu::EmulatorOptions options;
  if (absl::GetFlag(FLAGS_config).empty()) {
    absl::StatusOr<ossemu::EmulatorConfig> config = ossemu::ParseConfig(
        R"({"buckets":[{"name":"examplebucket","region":"cn-hangzhou",)"
        R"("credentials":[{"access_key_id":"ak","access_key_secret":"sk"}]}]})");
    if (!config.ok()) return Fail(config.status().ToString());
    options.config = *std::move(config);
  } else {
    absl::StatusOr<ossemu::EmulatorConfig> config =
        ossemu::LoadConfigFile(absl::GetFlag(FLAGS_config));
    if (!config.ok()) return Fail(config.status().ToString());
    options.config = *std::move(config);
  }
  options.data_dir = absl::GetFlag(FLAGS_data_dir);

  // The dispatcher needs the key URL, which needs the port: bind first, then create it.
  std::unique_ptr<ossemu::Emulator> emulator;
  std::unique_ptr<ossemu::HttpServer> server;
  ossemu::CallbackFaults faults;
  std::unique_ptr<ossemu::CallbackDispatcher> dispatcher;
  // A forwarding handler so the server can bind (and learn its port) before the emulator exists;
  // requests arriving before that get 503.
  class NotReady : public ossemu::HttpExchange {
   public:
    void OnBody(absl::string_view) override {}
    ossemu::HttpResponse Finish() override {
      ossemu::HttpResponse r;
      r.status = 503;
      r.close = true;
      return r;
    }
  };
  class Forward : public ossemu::HttpHandler {
   public:
    std::atomic<ossemu::HttpHandler*> target{nullptr};
    std::unique_ptr<ossemu::HttpExchange> Begin(ossemu::HttpRequestHead head) override {
      ossemu::HttpHandler* t = target.load();
      if (t == nullptr) return std::make_unique<NotReady>();
      return t->Begin(std::move(head));
    }
    uint64_t BodyLimit(const ossemu::HttpRequestHead& head) const override {
      ossemu::HttpHandler* t = target.load();
      return t == nullptr ? 0 : t->BodyLimit(head);
    }
  } forward;
  absl::StatusOr<std::unique_ptr<ossemu::HttpServer>> started =
      ossemu::HttpServer::Start(http, &forward);
  if (!started.ok()) return Fail(started.status().ToString());
  server = *std::move(started);

  ossemu::CallbackDispatcherOptions cb;
  if (!absl::GetFlag(FLAGS_callback_key).empty() &&
      !ReadFile(absl::GetFlag(FLAGS_callback_key), &cb.private_key_pem)) {
    return Fail("cannot read --callback_key");
  }
  std::string public_host = absl::GetFlag(FLAGS_public_host);
  if (public_host.empty()) public_host = absl::StrCat(http.host, ":", server->port());
  cb.public_key_url = absl::StrCat("http://", public_host, "/emulator/callback_pub_key.pem");
  cb.faults = &faults;
  absl::StatusOr<std::unique_ptr<ossemu::CallbackDispatcher>> created =
      ossemu::CallbackDispatcher::Create(std::move(cb));
  if (!created.ok()) return Fail(created.status().ToString());
  dispatcher = *std::move(created);
  options.dispatcher = dispatcher.get();
  options.faults = &faults;

  absl::StatusOr<std::unique_ptr<ossemu::Emulator>> made = ossemu::Emulator::Create(std::move(options));
  if (!made.ok()) return Fail(made.status().ToString());
  emulator = *std::move(made);
  forward.target.store(emulator.get());

  std::printf("oss-emulator listening on %s:%u\n", http.host.c_str(), server->port());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "oss-emulator: signal %d, shutting down\n", sig);
  server->Stop();
  return 0;
}
