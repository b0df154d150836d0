#ifndef OSSUP_SERVICE_STORAGE_CODEC_H_
#define OSSUP_SERVICE_STORAGE_CODEC_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "pqxx/row"
#include "service/domain/upload.h"

// Conversions between domain types and their SQL / JSON representations. Internal to storage.
namespace ossup::storage::codec {

// Timestamps travel as int64 microseconds since the Unix epoch (exact, no text parsing).
// SQL expression turning bigint parameter $n into a timestamptz.
std::string TimestampParam(int n);
// SQL expression turning a timestamptz column into bigint microseconds.
std::string MicrosOf(absl::string_view column);
inline int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }
inline absl::Time FromMicros(int64_t micros) { return absl::FromUnixMicros(micros); }

// bytea parameters as text in the hex input format ("\x0a1b..."), and back from hex output.
std::string ByteaParam(absl::string_view bytes);
std::string ByteaFromText(absl::string_view text);

// Canonical lowercase UUID text form (8-4-4-4-12 hex digits).
bool IsCanonicalUuid(absl::string_view id);

// The upload column list (optionally qualified, e.g. "u.") read by UploadFromRow, in order.
const std::string& UploadColumns(absl::string_view qualifier = "");
domain::Upload UploadFromRow(const pqxx::row& row);

// The upload snapshot stored in events. Omits the callback token hash and request fingerprint.
nlohmann::json UploadToJson(const domain::Upload& upload);
// The reported object as the event snapshot stores it ("bucket", "key", "size", ...).
nlohmann::json ObjectToJson(const domain::ObjectInfo& object);
domain::ObjectInfo ObjectFromJson(const nlohmann::json& json);
domain::Upload UploadFromJson(const nlohmann::json& json);

}  // namespace ossup::storage::codec

#endif  // OSSUP_SERVICE_STORAGE_CODEC_H_
