#include "service/storage/event_listener.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "pqxx/nontransaction"
#include "pqxx/notification"
#include "service/common/thread_name.h"
#include "service/storage/database.h"

namespace ossup::storage {
namespace {

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection& conn, const std::string& ignore_origin, bool* notified)
      : pqxx::notification_receiver(conn, std::string(kEventChannel)),
        ignore_origin_(ignore_origin),
        notified_(notified) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override {
    if (ignore_origin_.empty() || payload != ignore_origin_) *notified_ = true;
  }

 private:
  const std::string& ignore_origin_;
  bool* notified_;
};

}  // namespace

absl::Status Notify(pqxx::connection& conn, absl::string_view origin) {
  return RunGuarded([&] {
    pqxx::nontransaction tx(conn);
    tx.exec(origin.empty()
                ? absl::StrCat("NOTIFY ", kEventChannel)
                : absl::StrCat("NOTIFY ", kEventChannel, ", ", tx.quote(std::string(origin))));
    return absl::OkStatus();
  });
}

EventListener::EventListener(EventListenerOptions options, std::function<void()> on_wake)
    : options_(std::move(options)), on_wake_(std::move(on_wake)) {}

EventListener::~EventListener() { Stop(); }

absl::Status EventListener::Start() {
  if (thread_.joinable()) return absl::FailedPreconditionError("listener already started");
  absl::Status status = RunGuarded([&] {
    conn_ = std::make_unique<pqxx::connection>(DsnForConnecting(options_.dsn, options_.password));
    return absl::OkStatus();
  });
  if (!status.ok()) return absl::UnavailableError(status.message());
  if (pipe2(stop_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError("listener: pipe2 failed");
  }
  thread_ = NamedThread("ossup-listen", [this] { Run(); });
  return absl::OkStatus();
}

void EventListener::Stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  const char byte = 1;
  (void)!write(stop_pipe_[1], &byte, 1);
  thread_.join();
  close(stop_pipe_[0]);
  close(stop_pipe_[1]);
  stop_pipe_[0] = stop_pipe_[1] = -1;
}

void EventListener::Run() {
  bool notified = false;
  std::unique_ptr<Receiver> receiver;
  while (!stopping_) {
    absl::Status status = RunGuarded([&]() -> absl::Status {
      if (conn_ == nullptr || !conn_->is_open()) {
        receiver.reset();
        conn_ =
            std::make_unique<pqxx::connection>(DsnForConnecting(options_.dsn, options_.password));
      }
      if (receiver == nullptr) {
        // Issues LISTEN.
        receiver = std::make_unique<Receiver>(*conn_, options_.ignore_origin, &notified);
        on_wake_();  // anything committed while we were not listening
      }
      pollfd fds[2] = {{conn_->sock(), POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
      const int ready =
          poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(options_.poll_interval)));
      if (stopping_) return absl::OkStatus();
      notified = false;
      if (ready > 0 && (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        conn_->get_notifs();  // non-blocking; dispatches to the receiver; throws if broken
      }
      // A notification, or the safety-net interval elapsed (also wakes on socket errors).
      if (notified || ready == 0) on_wake_();
      return absl::OkStatus();
    });
    if (!status.ok()) {
      // Broken connection: drop it, wait (interruptibly), reconnect.
      receiver.reset();
      conn_.reset();
      pollfd stop_fd = {stop_pipe_[0], POLLIN, 0};
      poll(&stop_fd, 1, static_cast<int>(absl::ToInt64Milliseconds(options_.reconnect_delay)));
    }
  }
  receiver.reset();
  conn_.reset();
}

}  // namespace ossup::storage
