#ifndef OSSUP_SERVICE_STORAGE_MIGRATIONS_H_
#define OSSUP_SERVICE_STORAGE_MIGRATIONS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pqxx/connection"

// Ordered, embedded schema migrations of the storage layer.
namespace ossup::storage {

struct Migration {
  int version;
  absl::string_view name;
  absl::string_view sql;
};

// All migrations, in order of version (1, 2, ...). Never edit an applied migration; append.
const std::vector<Migration>& Migrations();

// Brings the schema up to date: applies, in one transaction, every migration missing from
// schema_migrations. Serialized across processes by a transaction-scoped advisory lock, so
// concurrent replicas can all call it at startup. Idempotent. Never throws.
absl::Status Migrate(pqxx::connection& conn);

// Whether every migration of Migrations() is recorded in schema_migrations (false when that table
// does not exist yet; versions unknown to this binary, from a newer replica, are ignored).
// Read-only, for readiness probes. Never throws: database errors are returned as a status.
absl::StatusOr<bool> MigrationsApplied(pqxx::connection& conn);

}  // namespace ossup::storage

#endif  // OSSUP_SERVICE_STORAGE_MIGRATIONS_H_
