#ifndef OSSUP_SERVICE_STORAGE_CALLBACK_BATCHER_H_
#define OSSUP_SERVICE_STORAGE_CALLBACK_BATCHER_H_

#include <deque>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/storage/upload_store.h"

namespace ossup::storage {

struct CallbackBatcherOptions {
  // Upper bound of callbacks per transaction.
  int max_batch = 128;
  // Transactions in flight at once: while one holds the counter row through COMMIT, the others
  // lock and update their rows, so the serialized section is only the counter update and COMMIT.
  int committers = 2;
};

// Group commit for callbacks. Every event-writing transaction holds the event-log counter row from
// its last statement through COMMIT (see upload_store.cc), so event-writing commits are serialized
// and one callback per transaction caps throughput at one WAL flush per callback. The batcher
// applies whatever callbacks arrived while the previous transaction was committing in ONE
// transaction (UploadStore::ApplyCallbacks): a lone callback is not delayed, and under load the
// flush is shared by the batch.
//
// Thread-safe. `committers` threads; callers block until their batch committed.
class CallbackBatcher {
 public:
  // `store` must outlive the batcher. `check` is used for every callback.
  CallbackBatcher(UploadStore* store, CallbackCheck check, CallbackBatcherOptions options = {});
  // Applies what is queued, then stops. Apply() must not be called concurrently with this.
  ~CallbackBatcher();
  CallbackBatcher(const CallbackBatcher&) = delete;
  CallbackBatcher& operator=(const CallbackBatcher&) = delete;

  // Same contract as UploadStore::ApplyCallback. The batch's transaction uses the latest `now`
  // among its callbacks (they arrived within one commit time of each other).
  absl::StatusOr<TransitionResult> Apply(const CallbackInput& input, absl::Time now);

  // Callbacks waiting for the next transaction (for tests and metrics).
  int QueueLength();

 private:
  struct Item {
    const CallbackInput* input;
    absl::Time now;
    std::optional<absl::StatusOr<TransitionResult>> result;
  };
  void Run();

  UploadStore* const store_;
  const CallbackCheck check_;
  const CallbackBatcherOptions options_;
  absl::Mutex mu_;
  std::deque<Item*> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace ossup::storage

#endif  // OSSUP_SERVICE_STORAGE_CALLBACK_BATCHER_H_
