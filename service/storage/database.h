#ifndef OSSUP_SERVICE_STORAGE_DATABASE_H_
#define OSSUP_SERVICE_STORAGE_DATABASE_H_

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pqxx/connection"
#include "pqxx/transaction"

// PostgreSQL access: a small connection pool and a retrying transaction helper. libpqxx throws;
// everything here catches at the boundary and returns absl::Status.
namespace ossup::storage {

// Maps a libpqxx (or other) exception to a canonical status: serialization failures and deadlocks
// -> Aborted; broken connections and unknown commit outcomes -> Unavailable; unique violations
// -> AlreadyExists; query cancellation -> DeadlineExceeded; anything else -> Internal.
absl::Status StatusFromException(const std::exception& e);

// Runs `fn`, converting any exception it throws with StatusFromException.
absl::Status RunGuarded(absl::FunctionRef<absl::Status()> fn);

// True for statuses WithTransaction retries (Aborted: serialization failure or deadlock).
bool IsRetryable(const absl::Status& status);

// `dsn` with the password from `password` added (a URI gets ?password=..., a key=value string
// password='...'), for passwords kept in a secret file rather than in the URL.
std::string DsnWithPassword(const std::string& dsn, const std::string& password);

// What libpq is given for a new connection: `dsn` with a default connect_timeout of 10 s unless it
// sets one (libpq would otherwise wait for the kernel's TCP timeout, minutes against a host that
// drops packets, holding a worker thread), and the password when `password` is set.
std::string DsnForConnecting(const std::string& dsn, const std::function<std::string()>& password);

struct DatabaseOptions {
  std::string dsn;  // libpq connection string or URI
  // Called for every new connection, so a rotated password file takes effect without a restart.
  // Returns the password to add, or an empty string to use `dsn` as is.
  std::function<std::string()> password;
  int pool_size = 8;
  absl::Duration acquire_timeout = absl::Seconds(5);
  // Attempts of WithTransaction for retryable failures (Aborted) and for broken connections.
  int max_transaction_attempts = 5;
  // Run on every new connection (e.g. to SET parameters); exceptions become Unavailable.
  std::function<void(pqxx::connection&)> on_connect;
};

// A fixed-size pool of connections, opened lazily. Thread-safe.
class Database {
 public:
  explicit Database(DatabaseOptions options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Exclusive use of one connection until destroyed. Move-only.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& conn() { return *conn_; }
    // The connection is unusable (e.g. it broke mid-query): the pool drops it on release.
    void MarkBroken() { broken_ = true; }

   private:
    friend class Database;
    Lease(Database* db, std::unique_ptr<pqxx::connection> conn) : db_(db), conn_(std::move(conn)) {}
    Database* db_;
    std::unique_ptr<pqxx::connection> conn_;
    bool broken_ = false;
  };

  // Blocks up to acquire_timeout for a free connection (DeadlineExceeded), opening one if the pool
  // is not full (Unavailable if that fails). Idle connections found closed are reopened.
  absl::StatusOr<Lease> Acquire() { return AcquireWithin(options_.acquire_timeout); }
  // Acquire, waiting at most `timeout` for a connection to come free.
  absl::StatusOr<Lease> AcquireWithin(absl::Duration timeout);

  // Runs fn in a READ COMMITTED transaction and commits if it returns OK (a non-OK status rolls
  // back and is returned). Serialization failures, deadlocks and connections that broke before
  // COMMIT are retried up to max_transaction_attempts times, so fn must be re-runnable: reset its
  // outputs at its start. A connection lost during COMMIT gives Unavailable (outcome unknown).
  absl::Status WithTransaction(absl::FunctionRef<absl::Status(pqxx::work&)> fn);

  // What WithConnection does when the connection turns out to be broken (e.g. the server closed
  // an idle pooled connection). Retrying is only safe for reads and idempotent writes: a write
  // whose connection broke may or may not have committed.
  enum class OnBroken { kFail, kRetryOnce };

  // Runs fn on a pooled connection (autocommit statements via pqxx::nontransaction, LISTEN, ...).
  // Broken connections are dropped (Unavailable), and fn is run once more on a fresh connection
  // with kRetryOnce.
  // `acquire_timeout` overrides the pool's wait for a free connection.
  absl::Status WithConnection(absl::FunctionRef<absl::Status(pqxx::connection&)> fn,
                              OnBroken on_broken = OnBroken::kFail,
                              std::optional<absl::Duration> acquire_timeout = std::nullopt);

  const DatabaseOptions& options() const { return options_; }

  struct PoolStats {
    int max = 0;   // options().pool_size
    int open = 0;  // idle + leased (a connection being opened counts as leased)
    int idle = 0;
    int leased = 0;
  };
  // A consistent snapshot of the pool, for metrics.
  PoolStats Stats() const;

 private:
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect();
  void Release(std::unique_ptr<pqxx::connection> conn, bool broken);

  const DatabaseOptions options_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + leased + being opened
};

}  // namespace ossup::storage

#endif  // OSSUP_SERVICE_STORAGE_DATABASE_H_
