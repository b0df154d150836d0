#ifndef OSSUP_SERVICE_EVENTS_EVENT_HUB_H_
#define OSSUP_SERVICE_EVENTS_EVENT_HUB_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/common/thread_pool.h"
#include "service/domain/upload.h"

// Per-replica fan-out of the upload event log to WatchUploads subscribers. One reader per replica
// follows the log (woken by coalesced notifications, with a poll as safety net) and hands each
// event to the subscribers whose filter matches, so the database sees one reader per replica
// however many streams are open. The log's sequences are gap-free in commit order (storage), so
// following "sequence > last" misses nothing.
namespace ossup::events {

// The seam over storage.
class EventSource {
 public:
  virtual ~EventSource() = default;
  // Events of every namespace with sequence > after, in order, at most `limit`.
  virtual absl::StatusOr<std::vector<domain::UploadEvent>> ReadAfter(int64_t after, int limit) = 0;
  // The last committed sequence (0 when empty).
  virtual absl::StatusOr<int64_t> LastSequence() = 0;
  // The smallest sequence still retained (purged_through + 1).
  virtual absl::StatusOr<int64_t> OldestRetainedSequence() = 0;
};

struct SubscriptionFilter {
  std::string ns;                               // required
  std::string subject;                          // empty = any
  absl::flat_hash_set<std::string> upload_ids;  // empty = any
  bool Matches(const domain::UploadEvent& event) const;
};

struct EventHubOptions {
  // Events a subscriber may have queued but not yet written; beyond that it is ended with
  // RESOURCE_EXHAUSTED and resumes from its last delivered sequence.
  size_t max_queued_per_subscriber = 1024;
  // Recent events kept in memory so resuming subscribers rarely touch the database.
  size_t recent_window = 8192;
  // Safety-net poll when no notification arrives.
  absl::Duration poll_interval = absl::Seconds(1);
  int read_batch = 1000;
  // Threads that hand new events to subscribers, the hub's own included: each subscriber's
  // wake-up starts its stream's write (serialization and a socket write), so with thousands of
  // streams the fan-out is spread over this many threads. 0 = one per core.
  int delivery_threads = 0;
};

class EventHub;

// Events are shared, immutable, between the hub's window and every subscriber queue: fanning one
// event out to 10,000 streams must not copy it 10,000 times.
using SharedEvent = std::shared_ptr<const domain::UploadEvent>;

// One WatchUploads stream's view of the hub. Thread-safe.
class Subscription {
 public:
  // Moves up to `max` queued events into `out`. When nothing is queued and the subscription has
  // ended, returns the end status (RESOURCE_EXHAUSTED for a lagging subscriber, UNAVAILABLE on
  // shutdown, or a catch-up read error); otherwise OK (possibly with no events).
  absl::Status Take(size_t max, std::vector<SharedEvent>* out);
  // The last sequence handed out by Take (the resume point).
  int64_t last_taken() const;
  // Called (from the hub's delivery threads) when events or an end status become available. Set
  // once, before events flow; must not block.
  void SetReadyCallback(std::function<void()> ready);
  // The subscriber is going away; the hub drops it.
  void Cancel();

 private:
  friend class EventHub;
  explicit Subscription(SubscriptionFilter filter) : filter_(std::move(filter)) {}
  // Queues the event if it matches and is new to this subscriber (or ends an overflowing one).
  // True when the subscriber has something new to be told about: the caller then calls Notify(),
  // once for all the events it offered.
  bool Offer(const SharedEvent& event, size_t max_queued) ABSL_LOCKS_EXCLUDED(mu_);
  void End(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  void Notify() ABSL_LOCKS_EXCLUDED(mu_);

  const SubscriptionFilter filter_;
  mutable absl::Mutex mu_;
  std::deque<SharedEvent> queue_ ABSL_GUARDED_BY(mu_);
  int64_t offered_through_ ABSL_GUARDED_BY(mu_) = 0;  // highest sequence considered
  int64_t last_taken_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status end_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // Shared so that Notify can call it outside the lock without copying the closure.
  std::shared_ptr<const std::function<void()>> ready_ ABSL_GUARDED_BY(mu_);
};

class EventHub {
 public:
  EventHub(EventSource* source, EventHubOptions options);
  ~EventHub();

  // Reads the log head and starts the follower thread.
  absl::Status Start();
  // Ends every subscription with UNAVAILABLE and joins the thread. Idempotent.
  void Stop();
  // A notification arrived (another replica, or the safety net): read the log now.
  void Wake();
  // Events this process has just committed, as a reader of the log would get them. When they
  // continue the hub's head they are taken in without reading the log; otherwise (another
  // writer's commit sits in between) the hub reads the log, which has them too.
  void Publish(std::vector<domain::UploadEvent> committed);

  // Subscribes from `after_sequence` (events with a greater sequence), or from the current head
  // when from_now. OUT_OF_RANGE when events after `after_sequence` were purged: re-list and watch
  // from the listing's sequence. Catching up from older events reads the database in pages on a
  // background thread.
  absl::StatusOr<std::shared_ptr<Subscription>> Subscribe(SubscriptionFilter filter,
                                                          int64_t after_sequence, bool from_now);

  int64_t head() const;
  size_t subscriber_count() const;
  // Events the follower has read from the log since Start (for metrics).
  uint64_t events_read() const { return events_read_.load(std::memory_order_relaxed); }
  // Events taken in from Publish without a read (for metrics).
  uint64_t events_published() const { return events_published_.load(std::memory_order_relaxed); }

 private:
  void Run();
  absl::Status Poll();
  // Takes in the published events that continue head_; true when none are left over (a gap
  // remains otherwise, and the log must be read).
  bool TakePublished();
  // Appends events (sequence > head_, in order) to the window and hands them to the live
  // subscribers, outside the lock.
  void Advance(std::vector<domain::UploadEvent> events, std::atomic<uint64_t>* counter);
  // Offers `events` to `subs` and wakes those with news, spread over the delivery threads; returns
  // once all are done, so each subscriber sees pages in order.
  void Deliver(const std::vector<SharedEvent>& events,
               const std::vector<std::shared_ptr<Subscription>>& subs);
  void CatchUp(std::shared_ptr<Subscription> sub, int64_t after);
  // Offers the in-memory events after `after`, then registers the subscriber for live events.
  // True when the caller must Notify() the subscriber (after releasing mu_).
  bool AttachLocked(const std::shared_ptr<Subscription>& sub, int64_t after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The first event of recent_ with a sequence above `after`.
  std::deque<SharedEvent>::const_iterator FirstRecentAfter(int64_t after) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct CatchUpThread {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  EventSource* const source_;
  const EventHubOptions options_;

  mutable absl::Mutex mu_;
  int64_t head_ ABSL_GUARDED_BY(mu_) = 0;  // last sequence read from the log
  std::deque<SharedEvent> recent_ ABSL_GUARDED_BY(mu_);
  std::vector<std::weak_ptr<Subscription>> live_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<domain::UploadEvent> published_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<CatchUpThread> catch_up_threads_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> events_read_{0};
  std::atomic<uint64_t> events_published_{0};
  std::thread thread_;
  // Delivery helpers besides the hub's thread (delivery_threads - 1), created by Start.
  int delivery_threads_ = 1;
  std::unique_ptr<ThreadPool> helpers_;
};

}  // namespace ossup::events

#endif  // OSSUP_SERVICE_EVENTS_EVENT_HUB_H_
