#include "service/storage/readiness.h"

#include "absl/strings/str_cat.h"
#include "service/storage/migrations.h"

namespace ossup::storage {

absl::Status ReadinessCheck::Check() {
  absl::Status reached;
  absl::StatusOr<bool> applied = false;
  // Twice at most: an idle pooled connection the server closed is replaced once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<Database::Lease> lease = db_->AcquireWithin(options_.acquire_timeout);
    if (absl::IsDeadlineExceeded(lease.status())) {
      // Every connection is leased (a statement timeout is not this: it comes from the query).
      absl::MutexLock lock(&mu_);
      if (now_() - last_ok_ <= options_.busy_grace) return absl::OkStatus();
      return absl::UnavailableError(absl::StrCat("database busy: no pooled connection free within ",
                                                 absl::FormatDuration(options_.acquire_timeout),
                                                 " and no successful check in the last ",
                                                 absl::FormatDuration(options_.busy_grace)));
    }
    if (!lease.ok()) {
      return absl::UnavailableError(
          absl::StrCat("database unreachable: ", lease.status().message()));
    }
    reached = RunGuarded([&] {
      applied = MigrationsApplied(lease->conn());
      return applied.status();
    });
    if (!absl::IsUnavailable(reached)) break;
    lease->MarkBroken();
  }
  if (absl::IsUnavailable(reached)) {
    return absl::UnavailableError(absl::StrCat("database unreachable: ", reached.message()));
  }
  if (!reached.ok())
    return absl::UnavailableError(absl::StrCat("database check failed: ", reached.message()));
  if (!*applied) {
    return absl::FailedPreconditionError(
        "database schema is behind: not every migration of this binary is applied");
  }
  absl::MutexLock lock(&mu_);
  last_ok_ = now_();
  return absl::OkStatus();
}

absl::Status ReadinessCheck::Refresh() {
  absl::Status status = Check();
  absl::MutexLock lock(&mu_);
  last_ = status;
  last_checked_ = now_();
  return status;
}

absl::Status ReadinessCheck::Current() const {
  absl::MutexLock lock(&mu_);
  const absl::Duration age = now_() - last_checked_;
  if (last_checked_ != absl::InfinitePast() && age > options_.stale_after) {
    return absl::UnavailableError(
        absl::StrCat("readiness last checked ", absl::FormatDuration(age), " ago"));
  }
  return last_;
}

}  // namespace ossup::storage
