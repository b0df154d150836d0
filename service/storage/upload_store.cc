#include "service/storage/upload_store.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "pqxx/except"
#include "pqxx/nontransaction"
#include "pqxx/result"
#include "service/common/status_macros.h"
#include "service/protocol/crypto.h"
#include "service/storage/codec.h"

namespace ossup::storage {
namespace {

using domain::EventType;
using domain::ObjectInfo;
using domain::Upload;
using domain::UploadState;

constexpr int kMaxPageSize = 1000;
constexpr int16_t kPending = static_cast<int16_t>(UploadState::kPending);

// Runs a statement of the hot paths as a prepared statement of its connection (registered on
// first use; prepare() is a no-op for a name already registered with the same text). The hot
// statements have no optional filters, so the generic plan PostgreSQL may switch to is fine;
// listing and event reads keep unnamed statements, which are planned for their actual values.
template <typename... Args>
pqxx::result ExecPrepared(pqxx::transaction_base& tx, const char* name, const std::string& sql,
                          Args&&... args) {
  tx.conn().prepare(name, sql);
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

// PostgreSQL text cannot hold NUL, and a libpq parameter would silently end at one. The domain's
// validation refuses such text already; the store must not store a shortened value either.
bool HasNulByte(const Upload& u) {
  auto nul = [](absl::string_view s) { return s.find('\0') != absl::string_view::npos; };
  if (nul(u.ns) || nul(u.subject) || nul(u.bucket) || nul(u.object_key) || nul(u.request_id)) {
    return true;
  }
  for (const std::string& t : u.content_types) {
    if (nul(t)) return true;
  }
  for (const auto& [k, v] : u.metadata) {
    if (nul(k) || nul(v)) return true;
  }
  return false;
}

// An event about to be appended in the current transaction.
struct PendingEvent {
  EventType type;
  Upload upload;  // snapshot after the change
  absl::Time time;
};

// The two common-table expressions that append the events of JSON array parameter $<batch>
// (EventBatch) with consecutive sequences after taking $<count> of them from the counter row;
// `head` yields the new last sequence. `extra` is added to the increment: a statement that must
// fail as a whole makes it raise (see ApplyCallbacksOptimistically).
std::string AppendEventsCtes(int count, int batch, absl::string_view extra = "") {
  return absl::StrCat(
      "head AS (UPDATE event_log_head SET last_sequence = last_sequence + $", count, extra,
      " WHERE id = 1 RETURNING last_sequence),"
      " ins AS (INSERT INTO upload_events"
      " (sequence, namespace, upload_id, type, event_time, upload)"
      " SELECT head.last_sequence - $",
      count,
      " + e.ord, e.ev->>'ns', (e.ev->>'id')::uuid, (e.ev->>'type')::smallint,"
      " timestamptz 'epoch' + (e.ev->>'time')::bigint * interval '1 microsecond', e.ev->'upload'"
      " FROM head, jsonb_array_elements($",
      batch, "::jsonb) WITH ORDINALITY AS e(ev, ord))");
}

// The events as AppendEventsCtes takes them.
nlohmann::json EventBatch(const std::vector<PendingEvent>& events) {
  nlohmann::json batch = nlohmann::json::array();
  for (const PendingEvent& e : events) {
    batch.push_back({{"ns", e.upload.ns},
                     {"id", e.upload.id},
                     {"type", static_cast<int>(e.type)},
                     {"time", codec::ToMicros(e.time)},
                     {"upload", codec::UploadToJson(e.upload)}});
  }
  return batch;
}

// The events of `batch`, appended from sequence `first` on, as ReadEvents will read them back
// (times in microseconds, the upload decoded from the very JSON stored).
void CollectWritten(const std::vector<PendingEvent>& events, const nlohmann::json& batch,
                    int64_t first, std::vector<domain::UploadEvent>* written) {
  if (written == nullptr) return;
  written->clear();
  written->reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const nlohmann::json& stored = batch[i];
    domain::UploadEvent& e = written->emplace_back();
    e.sequence = first + static_cast<int64_t>(i);
    e.type = events[i].type;
    e.event_time = codec::FromMicros(stored["time"].get<int64_t>());
    e.upload = codec::UploadFromJson(stored["upload"]);
  }
}

// Appends `events` to the log with consecutive sequences and returns the first one.
//
// Why a counter row and not a sequence object (bigserial): nextval() hands out numbers at call
// time, not at commit time. With two writers, T1 may take 41 and T2 42, and T2 may commit first;
// a reader that sees 42 and moves its cursor to 42 never sees 41. Sequences from a sequence object
// are also not gap-free (rollbacks burn numbers), so a reader cannot tell "not yet committed"
// from "never will be".
//
// The counter row fixes both. Incrementing event_log_head takes the row lock, which is held until
// the transaction ends, so a second writer blocks on it and (READ COMMITTED re-reads the updated
// row) continues from the first writer's value only after that writer COMMITTED or rolled back.
// Hence sequences are handed out in commit order, and a rollback also undoes its increment, so
// they are gap-free. And since PostgreSQL makes a transaction visible before it releases its
// locks, any snapshot that sees sequence n also sees every sequence below n: a reader of
// `sequence > cursor ORDER BY sequence` never skips an event.
//
// The price: event-writing commits are serialized on that row from this statement until COMMIT
// (including the WAL flush). That is why this is the LAST statement of every event-writing
// transaction (the row work and its locks come first), why it is one statement (the counter
// update and the event inserts in one round trip), and why a transaction can carry many events
// (group commit amortizes the serialized section over a batch).
//
// With `written`, also returns the events as ReadEvents will read them back (times in
// microseconds, the upload decoded from the very JSON stored), replacing its contents.
absl::StatusOr<int64_t> AppendEvents(pqxx::work& txn, const std::vector<PendingEvent>& events,
                                     std::vector<domain::UploadEvent>* written = nullptr) {
  if (written != nullptr) written->clear();
  if (events.empty()) return 0;
  const nlohmann::json batch = EventBatch(events);
  const int64_t k = static_cast<int64_t>(events.size());
  static const auto* const kAppend = new std::string(
      absl::StrCat("WITH ", AppendEventsCtes(1, 2), " SELECT last_sequence - $1 + 1 FROM head"));
  pqxx::result result = ExecPrepared(txn, "ossup_append_events", *kAppend, k, batch.dump());
  const int64_t first = result[0][0].as<int64_t>();
  CollectWritten(events, batch, first, written);
  return first;
}

// A page token: where the previous page ended, bound to the listing it came from.
struct PageToken {
  int64_t create_time_micros = 0;
  std::string id;
};

std::string FilterFingerprint(absl::string_view ns, const ListFilter& f) {
  std::vector<int> states;
  for (UploadState s : f.states) states.push_back(static_cast<int>(s));
  std::sort(states.begin(), states.end());
  states.erase(std::unique(states.begin(), states.end()), states.end());
  const std::string canonical = nlohmann::json{{"ns", ns},
                                               {"subject", f.subject},
                                               {"states", states},
                                               {"after", codec::ToMicros(f.create_time_after)},
                                               {"before", codec::ToMicros(f.create_time_before)}}
                                    .dump();
  absl::StatusOr<std::string> digest = protocol::Sha256(canonical);
  // Sha256 only fails on OpenSSL allocation failures; fall back to the canonical text itself.
  return digest.ok() ? absl::BytesToHexString(digest->substr(0, 12)) : canonical;
}

std::string EncodePageToken(const PageToken& t, absl::string_view filter_fingerprint) {
  nlohmann::json j = {
      {"v", 1}, {"t", t.create_time_micros}, {"id", t.id}, {"f", filter_fingerprint}};
  return absl::WebSafeBase64Escape(j.dump());
}

absl::StatusOr<PageToken> DecodePageToken(absl::string_view token,
                                          absl::string_view filter_fingerprint) {
  const absl::Status bad = absl::InvalidArgumentError("invalid page_token");
  std::string text;
  if (!absl::WebSafeBase64Unescape(token, &text)) return bad;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("v", 0) != 1 || !j.contains("t") || !j["t"].is_number_integer() ||
      !j.contains("id") || !j["id"].is_string() || !j.contains("f") || !j["f"].is_string()) {
    return bad;
  }
  if (j["f"].get<std::string>() != filter_fingerprint) {
    return absl::InvalidArgumentError(
        "page_token was issued for a different listing; keep parent and filters unchanged");
  }
  PageToken t{j["t"].get<int64_t>(), j["id"].get<std::string>()};
  if (!codec::IsCanonicalUuid(t.id)) return bad;
  return t;
}

// Optional text parameter: NULL when empty.
const char* NullIfEmpty(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }

// Same object for duplicate detection: OSS retries carry the same bucket, key, etag and size.
bool SameObject(const ObjectInfo& a, const ObjectInfo& b) {
  return a.bucket == b.bucket && a.key == b.key && a.etag == b.etag && a.size == b.size;
}

// The correlation step for one callback against the locked row `upload` (updated in place when
// the row changes; `row_changed` is then set). Appends the event to `events` (its index in
// `event_index`) when one is due.
// `late_objects` holds the objects earlier LATE_CALLBACK events of this upload carried: a retry of
// one of those is a duplicate too (the row keeps the decided object, so it cannot tell).
absl::StatusOr<TransitionResult> CorrelateCallback(Upload& upload, const CallbackInput& in,
                                                   const CallbackCheck& check, absl::Time now,
                                                   std::vector<ObjectInfo>& late_objects,
                                                   std::vector<PendingEvent>& events,
                                                   int& event_index, bool& row_changed) {
  event_index = -1;
  if (!protocol::ConstantTimeEquals(upload.callback_token_sha256, in.callback_token_sha256)) {
    return absl::PermissionDeniedError("callback token does not match the upload");
  }
  TransitionResult result;
  EventType type = EventType::kLateCallback;
  if (upload.state == UploadState::kPending) {
    std::optional<std::string> verdict = check ? check(upload, in.object) : std::nullopt;
    type = verdict.has_value() ? EventType::kRejected : EventType::kCompleted;
    upload.state = verdict.has_value() ? UploadState::kRejected : UploadState::kCompleted;
    upload.rejection_reason = verdict.value_or("");
  } else if ((upload.object.has_value() && SameObject(*upload.object, in.object)) ||
             std::any_of(late_objects.begin(), late_objects.end(),
                         [&](const ObjectInfo& o) { return SameObject(o, in.object); })) {
    result.upload = upload;
    return result;  // a duplicate (retried) callback: already recorded, no new event
  }

  Upload snapshot = upload;
  snapshot.object = in.object;
  snapshot.update_time = now;
  // A different object on a COMPLETED/REJECTED upload: the row keeps the object it was decided
  // on, and only the LATE_CALLBACK event carries the newly reported one. Otherwise (PENDING
  // decided now, or a late callback on EXPIRED/CANCELLED) the row records the object.
  const bool keeps_decided_object =
      type == EventType::kLateCallback &&
      (upload.state == UploadState::kCompleted || upload.state == UploadState::kRejected);
  if (!keeps_decided_object) {
    upload = snapshot;
    row_changed = true;
  }
  result.upload = upload;
  if (type == EventType::kLateCallback) late_objects.push_back(in.object);
  events.push_back({type, std::move(snapshot), now});
  event_index = static_cast<int>(events.size()) - 1;
  result.event_written = true;
  result.event_type = type;
  return result;
}

// The upload as the INSERT stores it: times have microsecond precision.
Upload AsStored(Upload u) {
  for (absl::Time* t : {&u.create_time, &u.update_time, &u.expire_time}) {
    *t = codec::FromMicros(codec::ToMicros(*t));
  }
  return u;
}

}  // namespace

