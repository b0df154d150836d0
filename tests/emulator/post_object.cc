#include "post_object.h"

#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "auth_common.h"
#include "crypto.h"
#include "multipart.h"
#include "oss_error.h"
#include "policy.h"

namespace ossemu {
namespace {

constexpr char kV4Algorithm[] = "OSS4-HMAC-SHA256";

absl::Status TooLong(absl::string_view what) {
  return OssError("FieldItemTooLong", absl::StrCat("Your POST request fields preceding the upload "
                                                   "file was too large: ", what));
}

absl::Status ValidateKey(absl::string_view key) {
  if (key.empty() || key.size() > 1023 || key.front() == '/' || key.front() == '\\') {
    return OssError("InvalidObjectName", "The specified object name is not valid.");
  }
  return absl::OkStatus();
}

class PostObject : public Operation, private MultipartSink {
 public:
  PostObject(const Services& services, const RequestContext& ctx)
      : services_(services), ctx_(ctx) {
    absl::StatusOr<std::string> boundary =
        BoundaryFromContentType(ctx_.head.Header("content-type"));
    if (boundary.ok()) {
      parser_.emplace(*boundary, static_cast<MultipartSink*>(this));
    } else {
      error_ = boundary.status();
    }
  }

  ~PostObject() override { DiscardTemp(); }

  void OnBody(absl::string_view chunk) override {
    if (!error_.ok() || !parser_) return;
    error_ = parser_->Feed(chunk);
  }

  absl::StatusOr<HttpResponse> Finish() override {
    absl::StatusOr<HttpResponse> result = FinishImpl();
    DiscardTemp();  // on failure nothing is stored; on success Commit already consumed it
    return result;
  }

 private:
  absl::StatusOr<HttpResponse> FinishImpl();
  struct Field {
    std::string name;  // as sent
    std::string value;
  };

  absl::Status OnPartBegin(const PartHeaders& headers) override;
  absl::Status OnPartData(absl::string_view data) override;
  absl::Status OnPartEnd() override;

  std::optional<std::string> Get(absl::string_view lower) const {
    for (const Field& f : fields_) {
      if (absl::EqualsIgnoreCase(f.name, lower)) return f.value;
    }
    return std::nullopt;
  }
  absl::Status Authenticate(absl::Time now) const;
  absl::Status AuthenticateV4(absl::Time now) const;
  absl::Status AuthenticateV1(absl::Time now) const;
  ObjectMeta BuildMeta(const std::string& key) const;
  void DiscardTemp() {
    if (file_ != nullptr) std::fclose(file_);
    file_ = nullptr;
    if (!temp_path_.empty()) std::remove(temp_path_.c_str());
    temp_path_.clear();
  }

  const Services& services_;
  RequestContext ctx_;
  std::optional<MultipartParser> parser_;
  absl::Status error_;

