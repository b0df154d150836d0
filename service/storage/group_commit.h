#ifndef OSSUP_SERVICE_STORAGE_GROUP_COMMIT_H_
#define OSSUP_SERVICE_STORAGE_GROUP_COMMIT_H_

#include <algorithm>
#include <deque>
#include <exception>
#include <functional>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "service/common/thread_name.h"

namespace ossup::storage {

struct GroupCommitOptions {
  // Upper bound of items per transaction.
  int max_batch = 128;
  // Transactions in flight at once.
  int committers = 2;
  // Items queued beyond this are refused (SubmitAsync returns false): overload must turn into a
  // fast RESOURCE_EXHAUSTED, not unbounded memory.
  int max_queue = 4096;
  // Names the committer threads (see SetCurrentThreadName); a literal, or as long-lived.
  const char* thread_name = "ossup-commit";
  // Called on the committer thread after each transaction with its number of items and how long
  // `commit` took (for metrics: batch sizes and commit latency show what bounds throughput).
  std::function<void(int items, absl::Duration commit)> on_batch;
};

// Group commit: callers block in Submit() while committer threads write whatever arrived during
// the previous transaction in ONE transaction (`commit`), so under load a WAL flush is shared by
// the batch, and a lone item is not delayed. `commit` returns one result per item, in order, or
// an error that fails the whole batch.
//
// Thread-safe. The destructor commits what is queued, then stops; Submit() must not race it.
template <typename In, typename Out>
class GroupCommit {
 public:
  // Gets the batch's inputs to keep: nothing reads them after the call.
  using CommitFn =
      std::function<absl::StatusOr<std::vector<absl::StatusOr<Out>>>(std::vector<In>&&)>;

  GroupCommit(CommitFn commit, GroupCommitOptions options)
      : commit_(std::move(commit)), options_(options) {
    for (int i = 0; i < std::max(1, options_.committers); ++i) {
      threads_.push_back(NamedThread(options_.thread_name, [this] { Run(); }));
    }
  }
  ~GroupCommit() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (std::thread& t : threads_) t.join();
  }
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  absl::StatusOr<Out> Submit(In in) {
    Item item{std::move(in), std::nullopt, nullptr};
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("group commit is stopping");
    queue_.push_back(&item);
    mu_.Await(absl::Condition(
        +[](Item* i) { return i->result.has_value(); }, &item));
    return *std::move(item.result);
  }

  // Queues `in` and returns at once; `done` runs on a committer thread once the batch committed
  // (it must not block). False, without calling `done`, when the queue is full or stopping.
  bool SubmitAsync(In in, std::function<void(absl::StatusOr<Out>)> done) {
    auto* item = new Item{std::move(in), std::nullopt, std::move(done)};
    absl::MutexLock lock(&mu_);
    if (stopping_ || static_cast<int>(queue_.size()) >= options_.max_queue) {
      delete item;
      return false;
    }
    queue_.push_back(item);
    return true;
  }

  // Items waiting for the next transaction (for tests and metrics).
  int QueueLength() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(queue_.size());
  }

 private:
  struct Item {
    In in;
    std::optional<absl::StatusOr<Out>> result;
    std::function<void(absl::StatusOr<Out>)> done;  // set for SubmitAsync; owns the item then
  };

  void Run() {
    std::vector<Item*> batch;
    std::vector<In> inputs;
    for (;;) {
      batch.clear();
      inputs.clear();
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](GroupCommit* g)
                 ABSL_NO_THREAD_SAFETY_ANALYSIS { return !g->queue_.empty() || g->stopping_; },
            this));
        if (queue_.empty()) return;  // stopping, and drained
        while (!queue_.empty() && static_cast<int>(batch.size()) < options_.max_batch) {
          batch.push_back(queue_.front());
          queue_.pop_front();
        }
      }
      // Moved, not copied: an item's input is not read again (Submit reads only `result`).
      for (Item* item : batch) inputs.push_back(std::move(item->in));
      absl::StatusOr<std::vector<absl::StatusOr<Out>>> results =
          absl::InternalError("group commit: not run");
      const absl::Time commit_start = options_.on_batch ? absl::Now() : absl::InfinitePast();
      try {
        results = commit_(std::move(inputs));
      } catch (const std::exception& e) {  // must not escape the thread: it would terminate
        results = absl::InternalError(absl::StrCat("group commit: ", e.what()));
      }
      if (options_.on_batch) {
        options_.on_batch(static_cast<int>(batch.size()), absl::Now() - commit_start);
      }
      if (results.ok() && results->size() != batch.size()) {
        results = absl::InternalError("group commit: one result per item expected");
      }
      std::vector<Item*> async;
      {
        absl::MutexLock lock(&mu_);
        for (size_t i = 0; i < batch.size(); ++i) {
          batch[i]->result =
              results.ok() ? std::move((*results)[i]) : absl::StatusOr<Out>(results.status());
          if (batch[i]->done) async.push_back(batch[i]);
        }
      }
      // Outside the lock: completions may take a while and may submit again.
      for (Item* item : async) {
        item->done(*std::move(item->result));
        delete item;
      }
    }
  }

  const CommitFn commit_;
  const GroupCommitOptions options_;
  absl::Mutex mu_;
  std::deque<Item*> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace ossup::storage

#endif  // OSSUP_SERVICE_STORAGE_GROUP_COMMIT_H_