UploadStore::UploadStore(Database* db, UploadStoreOptions options)
    : db_(db), options_(std::move(options)) {}

void UploadStore::EventsCommitted(std::vector<domain::UploadEvent> written) {
  if (options_.on_events_committed) options_.on_events_committed();
  if (options_.publish_committed_events && !written.empty()) {
    options_.publish_committed_events(std::move(written));
  }
}

absl::StatusOr<CreateResult> UploadStore::Create(const Upload& u) {
  if (!codec::IsCanonicalUuid(u.id)) {
    return absl::InvalidArgumentError("upload id must be a lowercase canonical UUID");
  }
  if (HasNulByte(u)) {
    return absl::InvalidArgumentError("an upload's text must not contain NUL bytes");
  }
  if (u.state != UploadState::kPending) {
    return absl::InvalidArgumentError("a new upload must be PENDING");
  }
  static const auto* const kInsert = new std::string(absl::StrCat(
      "INSERT INTO uploads (id, namespace, subject, state, bucket, object_key, content_types,"
      " min_size, max_size, metadata, callback_token_sha256, request_id, request_fingerprint,"
      " create_time, update_time, expire_time)"
      " VALUES ($1::uuid, $2, $3, $4, $5, $6, ARRAY(SELECT jsonb_array_elements_text($7::jsonb)),"
      " $8, $9, $10::jsonb, $11::bytea, $12, $13::bytea, ",
      codec::TimestampParam(14), ", ", codec::TimestampParam(15), ", ", codec::TimestampParam(16),
      ")"
      " ON CONFLICT (namespace, request_id) WHERE request_id IS NOT NULL DO NOTHING"
      " RETURNING 1"));
  static const auto* const kById = new std::string(
      absl::StrCat("SELECT ", codec::UploadColumns(), " FROM uploads WHERE id = $1::uuid"));
  static const auto* const kByRequestId = new std::string(absl::StrCat(
      "SELECT ", codec::UploadColumns(), " FROM uploads WHERE namespace = $1 AND request_id = $2"));

  nlohmann::json metadata = nlohmann::json::object();
  for (const auto& [k, v] : u.metadata) metadata[k] = v;
  const std::string content_types = nlohmann::json(u.content_types).dump();
  const std::string token = codec::ByteaParam(u.callback_token_sha256);
  const std::string fingerprint =
      u.request_fingerprint.empty() ? "" : codec::ByteaParam(u.request_fingerprint);

  absl::StatusOr<CreateResult> out = absl::InternalError("create: not run");
  absl::Status status = db_->WithConnection(
      [&](pqxx::connection& conn) -> absl::Status {
        // Two attempts: the conflicting row could only vanish if it was deleted in between.
        for (int attempt = 0; attempt < 2; ++attempt) {
          pqxx::nontransaction tx(conn);  // autocommit: one statement, one commit
          pqxx::result inserted;
          try {
            inserted = ExecPrepared(tx, "ossup_create_upload", *kInsert, u.id, u.ns, u.subject,
                                    static_cast<int>(u.state), u.bucket, u.object_key,
                                    content_types, u.min_size, u.max_size, metadata.dump(), token,
                                    NullIfEmpty(u.request_id), NullIfEmpty(fingerprint),
                                    codec::ToMicros(u.create_time), codec::ToMicros(u.update_time),
                                    codec::ToMicros(u.expire_time));
          } catch (const pqxx::unique_violation&) {  // the primary key (request_id has ON CONFLICT)
            // Our own earlier attempt may have committed before its connection broke: the random
            // callback token hash identifies it.
            pqxx::result same = tx.exec_params(*kById, u.id);
            if (!same.empty()) {
              Upload found = codec::UploadFromRow(same[0]);
              if (found.ns == u.ns && found.callback_token_sha256 == u.callback_token_sha256) {
                out = CreateResult{std::move(found), true};
                return absl::OkStatus();
              }
            }
            return absl::AlreadyExistsError(absl::StrCat("upload ", u.id, " already exists"));
          }
          if (!inserted.empty()) {
            out = CreateResult{AsStored(u), true};
            return absl::OkStatus();
          }
          pqxx::result existing = tx.exec_params(*kByRequestId, u.ns, u.request_id);
          if (existing.empty()) continue;
          Upload found = codec::UploadFromRow(existing[0]);
          if (found.request_fingerprint != u.request_fingerprint) {
            return absl::AlreadyExistsError("request_id already used with a different request");
          }
          out = CreateResult{std::move(found), false};
          return absl::OkStatus();
        }
        return absl::AbortedError("create: conflicting request_id row disappeared; retry");
        // Retrying after a broken connection is safe: see the primary key conflict above.
      },
      Database::OnBroken::kRetryOnce);
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<absl::StatusOr<CreateResult>>> UploadStore::CreateMany(
    const std::vector<Upload>& uploads) {
  std::vector<absl::StatusOr<CreateResult>> results(uploads.size(),
                                                    absl::InternalError("create: not run"));
  if (uploads.size() == 1) {
    results[0] = Create(uploads[0]);
    return results;
  }
  // Rows travel as one JSON array; ON CONFLICT DO NOTHING (any unique index) keeps one
  // conflicting row from failing the others, which are settled by Create() afterwards.
  static const auto* const kInsertMany = new std::string(
      "INSERT INTO uploads (id, namespace, subject, state, bucket, object_key, content_types,"
      " min_size, max_size, metadata, callback_token_sha256, request_id, request_fingerprint,"
      " create_time, update_time, expire_time)"
      " SELECT r.id, r.namespace, r.subject, r.state, r.bucket, r.object_key,"
      " ARRAY(SELECT jsonb_array_elements_text(r.content_types)), r.min_size, r.max_size,"
      " r.metadata, decode(r.token, 'hex'), NULLIF(r.request_id, ''),"
      " decode(r.fingerprint, 'hex'),"
      " timestamptz 'epoch' + r.create_time * interval '1 microsecond',"
      " timestamptz 'epoch' + r.update_time * interval '1 microsecond',"
      " timestamptz 'epoch' + r.expire_time * interval '1 microsecond'"
      " FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, namespace text, subject text,"
      " state smallint, bucket text, object_key text, content_types jsonb, min_size bigint,"
      " max_size bigint, metadata jsonb, token text, request_id text, fingerprint text,"
      " create_time bigint, update_time bigint, expire_time bigint)"
      " ON CONFLICT DO NOTHING RETURNING id::text");
  // Rows in one order for every batch (namespace, request id; arrival order within one): two
  // concurrent batches that share request ids then wait on each other in the same order instead
  // of deadlocking, and the first of two rows for one request id still wins.
  std::vector<size_t> order(uploads.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(uploads[a].ns, uploads[a].request_id) <
           std::tie(uploads[b].ns, uploads[b].request_id);
  });
  nlohmann::json rows = nlohmann::json::array();
  std::vector<size_t> batched;  // indexes of `uploads` in `rows`
  for (size_t i : order) {
    const Upload& u = uploads[i];
    if (!codec::IsCanonicalUuid(u.id) || u.state != UploadState::kPending || HasNulByte(u)) {
      results[i] = Create(u);  // answers with Create()'s own InvalidArgument
      continue;
    }
    // The event log's snapshot of an upload (codec::UploadToJson), plus the two hashes it omits.
    nlohmann::json row = codec::UploadToJson(u);
    row["token"] = absl::BytesToHexString(u.callback_token_sha256);
    row["fingerprint"] = u.request_fingerprint.empty()
                             ? nlohmann::json(nullptr)
                             : nlohmann::json(absl::BytesToHexString(u.request_fingerprint));
    rows.push_back(std::move(row));
    batched.push_back(i);
  }
  if (batched.empty()) return results;
  absl::flat_hash_set<std::string> inserted;
  const std::string payload = rows.dump();
  const absl::Status batch_status = db_->WithConnection(
      [&](pqxx::connection& conn) -> absl::Status {
        inserted.clear();
        pqxx::nontransaction tx(conn);  // autocommit: one statement, one commit for the batch
        for (const auto& row : ExecPrepared(tx, "ossup_create_uploads", *kInsertMany, payload)) {
          inserted.insert(row[0].as<std::string>());
        }
        return absl::OkStatus();
      },
      // A retry after a broken connection finds its own committed rows as conflicts, which
      // Create() below recognizes by their callback token hash.
      Database::OnBroken::kRetryOnce);
  // The database is gone: every row fails alike. Any other failure of the batch statement (a
  // deadlock or serialization error, say) must not fail unrelated creates: each row is settled
  // on its own below, exactly as a lone Create().
  if (absl::IsUnavailable(batch_status)) return batch_status;
  if (!batch_status.ok()) inserted.clear();
  for (size_t i : batched) {
    results[i] = inserted.contains(uploads[i].id)
                     ? absl::StatusOr<CreateResult>(CreateResult{AsStored(uploads[i]), true})
                     : Create(uploads[i]);
  }
  return results;
}

