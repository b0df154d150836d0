#include "service/storage/readiness.h"

#include "absl/strings/str_cat.h"
#include "service/storage/migrations.h"

namespace ossup::storage {

absl::Status ReadinessCheck::Check() {
  absl::StatusOr<bool> applied = false;
  const absl::Status reached = db_->WithConnection(
      [&applied](pqxx::connection& conn) {
        applied = MigrationsApplied(conn);
        return applied.status();
      },
      Database::OnBroken::kRetryOnce, options_.acquire_timeout);
  const absl::Time now = now_();
  absl::MutexLock lock(&mu_);
  if (absl::IsDeadlineExceeded(reached)) {
    // Every connection is leased: fine while a check succeeded recently.
    if (now - last_ok_ <= options_.busy_grace) return absl::OkStatus();
    return absl::UnavailableError(absl::StrCat("database busy: no pooled connection free within ",
                                               absl::FormatDuration(options_.acquire_timeout),
                                               " and no successful check in the last ",
                                               absl::FormatDuration(options_.busy_grace)));
  }
  if (!reached.ok()) {
    return absl::UnavailableError(absl::StrCat("database unreachable: ", reached.message()));
  }
  if (!*applied) {
    return absl::FailedPreconditionError(
        "database schema is behind: not every migration of this binary is applied");
  }
  last_ok_ = now;
  return absl::OkStatus();
}

}  // namespace ossup::storage
