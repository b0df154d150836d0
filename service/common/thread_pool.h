#ifndef OSSUP_SERVICE_COMMON_THREAD_POOL_H_
#define OSSUP_SERVICE_COMMON_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace ossup {

// Fixed threads running queued closures: blocking work (database, HeadObject) is handed here so
// gRPC's and the HTTP server's I/O threads never block. The queue is bounded; Submit refuses work
// beyond it so overload turns into fast RESOURCE_EXHAUSTED answers rather than unbounded memory.
class ThreadPool {
 public:
  // `name` names the threads (see NamedThread): a literal, or as long-lived.
  ThreadPool(int threads, size_t max_queue, const char* name = "ossup-pool");
  ~ThreadPool();  // runs what is queued, then joins
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // False when the queue is full or the pool is stopping.
  bool Submit(std::function<void()> work);

 private:
  void Run();

  const size_t max_queue_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace ossup

#endif  // OSSUP_SERVICE_COMMON_THREAD_POOL_H_
