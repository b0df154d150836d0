#include "service/common/thread_pool.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace ossup {
namespace {

TEST(ThreadPoolTest, RunsEverythingSubmittedBeforeDestruction) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(4, 1000);
    for (int i = 0; i < 500; ++i) ASSERT_TRUE(pool.Submit([&] { ++ran; }));
  }
  EXPECT_EQ(ran.load(), 500);
}

TEST(ThreadPoolTest, RefusesWorkBeyondTheQueueBound) {
  absl::Notification started, release;
  ThreadPool pool(1, 2);
  ASSERT_TRUE(pool.Submit([&] {
    started.Notify();
    release.WaitForNotification();
  }));
  started.WaitForNotification();  // the only thread is busy; the queue is empty
  int accepted = 0;
  while (accepted < 10 && pool.Submit([] {})) ++accepted;
  EXPECT_EQ(accepted, 2);
  release.Notify();
}

}  // namespace
}  // namespace ossup
