#include "service/storage/codec.h"

#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pqxx/field"

namespace ossup::storage::codec {

std::string TimestampParam(int n) {
  return absl::StrCat("(timestamptz 'epoch' + $", n, "::bigint * interval '1 microsecond')");
}

std::string MicrosOf(absl::string_view column) {
  return absl::StrCat("(extract(epoch FROM ", column, ") * 1000000)::bigint");
}

std::string ByteaParam(absl::string_view bytes) {
  return absl::StrCat("\\x", absl::BytesToHexString(bytes));
}

std::string ByteaFromText(absl::string_view text) {
  if (absl::StartsWith(text, "\\x")) text.remove_prefix(2);
  return absl::HexStringToBytes(text);
}

bool IsCanonicalUuid(absl::string_view id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

namespace {

std::string BuildUploadColumns(absl::string_view q) {
  auto c = [q](absl::string_view name) { return absl::StrCat(q, name); };
  return absl::StrJoin({c("id::text"),
                        c("namespace"),
                        c("subject"),
                        c("state"),
                        c("bucket"),
                        c("object_key"),
                        absl::StrCat("to_jsonb(", q, "content_types)::text"),
                        c("min_size"),
                        c("max_size"),
                        c("metadata::text"),
                        c("callback_token_sha256"),
                        c("request_id"),
                        c("request_fingerprint"),
                        MicrosOf(c("create_time")),
                        MicrosOf(c("update_time")),
                        MicrosOf(c("expire_time")),
                        c("reported_bucket"),
                        c("reported_key"),
                        c("reported_size"),
                        c("reported_content_type"),
                        c("reported_etag"),
                        c("rejection_reason")},
                       ", ");
}

std::string TextOrEmpty(const pqxx::field& f) { return f.is_null() ? "" : f.as<std::string>(); }

}  // namespace

const std::string& UploadColumns(absl::string_view qualifier) {
  static const auto* const kColumns = new std::map<std::string, std::string>{
      {"", BuildUploadColumns("")}, {"u.", BuildUploadColumns("u.")}};
  return kColumns->at(std::string(qualifier));
}

domain::Upload UploadFromRow(const pqxx::row& row) {
  domain::Upload u;
  u.id = row[0].as<std::string>();
  u.ns = row[1].as<std::string>();
  u.subject = row[2].as<std::string>();
  u.state = static_cast<domain::UploadState>(row[3].as<int>());
  u.bucket = row[4].as<std::string>();
  u.object_key = row[5].as<std::string>();
  u.content_types = nlohmann::json::parse(row[6].c_str()).get<std::vector<std::string>>();
  u.min_size = row[7].as<int64_t>();
  u.max_size = row[8].as<int64_t>();
  const nlohmann::json metadata = nlohmann::json::parse(row[9].c_str());
  for (const auto& [k, v] : metadata.items()) {
    u.metadata.emplace_back(k, v.get<std::string>());  // jsonb objects iterate sorted by key
  }
  u.callback_token_sha256 = ByteaFromText(row[10].c_str());
  u.request_id = TextOrEmpty(row[11]);
  u.request_fingerprint = row[12].is_null() ? "" : ByteaFromText(row[12].c_str());
  u.create_time = FromMicros(row[13].as<int64_t>());
  u.update_time = FromMicros(row[14].as<int64_t>());
  u.expire_time = FromMicros(row[15].as<int64_t>());
  if (!row[16].is_null()) {
    u.object = domain::ObjectInfo{
        .bucket = row[16].as<std::string>(),
        .key = TextOrEmpty(row[17]),
        .size = row[18].is_null() ? 0 : row[18].as<int64_t>(),
        .content_type = TextOrEmpty(row[19]),
        .etag = TextOrEmpty(row[20]),
    };
  }
  u.rejection_reason = TextOrEmpty(row[21]);
  return u;
}

nlohmann::json UploadToJson(const domain::Upload& u) {
  nlohmann::json metadata = nlohmann::json::object();
  for (const auto& [k, v] : u.metadata) metadata[k] = v;
  nlohmann::json j = {
      {"id", u.id},
      {"namespace", u.ns},
      {"subject", u.subject},
      {"state", static_cast<int>(u.state)},
      {"bucket", u.bucket},
      {"object_key", u.object_key},
      {"content_types", u.content_types},
      {"min_size", u.min_size},
      {"max_size", u.max_size},
      {"metadata", std::move(metadata)},
      {"request_id", u.request_id},
      {"create_time", ToMicros(u.create_time)},
      {"update_time", ToMicros(u.update_time)},
      {"expire_time", ToMicros(u.expire_time)},
      {"rejection_reason", u.rejection_reason},
  };
  if (u.object.has_value()) j["object"] = ObjectToJson(*u.object);
  return j;
}

nlohmann::json ObjectToJson(const domain::ObjectInfo& o) {
  return {{"bucket", o.bucket},
          {"key", o.key},
          {"size", o.size},
          {"content_type", o.content_type},
          {"etag", o.etag}};
}

domain::ObjectInfo ObjectFromJson(const nlohmann::json& j) {
  return domain::ObjectInfo{
      .bucket = j.at("bucket").get<std::string>(),
      .key = j.at("key").get<std::string>(),
      .size = j.at("size").get<int64_t>(),
      .content_type = j.at("content_type").get<std::string>(),
      .etag = j.at("etag").get<std::string>(),
  };
}

domain::Upload UploadFromJson(const nlohmann::json& j) {
  domain::Upload u;
  u.id = j.at("id").get<std::string>();
  u.ns = j.at("namespace").get<std::string>();
  u.subject = j.at("subject").get<std::string>();
  u.state = static_cast<domain::UploadState>(j.at("state").get<int>());
  u.bucket = j.at("bucket").get<std::string>();
  u.object_key = j.at("object_key").get<std::string>();
  u.content_types = j.at("content_types").get<std::vector<std::string>>();
  u.min_size = j.at("min_size").get<int64_t>();
  u.max_size = j.at("max_size").get<int64_t>();
  for (const auto& [k, v] : j.at("metadata").items())
    u.metadata.emplace_back(k, v.get<std::string>());
  u.request_id = j.at("request_id").get<std::string>();
  u.create_time = FromMicros(j.at("create_time").get<int64_t>());
  u.update_time = FromMicros(j.at("update_time").get<int64_t>());
  u.expire_time = FromMicros(j.at("expire_time").get<int64_t>());
  u.rejection_reason = j.at("rejection_reason").get<std::string>();
  if (auto it = j.find("object"); it != j.end() && it->is_object()) u.object = ObjectFromJson(*it);
  return u;
}

}  // namespace ossup::storage::codec