absl::StatusOr<Upload> UploadStore::Get(absl::string_view ns, absl::string_view id) {
  const absl::Status not_found = absl::NotFoundError(absl::StrCat("upload ", id, " not found"));
  if (!codec::IsCanonicalUuid(id)) return not_found;
  static const auto* const kSql = new std::string(absl::StrCat(
      "SELECT ", codec::UploadColumns(), " FROM uploads WHERE id = $1::uuid AND namespace = $2"));
  std::optional<Upload> found;
  OSSUP_RETURN_IF_ERROR(db_->WithConnection(
      [&](pqxx::connection& conn) {
        pqxx::nontransaction tx(conn);
        pqxx::result r = tx.exec_params(*kSql, std::string(id), std::string(ns));
        if (!r.empty()) found = codec::UploadFromRow(r[0]);
        return absl::OkStatus();
      },
      Database::OnBroken::kRetryOnce));
  if (!found.has_value()) return not_found;
  return *std::move(found);
}

absl::StatusOr<ListResult> UploadStore::List(absl::string_view ns, const ListFilter& filter,
                                             int page_size, absl::string_view page_token) {
  if (page_size < 1 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size must be 1..", kMaxPageSize));
  }
  const std::string fingerprint = FilterFingerprint(ns, filter);
  std::optional<PageToken> after;
  if (!page_token.empty()) {
    OSSUP_ASSIGN_OR_RETURN(after, DecodePageToken(page_token, fingerprint));
  }
  static const auto* const kSql = new std::string(
      absl::StrCat("SELECT ", codec::UploadColumns(), " FROM uploads WHERE namespace = $1",
                   " AND ($2::text IS NULL OR subject = $2)",
                   " AND ($3::smallint[] IS NULL OR state = ANY($3::smallint[]))",
                   " AND ($4::bigint IS NULL OR create_time >= ", codec::TimestampParam(4), ")",
                   " AND ($5::bigint IS NULL OR create_time < ", codec::TimestampParam(5), ")",
                   " AND ($6::bigint IS NULL OR (create_time, id) < (", codec::TimestampParam(6),
                   ", $7::uuid))", " ORDER BY create_time DESC, id DESC LIMIT $8"));

  std::string states;
  if (!filter.states.empty()) {
    std::vector<int> values;
    for (UploadState s : filter.states) values.push_back(static_cast<int>(s));
    states = absl::StrCat("{", absl::StrJoin(values, ","), "}");
  }
  // Infinite bounds mean "no bound"; they are passed as NULL.
  std::optional<int64_t> after_micros, before_micros;
  if (filter.create_time_after != absl::InfinitePast()) {
    after_micros = codec::ToMicros(filter.create_time_after);
  }
  if (filter.create_time_before != absl::InfiniteFuture()) {
    before_micros = codec::ToMicros(filter.create_time_before);
  }
  auto opt = [](const std::optional<int64_t>& v) {
    return v.has_value() ? std::optional<std::string>(absl::StrCat(*v)) : std::nullopt;
  };
  auto cstr = [](const std::optional<std::string>& s) { return s ? s->c_str() : nullptr; };
  const std::optional<std::string> after_s = opt(after_micros), before_s = opt(before_micros),
                                   key_t = after ? std::optional<std::string>(
                                                       absl::StrCat(after->create_time_micros))
                                                 : std::nullopt;
  const std::string subject = filter.subject;

  ListResult out;
  OSSUP_RETURN_IF_ERROR(db_->WithTransaction([&](pqxx::work& txn) -> absl::Status {
    out = ListResult{};
    // One snapshot for the page and the log head: the page reflects exactly the events up to
    // event_sequence (sequences are assigned in commit order).
    txn.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    pqxx::result rows = txn.exec_params(
        *kSql, std::string(ns), NullIfEmpty(subject), NullIfEmpty(states), cstr(after_s),
        cstr(before_s), cstr(key_t), after ? after->id.c_str() : nullptr, page_size + 1);
    for (const auto& row : rows) out.uploads.push_back(codec::UploadFromRow(row));
    out.event_sequence = txn.exec("SELECT last_sequence FROM event_log_head")[0][0].as<int64_t>();
    return absl::OkStatus();
  }));
  if (static_cast<int>(out.uploads.size()) > page_size) {
    out.uploads.resize(page_size);
    const Upload& last = out.uploads.back();
    out.next_page_token =
        EncodePageToken({codec::ToMicros(last.create_time), last.id}, fingerprint);
  }
  return out;
}

