#ifndef OSSUP_SERVICE_DOMAIN_UPLOAD_H_
#define OSSUP_SERVICE_DOMAIN_UPLOAD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// Plain domain types of the upload lifecycle, shared by storage, transports and wiring. No I/O.
namespace ossup::domain {

// Values are stored in PostgreSQL (smallint) and must never be renumbered.
enum class UploadState : int16_t {
  kPending = 1,
  kCompleted = 2,
  kRejected = 3,
  kExpired = 4,
  kCancelled = 5,
};
absl::string_view UploadStateName(UploadState state);
bool IsFinal(UploadState state);

// Values are stored in PostgreSQL (smallint) and must never be renumbered.
// Only outcomes are logged: CreateUpload stays a single-row insert (the create yardstick of the
// benchmarks), and the issued form is the creation record.
enum class EventType : int16_t {
  kCompleted = 2,
  kRejected = 3,
  kExpired = 4,
  kCancelled = 5,
  // OSS called back after the upload had expired or been cancelled: the object exists in OSS.
  kLateCallback = 6,
};
absl::string_view EventTypeName(EventType type);

// What OSS reported about the stored object in a verified callback.
struct ObjectInfo {
  std::string bucket;
  std::string key;
  int64_t size = 0;
  std::string content_type;
  std::string etag;
  friend bool operator==(const ObjectInfo&, const ObjectInfo&) = default;
};

// One authorized upload, as stored.
struct Upload {
  std::string id;  // UUID, lowercase canonical text form
  std::string ns;  // namespace
  std::string subject;
  UploadState state = UploadState::kPending;
  std::string bucket;
  std::string object_key;
  std::vector<std::string> content_types;  // empty = any
  int64_t min_size = 0;
  int64_t max_size = 0;
  std::vector<std::pair<std::string, std::string>> metadata;  // sorted by key
  // Random secret bound into the callback body; only its SHA-256 is stored.
  std::string callback_token_sha256;  // 32 raw bytes
  std::string request_id;             // idempotency key, may be empty
  std::string request_fingerprint;    // SHA-256 of the normalized CreateUpload request
  absl::Time create_time;
  absl::Time update_time;
  absl::Time expire_time;
  std::optional<ObjectInfo> object;  // set once a callback was accepted
  std::string rejection_reason;
};

// One committed state change. `sequence` is gap-free and increases in commit order.
struct UploadEvent {
  int64_t sequence = 0;
  EventType type = EventType::kCompleted;
  absl::Time event_time;
  Upload upload;  // the upload after the change
};

}  // namespace ossup::domain

#endif  // OSSUP_SERVICE_DOMAIN_UPLOAD_H_
