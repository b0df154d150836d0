#ifndef OSSUP_SERVICE_STORAGE_UPLOAD_STORE_H_
#define OSSUP_SERVICE_STORAGE_UPLOAD_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "service/domain/upload.h"
#include "service/storage/database.h"

// Persistence of uploads and of the upload event log.
namespace ossup::storage {

struct CreateResult {
  domain::Upload upload;  // as stored (times truncated to microseconds)
  bool created = false;   // false: an idempotent replay of an earlier create
};

struct ListFilter {
  std::string subject;                                     // empty = any
  std::vector<domain::UploadState> states;                 // empty = any
  absl::Time create_time_after = absl::InfinitePast();     // inclusive
  absl::Time create_time_before = absl::InfiniteFuture();  // exclusive
};

struct ListResult {
  std::vector<domain::Upload> uploads;
  std::string next_page_token;  // empty on the last page
  // The event log's last sequence, read in the same snapshot as the page: watching from here
  // misses no change made after the listing.
  int64_t event_sequence = 0;
};

// The outcome of a state change attempt.
struct TransitionResult {
  domain::Upload upload;  // after the change (or unchanged)
  bool event_written = false;
  int64_t sequence = 0;  // of the event, if written
  std::optional<domain::EventType> event_type;
};

// Decides whether a reported object matches the upload: nullopt = accept (COMPLETED), otherwise
// the rejection reason (REJECTED). Called with the row locked; must not block.
using CallbackCheck =
    std::function<std::optional<std::string>(const domain::Upload&, const domain::ObjectInfo&)>;

// One verified OSS callback, correlated to its upload by id and token.
struct CallbackInput {
  std::string upload_id;
  std::string callback_token_sha256;  // 32 raw bytes
  domain::ObjectInfo object;
};

struct EventFilter {
  std::string ns;                       // empty = every namespace (the per-replica event hub)
  std::string subject;                  // empty = any
  std::vector<std::string> upload_ids;  // empty = any
};

struct EventPage {
  std::vector<domain::UploadEvent> events;
  // Every event up to here was considered (matching or not): resume from it. At least the last
  // returned sequence; more when the filter skipped events.
  int64_t scanned_through = 0;
};

struct UploadStoreOptions {
  // PENDING uploads are expired this long after expire_time, so a callback for an upload posted
  // just before expiry (OSS calls back after storing the object) still completes it.
  absl::Duration expiry_grace = absl::Seconds(60);
  // Called after every commit that wrote events (outside the transaction, on the caller's
  // thread). The wiring coalesces these into NOTIFYs; must be cheap and must not throw.
  std::function<void()> on_events_committed;
  // When set, also called after such a commit with the events it wrote, exactly as ReadEvents
  // would return them (this replica's event hub takes them in without reading them back). Same
  // rules as on_events_committed.
  std::function<void(std::vector<domain::UploadEvent>)> publish_committed_events;
  // Tests only: runs between the optimistic read and the write, to change rows meanwhile.
  std::function<void()> after_optimistic_read_for_tests;
};

// Thread-safe; all operations take the time from the caller (injected clock). Never throws.
class UploadStore {
 public:
  // `db` must outlive the store.
  UploadStore(Database* db, UploadStoreOptions options);

  // Inserts a PENDING upload in one autocommit INSERT (no event: creation is not logged). With a
  // request_id, an existing upload of the same (namespace, request_id) is returned (created=false)
  // if its request_fingerprint matches, else AlreadyExists. An upload with the same id is
  // AlreadyExists unless it has the same namespace and callback token hash (then it is this
  // request's own row, e.g. committed by an attempt whose connection broke; returned as created).
  absl::StatusOr<CreateResult> Create(const domain::Upload& upload);

  // Create() for several uploads with one multi-row INSERT (one statement, one commit): the
  // group commit of CreateBatcher. Rows that conflict (idempotent replays, reused request ids)
  // are then settled one by one through Create(), with its exact semantics. One result per
  // upload, in order; a database failure fails them all.
  absl::StatusOr<std::vector<absl::StatusOr<CreateResult>>> CreateMany(
      const std::vector<domain::Upload>& uploads);