absl::StatusOr<TransitionResult> UploadStore::CancelInTransaction(
    pqxx::work& txn, absl::string_view ns, absl::string_view id, absl::Time now,
    std::vector<domain::UploadEvent>* written) {
  static const auto* const kCancel = new std::string(absl::StrCat(
      "UPDATE uploads SET state = 5, update_time = ", codec::TimestampParam(3),
      " WHERE id = $1::uuid AND namespace = $2 AND state = 1 RETURNING ", codec::UploadColumns()));
  const absl::Status not_found = absl::NotFoundError(absl::StrCat("upload ", id, " not found"));
  if (!codec::IsCanonicalUuid(id)) return not_found;
  pqxx::result rows = ExecPrepared(txn, "ossup_cancel", *kCancel, std::string(id), std::string(ns),
                                   codec::ToMicros(now));
  if (rows.empty()) {
    pqxx::result current =
        txn.exec_params("SELECT state FROM uploads WHERE id = $1::uuid AND namespace = $2",
                        std::string(id), std::string(ns));
    if (current.empty()) return not_found;
    return absl::FailedPreconditionError(
        absl::StrCat("upload ", id, " is ",
                     domain::UploadStateName(static_cast<UploadState>(current[0][0].as<int>())),
                     "; only PENDING uploads can be cancelled"));
  }
  TransitionResult result;
  result.upload = codec::UploadFromRow(rows[0]);
  OSSUP_ASSIGN_OR_RETURN(result.sequence,
                         AppendEvents(txn, {{EventType::kCancelled, result.upload, now}}, written));
  result.event_written = true;
  result.event_type = EventType::kCancelled;
  return result;
}

