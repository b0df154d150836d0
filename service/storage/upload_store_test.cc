#include "service/storage/upload_store.h"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pqxx/connection"
#include "pqxx/transaction"
#include "service/storage/callback_batcher.h"
#include "service/storage/codec.h"
#include "service/storage/storage_test_util.h"

namespace ossup::storage {
namespace {

using domain::EventType;
using domain::ObjectInfo;
using domain::Upload;
using domain::UploadState;
using ::testing::HasSubstr;

class UploadStoreTest : public testing::StoreTest {
 protected:
  int64_t LastSequence() {
    absl::StatusOr<int64_t> s = store_->LastSequence();
    EXPECT_TRUE(s.ok()) << s.status();
    return s.value_or(-1);
  }
  std::vector<domain::UploadEvent> AllEvents(absl::string_view ns) {
    absl::StatusOr<EventPage> page = store_->ReadEvents(0, 10000, {.ns = std::string(ns)});
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? page->events : std::vector<domain::UploadEvent>{};
  }
  void Exec(const std::string& sql) {
    absl::Status s = testing::QueryOnce(scratch_->dsn(), sql).status();
    ASSERT_TRUE(s.ok()) << s;
  }
  static ObjectInfo ObjectOf(const Upload& u, int64_t size = 1234) {
    return ObjectInfo{.bucket = u.bucket,
                      .key = u.object_key,
                      .size = size,
                      .content_type = "image/png",
                      .etag = "\"etag-" + std::to_string(size) + "\""};
  }
  static CallbackInput CallbackFor(const Upload& u, int64_t size = 1234) {
    return CallbackInput{u.id, u.callback_token_sha256, ObjectOf(u, size)};
  }
  // The same request as `u` sent again (same request id and fingerprint) as a new upload: a new
  // id, created at `at`.
  static Upload ReplayOf(const Upload& u, absl::Time at) {
    Upload replay = testing::NewUpload(u.ns, u.subject, at);
    replay.request_id = u.request_id;
    replay.request_fingerprint = u.request_fingerprint;
    return replay;
  }
  static std::optional<std::string> AcceptAll(const Upload&, const ObjectInfo&) {
    return std::nullopt;
  }
  static std::optional<std::string> RejectAll(const Upload&, const ObjectInfo&) {
    return "content type not allowed";
  }
};

void ExpectSameUpload(const Upload& a, const Upload& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.ns, b.ns);
  EXPECT_EQ(a.subject, b.subject);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.bucket, b.bucket);
  EXPECT_EQ(a.object_key, b.object_key);
  EXPECT_EQ(a.content_types, b.content_types);
  EXPECT_EQ(a.min_size, b.min_size);
  EXPECT_EQ(a.max_size, b.max_size);
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(a.request_id, b.request_id);
  EXPECT_EQ(a.create_time, b.create_time);
  EXPECT_EQ(a.update_time, b.update_time);
  EXPECT_EQ(a.expire_time, b.expire_time);
  EXPECT_EQ(a.object, b.object);
  EXPECT_EQ(a.rejection_reason, b.rejection_reason);
}

TEST_F(UploadStoreTest, CreateThenGetRoundTripsEveryField) {
  Upload u = testing::NewUpload("ns-a", "user-1", t0_ + absl::Microseconds(7));
  u.request_id = "req-1";
  u.request_fingerprint = std::string(32, '\x01');
  absl::StatusOr<CreateResult> created = store_->Create(u);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->created);
  ExpectSameUpload(created->upload, u);
  EXPECT_EQ(created->upload.callback_token_sha256, u.callback_token_sha256);
  EXPECT_EQ(created->upload.request_fingerprint, u.request_fingerprint);

  absl::StatusOr<Upload> got = store_->Get("ns-a", u.id);
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameUpload(*got, u);
  EXPECT_EQ(LastSequence(), 0) << "creation is not an event";
}

TEST_F(UploadStoreTest, CreateRejectsDuplicateIdAndBadInput) {
  Upload u = MustCreate("ns-a", "s", t0_);
  Upload other = testing::NewUpload("ns-a", "s", t0_);
  other.id = u.id;
  EXPECT_TRUE(absl::IsAlreadyExists(store_->Create(other).status()));
  Upload bad = testing::NewUpload("ns-a", "s", t0_);
  bad.id = "not-a-uuid";
  EXPECT_TRUE(absl::IsInvalidArgument(store_->Create(bad).status()));
}

