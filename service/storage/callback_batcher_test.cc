#include "service/storage/callback_batcher.h"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "pqxx/connection"
#include "pqxx/transaction"
#include "service/storage/storage_test_util.h"

namespace ossup::storage {
namespace {

using domain::Upload;
using domain::UploadState;

class CallbackBatcherTest : public testing::StoreTest {
 protected:
  static CallbackInput CallbackFor(const Upload& u) {
    return {u.id,
            u.callback_token_sha256,
            {.bucket = u.bucket,
             .key = u.object_key,
             .size = 9,
             .content_type = "image/png",
             .etag = "\"e\""}};
  }
};

TEST_F(CallbackBatcherTest, ConcurrentCallbacksAllCommitWithDistinctSequences) {
  constexpr int kThreads = 16, kPer = 40;
  std::vector<std::vector<Upload>> uploads(kThreads);
  for (auto& v : uploads) {
    for (int i = 0; i < kPer; ++i) v.push_back(MustCreate("ns-a", "s", t0_));
  }
  std::vector<std::vector<int64_t>> seqs(kThreads);
  {
    CallbackBatcher batcher(store_.get(), nullptr);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (const Upload& u : uploads[t]) {
          absl::StatusOr<TransitionResult> r = batcher.Apply(CallbackFor(u), t0_);
          ASSERT_TRUE(r.ok()) << r.status();
          EXPECT_EQ(r->upload.state, UploadState::kCompleted);
          seqs[t].push_back(r->sequence);
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  std::set<int64_t> all;
  for (const auto& v : seqs) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPer));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kPer);
  EXPECT_LE(commits_notified_, kThreads * kPer);
  std::printf("%d callbacks in %d transactions\n", kThreads * kPer, commits_notified_.load());
}

TEST_F(CallbackBatcherTest, CallbacksArrivingDuringACommitShareTheNextTransaction) {
  constexpr int kCallbacks = 10;
  std::vector<Upload> uploads;
  for (int i = 0; i < kCallbacks; ++i) uploads.push_back(MustCreate("ns-a", "s", t0_));

  // Hold the counter row so the first batch cannot commit while the others queue up.
  pqxx::connection blocker_conn(scratch_->dsn());
  auto blocker = std::make_unique<pqxx::work>(blocker_conn);
  blocker->exec("SELECT last_sequence FROM event_log_head FOR UPDATE");

  std::vector<absl::StatusOr<TransitionResult>> results(kCallbacks, absl::UnknownError("not run"));
  {
    CallbackBatcher batcher(store_.get(), nullptr, {.committers = 1});
    std::vector<std::thread> threads;
    threads.emplace_back([&] { results[0] = batcher.Apply(CallbackFor(uploads[0]), t0_); });
    // Wait until the first batch's transaction waits for the counter row.
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    auto first_batch_blocked = [&] {
      absl::StatusOr<pqxx::result> r =
          testing::QueryOnce(scratch_->dsn(),
                             "SELECT count(*) FROM pg_stat_activity"
                             " WHERE datname = current_database() AND wait_event_type = 'Lock'");
      return r.ok() && (*r)[0][0].as<int>() > 0;
    };
    while (!first_batch_blocked() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    ASSERT_EQ(batcher.QueueLength(), 0);
    for (int i = 1; i < kCallbacks; ++i) {
      threads.emplace_back([&, i] { results[i] = batcher.Apply(CallbackFor(uploads[i]), t0_); });
    }
    while (batcher.QueueLength() != kCallbacks - 1 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    EXPECT_EQ(batcher.QueueLength(), kCallbacks - 1);
    blocker->commit();
    for (auto& t : threads) t.join();
  }
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(results[0]->sequence, 1);
  std::set<int64_t> rest;
  for (int i = 1; i < kCallbacks; ++i) rest.insert(results[i]->sequence);
  EXPECT_EQ(rest.size(), static_cast<size_t>(kCallbacks - 1));
  EXPECT_EQ(*rest.begin(), 2);
  EXPECT_EQ(*rest.rbegin(), kCallbacks);
  EXPECT_EQ(commits_notified_, 2) << "the queued callbacks must share one transaction";
}

TEST_F(CallbackBatcherTest, AsyncCallbacksAnswerOnceCommittedWithTheSameResults) {
  constexpr int kCallbacks = 50;
  std::vector<Upload> uploads;
  for (int i = 0; i < kCallbacks; ++i) uploads.push_back(MustCreate("ns-a", "s", t0_));
  absl::Mutex mu;
  std::vector<absl::StatusOr<TransitionResult>> results;
  {
    CallbackBatcher batcher(store_.get(), nullptr);
    for (const Upload& u : uploads) {
      ASSERT_TRUE(batcher.ApplyAsync(CallbackFor(u), t0_, [&](absl::StatusOr<TransitionResult> r) {
        absl::MutexLock lock(&mu);
        results.push_back(std::move(r));
      }));
    }
    // A duplicate of an accepted callback: the same answer, no second event.
    absl::StatusOr<TransitionResult> again = batcher.Apply(CallbackFor(uploads[0]), t0_);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->upload.state, UploadState::kCompleted);
  }  // the destructor commits what is queued and runs every completion
  ASSERT_EQ(results.size(), static_cast<size_t>(kCallbacks));
  std::set<int64_t> sequences;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->upload.state, UploadState::kCompleted);
    sequences.insert(r->sequence);
  }
  EXPECT_EQ(sequences.size(), static_cast<size_t>(kCallbacks));
  EXPECT_EQ(*sequences.rbegin(), kCallbacks);
}

}  // namespace
}  // namespace ossup::storage