  std::vector<Field> fields_;
  size_t field_bytes_ = 0;
  enum class Part { kNone, kField, kFile, kIgnored } part_ = Part::kNone;
  bool file_seen_ = false;
  bool file_done_ = false;
  std::string file_name_;
  std::string file_content_type_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  int64_t size_ = 0;
  int64_t size_cap_ = kMaxObjectSize;
  bool too_large_ = false;
  Md5 md5_;
  Crc64 crc_;
};

absl::Status PostObject::OnPartBegin(const PartHeaders& headers) {
  if (file_seen_) {
    part_ = Part::kIgnored;  // fields after the file are not used
    return absl::OkStatus();
  }
  if (absl::EqualsIgnoreCase(headers.name, "file")) {
    if (!Get("key")) {
      return OssError("InvalidArgument",
                      "Bucket POST must contain the specified 'key'. If it is specified, please "
                      "check the order of the fields.");
    }
    file_seen_ = true;
    part_ = Part::kFile;
    file_name_ = headers.filename;
    file_content_type_ = headers.content_type;
    // A policy size cap lets an oversized file stop hitting the disk early.
    if (std::optional<std::string> policy = Get("policy")) {
      std::string json;
      if (policy->size() <= kMaxFieldValueBytes && absl::Base64Unescape(*policy, &json)) {
        absl::StatusOr<PostPolicy> parsed = PostPolicy::Parse(json);
        if (parsed.ok() && parsed->length_range()) {
          size_cap_ = std::min(size_cap_, parsed->length_range()->second);
        }
      }
    }
    temp_path_ = services_.storage->NewTempPath();
    file_ = std::fopen(temp_path_.c_str(), "wbx");
    if (file_ == nullptr) {
      temp_path_.clear();
      return absl::InternalError("cannot create temp file");
    }
    return absl::OkStatus();
  }
  if (fields_.size() >= kMaxFormFields) return TooLong("too many fields");
  if (headers.name.size() > kMaxFieldNameBytes) return TooLong("field name");
  field_bytes_ += headers.name.size();
  if (field_bytes_ > kMaxTotalFieldBytes) return TooLong("fields in total");
  part_ = Part::kField;
  fields_.push_back(Field{headers.name, ""});
  return absl::OkStatus();
}

absl::Status PostObject::OnPartData(absl::string_view data) {
  switch (part_) {
    case Part::kField: {
      std::string& value = fields_.back().value;
      if (value.size() + data.size() > kMaxFieldValueBytes) return TooLong(fields_.back().name);
      field_bytes_ += data.size();
      if (field_bytes_ > kMaxTotalFieldBytes) return TooLong("fields in total");
      value.append(data.data(), data.size());
      return absl::OkStatus();
    }
    case Part::kFile:
      size_ += static_cast<int64_t>(data.size());
      if (size_ > size_cap_) {
        too_large_ = true;  // keep reading, stop writing; reported after authentication
        return absl::OkStatus();
      }
      md5_.Update(data);
      crc_.Update(data);
      if (std::fwrite(data.data(), 1, data.size(), file_) != data.size()) {
        return absl::InternalError("cannot write temp file");
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::Status PostObject::OnPartEnd() {
  if (part_ == Part::kField) {
    // The first occurrence of a name wins (UNCONFIRMED); a duplicate is dropped.
    const std::string& name = fields_.back().name;
    for (size_t i = 0; i + 1 < fields_.size(); ++i) {
      if (absl::EqualsIgnoreCase(fields_[i].name, name)) {
        fields_.pop_back();
        break;
      }
    }
  } else if (part_ == Part::kFile) {
    file_done_ = true;
    bool ok = std::fflush(file_) == 0;
    ok = std::fclose(file_) == 0 && ok;
    file_ = nullptr;
    if (!ok) return absl::InternalError("cannot write temp file");
  }
  part_ = Part::kNone;
  return absl::OkStatus();
}

absl::Status PostObject::AuthenticateV4(absl::Time now) const {
  auto bad = [](absl::string_view message, absl::string_view ec = "") {
    return OssError("InvalidArgument", message, ec);
  };
  std::optional<std::string> version = Get("x-oss-signature-version");
  std::optional<std::string> credential = Get("x-oss-credential");
  std::optional<std::string> date = Get("x-oss-date");
  std::optional<std::string> signature = Get("x-oss-signature");
  std::optional<std::string> policy = Get("policy");
  if (!version || *version != kV4Algorithm) {
    return bad("x-oss-signature-version must be OSS4-HMAC-SHA256.");
  }
  if (!policy) return bad("Missing policy.", "0002-00000702");
  if (!signature) return bad("Missing x-oss-signature.", "0002-00000703");
  if (signature->empty()) return bad("Empty x-oss-signature.", "0002-00000704");
  if (!credential) return bad("Missing x-oss-credential.", "0002-00000710");
  std::vector<std::string> parts = absl::StrSplit(*credential, '/');
  if (parts.size() != 5 || parts[0].empty() || parts[1].size() != 8 || parts[2].empty() ||
      parts[3] != "oss" || parts[4] != "aliyun_v4_request") {
    return bad("Invalid x-oss-credential format.", "0002-00000710");
  }
  if (!date) return bad("Missing x-oss-date.");
  absl::StatusOr<absl::Time> parsed_date = ParseOssDate(*date);
  if (!parsed_date.ok()) return bad("Invalid x-oss-date format.");
  absl::Time signed_at = *parsed_date;
  if (date->substr(0, 8) != parts[1]) {
    return bad("The date in x-oss-date does not match the date in x-oss-credential.",
               "0002-00000710");
  }
  const Credential* cred = ctx_.bucket->FindCredential(parts[0]);
  if (cred == nullptr) return UnknownAccessKeyError();
  if (absl::Status s = CheckSts(*cred, Get("x-oss-security-token"), now); !s.ok()) return s;
  if (parts[2] != ctx_.bucket->region) {
    return bad(absl::StrCat("Invalid signing region in x-oss-credential: ", parts[2],
                            ", expected ", ctx_.bucket->region, "."),
               "0002-00000710");
  }
  // UNCONFIRMED window: x-oss-date - 15 min <= now <= x-oss-date + 7 days.
  if (now < signed_at - absl::Minutes(15)) {
    return OssError("RequestTimeTooSkewed",
                    "The difference between the request time and the current time is too large.");
  }
  if (now > signed_at + absl::Hours(24 * 7)) {
    return OssError("AccessDenied", "Request has expired.");
  }
  std::string expected =
      LowerHex(HmacSha256(V4SigningKey(cred->access_key_secret, parts[1], parts[2]), *policy));
  if (!SecureEquals(expected, *signature)) return SignatureMismatchError();
  return absl::OkStatus();
}

absl::Status PostObject::AuthenticateV1(absl::Time now) const {
  std::optional<std::string> ak = Get("ossaccesskeyid");
  std::optional<std::string> policy = Get("policy");
  std::optional<std::string> signature = Get("signature");
  if (!ak || !policy || !signature) {
    return OssError("InvalidArgument",
                    "OSSAccessKeyId, policy and Signature must all be present or all be absent.");
  }
  const Credential* cred = ctx_.bucket->FindCredential(*ak);
  if (cred == nullptr) return UnknownAccessKeyError();
  if (absl::Status s = CheckSts(*cred, Get("x-oss-security-token"), now); !s.ok()) return s;
  std::string expected = Base64(HmacSha1(cred->access_key_secret, *policy));
  if (!SecureEquals(expected, *signature)) return SignatureMismatchError();
  return absl::OkStatus();
}

absl::Status PostObject::Authenticate(absl::Time now) const {
  if (Get("x-oss-signature-version") || Get("x-oss-credential") || Get("x-oss-signature")) {
    return AuthenticateV4(now);
  }
  if (Get("ossaccesskeyid") || Get("policy") || Get("signature")) return AuthenticateV1(now);
  if (ctx_.bucket->acl != "public-read-write") {
    return OssError("AccessDenied",
                    "You have no right to access this object because of bucket acl.");
  }
  return absl::OkStatus();
}

ObjectMeta PostObject::BuildMeta(const std::string& key) const {
  ObjectMeta meta;
  meta.key = key;
  meta.size = size_;
  // Md5/Crc64 are const-unfriendly; the digests were finalized in Finish().
  if (std::optional<std::string> ct = Get("x-oss-content-type")) {
    meta.content_type = *ct;
  } else if (std::optional<std::string> ct2 = Get("content-type")) {
    meta.content_type = *ct2;
  } else if (!file_content_type_.empty()) {
    meta.content_type = file_content_type_;
  } else {
    meta.content_type = "application/octet-stream";
  }
  for (const char* h : {"Cache-Control", "Content-Disposition", "Content-Encoding", "Expires"}) {
    if (std::optional<std::string> v = Get(absl::AsciiStrToLower(h))) meta.headers.emplace_back(h, *v);
  }
  for (const Field& f : fields_) {
    std::string lower = absl::AsciiStrToLower(f.name);
    if (absl::StartsWith(lower, "x-oss-meta-")) meta.user_meta.emplace_back(lower, f.value);
  }
  meta.last_modified = services_.clock();
  return meta;
}

absl::StatusOr<HttpResponse> PostObject::FinishImpl() {
  if (error_.ok() && parser_) error_ = parser_->Finish();
  if (!error_.ok()) {
    if (OssCode(error_) == "InternalError" && absl::IsInvalidArgument(error_)) {
      return OssError("MalformedPOSTRequest",
                      absl::StrCat("The body of your POST request is not well-formed "
                                   "multipart/form-data. ", error_.message()));
    }
    return error_;
  }
  if (!file_seen_ || !file_done_) {
    if (!Get("key")) {
      return OssError("InvalidArgument",
                      "Bucket POST must contain the specified 'key'. If it is specified, please "
                      "check the order of the fields.");
    }
    return OssError("InvalidArgument", "POST requires exactly one file upload per request.");
  }
  absl::Time now = services_.clock();
  if (absl::Status s = Authenticate(now); !s.ok()) return s;

  std::string raw_key = *Get("key");
  if (std::optional<std::string> policy_b64 = Get("policy")) {
    std::string json;
    if (!absl::Base64Unescape(*policy_b64, &json)) {
      return OssError("InvalidPolicyDocument", "Invalid Policy: Invalid Base64 encoding.");
    }
    absl::StatusOr<PostPolicy> policy = PostPolicy::Parse(json);
    if (!policy.ok()) return policy.status();
    if (absl::Status s = policy->CheckExpiration(now); !s.ok()) return s;
    absl::Status s = policy->CheckConditions(
        [&](absl::string_view field) -> std::optional<std::string> {
          if (field == "bucket") return ctx_.bucket->name;
          return Get(field);
        });
    if (!s.ok()) return s;
    if (s = policy->CheckLength(size_); !s.ok()) return s;
  }
  if (too_large_ || size_ > kMaxObjectSize) {
    return OssError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.",
                    "0006-00000003");
  }
  std::string key = absl::StrReplaceAll(raw_key, {{"${filename}", file_name_}});
  if (absl::Status s = ValidateKey(key); !s.ok()) return s;

  std::optional<ParsedCallback> callback;
  if (std::optional<std::string> cb = Get("callback")) {
    if (services_.dispatcher == nullptr) {
      return OssError("InvalidArgument", "Upload callback is not available in this emulator build.");
    }
    std::vector<std::pair<std::string, std::string>> vars;
    for (const Field& f : fields_) {
      if (absl::StartsWith(f.name, "x:")) vars.emplace_back(f.name, f.value);
    }
    absl::StatusOr<ParsedCallback> parsed = services_.dispatcher->Parse(*cb, vars);
    if (!parsed.ok()) return OssError("InvalidArgument", parsed.status().message());
    callback = *std::move(parsed);
  }
  if (services_.fail_before_store != nullptr && services_.fail_before_store->load()) {
    return OssError("ServiceUnavailable", "Injected fault: fail_before_store.");
  }

  ObjectMeta meta = BuildMeta(key);
  std::string md5 = md5_.Final();
  meta.etag = UpperHex(md5);
  meta.content_md5 = Base64(md5);
  meta.crc64 = crc_.Value();
  std::optional<std::string> forbid = Get("x-oss-forbid-overwrite");
  bool forbid_overwrite = forbid && absl::EqualsIgnoreCase(*forbid, "true");
  absl::Status stored = services_.storage->Commit(ctx_.bucket->name, meta, temp_path_,
                                                  forbid_overwrite);
  temp_path_.clear();  // consumed (moved or removed) by Commit
  if (!stored.ok()) return stored;

  HttpResponse response;
  std::string etag = absl::StrCat("\"", meta.etag, "\"");
  response.headers = {{"ETag", etag},
                      {"x-oss-hash-crc64ecma", std::to_string(meta.crc64)},
                      {"Content-MD5", meta.content_md5}};
  if (callback) {
    UploadFacts facts;
    facts.bucket = ctx_.bucket->name;
    facts.object = key;
    facts.etag = meta.etag;
    facts.size = meta.size;
    facts.mime_type = meta.content_type;
    facts.crc64 = std::to_string(meta.crc64);
    facts.content_md5 = meta.content_md5;
    facts.client_ip = ctx_.head.peer_ip;
    facts.request_id = ctx_.request_id;
    CallbackOutcome outcome = services_.dispatcher->Dispatch(*callback, facts, ctx_.host_id);
    response.status = outcome.http_status;
    if (!outcome.content_type.empty()) response.headers.emplace_back("Content-Type", outcome.content_type);
    response.body = std::move(outcome.body);
    return response;
  }
  std::optional<std::string> status = Get("success_action_status");
  if (status == "200") {
    response.status = 200;
  } else if (status == "201") {
    response.status = 201;
    response.headers.emplace_back("Content-Type", "application/xml");
    response.body = absl::StrCat(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse>\n  <Bucket>",
        XmlEscape(ctx_.bucket->name), "</Bucket>\n  <ETag>", XmlEscape(etag), "</ETag>\n  <Key>",
        XmlEscape(key), "</Key>\n  <Location>http://", XmlEscape(ctx_.head.Header("host")), "/",
        XmlEscape(key), "</Location>\n</PostResponse>\n");
  } else {
    response.status = 204;
  }
  return response;
}

}  // namespace

std::unique_ptr<Operation> NewPostObject(const Services& services, const RequestContext& ctx) {
  return std::make_unique<PostObject>(services, ctx);
}

}  // namespace ossemu