TEST_F(UploadStoreTest, IdempotentCreateBySameRequest) {
  Upload u = testing::NewUpload("ns-a", "s", t0_);
  u.request_id = "req-42";
  u.request_fingerprint = std::string(32, 'f');
  ASSERT_TRUE(store_->Create(u).ok());

  Upload retry = ReplayOf(u, t0_ + absl::Seconds(3));
  absl::StatusOr<CreateResult> again = store_->Create(retry);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->upload.id, u.id);

  Upload different = retry;
  different.request_fingerprint = std::string(32, 'g');
  absl::Status s = store_->Create(different).status();
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("different request"));

  // The same request_id in another namespace is another key.
  Upload other_ns = retry;
  other_ns.ns = "ns-b";
  absl::StatusOr<CreateResult> other = store_->Create(other_ns);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE(other->created);
}

TEST_F(UploadStoreTest, CreateManyInsertsABatchWithCreatesExactSemantics) {
  Upload first = testing::NewUpload("ns-a", "s", t0_ + absl::Microseconds(3));
  first.request_id = "req-1";
  first.request_fingerprint = std::string(32, 'f');
  first.metadata = {{"album", "x"}};
  first.content_types = {"image/png", "image/jpeg"};
  Upload replay = ReplayOf(first, t0_);
  Upload clash = replay;  // same request id, different request
  clash.id = testing::NewUpload("ns-a", "s", t0_).id;
  clash.request_fingerprint = std::string(32, 'g');
  Upload existing = MustCreate("ns-a", "s", t0_);
  Upload own_retry = existing;  // an earlier attempt of this very create committed
  Upload bad = testing::NewUpload("ns-a", "s", t0_);
  bad.id = "not-a-uuid";
  const std::vector<Upload> batch = {
      first, testing::NewUpload("ns-b", "t", t0_), replay, clash, own_retry, bad};

  absl::StatusOr<std::vector<absl::StatusOr<CreateResult>>> results = store_->CreateMany(batch);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), batch.size());
  ASSERT_TRUE((*results)[0].ok()) << (*results)[0].status();
  EXPECT_TRUE((*results)[0]->created);
  ExpectSameUpload(*store_->Get("ns-a", first.id), first);
  ASSERT_TRUE((*results)[1].ok());
  EXPECT_TRUE((*results)[1]->created);
  ASSERT_TRUE((*results)[2].ok()) << (*results)[2].status();
  EXPECT_FALSE((*results)[2]->created) << "a replay in the same batch returns the first row";
  EXPECT_EQ((*results)[2]->upload.id, first.id);
  EXPECT_TRUE(absl::IsAlreadyExists((*results)[3].status())) << (*results)[3].status();
  ASSERT_TRUE((*results)[4].ok()) << (*results)[4].status();
  EXPECT_TRUE((*results)[4]->created);
  EXPECT_TRUE(absl::IsInvalidArgument((*results)[5].status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Get("ns-a", replay.id).status()));
}

// The batch statement keeps text that JSON, SQL or array syntax treat specially exactly as given,
// and a NUL byte (where a libpq parameter would end) fails only its own row.
TEST_F(UploadStoreTest, CreateManyKeepsSpecialTextExactly) {
  Upload odd = testing::NewUpload("ns-a", R"(a "quoted", {braced} \back\slash NULL)", t0_);
  odd.object_key = R"(k/"x",{y}\z NULL/ü.bin)";
  odd.request_id = R"(req"{,}\)";
  odd.request_fingerprint = std::string("\x00\xff\"\\{", 5);
  odd.metadata = {{"empty", ""}, {"note", R"(say "hi", {x} \n NULL)"}};
  odd.content_types = {"image/png", "application/vnd.a+json"};
  Upload blank = testing::NewUpload("ns-a", "NULL", t0_ + absl::Microseconds(1));
  blank.content_types = {};
  blank.metadata = {};
  blank.callback_token_sha256 = std::string("\"\\{}\x00", 5) + std::string(27, '\xee');
  Upload nul = testing::NewUpload("ns-a", std::string("a\0b", 3), t0_);
  const std::vector<Upload> batch = {odd, nul, blank};

  absl::StatusOr<std::vector<absl::StatusOr<CreateResult>>> results = store_->CreateMany(batch);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_TRUE((*results)[0].ok()) << (*results)[0].status();
  EXPECT_TRUE((*results)[0]->created);
  ExpectSameUpload(*store_->Get("ns-a", odd.id), odd);
  EXPECT_TRUE(absl::IsInvalidArgument((*results)[1].status())) << (*results)[1].status();
  EXPECT_TRUE(absl::IsNotFound(store_->Get("ns-a", nul.id).status()));
  ASSERT_TRUE((*results)[2].ok()) << (*results)[2].status();
  ExpectSameUpload(*store_->Get("ns-a", blank.id), blank);
  // Both rows came from the one batch statement (one transaction), not from the row-by-row
  // fallback that a malformed batch would have sent them to.
  absl::StatusOr<pqxx::result> writers = testing::QueryOnce(
      scratch_->dsn(), absl::StrCat("SELECT count(DISTINCT xmin::text) FROM uploads WHERE id IN ('",
                                    odd.id, "', '", blank.id, "')"));
  ASSERT_TRUE(writers.ok()) << writers.status();
  EXPECT_EQ((*writers)[0][0].as<int>(), 1);
  // The idempotency key and its fingerprint were stored as given: the replay finds the row.
  absl::StatusOr<CreateResult> again = store_->Create(ReplayOf(odd, t0_));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->upload.id, odd.id);
  // So was the callback token's hash: the same create again is recognized as its own retry.
  absl::StatusOr<CreateResult> own_retry = store_->Create(blank);
  ASSERT_TRUE(own_retry.ok()) << own_retry.status();
  EXPECT_TRUE(own_retry->created);
}

