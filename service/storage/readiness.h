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
  // How long a check waits for a pooled connection. A check that queued behind real work would
  // report a busy pod unready exactly when it is busiest.
  absl::Duration acquire_timeout = absl::Milliseconds(500);
  // With every connection in use, the last successful check stands for this long: a busy pool is
  // the database answering. A pool stuck on a database that stopped answering turns unready
  // once this has passed.
  absl::Duration busy_grace = absl::Seconds(30);
  // Current() reports unready when no check has finished for this long (the checker is stuck).
  absl::Duration stale_after = absl::Seconds(10);
};

// The check runs on a thread of the caller's choosing (Refresh, e.g. every second); the probe
// answers from its result (Current) without touching the database, so it never waits in a queue
// or on a connection. Thread-safe.
class ReadinessCheck {
 public:
  ReadinessCheck(
      Database* db, ReadinessOptions options,
      std::function<absl::Time()> now = [] { return absl::Now(); })
      : db_(db), options_(options), now_(std::move(now)) {}

  // Checks now and records the result: OK, Unavailable (database unreachable, or busy with no
  // recent success) or FailedPrecondition (schema behind this binary).
  absl::Status Refresh();
  // The last result; Unavailable before the first check and when the last one is stale.
  absl::Status Current() const;

 private:
  absl::Status Check();

  Database* const db_;
  const ReadinessOptions options_;
  const std::function<absl::Time()> now_;
  mutable absl::Mutex mu_;
  absl::Time last_ok_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_checked_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status last_ ABSL_GUARDED_BY(mu_) = absl::UnavailableError("readiness not checked yet");
};

}  // namespace ossup::storage

#endif  // OSSUP_SERVICE_STORAGE_READINESS_H_
