#include "service/events/event_hub.h"

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ossup::events {
namespace {

// The event log in memory: gap-free sequences, like storage guarantees.
class FakeSource : public EventSource {
 public:
  void Append(const std::string& ns, const std::string& subject, const std::string& id) {
    absl::MutexLock lock(&mu_);
    domain::UploadEvent e;
    e.sequence = static_cast<int64_t>(events_.size()) + 1;
    e.type = domain::EventType::kCompleted;
    e.upload.ns = ns;
    e.upload.subject = subject;
    e.upload.id = id;
    events_.push_back(e);
  }
  void PurgeThrough(int64_t sequence) {
    absl::MutexLock lock(&mu_);
    purged_through_ = sequence;
  }
  void FailReads(bool fail) { fail_.store(fail); }
  // Appends like Append and returns the event, as a committer would publish it.
  domain::UploadEvent AppendAndGet(const std::string& ns, const std::string& id) {
    Append(ns, "s", id);
    absl::MutexLock lock(&mu_);
    return events_.back();
  }
  int reads() const { return reads_.load(); }

  absl::StatusOr<std::vector<domain::UploadEvent>> ReadAfter(int64_t after, int limit) override {
    ++reads_;
    if (fail_.load()) return absl::UnavailableError("database down");
    absl::MutexLock lock(&mu_);
    std::vector<domain::UploadEvent> out;
    for (int64_t s = std::max(after, purged_through_) + 1;
         s <= static_cast<int64_t>(events_.size()) && static_cast<int>(out.size()) < limit; ++s) {
      out.push_back(events_[s - 1]);
    }
    return out;
  }
  absl::StatusOr<int64_t> LastSequence() override {
    absl::MutexLock lock(&mu_);
    return static_cast<int64_t>(events_.size());
  }
  absl::StatusOr<int64_t> OldestRetainedSequence() override {
    absl::MutexLock lock(&mu_);
    return purged_through_ + 1;
  }

 private:
  absl::Mutex mu_;
  std::vector<domain::UploadEvent> events_;
  int64_t purged_through_ = 0;
  std::atomic<bool> fail_{false};
  std::atomic<int> reads_{0};
};

SubscriptionFilter Ns(const std::string& ns) {
  SubscriptionFilter f;
  f.ns = ns;
  return f;
}

// Takes events until `count` arrived or the subscription ended or 5 s passed.
absl::Status Drain(Subscription& sub, size_t count, std::vector<int64_t>* seqs) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (seqs->size() < count && absl::Now() < deadline) {
    std::vector<SharedEvent> batch;
    absl::Status st = sub.Take(64, &batch);
    for (const auto& e : batch) seqs->push_back(e->sequence);
    if (!st.ok()) return st;
    if (batch.empty()) absl::SleepFor(absl::Milliseconds(2));
  }
  return absl::OkStatus();
}

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> out;
  for (int64_t s = from; s <= to; ++s) out.push_back(s);
  return out;
}

EventHubOptions FastOptions() {
  EventHubOptions o;
  o.poll_interval = absl::Milliseconds(20);
  return o;
}

TEST(EventHubTest, DeliversLiveMatchingEventsInOrder) {
  FakeSource source;
  EventHub hub(&source, FastOptions());
  ASSERT_TRUE(hub.Start().ok());
  auto sub = hub.Subscribe(Ns("acme"), 0, /*from_now=*/true);
  ASSERT_TRUE(sub.ok()) << sub.status();
  std::atomic<int> ready{0};
  (*sub)->SetReadyCallback([&] { ++ready; });
  source.Append("acme", "u1", "a");
  source.Append("globex", "u1", "b");
  source.Append("acme", "u2", "c");
  hub.Wake();
  std::vector<int64_t> seqs;
  ASSERT_TRUE(Drain(**sub, 2, &seqs).ok());
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 3}));
  EXPECT_GT(ready.load(), 0);
  EXPECT_EQ((*sub)->last_taken(), 3);
}