TEST_F(UploadStoreTest, CreateBatcherCommitsConcurrentCreatesTogether) {
  CreateBatcher batcher(store_.get(), GroupCommitOptions{.max_batch = 16, .committers = 2});
  constexpr int kCreates = 64;
  std::vector<Upload> uploads;
  for (int i = 0; i < kCreates; ++i) uploads.push_back(testing::NewUpload("ns-a", "s", t0_));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < kCreates; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<CreateResult> r = batcher.Create(uploads[i]);
      if (r.ok() && r->created && r->upload.id == uploads[i].id) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kCreates);
  for (const Upload& u : uploads) EXPECT_TRUE(store_->Get("ns-a", u.id).ok());
}

TEST_F(UploadStoreTest, NamespacesAreIsolated) {
  Upload u = MustCreate("ns-a", "s", t0_);
  EXPECT_TRUE(absl::IsNotFound(store_->Get("ns-b", u.id).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Cancel("ns-b", u.id, t0_).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Get("ns-a", "garbage").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Get("ns-a", testing::RandomUuid()).status()));
  absl::StatusOr<ListResult> list = store_->List("ns-b", {}, 10, "");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->uploads.empty());
  EXPECT_EQ(store_->Get("ns-a", u.id)->state, UploadState::kPending);
}

TEST_F(UploadStoreTest, ListFiltersBySubjectStateAndTime) {
  std::vector<Upload> made;
  for (int i = 0; i < 6; ++i) {
    made.push_back(MustCreate("ns-a", i % 2 == 0 ? "alice" : "bob", t0_ + absl::Seconds(i)));
  }
  MustCreate("ns-b", "alice", t0_);
  ASSERT_TRUE(store_->Cancel("ns-a", made[2].id, t0_ + absl::Minutes(1)).ok());
  ASSERT_TRUE(store_->Cancel("ns-a", made[3].id, t0_ + absl::Minutes(1)).ok());

  auto ids = [&](const ListFilter& f) {
    absl::StatusOr<ListResult> r = store_->List("ns-a", f, 100, "");
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<std::string> out;
    if (r.ok()) {
      for (const Upload& u : r->uploads) out.push_back(u.id);
      EXPECT_TRUE(r->next_page_token.empty());
      EXPECT_EQ(r->event_sequence, 2);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({}), (V{made[5].id, made[4].id, made[3].id, made[2].id, made[1].id, made[0].id}));
  EXPECT_EQ(ids({.subject = "alice"}), (V{made[4].id, made[2].id, made[0].id}));
  EXPECT_EQ(ids({.states = {UploadState::kCancelled}}), (V{made[3].id, made[2].id}));
  EXPECT_EQ(ids({.subject = "bob", .states = {UploadState::kPending, UploadState::kCompleted}}),
            (V{made[5].id, made[1].id}));
  EXPECT_EQ(ids({.create_time_after = t0_ + absl::Seconds(1),
                 .create_time_before = t0_ + absl::Seconds(4)}),
            (V{made[3].id, made[2].id, made[1].id}));
  EXPECT_EQ(ids({.subject = "nobody"}), V{});
}

TEST_F(UploadStoreTest, PagesAreStableWhileRowsAreInserted) {
  // 250 rows; several share a create_time so the id tiebreak is exercised.
  std::vector<Upload> made;
  for (int i = 0; i < 250; ++i) made.push_back(MustCreate("ns-a", "s", t0_ + absl::Seconds(i / 3)));
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    absl::StatusOr<ListResult> page = store_->List("ns-a", {}, 100, token);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    for (const Upload& u : page->uploads) seen.push_back(u.id);
    token = page->next_page_token;
    // Newer rows and rows tied with existing ones arrive between pages.
    MustCreate("ns-a", "s", t0_ + absl::Hours(1) + absl::Seconds(pages));
  } while (!token.empty());
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 250u);
  std::sort(made.begin(), made.end(), [](const Upload& a, const Upload& b) {
    return std::tie(a.create_time, a.id) > std::tie(b.create_time, b.id);
  });
  for (size_t i = 0; i < made.size(); ++i) EXPECT_EQ(seen[i], made[i].id) << i;
}

