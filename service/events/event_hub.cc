#include "service/events/event_hub.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "service/common/thread_name.h"

namespace ossup::events {
namespace {

// Catch-ups read the database; bound how many run at once so a mass reconnect cannot open a
// thread per subscriber.
constexpr int kMaxConcurrentCatchUps = 64;

// Below this many subscribers per delivery thread, handing work to a helper costs more than it
// saves.
constexpr size_t kMinSubscribersPerDeliveryThread = 256;

}  // namespace

bool SubscriptionFilter::Matches(const domain::UploadEvent& event) const {
  if (event.upload.ns != ns) return false;
  if (!subject.empty() && event.upload.subject != subject) return false;
  if (!upload_ids.empty() && !upload_ids.contains(event.upload.id)) return false;
  return true;
}

absl::Status Subscription::Take(size_t max, std::vector<SharedEvent>* out) {
  absl::MutexLock lock(&mu_);
  if (queue_.empty()) return ended_ ? end_ : absl::OkStatus();
  while (!queue_.empty() && max-- > 0) {
    last_taken_ = queue_.front()->sequence;
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
    ready_ = std::make_shared<const std::function<void()>>(std::move(ready));
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
  std::shared_ptr<const std::function<void()>> ready;
  {
    absl::MutexLock lock(&mu_);
    ready = ready_;
  }
  if (ready && *ready) (*ready)();
}

bool Subscription::Offer(const SharedEvent& event, size_t max_queued) {
  absl::MutexLock lock(&mu_);
  if (ended_ || cancelled_ || event->sequence <= offered_through_) return false;
  offered_through_ = event->sequence;
  if (!filter_.Matches(*event)) return false;
  if (queue_.size() >= max_queued) {
    ended_ = true;
    end_ = absl::ResourceExhaustedError(absl::StrCat(
        "the stream fell more than ", max_queued,
        " events behind; resume with after_sequence set to the last sequence received"));
  } else {
    queue_.push_back(event);
  }
  return true;
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
  delivery_threads_ = options_.delivery_threads > 0
                          ? options_.delivery_threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (delivery_threads_ > 1) {
    helpers_ =
        std::make_unique<ThreadPool>(delivery_threads_ - 1, delivery_threads_, "ossup-hub-help");
  }
  thread_ = NamedThread("ossup-hub", [this] { Run(); });
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
  helpers_.reset();
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

void EventHub::Publish(std::vector<domain::UploadEvent> committed) {
  if (committed.empty()) return;
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  // Bounded: a follower that cannot keep up reads the log instead (the log has them all).
  if (published_.size() + committed.size() > options_.recent_window) {
    published_.clear();
    wake_ = true;
    return;
  }
  for (domain::UploadEvent& event : committed) published_.push_back(std::move(event));
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
  absl::Time last_read = absl::Now();
  while (true) {
    bool read;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(
                               +[](EventHub* hub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(hub->mu_) {
                                 return hub->wake_ || hub->stopping_ || !hub->published_.empty();
                               },
                               this),
                           options_.poll_interval);
      if (stopping_) return;
      // A notification, or the safety net: a read at least every poll_interval, even while this
      // process's own commits keep arriving (they wake the loop without a read).
      read = wake_ || absl::Now() - last_read >= options_.poll_interval;
      wake_ = false;
    }
    // This process's own commits usually continue the head: no read needed for them.
    if (!TakePublished()) read = true;
    // A failed read (database restarting) is retried on the next wake-up or poll; subscribers
    // keep their streams and simply see the events later.
    if (read) {
      last_read = absl::Now();
      (void)Poll();
    }
  }
}

bool EventHub::TakePublished() {
  std::vector<domain::UploadEvent> published;
  int64_t next;
  {
    absl::MutexLock lock(&mu_);
    if (published_.empty()) return true;
    published.swap(published_);
    // Only this thread moves head_, so it stays valid after the lock is released.
    next = head_ + 1;
  }
  // Committers on several threads may publish out of order; sequences are unique. Sorted outside
  // the lock, which Subscribe needs.
  std::sort(published.begin(), published.end(),
            [](const domain::UploadEvent& a, const domain::UploadEvent& b) {
              return a.sequence < b.sequence;
            });
  std::vector<domain::UploadEvent> taken;
  size_t i = 0;
  for (; i < published.size(); ++i) {
    if (published[i].sequence < next) continue;  // already read from the log
    if (published[i].sequence != next) break;    // another writer's events come first
    taken.push_back(std::move(published[i]));
    ++next;
  }
  // What is left after a gap is read from the log with the gap.
  const bool gap = i < published.size();
  if (!taken.empty()) Advance(std::move(taken), &events_published_);
  return !gap;
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
    const bool last_page = static_cast<int>(page->size()) < options_.read_batch;
    Advance(*std::move(page), &events_read_);
    {
      absl::MutexLock lock(&mu_);
      if (last_page || stopping_) return absl::OkStatus();
    }
  }
}

void EventHub::Advance(std::vector<domain::UploadEvent> events, std::atomic<uint64_t>* counter) {
  std::vector<SharedEvent> fresh;
  std::vector<std::shared_ptr<Subscription>> subs;
  {
    absl::MutexLock lock(&mu_);
    for (domain::UploadEvent& event : events) {
      if (event.sequence <= head_) continue;
      head_ = event.sequence;
      counter->fetch_add(1, std::memory_order_relaxed);
      fresh.push_back(std::make_shared<const domain::UploadEvent>(std::move(event)));
      recent_.push_back(fresh.back());
      if (recent_.size() > options_.recent_window) recent_.pop_front();
    }
    // Forget subscribers that went away or ended; the rest get these events. One that attaches
    // after this point already finds them in recent_, so it misses nothing, and one that is in
    // `subs` and also attached late ignores what it was offered twice (offered_through_). No
    // events (a poll that found nothing) only sweeps.
    const bool deliver = !fresh.empty();
    if (deliver) subs.reserve(live_.size());
    live_.erase(std::remove_if(live_.begin(), live_.end(),
                               [&subs, deliver](const std::weak_ptr<Subscription>& weak) {
                                 auto sub = weak.lock();
                                 if (!sub) return true;
                                 {
                                   absl::MutexLock sub_lock(&sub->mu_);
                                   if (sub->ended_ || sub->cancelled_) return true;
                                 }
                                 if (deliver) subs.push_back(std::move(sub));
                                 return false;
                               }),
                live_.end());
  }
  // Outside the hub's lock: waking thousands of streams must not hold up Subscribe.
  if (!fresh.empty()) Deliver(fresh, subs);
}

void EventHub::Deliver(const std::vector<SharedEvent>& events,
                       const std::vector<std::shared_ptr<Subscription>>& subs) {
  const size_t max_queued = options_.max_queued_per_subscriber;
  auto deliver = [&events, &subs, max_queued](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      bool news = false;
      for (const SharedEvent& event : events) news |= subs[i]->Offer(event, max_queued);
      if (news) subs[i]->Notify();
    }
  };
  const size_t shards = helpers_ == nullptr
                            ? 1
                            : std::clamp<size_t>(subs.size() / kMinSubscribersPerDeliveryThread, 1,
                                                 static_cast<size_t>(delivery_threads_));
  const size_t per_shard = (subs.size() + shards - 1) / shards;
  // Shard 0 runs here; a shard the pool cannot take (it is stopping) also runs here.
  absl::BlockingCounter helpers_done(static_cast<int>(shards - 1));
  for (size_t shard = 1; shard < shards; ++shard) {
    const size_t begin = shard * per_shard, end = std::min(subs.size(), begin + per_shard);
    if (!helpers_->Submit([&deliver, &helpers_done, begin, end] {
          deliver(begin, end);
          helpers_done.DecrementCount();
        })) {
      deliver(begin, end);
      helpers_done.DecrementCount();
    }
  }
  deliver(0, std::min(subs.size(), per_shard));
  helpers_done.Wait();
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
    const int64_t oldest_in_memory = recent_.empty() ? head_ + 1 : recent_.front()->sequence;
    const bool in_memory = after_sequence >= oldest_in_memory - 1;
    const int64_t backlog = head_ - after_sequence;
    if (in_memory && backlog <= static_cast<int64_t>(options_.max_queued_per_subscriber / 2)) {
      // Served from memory, then live, in one critical section: nothing slips in between. No
      // wake-up is due: the ready callback is not set yet, and setting it checks the queue.
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
  catch_up_threads_.push_back(CatchUpThread{NamedThread("ossup-catch-up",
                                                        [this, sub, after_sequence, done] {
                                                          CatchUp(sub, after_sequence);
                                                          done->store(true);
                                                        }),
                                            done});
  return sub;
}

bool EventHub::AttachLocked(const std::shared_ptr<Subscription>& sub, int64_t after) {
  {
    absl::MutexLock sub_lock(&sub->mu_);
    sub->offered_through_ = std::max(sub->offered_through_, after);
  }
  bool news = false;
  for (auto it = FirstRecentAfter(after); it != recent_.end(); ++it) {
    news |= sub->Offer(*it, options_.max_queued_per_subscriber);
  }
  live_.push_back(sub);
  return news;
}

std::deque<SharedEvent>::const_iterator EventHub::FirstRecentAfter(int64_t after) const {
  // recent_ is in sequence order: a subscriber watching from now (after = head) skips the whole
  // window in O(log n) instead of visiting every event under the hub's lock.
  return std::upper_bound(recent_.begin(), recent_.end(), after,
                          [](int64_t seq, const SharedEvent& e) { return seq < e->sequence; });
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
    std::vector<SharedEvent> page;
    bool from_memory = false, attached = false, news = false;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      if (after >= head_) {
        // Caught up: from here on the follower delivers, in the same critical section.
        news = AttachLocked(sub, after);
        attached = true;
      } else {
        const int64_t oldest_in_memory = recent_.empty() ? head_ + 1 : recent_.front()->sequence;
        if (after >= oldest_in_memory - 1) {
          from_memory = true;
          for (auto it = FirstRecentAfter(after);
               it != recent_.end() && static_cast<int>(page.size()) < limit; ++it) {
            page.push_back(*it);
          }
        }
      }
    }
    if (attached) {
      if (news) sub->Notify();
      return;
    }
    if (!from_memory) {
      absl::StatusOr<std::vector<domain::UploadEvent>> read = source_->ReadAfter(after, limit);
      if (!read.ok()) {
        sub->End(absl::UnavailableError(
            absl::StrCat("reading past events failed: ", read.status().message(),
                         "; resume from the last sequence received")));
        return;
      }
      for (domain::UploadEvent& event : *read) {
        page.push_back(std::make_shared<const domain::UploadEvent>(std::move(event)));
      }
      if (page.empty()) {
        // The log has nothing after `after` yet our head is ahead: events were purged under us.
        sub->End(absl::OutOfRangeError(
            absl::StrCat("events after sequence ", after,
                         " are no longer retained; list the uploads, then watch from the listing's "
                         "event_sequence")));
        return;
      }
    }
    bool offered = false;
    for (const SharedEvent& event : page) {
      offered |= sub->Offer(event, max_queued);
      after = event->sequence;
    }
    if (offered) sub->Notify();
  }
}

}  // namespace ossup::events
