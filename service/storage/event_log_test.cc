#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "pqxx/connection"
#include "service/storage/event_listener.h"
#include "service/storage/storage_test_util.h"
#include "service/storage/upload_store.h"

namespace ossup::storage {
namespace {

using domain::EventType;
using domain::Upload;

class EventLogTest : public testing::StoreTest {};

TEST_F(EventLogTest, SequencesAreGapFreeInCommitOrderUnderConcurrency) {
  constexpr int kWriters = 8;
  constexpr int kPerWriter = 200;
  constexpr int64_t kTotal = kWriters * kPerWriter;
  std::vector<std::vector<Upload>> uploads(kWriters);
  for (int w = 0; w < kWriters; ++w) {
    for (int i = 0; i < kPerWriter; ++i) uploads[w].push_back(MustCreate("ns-a", "s", t0_));
  }

  // The reader polls while writers commit; it must see 1..kTotal exactly once, in order, never
  // skipping a sequence that commits later.
  std::atomic<bool> reader_failed{false};
  std::vector<int64_t> seen;
  std::thread reader([&] {
    int64_t cursor = 0;
    const absl::Time deadline = absl::Now() + absl::Seconds(90);
    while (cursor < kTotal && absl::Now() < deadline) {
      absl::StatusOr<EventPage> page = store_->ReadEvents(cursor, 97, {.ns = "ns-a"});
      if (!page.ok()) {
        ADD_FAILURE() << page.status();
        reader_failed = true;
        return;
      }
      for (const domain::UploadEvent& e : page->events) seen.push_back(e.sequence);
      cursor = page->scanned_through;
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        const Upload& u = uploads[w][i];
        absl::StatusOr<TransitionResult> r =
            i % 2 == 0 ? store_->Cancel("ns-a", u.id, t0_)
                       : store_->ApplyCallback(
                             {u.id, u.callback_token_sha256, {.bucket = "b", .key = u.object_key}},
                             nullptr, t0_);
        ASSERT_TRUE(r.ok()) << r.status();
        ASSERT_TRUE(r->event_written);
      }
    });
  }
  for (auto& t : writers) t.join();
  reader.join();
  ASSERT_FALSE(reader_failed);
  ASSERT_EQ(static_cast<int64_t>(seen.size()), kTotal);
  for (int64_t i = 0; i < kTotal; ++i) ASSERT_EQ(seen[i], i + 1);
  EXPECT_EQ(*store_->LastSequence(), kTotal);
}

TEST_F(EventLogTest, ReadEventsFiltersAndReportsScannedThrough) {
  Upload a1 = MustCreate("ns-a", "alice", t0_), b1 = MustCreate("ns-a", "bob", t0_),
         a2 = MustCreate("ns-a", "alice", t0_), other = MustCreate("ns-b", "alice", t0_);
  for (const Upload* u : {&a1, &b1, &other, &a2})
    ASSERT_TRUE(store_->Cancel(u->ns, u->id, t0_).ok());

  absl::StatusOr<EventPage> alice = store_->ReadEvents(0, 10, {.ns = "ns-a", .subject = "alice"});
  ASSERT_TRUE(alice.ok()) << alice.status();
  ASSERT_EQ(alice->events.size(), 2u);
  EXPECT_EQ(alice->events[0].upload.id, a1.id);
  EXPECT_EQ(alice->events[1].upload.id, a2.id);
  EXPECT_EQ(alice->events[1].sequence, 4);
  EXPECT_EQ(alice->scanned_through, 4);

  absl::StatusOr<EventPage> by_id =
      store_->ReadEvents(0, 10, {.ns = "ns-a", .upload_ids = {b1.id}});
  ASSERT_TRUE(by_id.ok());
  ASSERT_EQ(by_id->events.size(), 1u);
  EXPECT_EQ(by_id->events[0].sequence, 2);

  // Another namespace's upload id never matches.
  absl::StatusOr<EventPage> cross =
      store_->ReadEvents(0, 10, {.ns = "ns-a", .upload_ids = {other.id}});
  ASSERT_TRUE(cross.ok());
  EXPECT_TRUE(cross->events.empty());
  EXPECT_EQ(cross->scanned_through, 4);

  absl::StatusOr<EventPage> limited = store_->ReadEvents(0, 1, {.ns = "ns-a"});
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->scanned_through, 1);
  EXPECT_TRUE(absl::IsInvalidArgument(
      store_->ReadEvents(0, 10, {.ns = "ns-a", .upload_ids = {"nope"}}).status()));
}

TEST_F(EventLogTest, ListReportsTheSequenceToWatchFrom) {
  Upload a = MustCreate("ns-a", "s", t0_), b = MustCreate("ns-a", "s", t0_);
  ASSERT_TRUE(store_->Cancel("ns-a", a.id, t0_).ok());
  absl::StatusOr<ListResult> list = store_->List("ns-a", {}, 10, "");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->event_sequence, 1);
  ASSERT_TRUE(store_->Cancel("ns-a", b.id, t0_).ok());
  absl::StatusOr<EventPage> after = store_->ReadEvents(list->event_sequence, 10, {.ns = "ns-a"});
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->events.size(), 1u);
  EXPECT_EQ(after->events[0].upload.id, b.id);
}