TEST_F(UploadStoreTest, BadPageTokensAndSizesAreInvalidArgument) {
  for (int i = 0; i < 3; ++i) MustCreate("ns-a", "alice", t0_ + absl::Seconds(i));
  absl::StatusOr<ListResult> first = store_->List("ns-a", {.subject = "alice"}, 2, "");
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->next_page_token.empty());
  EXPECT_TRUE(store_->List("ns-a", {.subject = "alice"}, 2, first->next_page_token).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(
      store_->List("ns-a", {.subject = "bob"}, 2, first->next_page_token).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      store_->List("ns-b", {.subject = "alice"}, 2, first->next_page_token).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->List("ns-a", {}, 2, "not a token!").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->List("ns-a", {}, 2, "eyJ2IjoxfQ").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->List("ns-a", {}, 0, "").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->List("ns-a", {}, 1001, "").status()));
}

TEST_F(UploadStoreTest, CancelWritesOneEventInTheSameTransaction) {
  Upload u = MustCreate("ns-a", "s", t0_);
  const absl::Time now = t0_ + absl::Minutes(1);
  absl::StatusOr<TransitionResult> r = store_->Cancel("ns-a", u.id, now);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->upload.state, UploadState::kCancelled);
  EXPECT_EQ(r->upload.update_time, now);
  EXPECT_TRUE(r->event_written);
  EXPECT_EQ(r->sequence, 1);
  EXPECT_EQ(commits_notified_, 1);
  std::vector<domain::UploadEvent> events = AllEvents("ns-a");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].sequence, 1);
  EXPECT_EQ(events[0].type, EventType::kCancelled);
  EXPECT_EQ(events[0].event_time, now);
  ExpectSameUpload(events[0].upload, r->upload);

  absl::Status again = store_->Cancel("ns-a", u.id, now).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(again)) << again;
  EXPECT_THAT(std::string(again.message()), HasSubstr("CANCELLED"));
  EXPECT_EQ(LastSequence(), 1);
}

TEST_F(UploadStoreTest, FailedEventInsertRollsBackTheTransition) {
  Upload u = MustCreate("ns-a", "s", t0_);
  Exec(
      "CREATE FUNCTION fail_event() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$;"
      "CREATE TRIGGER fail_event BEFORE INSERT ON upload_events "
      "FOR EACH ROW EXECUTE FUNCTION fail_event()");
  EXPECT_FALSE(store_->Cancel("ns-a", u.id, t0_).ok());
  EXPECT_FALSE(store_->ApplyCallback(CallbackFor(u), AcceptAll, t0_).ok());
  EXPECT_EQ(store_->Get("ns-a", u.id)->state, UploadState::kPending);
  EXPECT_EQ(LastSequence(), 0);
  EXPECT_EQ(commits_notified_, 0);
}

TEST_F(UploadStoreTest, CallbackWithWrongTokenChangesNothing) {
  Upload u = MustCreate("ns-a", "s", t0_);
  CallbackInput in = CallbackFor(u);
  in.callback_token_sha256[0] ^= 1;
  EXPECT_TRUE(absl::IsPermissionDenied(store_->ApplyCallback(in, AcceptAll, t0_).status()));
  in.callback_token_sha256 = "short";
  EXPECT_TRUE(absl::IsPermissionDenied(store_->ApplyCallback(in, AcceptAll, t0_).status()));
  in.upload_id = testing::RandomUuid();
  EXPECT_TRUE(absl::IsNotFound(store_->ApplyCallback(in, AcceptAll, t0_).status()));
  EXPECT_EQ(store_->Get("ns-a", u.id)->state, UploadState::kPending);
  EXPECT_EQ(LastSequence(), 0);
}

