#include "service/storage/callback_batcher.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace ossup::storage {

CallbackBatcher::CallbackBatcher(UploadStore* store, CallbackCheck check,
                                 CallbackBatcherOptions options)
    : store_(store), check_(std::move(check)), options_(options) {
  for (int i = 0; i < std::max(1, options_.committers); ++i)
    threads_.emplace_back([this] { Run(); });
}

CallbackBatcher::~CallbackBatcher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

int CallbackBatcher::QueueLength() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

absl::StatusOr<TransitionResult> CallbackBatcher::Apply(const CallbackInput& input,
                                                        absl::Time now) {
  Item item{&input, now, std::nullopt};
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("callback batcher is stopping");
  queue_.push_back(&item);
  mu_.Await(absl::Condition(
      +[](Item* i) { return i->result.has_value(); }, &item));
  return *std::move(item.result);
}

void CallbackBatcher::Run() {
  std::vector<Item*> batch;
  std::vector<CallbackInput> inputs;
  for (;;) {
    batch.clear();
    inputs.clear();
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](CallbackBatcher* b)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return !b->queue_.empty() || b->stopping_; },
          this));
      if (queue_.empty()) return;  // stopping, and drained
      while (!queue_.empty() && static_cast<int>(batch.size()) < options_.max_batch) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    absl::Time now = absl::InfinitePast();
    for (Item* item : batch) {
      inputs.push_back(*item->input);
      now = std::max(now, item->now);
    }
    absl::StatusOr<std::vector<absl::StatusOr<TransitionResult>>> results =
        store_->ApplyCallbacks(inputs, check_, now);
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i]->result = results.ok() ? std::move((*results)[i])
                                      : absl::StatusOr<TransitionResult>(results.status());
    }
  }
}

}  // namespace ossup::storage