TEST(EventHubTest, FiltersBySubjectAndUploadIds) {
  FakeSource source;
  EventHub hub(&source, FastOptions());
  ASSERT_TRUE(hub.Start().ok());
  SubscriptionFilter by_subject = Ns("acme");
  by_subject.subject = "u2";
  SubscriptionFilter by_id = Ns("acme");
  by_id.upload_ids = {"a", "d"};
  auto s1 = hub.Subscribe(by_subject, 0, false);
  auto s2 = hub.Subscribe(by_id, 0, false);
  ASSERT_TRUE(s1.ok() && s2.ok());
  source.Append("acme", "u1", "a");
  source.Append("acme", "u2", "b");
  source.Append("globex", "u2", "d");
  source.Append("acme", "u2", "d");
  hub.Wake();
  std::vector<int64_t> a, b;
  ASSERT_TRUE(Drain(**s1, 2, &a).ok());
  ASSERT_TRUE(Drain(**s2, 2, &b).ok());
  EXPECT_EQ(a, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(b, (std::vector<int64_t>{1, 4}));
}

TEST(EventHubTest, ResumesFromMemoryAndFromTheDatabaseWithoutGapsOrDuplicates) {
  FakeSource source;
  for (int i = 0; i < 50; ++i) source.Append("acme", "u", absl::StrCat(i));
  EventHubOptions options = FastOptions();
  options.recent_window = 8;
  options.max_queued_per_subscriber = 6;  // catch-up must throttle, not overflow
  EventHub hub(&source, options);
  ASSERT_TRUE(hub.Start().ok());  // head = 50, nothing in memory yet
  for (int i = 0; i < 20; ++i) source.Append("acme", "u", absl::StrCat(50 + i));
  hub.Wake();
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (hub.head() < 70 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(hub.head(), 70);
  EXPECT_EQ(hub.events_read(), 20u);  // Start only reads the head, not the 50 before it

  auto from_memory = hub.Subscribe(Ns("acme"), 65, false);
  auto from_db = hub.Subscribe(Ns("acme"), 3, false);
  ASSERT_TRUE(from_memory.ok() && from_db.ok());
  for (int i = 0; i < 5; ++i) source.Append("acme", "u", absl::StrCat(70 + i));
  hub.Wake();
  std::vector<int64_t> a, b;
  ASSERT_TRUE(Drain(**from_memory, 10, &a).ok());
  ASSERT_TRUE(Drain(**from_db, 72, &b).ok());
  EXPECT_EQ(a, Range(66, 75));
  EXPECT_EQ(b, Range(4, 75));
}

TEST(EventHubTest, ExactlyOnceWhileWritersAndSubscribersRace) {
  FakeSource source;
  EventHubOptions options = FastOptions();
  options.recent_window = 64;
  options.max_queued_per_subscriber = 100000;
  EventHub hub(&source, options);
  ASSERT_TRUE(hub.Start().ok());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 3000 && !stop; ++i) {
      source.Append(i % 2 ? "acme" : "globex", "u", absl::StrCat(i));
      if (i % 50 == 0) hub.Wake();
    }
  });
  std::vector<std::pair<int64_t, std::shared_ptr<Subscription>>> subs;
  for (int i = 0; i < 8; ++i) {
    absl::SleepFor(absl::Milliseconds(3));
    const int64_t after = std::max<int64_t>(0, hub.head() - 100 * i);
    auto sub = hub.Subscribe(Ns("acme"), after, false);
    ASSERT_TRUE(sub.ok()) << sub.status();
    subs.emplace_back(after, *sub);
  }
  writer.join();
  hub.Wake();
  for (auto& [after, sub] : subs) {
    std::vector<int64_t> seqs;
    std::vector<int64_t> want;
    for (int64_t s = after + 1; s <= 3000; ++s) {
      if (s % 2 == 0) want.push_back(s);  // sequence s holds event i = s - 1; odd i is acme
    }
    ASSERT_TRUE(Drain(*sub, want.size(), &seqs).ok());
    EXPECT_EQ(seqs, want) << "subscribed after " << after;
  }
}

TEST(EventHubTest, LaggingSubscriberGetsItsQueueThenResourceExhausted) {
  FakeSource source;
  EventHubOptions options = FastOptions();
  options.max_queued_per_subscriber = 5;
  EventHub hub(&source, options);
  ASSERT_TRUE(hub.Start().ok());
  auto slow = hub.Subscribe(Ns("acme"), 0, false);
  auto fast = hub.Subscribe(Ns("acme"), 0, false);
  ASSERT_TRUE(slow.ok() && fast.ok());
  std::vector<int64_t> fast_seqs;
  for (int i = 0; i < 12; ++i) {
    source.Append("acme", "u", absl::StrCat(i));
    hub.Wake();
    ASSERT_TRUE(Drain(**fast, fast_seqs.size() + 1, &fast_seqs).ok());
  }
  EXPECT_EQ(fast_seqs, Range(1, 12));  // a slow subscriber never holds back the others
  std::vector<int64_t> seqs;
  const absl::Status end = Drain(**slow, 100, &seqs);
  EXPECT_EQ(end.code(), absl::StatusCode::kResourceExhausted) << end;
  EXPECT_EQ(seqs, Range(1, 5));
  EXPECT_EQ((*slow)->last_taken(), 5);  // where it resumes from
}