absl::StatusOr<TransitionResult> UploadStore::Cancel(absl::string_view ns, absl::string_view id,
                                                     absl::Time now) {
  absl::StatusOr<TransitionResult> out;
  std::vector<domain::UploadEvent> written;
  OSSUP_RETURN_IF_ERROR(db_->WithTransaction([&](pqxx::work& txn) -> absl::Status {
    out = CancelInTransaction(txn, ns, id, now, Collect(written));
    return out.status();  // not OK: roll back
  }));
  EventsCommitted(std::move(written));
  return out;
}

absl::StatusOr<TransitionResult> UploadStore::ApplyCallback(const CallbackInput& input,
                                                            const CallbackCheck& check,
                                                            absl::Time now) {
  OSSUP_ASSIGN_OR_RETURN(auto results, ApplyCallbacks({&input, 1}, check, now));
  return std::move(results.front());
}

namespace {

// What a batch of callbacks does to the rows it read (decided in input order, rows updated in
// place).
struct CallbackDecisions {
  std::vector<absl::StatusOr<TransitionResult>> results;
  std::vector<PendingEvent> events;
  std::vector<int> event_of;      // per input: its index in `events`, or -1
  std::set<std::string> changed;  // ids of the rows to write
  // An event about a row that does not change (a late callback on a decided upload).
  bool event_without_row_change = false;
};

CallbackDecisions DecideCallbacks(absl::Span<const CallbackInput> inputs,
                                  std::map<std::string, Upload>& rows, const CallbackCheck& check,
                                  absl::Time now,
                                  std::map<std::string, std::vector<ObjectInfo>>& late_objects) {
  CallbackDecisions d;
  d.event_of.assign(inputs.size(), -1);
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto it = rows.find(inputs[i].upload_id);
    if (it == rows.end()) {
      d.results.push_back(
          absl::NotFoundError(absl::StrCat("upload ", inputs[i].upload_id, " not found")));
      continue;
    }
    bool row_changed = false;
    d.results.push_back(CorrelateCallback(it->second, inputs[i], check, now,
                                          late_objects[it->first], d.events, d.event_of[i],
                                          row_changed));
    if (row_changed) d.changed.insert(it->first);
    if (d.event_of[i] >= 0 && !row_changed) d.event_without_row_change = true;
  }
  return d;
}

// Uploads whose earlier late callbacks must be read before deciding: decided uploads hearing of
// another object (an overwrite: rare).
std::vector<std::string> NeedingLateObjects(absl::Span<const CallbackInput> inputs,
                                            const std::map<std::string, Upload>& rows) {
  std::vector<std::string> decided;
  for (const CallbackInput& in : inputs) {
    auto it = rows.find(in.upload_id);
    if (it != rows.end() && it->second.state != UploadState::kPending &&
        !(it->second.object.has_value() && SameObject(*it->second.object, in.object))) {
      decided.push_back(in.upload_id);
    }
  }
  return decided;
}