// Optimistic callbacks: rows that change between the read and the write send the whole batch to
// the locking path, which decides on the rows as they are then, and nothing is written twice.
TEST_F(UploadStoreTest, RowsChangedAfterTheOptimisticReadAreDecidedOnTheLockingPath) {
  const Upload completed_meanwhile = MustCreate("ns-a", "s", t0_);
  const Upload cancelled_meanwhile = MustCreate("ns-a", "s", t0_);
  const Upload untouched = MustCreate("ns-a", "s", t0_);
  const absl::Time now = t0_ + absl::Minutes(2);
  UploadStore other_replica(db_.get(), UploadStoreOptions{});
  int reads = 0;
  UploadStoreOptions options;
  options.after_optimistic_read_for_tests = [&] {
    if (reads++ > 0) return;
    ASSERT_TRUE(other_replica.ApplyCallback(CallbackFor(completed_meanwhile), AcceptAll, now).ok());
    ASSERT_TRUE(other_replica.Cancel("ns-a", cancelled_meanwhile.id, now).ok());
  };
  UploadStore store(db_.get(), options);
  const int64_t before = LastSequence();  // 0

  const std::vector<CallbackInput> inputs = {
      CallbackFor(completed_meanwhile), CallbackFor(cancelled_meanwhile), CallbackFor(untouched)};
  absl::StatusOr<std::vector<absl::StatusOr<TransitionResult>>> results =
      store.ApplyCallbacks(inputs, AcceptAll, now + absl::Seconds(1));
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 3u);
  EXPECT_EQ(reads, 1);  // one optimistic attempt, then the locking path
  ASSERT_TRUE((*results)[0].ok());
  EXPECT_FALSE((*results)[0]->event_written);  // the other replica's callback won
  EXPECT_EQ((*results)[0]->upload.state, UploadState::kCompleted);
  ASSERT_TRUE((*results)[1].ok());
  EXPECT_EQ((*results)[1]->event_type, EventType::kLateCallback);
  EXPECT_EQ((*results)[1]->upload.state, UploadState::kCancelled);
  ASSERT_TRUE((*results)[2].ok());
  EXPECT_EQ((*results)[2]->event_type, EventType::kCompleted);

  // The other replica's COMPLETED and CANCELLED, then this batch's LATE_CALLBACK and COMPLETED.
  const std::vector<domain::UploadEvent> events = AllEvents("ns-a");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].upload.id, completed_meanwhile.id);
  EXPECT_EQ(events[1].upload.id, cancelled_meanwhile.id);
  EXPECT_EQ(events[2].type, EventType::kLateCallback);
  EXPECT_EQ(events[2].sequence, (*results)[1]->sequence);
  EXPECT_EQ(events[3].upload.id, untouched.id);
  EXPECT_EQ(events[3].sequence, (*results)[2]->sequence);
  EXPECT_EQ(LastSequence(), before + 4);
}

// A deadlock between the optimistic write and another transaction rolls the write back; the
// batch is then decided again on the locking path, once the other transaction has ended. The
// other transaction holds the event counter row, and then wants the upload row the write has
// updated while waiting for that counter row.
TEST_F(UploadStoreTest, DeadlockedOptimisticWriteIsDecidedAgainOnTheLockingPath) {
  const Upload u = MustCreate("ns-a", "s", t0_);
  pqxx::connection other(scratch_->dsn());
  pqxx::work other_txn(other);
  // The detector runs in whichever waiter's deadlock_timeout passes first: the write's (the
  // server default, 1 s, counted from before this side waits), not this side's.
  other_txn.exec("SET LOCAL deadlock_timeout = '60s'");
  std::thread other_side;
  std::atomic<bool> write_was_waiting{false};
  std::atomic<bool> other_update_returned{false};
  int reads = 0;
  UploadStoreOptions options;
  options.after_optimistic_read_for_tests = [&] {
    if (reads++ > 0) return;
    other_txn.exec("UPDATE event_log_head SET last_sequence = last_sequence WHERE id = 1");
    other_side = std::thread([&] {
      // Once the write waits for the counter row, it has updated u's row: want that row too.
      for (int i = 0; i < 1000 && !write_was_waiting; ++i) {
        absl::StatusOr<pqxx::result> waiting =
            testing::QueryOnce(scratch_->dsn(),
                               "SELECT count(*) FROM pg_stat_activity"
                               " WHERE datname = current_database() AND wait_event_type = 'Lock'");
        if (waiting.ok() && (*waiting)[0][0].as<int>() > 0) write_was_waiting = true;
        if (!write_was_waiting) absl::SleepFor(absl::Milliseconds(10));
      }
      try {
        // Returns only once the write has ended: it cannot commit while this side holds the
        // counter row, so it was rolled back.
        other_txn.exec_params("UPDATE uploads SET update_time = update_time WHERE id = $1::uuid",
                              u.id);
        other_update_returned = true;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "the other transaction failed instead of the write: " << e.what();
      }
      other_txn.abort();
    });
  };
  UploadStore store(db_.get(), options);
  absl::StatusOr<std::vector<absl::StatusOr<TransitionResult>>> results =
      store.ApplyCallbacks({CallbackFor(u)}, AcceptAll, t0_ + absl::Minutes(1));
  if (other_side.joinable()) other_side.join();

  EXPECT_TRUE(write_was_waiting);
  EXPECT_TRUE(other_update_returned);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(reads, 1);  // one optimistic attempt, then the locking path
  ASSERT_TRUE((*results)[0].ok()) << (*results)[0].status();
  EXPECT_EQ((*results)[0]->event_type, EventType::kCompleted);
  EXPECT_TRUE((*results)[0]->event_written);
  absl::StatusOr<Upload> stored = store.Get("ns-a", u.id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state, UploadState::kCompleted);
  const std::vector<domain::UploadEvent> events = AllEvents("ns-a");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].sequence, (*results)[0]->sequence);
  EXPECT_EQ(LastSequence(), 1);
}