  // NotFound also when the upload exists in another namespace.
  absl::StatusOr<domain::Upload> Get(absl::string_view ns, absl::string_view id);

  // Newest first (create_time DESC, id DESC), keyset-paginated. page_size must be 1..1000.
  // A page token from a different namespace/filter, or a malformed one, is InvalidArgument.
  absl::StatusOr<ListResult> List(absl::string_view ns, const ListFilter& filter, int page_size,
                                  absl::string_view page_token);

  // PENDING -> CANCELLED with a CANCELLED event; FailedPrecondition naming the current state
  // otherwise; NotFound across namespaces.
  absl::StatusOr<TransitionResult> Cancel(absl::string_view ns, absl::string_view id,
                                          absl::Time now);

  // Correlates a verified callback with its upload (row locked):
  //  - token mismatch: PermissionDenied, nothing changes;
  //  - PENDING: `check` decides COMPLETED or REJECTED; the object is recorded; event;
  //  - EXPIRED/CANCELLED: the object is recorded, LATE_CALLBACK event, state unchanged;
  //  - COMPLETED/REJECTED with the same object (bucket, key, etag, size): a duplicate callback,
  //    the upload is returned with no event; with a different object: LATE_CALLBACK event.
  absl::StatusOr<TransitionResult> ApplyCallback(const CallbackInput& input,
                                                 const CallbackCheck& check, absl::Time now);

  // The same for several callbacks in ONE transaction with one event-counter update (group
  // commit; see CallbackBatcher), set-based: the statements per batch do not grow with its size.
  // Callbacks are decided in input order (a repeated callback in the batch is a duplicate).
  // Per-callback failures (NotFound, PermissionDenied) do not affect the others; a database
  // failure fails all.
  absl::StatusOr<std::vector<absl::StatusOr<TransitionResult>>> ApplyCallbacks(
      absl::Span<const CallbackInput> inputs, const CallbackCheck& check, absl::Time now);

  // Expires up to `limit` PENDING uploads with expire_time + expiry_grace <= now, in one
  // transaction, with EXPIRED events. Rows locked by others are skipped (several replicas can
  // sweep). Returns how many were expired.
  absl::StatusOr<int> ExpireDue(absl::Time now, int limit);

  // Events with sequence > after_sequence matching the filter, in sequence order, at most
  // `limit`. OutOfRange if events after `after_sequence` were purged.
  absl::StatusOr<EventPage> ReadEvents(int64_t after_sequence, int limit,
                                       const EventFilter& filter);

  // The last committed sequence (0 if none).
  absl::StatusOr<int64_t> LastSequence();
  // The smallest sequence still retained, i.e. purged_through + 1.
  absl::StatusOr<int64_t> OldestRetainedSequence();
  // Deletes the prefix of the log before the first event at or after `before`. Returns how many.
  absl::StatusOr<int64_t> PurgeEventsBefore(absl::Time before);

 private:
  absl::StatusOr<TransitionResult> CancelInTransaction(pqxx::work& txn, absl::string_view ns,
                                                       absl::string_view id, absl::Time now,
                                                       std::vector<domain::UploadEvent>* written);
  // What AppendEvents should fill in for publish_committed_events (nullptr: nobody wants them).
  std::vector<domain::UploadEvent>* Collect(std::vector<domain::UploadEvent>& events) const {
    return options_.publish_committed_events ? &events : nullptr;
  }
  void EventsCommitted(std::vector<domain::UploadEvent> written);
  // ApplyCallbacks without locks, tried first (see storage/README.md); nullopt when the
  // batch must run on the locking path instead (a row changed since it was read, or the batch
  // holds a late callback on a decided upload). `id_array` holds the inputs' ids.
  std::optional<absl::StatusOr<std::vector<absl::StatusOr<TransitionResult>>>>
  ApplyCallbacksOptimistically(absl::Span<const CallbackInput> inputs, const CallbackCheck& check,
                               absl::Time now, const std::string& id_array);
  // Runs a one-row, one-column bigint query in autocommit.
  absl::StatusOr<int64_t> ReadInt64(const char* sql);

  Database* const db_;
  const UploadStoreOptions options_;
};

}  // namespace ossup::storage

#endif  // OSSUP_SERVICE_STORAGE_UPLOAD_STORE_H_
