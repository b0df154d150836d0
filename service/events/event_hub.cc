#include "service/events/event_hub.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ossup::events {
namespace {

// Catch-ups read the database; bound how many run at once so a mass reconnect cannot open a
// thread per subscriber.
constexpr int kMaxConcurrentCatchUps = 64;

}  // namespace

bool SubscriptionFilter::Matches(const domain::UploadEvent& event) const {
  if (event.upload.ns != ns) return false;
  if (!subject.empty() && event.upload.subject != subject) return false;
  if (!upload_ids.empty() && !upload_ids.contains(event.upload.id)) return false;
  return true;
}

absl::Status Subscription::Take(size_t max, std::vector<domain::UploadEvent>* out) {
  absl::MutexLock lock(&mu_);
  if (queue_.empty()) return ended_ ? end_ : absl::OkStatus();
  while (!queue_.empty() && max-- > 0) {
    last_taken_ = queue_.front().sequence;
    out->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return absl::OkStatus();
}

int64_t Subscription::last_taken() const {
  absl::MutexLock lock(&mu_);
  return last_taken_;
}

void Subscription::SetReadyCallback(std::function<void()> ready) {
  bool pending;
  {
    absl::MutexLock lock(&mu_);
    ready_ = std::move(ready);
    pending = !queue_.empty() || ended_;
  }
  if (pending) Notify();
}

void Subscription::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  ready_ = nullptr;
  queue_.clear();
}

void Subscription::Notify() {
  std::function<void()> ready;
  {
    absl::MutexLock lock(&mu_);
    ready = ready_;
  }
  if (ready) ready();
}

void Subscription::Offer(const domain::UploadEvent& event, size_t max_queued) {
  {
    absl::MutexLock lock(&mu_);
    if (ended_ || cancelled_ || event.sequence <= offered_through_) return;
    offered_through_ = event.sequence;
    if (!filter_.Matches(event)) return;
    if (queue_.size() >= max_queued) {
      ended_ = true;
      end_ = absl::ResourceExhaustedError(absl::StrCat(
          "the stream fell more than ", max_queued,
          " events behind; resume with after_sequence set to the last sequence received"));
    } else {
      queue_.push_back(event);
    }
  }
  Notify();
}

void Subscription::End(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (ended_ || cancelled_) return;
    ended_ = true;
    end_ = std::move(status);
  }
  Notify();
}

EventHub::EventHub(EventSource* source, EventHubOptions options)
    : source_(source), options_(options) {}

EventHub::~EventHub() { Stop(); }

absl::Status EventHub::Start() {
  absl::StatusOr<int64_t> head = source_->LastSequence();
  if (!head.ok()) return head.status();
  absl::MutexLock lock(&mu_);
  if (started_) return absl::FailedPreconditionError("event hub already started");
  started_ = true;
  head_ = *head;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void EventHub::Stop() {
  std::vector<std::weak_ptr<Subscription>> subs;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    subs.swap(live_);
  }
  if (thread_.joinable()) thread_.join();
  std::vector<CatchUpThread> catch_ups;
  {
    absl::MutexLock lock(&mu_);
    catch_ups.swap(catch_up_threads_);
  }
  for (auto& t : catch_ups) t.thread.join();
  for (auto& weak : subs) {
    if (auto sub = weak.lock()) {
      sub->End(absl::UnavailableError(
          "server shutting down; resume with after_sequence set to the last sequence received"));
    }
  }
}

void EventHub::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

int64_t EventHub::head() const {
  absl::MutexLock lock(&mu_);
  return head_;
}

size_t EventHub::subscriber_count() const {
  absl::MutexLock lock(&mu_);
  return live_.size();
}

void EventHub::Run() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(
                               +[](EventHub* hub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(hub->mu_) {
                                 return hub->wake_ || hub->stopping_;
                               },
                               this),
                           options_.poll_interval);
      if (stopping_) return;
      wake_ = false;
    }
    // A failed read (database restarting) is retried on the next wake-up or poll; subscribers
    // keep their streams and simply see the events later.
    (void)Poll();
  }
}

absl::Status EventHub::Poll() {
  while (true) {
    int64_t after;
    {
      absl::MutexLock lock(&mu_);
      after = head_;
    }
    absl::StatusOr<std::vector<domain::UploadEvent>> page =
        source_->ReadAfter(after, options_.read_batch);
    if (!page.ok()) return page.status();
    absl::MutexLock lock(&mu_);
    for (const domain::UploadEvent& event : *page) {
      if (event.sequence <= head_) continue;
      head_ = event.sequence;
      events_read_.fetch_add(1, std::memory_order_relaxed);
      recent_.push_back(event);
      if (recent_.size() > options_.recent_window) recent_.pop_front();
      for (const auto& weak : live_) {
        if (auto sub = weak.lock()) sub->Offer(event, options_.max_queued_per_subscriber);
      }
    }
    // Forget subscribers that went away or ended.
    live_.erase(std::remove_if(live_.begin(), live_.end(),
                               [](const std::weak_ptr<Subscription>& weak) {
                                 auto sub = weak.lock();
                                 if (!sub) return true;
                                 absl::MutexLock sub_lock(&sub->mu_);
                                 return sub->ended_ || sub->cancelled_;
                               }),
                live_.end());
    if (static_cast<int>(page->size()) < options_.read_batch || stopping_) {
      return absl::OkStatus();
    }
  }
}