// Without changes in between, one optimistic attempt writes rows and events.
TEST_F(UploadStoreTest, OptimisticBatchWritesRowsAndEventsInOneAttempt) {
  const Upload a = MustCreate("ns-a", "s", t0_);
  const Upload b = MustCreate("ns-a", "s", t0_);
  int reads = 0;
  UploadStoreOptions options;
  options.after_optimistic_read_for_tests = [&] { ++reads; };
  UploadStore store(db_.get(), options);
  absl::StatusOr<std::vector<absl::StatusOr<TransitionResult>>> results = store.ApplyCallbacks(
      {CallbackFor(a), CallbackFor(b), CallbackFor(a)}, RejectAll, t0_ + absl::Minutes(1));
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(reads, 1);
  EXPECT_EQ((*results)[0]->event_type, EventType::kRejected);
  EXPECT_EQ((*results)[1]->event_type, EventType::kRejected);
  EXPECT_FALSE((*results)[2]->event_written);  // a repeat within the batch
  absl::StatusOr<Upload> stored = store.Get("ns-a", a.id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state, UploadState::kRejected);
  EXPECT_EQ(stored->rejection_reason, "content type not allowed");
  EXPECT_EQ(stored->object, ObjectOf(a));
  EXPECT_EQ(AllEvents("ns-a").size(), 2u);

  // The same batch again: all duplicates, answered from the rows as read, nothing written.
  results =
      store.ApplyCallbacks({CallbackFor(a), CallbackFor(b)}, RejectAll, t0_ + absl::Minutes(2));
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(reads, 2);
  EXPECT_FALSE((*results)[0]->event_written);
  EXPECT_FALSE((*results)[1]->event_written);
  EXPECT_EQ(AllEvents("ns-a").size(), 2u);
}

TEST_F(UploadStoreTest, CallbackCompletesAndDuplicateWritesNoEvent) {
  Upload u = MustCreate("ns-a", "s", t0_);
  const absl::Time now = t0_ + absl::Minutes(2);
  absl::StatusOr<TransitionResult> r = store_->ApplyCallback(CallbackFor(u), AcceptAll, now);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->upload.state, UploadState::kCompleted);
  EXPECT_EQ(r->upload.object, ObjectOf(u));
  EXPECT_EQ(r->event_type, EventType::kCompleted);
  EXPECT_EQ(r->sequence, 1);

  absl::StatusOr<TransitionResult> dup =
      store_->ApplyCallback(CallbackFor(u), AcceptAll, now + absl::Seconds(5));
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_FALSE(dup->event_written);
  EXPECT_EQ(dup->upload.state, UploadState::kCompleted);
  ExpectSameUpload(dup->upload, r->upload);
  EXPECT_EQ(LastSequence(), 1);
  EXPECT_EQ(commits_notified_, 1);

  // A different object on a completed upload: LATE_CALLBACK carrying it; the row keeps the first.
  absl::StatusOr<TransitionResult> other =
      store_->ApplyCallback(CallbackFor(u, 999), AcceptAll, now + absl::Seconds(9));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE(other->event_written);
  EXPECT_EQ(other->event_type, EventType::kLateCallback);
  EXPECT_EQ(other->sequence, 2);
  absl::StatusOr<Upload> got = store_->Get("ns-a", u.id);
  EXPECT_EQ(got->state, UploadState::kCompleted);
  EXPECT_EQ(got->object, ObjectOf(u));
  std::vector<domain::UploadEvent> events = AllEvents("ns-a");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].type, EventType::kLateCallback);
  EXPECT_EQ(events[1].upload.object, ObjectOf(u, 999));
  EXPECT_EQ(events[1].upload.state, UploadState::kCompleted);
}