TEST_F(EventLogTest, RetentionPurgesAPrefixAndOldResumePointsAreOutOfRange) {
  for (int i = 0; i < 5; ++i) {
    Upload u = MustCreate("ns-a", "s", t0_);
    ASSERT_TRUE(store_->Cancel("ns-a", u.id, t0_ + absl::Hours(i)).ok());
  }
  EXPECT_EQ(*store_->OldestRetainedSequence(), 1);
  absl::StatusOr<int64_t> purged = store_->PurgeEventsBefore(t0_ + absl::Hours(2));
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(*purged, 2);
  EXPECT_EQ(*store_->OldestRetainedSequence(), 3);
  EXPECT_EQ(*store_->PurgeEventsBefore(t0_ + absl::Hours(2)), 0);  // idempotent

  absl::Status old = store_->ReadEvents(1, 10, {.ns = "ns-a"}).status();
  EXPECT_TRUE(absl::IsOutOfRange(old)) << old;
  EXPECT_NE(old.message().find("re-list"), absl::string_view::npos);
  absl::StatusOr<EventPage> ok = store_->ReadEvents(2, 10, {.ns = "ns-a"});
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->events.size(), 3u);
  EXPECT_EQ(ok->events[0].sequence, 3);

  // Purging everything keeps the watermark, so the head stays a valid resume point.
  EXPECT_EQ(*store_->PurgeEventsBefore(t0_ + absl::Hours(100)), 3);
  EXPECT_EQ(*store_->OldestRetainedSequence(), 6);
  EXPECT_TRUE(store_->ReadEvents(5, 10, {.ns = "ns-a"}).ok());
  EXPECT_TRUE(absl::IsOutOfRange(store_->ReadEvents(4, 10, {.ns = "ns-a"}).status()));
}

TEST_F(EventLogTest, ListenerWakesOnNotifyWithinABound) {
  std::atomic<int> wakes{0};
  EventListener listener({.dsn = scratch_->dsn(), .poll_interval = absl::Seconds(60)},
                         [&] { ++wakes; });
  ASSERT_TRUE(listener.Start().ok());
  // The first wake-up comes right after LISTEN (catch-up).
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (wakes == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(2));
  ASSERT_EQ(wakes, 1);

  pqxx::connection notifier(scratch_->dsn());
  const absl::Time sent = absl::Now();
  ASSERT_TRUE(Notify(notifier).ok());
  while (wakes < 2 && absl::Now() < sent + absl::Seconds(5)) absl::SleepFor(absl::Milliseconds(1));
  const absl::Duration latency = absl::Now() - sent;
  EXPECT_EQ(wakes, 2);
  EXPECT_LT(latency, absl::Milliseconds(500));

  const absl::Time stop_start = absl::Now();
  listener.Stop();
  EXPECT_LT(absl::Now() - stop_start, absl::Seconds(1)) << "Stop must not wait for poll_interval";
}

TEST_F(EventLogTest, ListenerIgnoresItsOwnOriginAndWakesForOthers) {
  std::atomic<int> wakes{0};
  EventListener listener(
      {.dsn = scratch_->dsn(), .poll_interval = absl::Seconds(60), .ignore_origin = "replica-a"},
      [&] { ++wakes; });
  ASSERT_TRUE(listener.Start().ok());
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (wakes == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(2));
  ASSERT_EQ(wakes, 1);  // the catch-up after LISTEN

  pqxx::connection notifier(scratch_->dsn());
  ASSERT_TRUE(Notify(notifier, "replica-a").ok());  // its own echo
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(wakes, 1);
  ASSERT_TRUE(Notify(notifier, "replica-b").ok());  // another replica's commit
  deadline = absl::Now() + absl::Seconds(5);
  while (wakes < 2 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(wakes, 2);
  ASSERT_TRUE(Notify(notifier, "it's \"quoted\"").ok());  // payloads are quoted, not spliced
  ASSERT_TRUE(Notify(notifier).ok());                     // no origin: an older replica
  deadline = absl::Now() + absl::Seconds(5);
  while (wakes < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_GE(wakes, 3);
  listener.Stop();
}

TEST_F(EventLogTest, ListenerPollsAsASafetyNet) {
  std::atomic<int> wakes{0};
  EventListener listener({.dsn = scratch_->dsn(), .poll_interval = absl::Milliseconds(50)},
                         [&] { ++wakes; });
  ASSERT_TRUE(listener.Start().ok());
  absl::SleepFor(absl::Milliseconds(400));
  listener.Stop();
  EXPECT_GE(wakes, 4);
}

TEST(EventListenerTest, StartFailsWithoutServer) {
  EventListener listener({.dsn = "postgresql://postgres@127.0.0.1:1/x?connect_timeout=2"}, [] {});
  EXPECT_TRUE(absl::IsUnavailable(listener.Start()));
}

}  // namespace
}  // namespace ossup::storage
