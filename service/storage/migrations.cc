#include "service/storage/migrations.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "pqxx/result"
#include "pqxx/transaction"
#include "service/storage/database.h"

namespace ossup::storage {
namespace {

// Arbitrary constant identifying "ossup schema migrations" among advisory locks.
constexpr int64_t kMigrationLockKey = 0x6f73737570'6d6967;  // "ossup" "mig"

// Upload states are domain::UploadState values; 1 = PENDING.
constexpr absl::string_view kInitialSchema = R"sql(
CREATE TABLE uploads (
  id uuid PRIMARY KEY,
  namespace text NOT NULL,
  subject text NOT NULL,
  state smallint NOT NULL,
  bucket text NOT NULL,
  object_key text NOT NULL,
  content_types text[] NOT NULL DEFAULT '{}',
  min_size bigint NOT NULL,
  max_size bigint NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}',
  callback_token_sha256 bytea NOT NULL,
  request_id text,
  request_fingerprint bytea,
  create_time timestamptz NOT NULL,
  update_time timestamptz NOT NULL,
  expire_time timestamptz NOT NULL,
  -- The object OSS reported in the (first accepted or latest late) callback.
  reported_bucket text,
  reported_key text,
  reported_size bigint,
  reported_content_type text,
  reported_etag text,
  rejection_reason text
);
-- Idempotency of CreateUpload (AIP-155), per namespace.
CREATE UNIQUE INDEX uploads_request_id ON uploads (namespace, request_id)
  WHERE request_id IS NOT NULL;
-- ListUploads: newest first, keyset pagination on (create_time, id).
CREATE INDEX uploads_list ON uploads (namespace, create_time DESC, id DESC);
CREATE INDEX uploads_list_subject ON uploads (namespace, subject, create_time DESC, id DESC);
-- The expiry sweep only looks at PENDING rows.
CREATE INDEX uploads_pending_expiry ON uploads (expire_time) WHERE state = 1;

-- The event log. `sequence` is assigned from event_log_head (see upload_store.cc), not from a
-- sequence object, so that it is gap-free and increasing in commit order.
CREATE TABLE upload_events (
  sequence bigint PRIMARY KEY,
  namespace text NOT NULL,
  upload_id uuid NOT NULL,
  type smallint NOT NULL,
  event_time timestamptz NOT NULL,
  upload jsonb NOT NULL  -- snapshot of the upload after the change
);
CREATE INDEX upload_events_namespace ON upload_events (namespace, sequence);

CREATE TABLE event_log_head (
  id int PRIMARY KEY CHECK (id = 1),
  last_sequence bigint NOT NULL
);
INSERT INTO event_log_head VALUES (1, 0);

-- Retention watermark: events with sequence <= purged_through may have been deleted. Kept apart
-- from event_log_head so purging never contends with the writers' counter row.
CREATE TABLE event_log_retention (
  id int PRIMARY KEY CHECK (id = 1),
  purged_through bigint NOT NULL
);
INSERT INTO event_log_retention VALUES (1, 0);
)sql";

// Raised by the optimistic callback statement (upload_store.cc) when a row changed between its
// read and its write; serialization_failure, so the statement rolls back as a whole and the
// batch runs again on the locking path.
constexpr absl::string_view kOptimisticCallbacks = R"sql(
CREATE FUNCTION ossup_rows_changed_since_read() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
    MESSAGE = 'ossup: an upload changed between its read and its write';
END
$$;
)sql";

}  // namespace

const std::vector<Migration>& Migrations() {
  static const auto* const kMigrations = new std::vector<Migration>{
      {1, "initial schema", kInitialSchema},
      {2, "optimistic callbacks", kOptimisticCallbacks},
  };
  return *kMigrations;
}

absl::Status Migrate(pqxx::connection& conn) {
  return RunGuarded([&]() -> absl::Status {
    pqxx::work txn(conn, "migrate");
    // Transaction-scoped: released at COMMIT/ROLLBACK, even if this process dies.
    txn.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    txn.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version int PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    std::set<int> applied;
    for (const auto& row : txn.exec("SELECT version FROM schema_migrations")) {
      applied.insert(row[0].as<int>());
    }
    for (const Migration& m : Migrations()) {
      if (applied.count(m.version) > 0) continue;
      txn.exec(std::string(m.sql), absl::StrCat("migration ", m.version));
      txn.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                      std::string(m.name));
    }
    txn.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> MigrationsApplied(pqxx::connection& conn) {
  bool applied = false;
  absl::Status status = RunGuarded([&]() -> absl::Status {
    pqxx::read_transaction txn(conn, "migrations_applied");
    if (txn.exec1("SELECT to_regclass('schema_migrations') IS NULL")[0].as<bool>()) {
      return absl::OkStatus();
    }
    std::set<int> recorded;
    for (const auto& row : txn.exec("SELECT version FROM schema_migrations")) {
      recorded.insert(row[0].as<int>());
    }
    applied = true;
    for (const Migration& m : Migrations()) {
      if (recorded.count(m.version) == 0) applied = false;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return applied;
}

}  // namespace ossup::storage