TEST_F(UploadStoreTest, CallbackRejectsWithTheCheckersReason) {
  Upload u = MustCreate("ns-a", "s", t0_);
  absl::StatusOr<TransitionResult> r = store_->ApplyCallback(CallbackFor(u), RejectAll, t0_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->upload.state, UploadState::kRejected);
  EXPECT_EQ(r->upload.rejection_reason, "content type not allowed");
  EXPECT_EQ(r->event_type, EventType::kRejected);
  absl::StatusOr<TransitionResult> dup = store_->ApplyCallback(CallbackFor(u), AcceptAll, t0_);
  ASSERT_TRUE(dup.ok());
  EXPECT_FALSE(dup->event_written);
  EXPECT_EQ(dup->upload.state, UploadState::kRejected);
}

TEST_F(UploadStoreTest, LateCallbackOnCancelledAndExpiredRecordsTheObject) {
  Upload cancelled = MustCreate("ns-a", "s", t0_);
  Upload expired = MustCreate("ns-a", "s", t0_ - absl::Hours(1));
  ASSERT_TRUE(store_->Cancel("ns-a", cancelled.id, t0_).ok());
  ASSERT_EQ(*store_->ExpireDue(t0_, 100), 1);

  for (const Upload* u : {&cancelled, &expired}) {
    absl::StatusOr<TransitionResult> r =
        store_->ApplyCallback(CallbackFor(*u), AcceptAll, t0_ + absl::Minutes(1));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->event_type, EventType::kLateCallback);
    EXPECT_EQ(r->upload.state, u == &cancelled ? UploadState::kCancelled : UploadState::kExpired);
    EXPECT_EQ(r->upload.object, ObjectOf(*u));
    // OSS retrying the same late callback adds nothing.
    absl::StatusOr<TransitionResult> dup =
        store_->ApplyCallback(CallbackFor(*u), AcceptAll, t0_ + absl::Minutes(2));
    ASSERT_TRUE(dup.ok());
    EXPECT_FALSE(dup->event_written);
  }
  EXPECT_EQ(LastSequence(), 4);  // CANCELLED, EXPIRED, 2 x LATE_CALLBACK
}

TEST_F(UploadStoreTest, BatchedCallbacksShareOneTransactionAndConsecutiveSequences) {
  Upload a = MustCreate("ns-a", "s", t0_), b = MustCreate("ns-a", "s", t0_),
         c = MustCreate("ns-a", "s", t0_);
  CallbackInput bad = CallbackFor(b);
  bad.callback_token_sha256 = std::string(32, 'x');
  std::vector<CallbackInput> inputs = {CallbackFor(a), bad, CallbackFor(c)};
  auto results = store_->ApplyCallbacks(inputs, AcceptAll, t0_);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 3u);
  ASSERT_TRUE((*results)[0].ok());
  EXPECT_TRUE(absl::IsPermissionDenied((*results)[1].status()));
  ASSERT_TRUE((*results)[2].ok());
  std::set<int64_t> seqs = {(*results)[0]->sequence, (*results)[2]->sequence};
  EXPECT_EQ(seqs, (std::set<int64_t>{1, 2}));
  EXPECT_EQ(commits_notified_, 1);
  EXPECT_EQ(store_->Get("ns-a", b.id)->state, UploadState::kPending);
}