// The UPDATE's values for the changed rows: id (as uuid::text prints it) -> values. With
// `versions`, each also carries the row version it was decided on ("xmin").
std::string ChangedValues(const std::map<std::string, Upload>& rows,
                          const std::set<std::string>& changed,
                          const std::map<std::string, std::string>* versions = nullptr) {
  nlohmann::json values = nlohmann::json::object();
  for (const std::string& id : changed) {
    const Upload& u = rows.at(id);
    nlohmann::json value = codec::ObjectToJson(*u.object);
    value["state"] = static_cast<int>(u.state);
    value["rejection_reason"] = u.rejection_reason;
    if (versions != nullptr) value["xmin"] = versions->at(id);
    values[u.id] = std::move(value);
  }
  return values.dump();
}

std::string UuidArray(const std::vector<std::string>& ids) {
  return absl::StrCat("{", absl::StrJoin(ids, ","), "}");
}

// The SET list of the callback UPDATE: each row reads its values from JSON parameter $1 by id.
// Not "UPDATE ... FROM jsonb_array_elements(...)": the planner guesses 100 rows for the function
// and, on a table of a few thousand rows, hash-joins it against a sequential scan of uploads
// (measured with pg_stat_statements: 2 ms per batch of 7, most of the database's time in the
// callback benchmark). The rows are found by primary key (= ANY).
std::string RecordCallbacksSet() {
  return absl::StrCat(
      "UPDATE uploads u SET (state, reported_bucket, reported_key, reported_size,"
      " reported_content_type, reported_etag, rejection_reason, update_time) ="
      " (SELECT (v->>'state')::smallint, v->>'bucket', v->>'key', (v->>'size')::bigint,"
      " v->>'content_type', v->>'etag', NULLIF(v->>'rejection_reason', ''), ",
      codec::TimestampParam(2), " FROM (SELECT $1::jsonb -> u.id::text AS v) AS changed)");
}

}  // namespace

std::optional<absl::StatusOr<std::vector<absl::StatusOr<TransitionResult>>>>
UploadStore::ApplyCallbacksOptimistically(absl::Span<const CallbackInput> inputs,
                                          const CallbackCheck& check, absl::Time now,
                                          const std::string& id_array) {
  static const auto* const kRead = new std::string(absl::StrCat(
      "SELECT ", codec::UploadColumns(), ", xmin::text FROM uploads WHERE id = ANY($1::uuid[])"));
  // One statement, so one implicit commit: the rows are written only if each is still the version
  // it was decided on (else ossup_rows_changed_since_read() raises 40001 and nothing is
  // written), then the events are appended. The counter row is held from this statement's
  // increment to its commit, with no round trip in between.
  static const auto* const kWrite = new std::string(absl::StrCat(
      "WITH written AS (", RecordCallbacksSet(),
      " WHERE u.id = ANY($3::uuid[]) AND u.xmin::text = $1::jsonb -> u.id::text ->> 'xmin'"
      " RETURNING 1),"
      " checked AS (SELECT CASE WHEN count(*) = $4 THEN 0"
      " ELSE ossup_rows_changed_since_read() END AS zero FROM written), ",
      AppendEventsCtes(5, 6, " + (SELECT zero FROM checked)"),
      " SELECT last_sequence - $5 + 1 FROM head"));

  std::optional<absl::StatusOr<std::vector<absl::StatusOr<TransitionResult>>>> out;
  bool wrote_events = false;
  std::vector<domain::UploadEvent> written;
  // Set when the write failed in a way that may have followed its commit (a broken connection):
  // the run again answers those callbacks as duplicates, and their events must still be
  // announced.
  bool outcome_unknown = false;
  absl::Status status = db_->WithConnection(
      [&](pqxx::connection& conn) -> absl::Status {
        out.reset();
        wrote_events = false;
        written.clear();
        pqxx::nontransaction tx(conn);  // autocommit: each statement is its own transaction
        std::map<std::string, Upload> rows;
        std::map<std::string, std::string> versions;
        for (const auto& row : ExecPrepared(tx, "ossup_read_for_callbacks", *kRead, id_array)) {
          Upload u = codec::UploadFromRow(row);
          versions.emplace(u.id, row[row.size() - 1].as<std::string>());
          rows.emplace(u.id, std::move(u));
        }
        if (options_.after_optimistic_read_for_tests) options_.after_optimistic_read_for_tests();
        if (!NeedingLateObjects(inputs, rows).empty()) return absl::OkStatus();  // locking path
        std::map<std::string, std::vector<ObjectInfo>> late_objects;
        CallbackDecisions d = DecideCallbacks(inputs, rows, check, now, late_objects);
        if (d.event_without_row_change) return absl::OkStatus();  // locking path
        // Nothing to write (duplicates of decided callbacks, unknown uploads): answered from the
        // rows as read. A decided row does not change again, so a lock would not change them.
        if (!d.changed.empty()) {
          const nlohmann::json batch = EventBatch(d.events);
          const int64_t k = static_cast<int64_t>(d.events.size());
          pqxx::result r;
          try {
            r = ExecPrepared(tx, "ossup_record_and_log_callbacks", *kWrite,
                             ChangedValues(rows, d.changed, &versions), codec::ToMicros(now),
                             UuidArray({d.changed.begin(), d.changed.end()}),
                             static_cast<int64_t>(d.changed.size()), k, batch.dump());
          } catch (const pqxx::serialization_failure&) {
            return absl::OkStatus();  // a row changed since it was read: the locking path
          } catch (const pqxx::deadlock_detected&) {
            // Against a writer locking the same rows in another order; nothing was written.
            return absl::OkStatus();
          } catch (const pqxx::broken_connection&) {
            outcome_unknown = true;  // the commit may have happened before the connection broke
            throw;
          } catch (const pqxx::statement_completion_unknown&) {
            outcome_unknown = true;
            throw;
          }
          // Committed: from here on nothing may turn the batch into a failure.
          wrote_events = k > 0;
          const int64_t first = r[0][0].as<int64_t>();
          for (size_t i = 0; i < inputs.size(); ++i) {
            if (d.event_of[i] >= 0) d.results[i]->sequence = first + d.event_of[i];
          }
          try {
            CollectWritten(d.events, batch, first, Collect(written));
          } catch (const std::exception&) {
            written.clear();  // not handed to the hub then; its safety-net read finds them
          }
        }
        out = std::move(d.results);
        return absl::OkStatus();
      },
      // Safe to run again after a broken connection: a write that did commit left rows that are
      // no longer PENDING, which the second run answers as duplicates without a second event.
      Database::OnBroken::kRetryOnce);
  if (out.has_value() && wrote_events) {
    EventsCommitted(std::move(written));
  } else if (outcome_unknown && options_.on_events_committed) {
    options_.on_events_committed();  // the first attempt's events, if it did commit
  }
  if (!status.ok()) return absl::StatusOr<std::vector<absl::StatusOr<TransitionResult>>>(status);
  return out;
}

