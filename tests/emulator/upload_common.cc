#include "upload_common.h"

#include "absl/strings/str_cat.h"
#include "oss_error.h"

namespace ossemu {

absl::Status ValidateObjectKey(absl::string_view key) {
  if (key.empty() || key.size() > 1023 || key.front() == '/' || key.front() == '\\') {
    return OssError("InvalidObjectName", "The specified object name is not valid.");
  }
  return absl::OkStatus();
}

absl::StatusOr<ParsedCallback> ParseCallback(
    const Services& services, absl::string_view callback_base64,
    const std::vector<std::pair<std::string, std::string>>& vars) {
  if (services.dispatcher == nullptr) {
    return OssError("InvalidArgument", "Upload callback is not available in this emulator build.");
  }
  absl::StatusOr<ParsedCallback> parsed = services.dispatcher->Parse(callback_base64, vars);
  if (!parsed.ok()) return OssError("InvalidArgument", parsed.status().message());
  return parsed;
}

absl::StatusOr<HttpResponse> StoreObject(const Services& services, const RequestContext& ctx,
                                         ObjectMeta meta, ObjectWriter* writer,
                                         bool forbid_overwrite,
                                         const std::optional<ParsedCallback>& callback) {
  if (services.fail_before_store != nullptr && services.fail_before_store->load()) {
    return OssError("ServiceUnavailable", "Injected fault: fail_before_store.");
  }
  writer->FinishDigests(&meta);
  absl::Status stored =
      services.storage->Commit(ctx.bucket->name, meta, writer->Release(), forbid_overwrite);
  if (!stored.ok()) return stored;

  HttpResponse response;
  response.headers = {{"ETag", absl::StrCat("\"", meta.etag, "\"")},
                      {"x-oss-hash-crc64ecma", std::to_string(meta.crc64)},
                      {"Content-MD5", meta.content_md5}};
  if (!callback) return response;
  UploadFacts facts;
  facts.bucket = ctx.bucket->name;
  facts.object = meta.key;
  facts.etag = meta.etag;
  facts.size = meta.size;
  facts.mime_type = meta.content_type;
  facts.crc64 = std::to_string(meta.crc64);
  facts.content_md5 = meta.content_md5;
  facts.client_ip = ctx.head.peer_ip;
  facts.request_id = ctx.request_id;
  facts.operation = ctx.head.method == "PUT" ? "PutObject" : "PostObject";
  CallbackOutcome outcome = services.dispatcher->Dispatch(*callback, facts, ctx.host_id);
  response.status = outcome.http_status;
  if (!outcome.content_type.empty()) {
    response.headers.emplace_back("Content-Type", outcome.content_type);
  }
  response.body = std::move(outcome.body);
  return response;
}

}  // namespace ossemu
