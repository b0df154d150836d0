#ifndef OSSUP_SERVICE_STORAGE_CALLBACK_BATCHER_H_
#define OSSUP_SERVICE_STORAGE_CALLBACK_BATCHER_H_

#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/storage/group_commit.h"
#include "service/storage/upload_store.h"

namespace ossup::storage {

using CallbackBatcherOptions = GroupCommitOptions;

// One transaction in flight. Event-writing commits are serialized on the counter row anyway, so a
// second committer only split the batches and added lock waits: in the callback benchmark (this
// repository's, on 2 cores) one committer did 3,485 and 3,871/s at 64 in flight against 3,137
// and 3,325/s with two, and 2,137 and 2,103/s against 1,961 and 1,765/s at 16, with about a
// third less PostgreSQL CPU.
inline CallbackBatcherOptions DefaultCallbackBatcherOptions() {
  CallbackBatcherOptions options;
  options.committers = 1;
  options.thread_name = "ossup-callbacks";
  return options;
}

// Group commit for callbacks. Every event-writing transaction holds the event-log counter row from
// its last statement through COMMIT (see upload_store.cc), so event-writing commits are serialized
// and one callback per transaction caps throughput at one WAL flush per callback. The batcher
// applies whatever callbacks arrived while the previous transaction was committing in ONE
// transaction (UploadStore::ApplyCallbacks): a lone callback is not delayed, and under load the
// flush is shared by the batch.
//
// Thread-safe. Apply() blocks until the batch committed; ApplyAsync() answers from the committer.
class CallbackBatcher {
 public:
  // `store` must outlive the batcher. `check` is used for every callback.
  CallbackBatcher(UploadStore* store, CallbackCheck check,
                  CallbackBatcherOptions options = DefaultCallbackBatcherOptions())
      : group_(
            [store, check = std::move(check)](std::vector<Queued>&& queued) {
              std::vector<CallbackInput> inputs;
              inputs.reserve(queued.size());
              absl::Time now = absl::InfinitePast();
              for (Queued& q : queued) {
                inputs.push_back(std::move(q.first));
                now = std::max(now, q.second);
              }
              return store->ApplyCallbacks(inputs, check, now);
            },
            options) {}

  // Same contract as UploadStore::ApplyCallback. The batch's transaction uses the latest `now`
  // among its callbacks (they arrived within one commit time of each other).
  absl::StatusOr<TransitionResult> Apply(const CallbackInput& input, absl::Time now) {
    return group_.Submit({input, now});
  }
  // The same without a waiting thread: `done` runs on a committer thread once the batch
  // committed and must not block. False (and `done` not called) when overloaded or stopping.
  bool ApplyAsync(const CallbackInput& input, absl::Time now,
                  std::function<void(absl::StatusOr<TransitionResult>)> done) {
    return group_.SubmitAsync({input, now}, std::move(done));
  }

  // Callbacks waiting for the next transaction (for tests and metrics).
  int QueueLength() { return group_.QueueLength(); }

 private:
  using Queued = std::pair<CallbackInput, absl::Time>;
  GroupCommit<Queued, TransitionResult> group_;
};

// Group commit for CreateUpload: concurrent creates share one multi-row INSERT and its WAL flush
// (UploadStore::CreateMany). The form is still returned only after its row is committed.
class CreateBatcher {
 public:
  explicit CreateBatcher(UploadStore* store, GroupCommitOptions options = {})
      : group_(
            [store](const std::vector<domain::Upload>& uploads) {
              return store->CreateMany(uploads);
            },
            options) {}

  // Same contract as UploadStore::Create.
  absl::StatusOr<CreateResult> Create(const domain::Upload& upload) {
    return group_.Submit(upload);
  }
  // The same without a waiting thread: `done` runs on a committer thread after the commit and
  // must not block. False (and `done` not called) when overloaded or stopping.
  bool CreateAsync(domain::Upload upload, std::function<void(absl::StatusOr<CreateResult>)> done) {
    return group_.SubmitAsync(std::move(upload), std::move(done));
  }
  int QueueLength() { return group_.QueueLength(); }

 private:
  GroupCommit<domain::Upload, CreateResult> group_;
};

}  // namespace ossup::storage

#endif  // OSSUP_SERVICE_STORAGE_CALLBACK_BATCHER_H_