TEST_F(UploadStoreTest, ExpireDueHonorsGraceAndRunsConcurrently) {
  std::vector<Upload> due;
  for (int i = 0; i < 40; ++i) due.push_back(MustCreate("ns-a", "s", t0_ - absl::Hours(1)));
  // expire_time = t0 + 15 min; with 60 s grace it is not due at t0 + 15.5 min.
  Upload in_grace = MustCreate("ns-a", "s", t0_ - absl::Minutes(15) - absl::Seconds(30));
  Upload fresh = MustCreate("ns-a", "s", t0_);

  std::atomic<int> total{0};
  std::vector<std::thread> sweepers;
  for (int i = 0; i < 4; ++i) {
    sweepers.emplace_back([&] {
      for (;;) {
        absl::StatusOr<int> n = store_->ExpireDue(t0_, 7);
        ASSERT_TRUE(n.ok()) << n.status();
        if (*n == 0) return;
        total += *n;
      }
    });
  }
  for (auto& t : sweepers) t.join();
  EXPECT_EQ(total, 40);
  EXPECT_EQ(*store_->ExpireDue(t0_, 100), 0);
  EXPECT_EQ(store_->Get("ns-a", in_grace.id)->state, UploadState::kPending);
  EXPECT_EQ(store_->Get("ns-a", fresh.id)->state, UploadState::kPending);
  std::vector<domain::UploadEvent> events = AllEvents("ns-a");
  ASSERT_EQ(events.size(), 40u);
  std::set<std::string> ids;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence, static_cast<int64_t>(i + 1));
    EXPECT_EQ(events[i].type, EventType::kExpired);
    EXPECT_EQ(events[i].upload.state, UploadState::kExpired);
    ids.insert(events[i].upload.id);
  }
  EXPECT_EQ(ids.size(), 40u);
  EXPECT_EQ(*store_->ExpireDue(t0_ + absl::Minutes(1), 100), 1);  // in_grace is due now
}

TEST_F(UploadStoreTest, RecoversFromTerminatedConnections) {
  Upload u = MustCreate("ns-a", "s", t0_);
  auto terminate_pool = [&] {
    Exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()");
  };
  terminate_pool();
  EXPECT_TRUE(store_->Get("ns-a", u.id).ok());
  terminate_pool();
  EXPECT_TRUE(store_->Create(testing::NewUpload("ns-a", "s", t0_)).ok());
  terminate_pool();
  EXPECT_TRUE(store_->List("ns-a", {}, 10, "").ok());
  terminate_pool();
  absl::StatusOr<TransitionResult> r = store_->Cancel("ns-a", u.id, t0_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sequence, 1);
}

TEST_F(UploadStoreTest, CreateRetryOfACommittedInsertIsRecognized) {
  Upload u = MustCreate("ns-a", "s", t0_);
  absl::StatusOr<CreateResult> again = store_->Create(u);  // same id and token: our own row
  ASSERT_TRUE(again.ok()) << again.status();
  ExpectSameUpload(again->upload, u);
  Upload impostor = u;
  impostor.callback_token_sha256 = std::string(32, 'z');
  EXPECT_TRUE(absl::IsAlreadyExists(store_->Create(impostor).status()));
}

TEST_F(UploadStoreTest, PublishedEventsAreExactlyWhatTheLogReturns) {
  absl::Mutex mu;
  std::vector<domain::UploadEvent> published;
  UploadStore store(db_.get(), UploadStoreOptions{.publish_committed_events =
                                                      [&](std::vector<domain::UploadEvent> e) {
                                                        absl::MutexLock lock(&mu);
                                                        for (auto& x : e) {
                                                          published.push_back(std::move(x));
                                                        }
                                                      }});
  const Upload done = MustCreate("ns-p", "s", t0_);
  const Upload cancelled = MustCreate("ns-p", "s", t0_);
  const Upload expired = MustCreate("ns-p", "s", t0_ - absl::Hours(2));
  const absl::Time now = t0_ + absl::Microseconds(1234567);  // sub-second, sub-microsecond below
  ASSERT_TRUE(store.ApplyCallback(CallbackFor(done), AcceptAll, now + absl::Nanoseconds(5)).ok());
  ASSERT_TRUE(store.ApplyCallback(CallbackFor(done, 99), AcceptAll, now).ok());  // LATE_CALLBACK
  ASSERT_TRUE(store.Cancel("ns-p", cancelled.id, now).ok());
  ASSERT_EQ(*store.ExpireDue(now, 100), 1);

  const std::vector<domain::UploadEvent> read = AllEvents("ns-p");
  absl::MutexLock lock(&mu);
  ASSERT_EQ(published.size(), 4u);
  ASSERT_EQ(read.size(), published.size());
  for (size_t i = 0; i < read.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(published[i].sequence, read[i].sequence);
    EXPECT_EQ(published[i].type, read[i].type);
    EXPECT_EQ(published[i].event_time, read[i].event_time);
    ExpectSameUpload(published[i].upload, read[i].upload);
    EXPECT_EQ(codec::UploadToJson(published[i].upload).dump(),
              codec::UploadToJson(read[i].upload).dump());
  }
  EXPECT_EQ(read[1].type, EventType::kLateCallback);
  EXPECT_EQ(read[3].upload.id, expired.id);
}

}  // namespace
}  // namespace ossup::storage
