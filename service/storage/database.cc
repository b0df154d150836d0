#include "service/storage/database.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "pqxx/except"
#include "service/protocol/url_encoding.h"

namespace ossup::storage {
namespace {

bool IsConnectionFailure(const absl::Status& status) { return absl::IsUnavailable(status); }

}  // namespace

absl::Status StatusFromException(const std::exception& e) {
  // Order matters: the most derived classes first.
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr ||
      dynamic_cast<const pqxx::statement_completion_unknown*>(&e) != nullptr) {
    return absl::UnavailableError(
        absl::StrCat("database: outcome of the transaction is unknown: ", e.what()));
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat("database: connection failed: ", e.what()));
  }
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) {
    // serialization_failure (40001), deadlock_detected (40P01) and other class-40 rollbacks.
    return absl::AbortedError(absl::StrCat("database: transaction conflict: ", e.what()));
  }
  if (dynamic_cast<const pqxx::unique_violation*>(&e) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("database: unique violation: ", e.what()));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e); sql != nullptr) {
    const std::string& state = sql->sqlstate();
    if (state == "57014") {  // query_canceled (statement_timeout)
      return absl::DeadlineExceededError(absl::StrCat("database: ", e.what()));
    }
    if (absl::string_view(state).substr(0, 2) == "57" ||  // operator intervention (shutdown)
        absl::string_view(state).substr(0, 2) == "08" ||  // connection exception
        state == "53300") {                               // too_many_connections
      return absl::UnavailableError(absl::StrCat("database: ", e.what()));
    }
    return absl::InternalError(absl::StrCat("database: SQL error ", state, ": ", e.what()));
  }
  return absl::InternalError(absl::StrCat("database: ", e.what()));
}

absl::Status RunGuarded(absl::FunctionRef<absl::Status()> fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return StatusFromException(e);
  } catch (...) {
    return absl::InternalError("database: unknown exception");
  }
}

bool IsRetryable(const absl::Status& status) { return absl::IsAborted(status); }

Database::Database(DatabaseOptions options) : options_(std::move(options)) {}

Database::~Database() {
  absl::MutexLock lock(&mu_);
  idle_.clear();
}

Database::Lease::Lease(Lease&& other) noexcept
    : db_(other.db_), conn_(std::move(other.conn_)), broken_(other.broken_) {
  other.db_ = nullptr;
}

Database::Lease::~Lease() {
  if (db_ != nullptr && conn_ != nullptr) db_->Release(std::move(conn_), broken_);
}

std::string DsnWithPassword(const std::string& dsn, const std::string& password) {
  if (password.empty()) return dsn;
  if (absl::StartsWith(dsn, "postgresql://") || absl::StartsWith(dsn, "postgres://")) {
    return absl::StrCat(dsn, dsn.find('?') == std::string::npos ? "?" : "&",
                        "password=", protocol::PercentEncode(password));
  }
  std::string quoted;
  for (char c : password) {
    if (c == '\\' || c == '\'') quoted.push_back('\\');
    quoted.push_back(c);
  }
  return absl::StrCat(dsn, " password='", quoted, "'");
}

std::string DsnForConnecting(const std::string& dsn, const std::function<std::string()>& password) {
  std::string out = dsn;
  if (!absl::StrContains(dsn, "connect_timeout")) {
    if (absl::StartsWith(dsn, "postgresql://") || absl::StartsWith(dsn, "postgres://")) {
      absl::StrAppend(&out, dsn.find('?') == std::string::npos ? "?" : "&", "connect_timeout=10");
    } else {
      absl::StrAppend(&out, out.empty() ? "" : " ", "connect_timeout=10");
    }
  }
  return password ? DsnWithPassword(out, password()) : out;
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> Database::Connect() {
  std::unique_ptr<pqxx::connection> conn;
  const std::string dsn = DsnForConnecting(options_.dsn, options_.password);
  absl::Status status = RunGuarded([&] {
    conn = std::make_unique<pqxx::connection>(dsn);
    if (options_.on_connect) options_.on_connect(*conn);
    return absl::OkStatus();
  });
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to the database: ", status.message()));
  }
  return conn;
}

absl::StatusOr<Database::Lease> Database::AcquireWithin(absl::Duration timeout) {
  std::unique_ptr<pqxx::connection> conn;
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < options_.pool_size;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&available), timeout)) {
      return absl::DeadlineExceededError(
          absl::StrCat("no database connection free within ", absl::FormatDuration(timeout)));
    }
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++open_;  // reserve the slot; opened below, outside the lock
    }
  }
  if (conn != nullptr && conn->is_open()) return Lease(this, std::move(conn));
  conn.reset();  // a closed idle connection: reopen in its slot
  absl::StatusOr<std::unique_ptr<pqxx::connection>> opened = Connect();
  if (!opened.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
    return opened.status();
  }
  return Lease(this, *std::move(opened));
}

void Database::Release(std::unique_ptr<pqxx::connection> conn, bool broken) {
  bool usable = !broken && conn->is_open();
  if (!usable) conn.reset();  // close outside the lock
  absl::MutexLock lock(&mu_);
  if (usable) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
}

Database::PoolStats Database::Stats() const {
  absl::MutexLock lock(&mu_);
  PoolStats stats;
  stats.max = options_.pool_size;
  stats.open = open_;
  stats.idle = static_cast<int>(idle_.size());
  stats.leased = open_ - stats.idle;
  return stats;
}

absl::Status Database::WithTransaction(absl::FunctionRef<absl::Status(pqxx::work&)> fn) {
  absl::Status status;
  for (int attempt = 1; attempt <= options_.max_transaction_attempts; ++attempt) {
    absl::StatusOr<Lease> lease = Acquire();
    if (!lease.ok()) return lease.status();
    bool committing = false;
    status = RunGuarded([&]() -> absl::Status {
      pqxx::work txn(lease->conn());
      absl::Status result = fn(txn);
      if (!result.ok()) return result;  // ~work rolls back
      committing = true;
      txn.commit();
      return absl::OkStatus();
    });
    if (IsConnectionFailure(status)) lease->MarkBroken();
    if (status.ok()) return status;
    const bool retry = IsRetryable(status) || (IsConnectionFailure(status) && !committing);
    if (!retry) return status;
  }
  return status;
}

absl::Status Database::WithConnection(absl::FunctionRef<absl::Status(pqxx::connection&)> fn,
                                      OnBroken on_broken,
                                      std::optional<absl::Duration> acquire_timeout) {
  const int attempts = on_broken == OnBroken::kRetryOnce ? 2 : 1;
  absl::Status status;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    absl::StatusOr<Lease> lease = AcquireWithin(acquire_timeout.value_or(options_.acquire_timeout));
    if (!lease.ok()) return lease.status();
    status = RunGuarded([&] { return fn(lease->conn()); });
    if (!IsConnectionFailure(status)) return status;
    lease->MarkBroken();
  }
  return status;
}

}  // namespace ossup::storage
