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
#include "object_writer.h"
#include "oss_error.h"
#include "policy.h"
#include "upload_common.h"
#include "v4_auth.h"

namespace ossemu {
namespace {

constexpr char kV4Algorithm[] = "OSS4-HMAC-SHA256";

absl::Status TooLong(absl::string_view what) {
  return OssError("FieldItemTooLong", absl::StrCat("Your POST request fields preceding the upload "
                                                   "file was too large: ", what));
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

  ~PostObject() override = default;

  void OnBody(absl::string_view chunk) override {
    if (!error_.ok() || !parser_) return;
    error_ = parser_->Feed(chunk);
  }

  absl::StatusOr<HttpResponse> Finish() override {
    absl::StatusOr<HttpResponse> result = FinishImpl();
    writer_.Discard();  // on failure nothing is stored; on success Commit consumed the file
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
  ObjectWriter writer_;
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
    int64_t cap = kMaxObjectSize;
    if (std::optional<std::string> policy = Get("policy")) {
      std::string json;
      if (absl::Base64Unescape(*policy, &json)) {
        absl::StatusOr<PostPolicy> parsed = PostPolicy::Parse(json);
        if (parsed.ok() && parsed->length_range()) {
          cap = std::min(cap, parsed->length_range()->second);
        }
      }
    }
    return writer_.Open(services_.storage, cap);
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
      return writer_.Write(data);
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
    if (absl::Status s = writer_.Close(); !s.ok()) return s;
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
    if (s = policy->CheckLength(writer_.size()); !s.ok()) return s;
  }
  if (writer_.size() > kMaxObjectSize) {
    return OssError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.",
                    "0006-00000003");
  }
  std::string key = absl::StrReplaceAll(raw_key, {{"${filename}", file_name_}});
  if (absl::Status s = ValidateObjectKey(key); !s.ok()) return s;

  std::optional<ParsedCallback> callback;
  if (std::optional<std::string> cb = Get("callback")) {
    std::vector<std::pair<std::string, std::string>> vars;
    for (const Field& f : fields_) {
      if (absl::StartsWith(f.name, "x:")) vars.emplace_back(f.name, f.value);
    }
    absl::StatusOr<ParsedCallback> parsed = ParseCallback(services_, *cb, vars);
    if (!parsed.ok()) return parsed.status();
    callback = *std::move(parsed);
  }
  std::optional<std::string> forbid = Get("x-oss-forbid-overwrite");
  absl::StatusOr<HttpResponse> stored =
      StoreObject(services_, ctx_, BuildMeta(key), &writer_,
                  forbid && absl::EqualsIgnoreCase(*forbid, "true"), callback);
  if (!stored.ok() || callback) return stored;
  HttpResponse& response = *stored;
  std::string etag = response.headers.front().second;
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
        XmlEscape(UriEncode(key, false)), "</Location>\n</PostResponse>\n");
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
