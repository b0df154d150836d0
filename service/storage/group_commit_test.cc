#include "service/storage/group_commit.h"

#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ossup::storage {
namespace {

using ::testing::ElementsAre;

// No database: the commit function is a stand-in that can be held open.
TEST(GroupCommitTest, ReportsEachTransactionsSizeAndDuration) {
  absl::Notification first_started, release_first;
  absl::Mutex mu;
  std::vector<int> sizes;
  std::vector<absl::Duration> durations;
  // Answers outlive the group: its destructor still answers what is queued.
  absl::Mutex answers_mu;
  std::vector<int> answers;
  GroupCommitOptions options;
  options.committers = 1;
  options.on_batch = [&](int items, absl::Duration commit) {
    absl::MutexLock lock(&mu);
    sizes.push_back(items);
    durations.push_back(commit);
  };
  {
    GroupCommit<int, int> group(
        [&](std::vector<int>&& in) -> absl::StatusOr<std::vector<absl::StatusOr<int>>> {
          if (!first_started.HasBeenNotified()) {
            first_started.Notify();
            release_first.WaitForNotification();
          }
          return std::vector<absl::StatusOr<int>>(in.begin(), in.end());
        },
        options);
    auto record = [&](absl::StatusOr<int> r) {
      absl::MutexLock lock(&answers_mu);
      answers.push_back(r.ok() ? *r : -1);
    };
    ASSERT_TRUE(group.SubmitAsync(0, record));
    first_started.WaitForNotification();
    // These arrive while the first transaction is open: they share the next one.
    for (int i = 1; i <= 5; ++i) EXPECT_TRUE(group.SubmitAsync(i, record));
    absl::SleepFor(absl::Milliseconds(20));
    release_first.Notify();
  }  // the destructor commits what is queued
  {
    absl::MutexLock lock(&answers_mu);
    EXPECT_THAT(answers, ::testing::UnorderedElementsAre(0, 1, 2, 3, 4, 5));
  }
  absl::MutexLock lock(&mu);
  EXPECT_THAT(sizes, ElementsAre(1, 5));
  ASSERT_EQ(durations.size(), 2u);
  EXPECT_GE(durations[0], absl::Milliseconds(20));
}

}  // namespace
}  // namespace ossup::storage