absl::StatusOr<std::vector<absl::StatusOr<TransitionResult>>> UploadStore::ApplyCallbacks(
    absl::Span<const CallbackInput> inputs, const CallbackCheck& check, absl::Time now) {
  now = codec::FromMicros(codec::ToMicros(now));  // as stored, so snapshots match the rows
  std::vector<std::string> ids;
  for (const CallbackInput& in : inputs) {
    if (codec::IsCanonicalUuid(in.upload_id)) ids.push_back(in.upload_id);
  }
  const std::string id_array = UuidArray(ids);

  // Two round trips instead of five when nothing else touched the rows meanwhile (the usual case).
  auto fast = ApplyCallbacksOptimistically(inputs, check, now, id_array);
  if (fast.has_value()) return *std::move(fast);

  // The locking path, set-based so a batch costs the same few statements as one callback: lock
  // all rows (in id order, so concurrent batches cannot deadlock), decide in memory in input
  // order, write the changed rows in one UPDATE, append the events.
  static const auto* const kLock = new std::string(
      absl::StrCat("SELECT ", codec::UploadColumns(),
                   " FROM uploads WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"));
  static const auto* const kUpdate =
      new std::string(absl::StrCat(RecordCallbacksSet(), " WHERE u.id = ANY($3::uuid[])"));

  std::vector<absl::StatusOr<TransitionResult>> results;
  bool wrote_events = false;
  std::vector<domain::UploadEvent> written;
  OSSUP_RETURN_IF_ERROR(db_->WithTransaction([&](pqxx::work& txn) -> absl::Status {
    results.clear();
    std::map<std::string, Upload> rows;
    for (const auto& row : ExecPrepared(txn, "ossup_lock_for_callbacks", *kLock, id_array)) {
      Upload u = codec::UploadFromRow(row);
      rows.emplace(u.id, std::move(u));
    }
    // Objects of earlier late callbacks, only for decided uploads hearing of another object.
    std::map<std::string, std::vector<ObjectInfo>> late_objects;
    if (const std::vector<std::string> decided = NeedingLateObjects(inputs, rows);
        !decided.empty()) {
      pqxx::result earlier = txn.exec_params(
          "SELECT upload_id::text, upload->'object' FROM upload_events"
          " WHERE upload_id = ANY($1::uuid[]) AND type = $2 AND upload ? 'object'",
          UuidArray(decided), static_cast<int>(EventType::kLateCallback));
      for (const auto& row : earlier) {
        late_objects[row[0].as<std::string>()].push_back(
            codec::ObjectFromJson(nlohmann::json::parse(row[1].c_str())));
      }
    }
    CallbackDecisions d = DecideCallbacks(inputs, rows, check, now, late_objects);
    if (!d.changed.empty()) {
      ExecPrepared(txn, "ossup_record_callbacks", *kUpdate, ChangedValues(rows, d.changed),
                   codec::ToMicros(now), UuidArray({d.changed.begin(), d.changed.end()}));
    }
    OSSUP_ASSIGN_OR_RETURN(const int64_t first, AppendEvents(txn, d.events, Collect(written)));
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (d.event_of[i] >= 0) d.results[i]->sequence = first + d.event_of[i];
    }
    wrote_events = !d.events.empty();
    results = std::move(d.results);
    return absl::OkStatus();
  }));
  if (wrote_events) EventsCommitted(std::move(written));
  return results;
}

absl::StatusOr<int> UploadStore::ExpireDue(absl::Time now, int limit) {
  static const auto* const kSql = new std::string(absl::StrCat(
      "WITH due AS (SELECT id FROM uploads WHERE state = 1 AND expire_time <= ",
      codec::TimestampParam(1), " ORDER BY expire_time LIMIT $2 FOR UPDATE SKIP LOCKED)",
      " UPDATE uploads u SET state = 4, update_time = ", codec::TimestampParam(3),
      " FROM due WHERE u.id = due.id AND u.state = 1 RETURNING ", codec::UploadColumns("u.")));
  if (limit < 1) return absl::InvalidArgumentError("limit must be positive");
  int expired = 0;
  std::vector<domain::UploadEvent> written;
  OSSUP_RETURN_IF_ERROR(db_->WithTransaction([&](pqxx::work& txn) -> absl::Status {
    std::vector<PendingEvent> events;
    pqxx::result rows = txn.exec_params(*kSql, codec::ToMicros(now - options_.expiry_grace), limit,
                                        codec::ToMicros(now));
    for (const auto& row : rows) {
      events.push_back({EventType::kExpired, codec::UploadFromRow(row), now});
    }
    std::sort(events.begin(), events.end(), [](const PendingEvent& a, const PendingEvent& b) {
      return a.upload.expire_time < b.upload.expire_time;
    });
    OSSUP_RETURN_IF_ERROR(AppendEvents(txn, events, Collect(written)).status());
    expired = static_cast<int>(events.size());
    return absl::OkStatus();
  }));
  if (expired > 0) EventsCommitted(std::move(written));
  return expired;
}