absl::StatusOr<std::shared_ptr<Subscription>> EventHub::Subscribe(SubscriptionFilter filter,
                                                                  int64_t after_sequence,
                                                                  bool from_now) {
  if (filter.ns.empty()) return absl::InvalidArgumentError("subscription needs a namespace");
  if (after_sequence < 0) return absl::InvalidArgumentError("after_sequence must be >= 0");
  auto sub = std::shared_ptr<Subscription>(new Subscription(std::move(filter)));
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || !started_) return absl::UnavailableError("event hub is not running");
    if (from_now) after_sequence = head_;
    {
      absl::MutexLock sub_lock(&sub->mu_);
      sub->last_taken_ = after_sequence;
    }
    const int64_t oldest_in_memory = recent_.empty() ? head_ + 1 : recent_.front().sequence;
    const bool in_memory = after_sequence >= oldest_in_memory - 1;
    const int64_t backlog = head_ - after_sequence;
    if (in_memory && backlog <= static_cast<int64_t>(options_.max_queued_per_subscriber / 2)) {
      // Served from memory, then live, in one critical section: nothing slips in between.
      AttachLocked(sub, after_sequence);
      return sub;
    }
  }
  // A longer backlog is replayed by a catch-up thread at the subscriber's pace; events older than
  // memory come from the database, if retention still has them.
  absl::StatusOr<int64_t> oldest = source_->OldestRetainedSequence();
  if (!oldest.ok()) return oldest.status();
  if (after_sequence < *oldest - 1) {
    return absl::OutOfRangeError(
        absl::StrCat("events after sequence ", after_sequence, " were purged (oldest retained is ",
                     *oldest, "); list the uploads, then watch from the listing's event_sequence"));
  }
  absl::MutexLock lock(&mu_);
  // Reap finished catch-ups (joining a finished thread does not block).
  for (auto it = catch_up_threads_.begin(); it != catch_up_threads_.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = catch_up_threads_.erase(it);
    } else {
      ++it;
    }
  }
  if (catch_up_threads_.size() >= kMaxConcurrentCatchUps) {
    return absl::ResourceExhaustedError("too many streams are catching up; retry shortly");
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  catch_up_threads_.push_back(CatchUpThread{std::thread([this, sub, after_sequence, done] {
                                              CatchUp(sub, after_sequence);
                                              done->store(true);
                                            }),
                                            done});
  return sub;
}

void EventHub::AttachLocked(const std::shared_ptr<Subscription>& sub, int64_t after) {
  {
    absl::MutexLock sub_lock(&sub->mu_);
    sub->offered_through_ = std::max(sub->offered_through_, after);
  }
  for (const domain::UploadEvent& event : recent_) {
    sub->Offer(event, options_.max_queued_per_subscriber);
  }
  live_.push_back(sub);
}

void EventHub::CatchUp(std::shared_ptr<Subscription> sub, int64_t after) {
  const size_t max_queued = options_.max_queued_per_subscriber;
  const int limit = static_cast<int>(std::max<size_t>(1, max_queued / 2));
  while (true) {
    // Wait for room: a catching-up subscriber is throttled, not ended.
    struct Room {
      Subscription* sub;
      size_t max_queued;
    } room{sub.get(), max_queued};
    {
      absl::MutexLock sub_lock(&sub->mu_);
      sub->mu_.AwaitWithTimeout(absl::Condition(
                                    +[](Room* r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                      return r->sub->cancelled_ || r->sub->ended_ ||
                                             r->sub->queue_.size() <= r->max_queued / 2;
                                    },
                                    &room),
                                absl::Seconds(1));
      if (sub->cancelled_ || sub->ended_) return;
    }
    std::vector<domain::UploadEvent> page;
    bool from_memory = false;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      if (after >= head_) {
        // Caught up: from here on the follower delivers, in the same critical section.
        AttachLocked(sub, after);
        return;
      }
      const int64_t oldest_in_memory = recent_.empty() ? head_ + 1 : recent_.front().sequence;
      if (after >= oldest_in_memory - 1) {
        from_memory = true;
        for (const domain::UploadEvent& event : recent_) {
          if (event.sequence <= after) continue;
          page.push_back(event);
          if (static_cast<int>(page.size()) >= limit) break;
        }
      }
    }
    if (!from_memory) {
      absl::StatusOr<std::vector<domain::UploadEvent>> read = source_->ReadAfter(after, limit);
      if (!read.ok()) {
        sub->End(absl::UnavailableError(
            absl::StrCat("reading past events failed: ", read.status().message(),
                         "; resume from the last sequence received")));
        return;
      }
      page = *std::move(read);
      if (page.empty()) {
        // The log has nothing after `after` yet our head is ahead: events were purged under us.
        sub->End(absl::OutOfRangeError(
            absl::StrCat("events after sequence ", after,
                         " are no longer retained; list the uploads, then watch from the listing's "
                         "event_sequence")));
        return;
      }
    }
    for (const domain::UploadEvent& event : page) {
      sub->Offer(event, max_queued);
      after = event.sequence;
    }
  }
}

}  // namespace ossup::events