TEST(EventHubTest, PurgedResumePointIsOutOfRange) {
  FakeSource source;
  for (int i = 0; i < 30; ++i) source.Append("acme", "u", absl::StrCat(i));
  source.PurgeThrough(10);
  EventHub hub(&source, FastOptions());
  ASSERT_TRUE(hub.Start().ok());
  EXPECT_EQ(hub.Subscribe(Ns("acme"), 5, false).status().code(), absl::StatusCode::kOutOfRange);
  auto ok = hub.Subscribe(Ns("acme"), 10, false);
  ASSERT_TRUE(ok.ok()) << ok.status();
  std::vector<int64_t> seqs;
  ASSERT_TRUE(Drain(**ok, 20, &seqs).ok());
  EXPECT_EQ(seqs, Range(11, 30));
}

TEST(EventHubTest, SurvivesReadFailuresAndEndsStreamsOnStop) {
  FakeSource source;
  EventHub hub(&source, FastOptions());
  ASSERT_TRUE(hub.Start().ok());
  auto sub = hub.Subscribe(Ns("acme"), 0, true);
  ASSERT_TRUE(sub.ok());
  source.FailReads(true);
  source.Append("acme", "u", "a");
  hub.Wake();
  absl::SleepFor(absl::Milliseconds(60));
  source.FailReads(false);
  std::vector<int64_t> seqs;
  ASSERT_TRUE(Drain(**sub, 1, &seqs).ok());
  EXPECT_EQ(seqs, std::vector<int64_t>{1});
  hub.Stop();
  std::vector<SharedEvent> rest;
  EXPECT_EQ((*sub)->Take(10, &rest).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(hub.Subscribe(Ns("acme"), 0, true).status().code(), absl::StatusCode::kUnavailable);
}

TEST(EventHubTest, CancelledSubscribersAreDropped) {
  FakeSource source;
  EventHub hub(&source, FastOptions());
  ASSERT_TRUE(hub.Start().ok());
  auto sub = hub.Subscribe(Ns("acme"), 0, true);
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(hub.subscriber_count(), 1u);
  (*sub)->Cancel();
  source.Append("acme", "u", "a");
  hub.Wake();
  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  while (hub.subscriber_count() > 0 && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(hub.subscriber_count(), 0u);
}

TEST(EventHubTest, ManySubscribersGetEveryEventInOrderFromSeveralDeliveryThreads) {
  FakeSource source;
  EventHubOptions options = FastOptions();
  options.delivery_threads = 4;
  EventHub hub(&source, options);
  ASSERT_TRUE(hub.Start().ok());
  constexpr int kSubscribers = 2000;
  std::vector<std::shared_ptr<Subscription>> subs;
  absl::Mutex mu;
  absl::flat_hash_set<std::thread::id> delivering_threads;
  for (int i = 0; i < kSubscribers; ++i) {
    auto sub = hub.Subscribe(Ns("acme"), 0, true);
    ASSERT_TRUE(sub.ok()) << sub.status();
    (*sub)->SetReadyCallback([&] {
      absl::MutexLock lock(&mu);
      delivering_threads.insert(std::this_thread::get_id());
    });
    subs.push_back(*std::move(sub));
  }
  for (int i = 0; i < 5; ++i) source.Append("acme", "u", absl::StrCat("id", i));
  hub.Wake();
  for (auto& sub : subs) {
    std::vector<int64_t> seqs;
    ASSERT_TRUE(Drain(*sub, 5, &seqs).ok());
    ASSERT_EQ(seqs, Range(1, 5));
  }
  absl::MutexLock lock(&mu);
  EXPECT_GT(delivering_threads.size(), 1u) << "the fan-out ran on one thread";
}

TEST(EventHubTest, ASlowWakeUpDoesNotHoldUpSubscribe) {
  FakeSource source;
  EventHubOptions options = FastOptions();
  options.delivery_threads = 1;
  EventHub hub(&source, options);
  ASSERT_TRUE(hub.Start().ok());
  auto slow = hub.Subscribe(Ns("acme"), 0, true);
  ASSERT_TRUE(slow.ok());
  absl::Notification in_callback, release;
  (*slow)->SetReadyCallback([&] {
    if (!in_callback.HasBeenNotified()) in_callback.Notify();
    release.WaitForNotification();
  });
  source.Append("acme", "u", "a");
  hub.Wake();
  ASSERT_TRUE(in_callback.WaitForNotificationWithTimeout(absl::Seconds(5)));
  // The hub's thread is inside the wake-up; subscribing must not wait for it.
  const absl::Time start = absl::Now();
  auto other = hub.Subscribe(Ns("acme"), 0, /*from_now=*/false);
  const absl::Duration took = absl::Now() - start;
  release.Notify();
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_LT(took, absl::Seconds(1));
  std::vector<int64_t> seqs;
  ASSERT_TRUE(Drain(**other, 1, &seqs).ok());
  EXPECT_EQ(seqs, std::vector<int64_t>{1});  // from memory: the page being delivered
}

// A started hub without safety-net polls during a test, and one subscriber of namespace "ns".
class EventHubPublishTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EventHubOptions options;
    options.poll_interval = absl::Seconds(60);
    hub_ = std::make_unique<EventHub>(&source_, options);
    ASSERT_TRUE(hub_->Start().ok());
    absl::StatusOr<std::shared_ptr<Subscription>> sub = hub_->Subscribe(Ns("ns"), 0, false);
    ASSERT_TRUE(sub.ok());
    sub_ = *std::move(sub);
  }
  FakeSource source_;
  std::unique_ptr<EventHub> hub_;
  std::shared_ptr<Subscription> sub_;
};

