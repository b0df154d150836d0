// What /readyz reports: the database answers and its schema has every migration of this binary.
#ifndef OSSUP_SERVICE_STORAGE_READINESS_H_
#define OSSUP_SERVICE_STORAGE_READINESS_H_

#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/storage/database.h"

namespace ossup::storage {

struct ReadinessOptions {
  // How long a check waits for a pooled connection. Well under a probe's timeout (2 s in the
  // manifests): a probe that queues behind real work and times out would take the whole pod out
  // of its Services exactly when it is busiest.
  absl::Duration acquire_timeout = absl::Milliseconds(500);
  // With every connection in use, the last successful check stands for this long: a busy pool is
  // the database answering. A pool stuck on a database that stopped answering turns unready
  // once this has passed.
  absl::Duration busy_grace = absl::Seconds(30);
};

// Thread-safe.
class ReadinessCheck {
 public:
  ReadinessCheck(
      Database* db, ReadinessOptions options,
      std::function<absl::Time()> now = [] { return absl::Now(); })
      : db_(db), options_(options), now_(std::move(now)) {}

  // OK, Unavailable (database unreachable, or busy with no recent success) or FailedPrecondition
  // (schema behind this binary).
  absl::Status Check();

 private:
  Database* const db_;
  const ReadinessOptions options_;
  const std::function<absl::Time()> now_;
  absl::Mutex mu_;
  absl::Time last_ok_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace ossup::storage

#endif  // OSSUP_SERVICE_STORAGE_READINESS_H_
