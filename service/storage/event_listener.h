#ifndef OSSUP_SERVICE_STORAGE_EVENT_LISTENER_H_
#define OSSUP_SERVICE_STORAGE_EVENT_LISTENER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pqxx/connection"

// Wake-ups for event-log readers. Notifications carry no data: readers read upload_events by
// sequence, so coalesced or lost notifications never lose events (only delay them).
namespace ossup::storage {

inline constexpr absl::string_view kEventChannel = "ossup_upload_events";

// Sends one NOTIFY on kEventChannel, in its own autocommit statement (never inside the hot
// event-writing transactions: a notifying commit serializes on a database-wide lock). Callers
// coalesce: at most one per short interval per replica. `origin` (the payload) names the
// sending replica, so its own listener can ignore the echo: its hub was woken directly.
absl::Status Notify(pqxx::connection& conn, absl::string_view origin = "");

struct EventListenerOptions {
  std::string dsn;
  // As DatabaseOptions::password: asked on every (re)connect.
  std::function<std::string()> password;
  // The callback also runs this often without a notification (safety net for lost ones).
  absl::Duration poll_interval = absl::Seconds(1);
  // Wait before reconnecting after the connection failed.
  absl::Duration reconnect_delay = absl::Milliseconds(500);
  // Notifications whose payload is this (this replica's own, see Notify) do not wake; empty
  // means every notification wakes.
  std::string ignore_origin;
};

// Owns one connection and one thread that LISTENs on kEventChannel and calls `on_wake` after each
// batch of notifications, after every poll_interval without one, and after (re)connecting.
// `on_wake` runs on the listener thread; it must be quick (e.g. signal a condition variable).
class EventListener {
 public:
  EventListener(EventListenerOptions options, std::function<void()> on_wake);
  ~EventListener();  // Stop()s
  EventListener(const EventListener&) = delete;
  EventListener& operator=(const EventListener&) = delete;

  // Starts the thread. Fails (Unavailable) if the first connection cannot be made.
  absl::Status Start();
  // Stops and joins the thread promptly (it waits on the socket and a wake-up pipe). Idempotent.
  void Stop();

 private:
  void Run();

  const EventListenerOptions options_;
  const std::function<void()> on_wake_;
  std::unique_ptr<pqxx::connection> conn_;  // owned by the thread once started
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  int stop_pipe_[2] = {-1, -1};
};

}  // namespace ossup::storage

#endif  // OSSUP_SERVICE_STORAGE_EVENT_LISTENER_H_