TEST_F(EventHubPublishTest, OwnCommitsThatContinueTheHeadNeedNoRead) {
  const int reads_before = source_.reads();
  for (int i = 0; i < 5; ++i) {
    domain::UploadEvent a = source_.AppendAndGet("ns", absl::StrCat("a", i));
    domain::UploadEvent b = source_.AppendAndGet("ns", absl::StrCat("b", i));
    hub_->Publish({a, b});
  }
  std::vector<int64_t> seqs;
  ASSERT_TRUE(Drain(*sub_, 10, &seqs).ok());
  EXPECT_THAT(seqs, ::testing::ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
  EXPECT_EQ(source_.reads(), reads_before);
  EXPECT_EQ(hub_->events_published(), 10u);
  EXPECT_EQ(hub_->head(), 10);
}

TEST_F(EventHubPublishTest, AnotherWritersEventsInBetweenAreReadFromTheLog) {
  source_.Append("ns", "s", "other-replica");  // sequence 1: committed elsewhere, not published
  hub_->Publish({source_.AppendAndGet("ns", "mine")});
  std::vector<int64_t> seqs;
  ASSERT_TRUE(Drain(*sub_, 2, &seqs).ok());
  EXPECT_THAT(seqs, ::testing::ElementsAre(1, 2));  // the gap was read, nothing twice
  EXPECT_GE(source_.reads(), 1);
  EXPECT_EQ(hub_->events_published(), 0u);
}

TEST_F(EventHubPublishTest, BlocksPublishedOutOfOrderArriveInOrderExactlyOnce) {
  std::vector<domain::UploadEvent> events;
  for (int i = 0; i < 6; ++i) events.push_back(source_.AppendAndGet("ns", absl::StrCat(i)));
  // Two committer threads finish in the wrong order, and one block comes twice. Whether the
  // follower takes them in or reads the log depends on timing; either way each event is
  // delivered once, in sequence order.
  hub_->Publish({events[3], events[4], events[5]});
  hub_->Publish({events[0], events[1], events[2]});
  hub_->Publish({events[0], events[1], events[2]});
  std::vector<int64_t> seqs;
  ASSERT_TRUE(Drain(*sub_, 6, &seqs).ok());
  absl::SleepFor(absl::Milliseconds(100));
  std::vector<SharedEvent> more;
  ASSERT_TRUE(sub_->Take(64, &more).ok());
  EXPECT_TRUE(more.empty());  // nothing twice
  EXPECT_THAT(seqs, ::testing::ElementsAre(1, 2, 3, 4, 5, 6));
}

}  // namespace
}  // namespace ossup::events