absl::StatusOr<EventPage> UploadStore::ReadEvents(int64_t after_sequence, int limit,
                                                  const EventFilter& filter) {
  if (limit < 1) return absl::InvalidArgumentError("limit must be positive");
  if (after_sequence < 0) return absl::InvalidArgumentError("after_sequence must not be negative");
  std::string ids;
  if (!filter.upload_ids.empty()) {
    for (const std::string& id : filter.upload_ids) {
      if (!codec::IsCanonicalUuid(id)) {
        return absl::InvalidArgumentError(absl::StrCat("invalid upload id ", id));
      }
    }
    ids = absl::StrCat("{", absl::StrJoin(filter.upload_ids, ","), "}");
  }
  // One statement, so one snapshot for the watermarks and the events (a concurrent purge cannot
  // open a hole) in one round trip: the first row always carries the watermarks, with the event
  // columns NULL when no event qualifies.
  static const auto* const kSql = new std::string(absl::StrCat(
      "WITH marks AS (SELECT (SELECT purged_through FROM event_log_retention) AS purged,"
      " (SELECT last_sequence FROM event_log_head) AS head)"
      " SELECT marks.purged, marks.head, e.sequence, e.type, e.micros, e.upload"
      " FROM marks LEFT JOIN LATERAL (SELECT sequence, type, ",
      codec::MicrosOf("event_time"), " AS micros, upload::text AS upload",
      " FROM upload_events WHERE $2 >= marks.purged AND ($1::text IS NULL OR namespace = $1)",
      " AND sequence > $2 AND sequence <= marks.head",
      " AND ($3::text IS NULL OR upload->>'subject' = $3)",
      " AND ($4::uuid[] IS NULL OR upload_id = ANY($4::uuid[]))",
      " ORDER BY sequence LIMIT $5) e ON true ORDER BY e.sequence"));
  EventPage page;
  OSSUP_RETURN_IF_ERROR(db_->WithConnection(
      [&](pqxx::connection& conn) -> absl::Status {
        page = EventPage{};
        pqxx::nontransaction tx(conn);
        // Unnamed, so planned for its actual values every time: a generic plan made while the log
        // was empty is a sequential scan, and it stayed one as the log grew (auto_explain in the
        // benchmark: 25-72 ms per read of a few thousand events, p50 event latency 5-9 ms).
        pqxx::result rows = tx.exec_params(*kSql, NullIfEmpty(filter.ns), after_sequence,
                                           NullIfEmpty(filter.subject), NullIfEmpty(ids), limit);
        if (rows.empty()) return absl::InternalError("reading events: no watermark row");
        const int64_t purged_through = rows[0][0].as<int64_t>();
        const int64_t head = rows[0][1].as<int64_t>();
        if (after_sequence < purged_through) {
          return absl::OutOfRangeError(
              absl::StrCat("events after ", after_sequence, " were purged (oldest retained: ",
                           purged_through + 1, "); re-list and watch from the listing's sequence"));
        }
        for (const auto& row : rows) {
          if (row[2].is_null()) continue;
          domain::UploadEvent e;
          e.sequence = row[2].as<int64_t>();
          e.type = static_cast<EventType>(row[3].as<int>());
          e.event_time = codec::FromMicros(row[4].as<int64_t>());
          e.upload = codec::UploadFromJson(nlohmann::json::parse(row[5].c_str()));
          page.events.push_back(std::move(e));
        }
        page.scanned_through = static_cast<int>(page.events.size()) == limit
                                   ? page.events.back().sequence
                                   : std::max(head, after_sequence);
        return absl::OkStatus();
      },
      // A read is safe to repeat: a pooled connection the server closed meanwhile is replaced.
      Database::OnBroken::kRetryOnce));
  return page;
}

absl::StatusOr<int64_t> UploadStore::ReadInt64(const char* sql) {
  int64_t value = 0;
  OSSUP_RETURN_IF_ERROR(db_->WithConnection(
      [&](pqxx::connection& conn) {
        pqxx::nontransaction tx(conn);
        value = tx.exec1(sql)[0].as<int64_t>();
        return absl::OkStatus();
      },
      Database::OnBroken::kRetryOnce));
  return value;
}

absl::StatusOr<int64_t> UploadStore::LastSequence() {
  return ReadInt64("SELECT last_sequence FROM event_log_head");
}

absl::StatusOr<int64_t> UploadStore::OldestRetainedSequence() {
  return ReadInt64("SELECT purged_through + 1 FROM event_log_retention");
}

absl::StatusOr<int64_t> UploadStore::PurgeEventsBefore(absl::Time before) {
  // Deletes a prefix of the log (never a hole): everything before the first event at or after
  // `before`, or the whole log committed so far if there is none.
  static const auto* const kThrough = new std::string(
      absl::StrCat("SELECT coalesce((SELECT sequence FROM upload_events WHERE event_time >= ",
                   codec::TimestampParam(1), " ORDER BY sequence LIMIT 1),",
                   " (SELECT last_sequence FROM event_log_head) + 1) - 1"));
  int64_t deleted = 0;
  OSSUP_RETURN_IF_ERROR(db_->WithTransaction([&](pqxx::work& txn) -> absl::Status {
    // Serializes purgers; writers never touch this row.
    const int64_t purged =
        txn.exec1("SELECT purged_through FROM event_log_retention FOR UPDATE")[0].as<int64_t>();
    const int64_t through = txn.exec_params1(*kThrough, codec::ToMicros(before))[0].as<int64_t>();
    deleted = 0;
    if (through <= purged) return absl::OkStatus();
    deleted = static_cast<int64_t>(
        txn.exec_params0("DELETE FROM upload_events WHERE sequence > $1 AND sequence <= $2", purged,
                         through)
            .affected_rows());
    txn.exec_params0("UPDATE event_log_retention SET purged_through = $1", through);
    return absl::OkStatus();
  }));
  return deleted;
}

}  // namespace ossup::storage
