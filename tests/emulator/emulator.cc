#include "emulator.h"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "auth_common.h"
#include "cors.h"
#include "crypto.h"
#include "oss_error.h"
#include "policy.h"
#include "post_object.h"
#include "upload_common.h"
#include "v4_auth.h"

namespace ossemu {
namespace {

constexpr uint64_t kSmallBodyLimit = 1 << 20;
constexpr uint64_t kPostBodyLimit = static_cast<uint64_t>(kMaxObjectSize) + (64 << 20);

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding of a path or query component; '+' stays '+'. nullopt on a bad escape.
std::optional<std::string> PercentDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = HexValue(s[i + 1]);
    int lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string QueryParam(absl::string_view raw_query, absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(raw_query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    if (kv.first == name) {
      std::string value = absl::StrReplaceAll(kv.second, {{"+", " "}});
      return PercentDecode(value).value_or("");
    }
  }
  return "";
}

std::string HttpDate(absl::Time t) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", t, absl::UTCTimeZone());
}

HttpResponse Plain(int status, std::string content_type, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

// An operation with a fixed answer (errors found while routing).
class FixedOperation : public Operation {
 public:
  explicit FixedOperation(absl::StatusOr<HttpResponse> result) : result_(std::move(result)) {}
  void OnBody(absl::string_view) override {}
  absl::StatusOr<HttpResponse> Finish() override { return std::move(result_); }

 private:
  absl::StatusOr<HttpResponse> result_;
};

// Buffers a small body and then runs a function on it (on the worker thread, in Finish).
class BufferedOperation : public Operation {
 public:
  using Fn = std::function<absl::StatusOr<HttpResponse>(const std::string& body)>;
  explicit BufferedOperation(Fn fn, bool quick = false) : fn_(std::move(fn)), quick_(quick) {}
  void OnBody(absl::string_view chunk) override {
    if (body_.size() + chunk.size() <= kSmallBodyLimit) body_.append(chunk.data(), chunk.size());
  }
  absl::StatusOr<HttpResponse> Finish() override { return fn_(body_); }
  bool FinishIsQuick() const override { return quick_; }

 private:
  Fn fn_;
  const bool quick_;
  std::string body_;
};

void AddObjectHeaders(const ObjectMeta& meta, HttpResponse* r) {
  r->headers.emplace_back("Content-Type", meta.content_type);
  r->headers.emplace_back("ETag", absl::StrCat("\"", meta.etag, "\""));
  r->headers.emplace_back("x-oss-hash-crc64ecma", std::to_string(meta.crc64));
  r->headers.emplace_back("Content-MD5", meta.content_md5);
  r->headers.emplace_back("Last-Modified", HttpDate(meta.last_modified));
  r->headers.emplace_back("x-oss-object-type", "Normal");
  for (const auto& h : meta.headers) r->headers.push_back(h);
  for (const auto& h : meta.user_meta) r->headers.push_back(h);
}

// V4 header authentication for object/bucket requests (anonymous allowed by bucket ACL).
absl::Status AuthenticateHeader(const RequestContext& ctx, absl::Time now, bool write) {
  absl::string_view authorization = ctx.head.Header("authorization");
  if (authorization.empty()) {
    const std::string& acl = ctx.bucket->acl;
    if (acl == "public-read-write" || (!write && acl == "public-read")) return absl::OkStatus();
    return OssError("AccessDenied",
                    "You have no right to access this object because of bucket acl.");
  }
  absl::StatusOr<V4Authorization> auth = ParseV4Authorization(authorization);
  if (!auth.ok()) return auth.status();
  const Credential* cred = ctx.bucket->FindCredential(auth->access_key_id);
  if (cred == nullptr) return UnknownAccessKeyError();
  std::optional<std::string> token;
  if (ctx.head.HasHeader("x-oss-security-token")) {
    token = std::string(ctx.head.Header("x-oss-security-token"));
  }
  if (absl::Status s = CheckSts(*cred, token, now); !s.ok()) return s;
  absl::string_view date = ctx.head.Header("x-oss-date");
  absl::StatusOr<absl::Time> parsed_date = ParseOssDate(date);
  if (!parsed_date.ok() || date.substr(0, 8) != auth->date) {
    return OssError("InvalidArgument",
                    "x-oss-date is missing, malformed or not the credential date.");
  }
  if (absl::AbsDuration(now - *parsed_date) > absl::Minutes(15)) {
    return OssError("RequestTimeTooSkewed",
                    "The difference between the request time and the current time is too large.");
  }
  if (auth->region != ctx.bucket->region) {
    return OssError("InvalidArgument", absl::StrCat("Invalid signing region in Authorization "
                                                    "header: ",
                                                    auth->region));
  }
  V4Request req{ctx.head.method, ctx.bucket->name, ctx.key, ctx.raw_query, ctx.head.headers};
  std::string expected = V4HeaderSignature(req, cred->access_key_secret, auth->date, auth->region,
                                           auth->additional_headers);
  if (!SecureEquals(expected, auth->signature)) return SignatureMismatchError();
  return absl::OkStatus();
}

absl::StatusOr<HttpResponse> GetOrHead(const Services& s, const RequestContext& ctx, bool head) {
  if (absl::Status a = AuthenticateHeader(ctx, s.clock(), false); !a.ok()) return a;
  if (ctx.key.empty())
    return OssError("InvalidObjectName", "The specified object name is not valid.");
  HttpResponse r;
  if (head) {
    absl::StatusOr<ObjectMeta> meta = s.storage->Head(ctx.bucket->name, ctx.key);
    if (!meta.ok()) return meta.status();
    AddObjectHeaders(*meta, &r);
    r.head_content_length = static_cast<uint64_t>(meta->size);
    return r;
  }
  absl::StatusOr<OpenObject> obj = s.storage->Open(ctx.bucket->name, ctx.key);
  if (!obj.ok()) return obj.status();
  AddObjectHeaders(obj->meta, &r);
  r.body_fd = obj->fd;
  r.fd_size = static_cast<uint64_t>(obj->meta.size);
  return r;
}

// PutObject: V4 header auth up front, body streamed to a temp file, then stored like PostObject.
class PutObject : public Operation {
 public:
  PutObject(const Services& s, RequestContext ctx) : s_(s), ctx_(std::move(ctx)) {
    error_ = AuthenticateHeader(ctx_, s_.clock(), true);
    if (error_.ok()) error_ = ValidateObjectKey(ctx_.key);
    if (error_.ok() && ctx_.head.content_length &&
        *ctx_.head.content_length > static_cast<uint64_t>(kMaxObjectSize)) {
      error_ = OssError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.");
    }
    if (error_.ok()) error_ = writer_.Open(s_.storage, kMaxObjectSize);
  }

  void OnBody(absl::string_view chunk) override {
    if (error_.ok()) error_ = writer_.Write(chunk);
  }

  absl::StatusOr<HttpResponse> Finish() override {
    absl::StatusOr<HttpResponse> result = FinishImpl();
    writer_.Discard();
    return result;
  }

 private:
  absl::StatusOr<HttpResponse> FinishImpl() {
    if (!error_.ok()) return error_;
    if (absl::Status c = writer_.Close(); !c.ok()) return c;
    if (writer_.over_cap()) {
      return OssError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.");
    }
    ObjectMeta meta;
    meta.key = ctx_.key;
    meta.content_type = std::string(ctx_.head.Header("content-type"));
    if (meta.content_type.empty()) meta.content_type = "application/octet-stream";
    for (const auto& [name, value] : ctx_.head.headers) {
      if (absl::StartsWith(name, "x-oss-meta-")) meta.user_meta.emplace_back(name, value);
    }
    for (const char* h : {"Cache-Control", "Content-Disposition", "Content-Encoding", "Expires"}) {
      std::string lower = absl::AsciiStrToLower(h);
      if (ctx_.head.HasHeader(lower))
        meta.headers.emplace_back(h, std::string(ctx_.head.Header(lower)));
    }
    meta.last_modified = s_.clock();
    std::optional<ParsedCallback> callback;
    if (ctx_.head.HasHeader("x-oss-callback")) {
      std::vector<std::pair<std::string, std::string>> vars;
      if (ctx_.head.HasHeader("x-oss-callback-var")) {
        std::string decoded;
        nlohmann::json j;
        if (absl::Base64Unescape(ctx_.head.Header("x-oss-callback-var"), &decoded)) {
          j = nlohmann::json::parse(decoded, nullptr, false);
        }
        if (!j.is_object()) {
          return OssError("InvalidArgument", "The callback var is not json format.");
        }
        for (const auto& [k, v] : j.items()) {
          if (!v.is_string())
            return OssError("InvalidArgument", "The callback var is not json format.");
          vars.emplace_back(k, v.get<std::string>());
        }
      }
      absl::StatusOr<ParsedCallback> parsed =
          ParseCallback(s_, ctx_.head.Header("x-oss-callback"), vars);
      if (!parsed.ok()) return parsed.status();
      callback = *std::move(parsed);
    }
    if (ctx_.head.HasHeader("content-md5") &&
        ctx_.head.Header("content-md5") != writer_.content_md5()) {
      return OssError("InvalidDigest", "The Content-MD5 you specified was invalid.");
    }
    bool forbid = absl::EqualsIgnoreCase(ctx_.head.Header("x-oss-forbid-overwrite"), "true");
    return StoreObject(s_, ctx_, std::move(meta), &writer_, forbid, callback);
  }

  const Services& s_;
  RequestContext ctx_;
  absl::Status error_;
  ObjectWriter writer_;
};

absl::StatusOr<HttpResponse> DeleteObject(const Services& s, const RequestContext& ctx) {
  if (absl::Status a = AuthenticateHeader(ctx, s.clock(), true); !a.ok()) return a;
  if (ctx.key.empty()) return OssError("MethodNotAllowed", "DeleteBucket is not supported.");
  if (absl::Status d = s.storage->Delete(ctx.bucket->name, ctx.key); !d.ok()) return d;
  HttpResponse r;
  r.status = 204;
  return r;
}

absl::StatusOr<HttpResponse> ListObjects(const Services& s, const RequestContext& ctx) {
  if (absl::Status a = AuthenticateHeader(ctx, s.clock(), false); !a.ok()) return a;
  std::string prefix = QueryParam(ctx.raw_query, "prefix");
  std::string marker = QueryParam(ctx.raw_query, "marker");
  int max_keys = 100;
  if (std::string mk = QueryParam(ctx.raw_query, "max-keys"); !mk.empty()) {
    if (!absl::SimpleAtoi(mk, &max_keys) || max_keys < 0 || max_keys > 1000) {
      return OssError("InvalidArgument", "max-keys must be between 0 and 1000.");
    }
  }
  bool truncated = false;
  absl::StatusOr<std::vector<ObjectMeta>> list =
      s.storage->List(ctx.bucket->name, prefix, marker, max_keys, &truncated);
  if (!list.ok()) return list.status();
  std::string xml =
      absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>\n  <Name>",
                   XmlEscape(ctx.bucket->name), "</Name>\n  <Prefix>", XmlEscape(prefix),
                   "</Prefix>\n  <Marker>", XmlEscape(marker), "</Marker>\n  <MaxKeys>", max_keys,
                   "</MaxKeys>\n  <Delimiter></Delimiter>\n  <IsTruncated>",
                   truncated ? "true" : "false", "</IsTruncated>\n");
  if (truncated && !list->empty()) {
    absl::StrAppend(&xml, "  <NextMarker>", XmlEscape(list->back().key), "</NextMarker>\n");
  }
  for (const ObjectMeta& m : *list) {
    absl::StrAppend(&xml, "  <Contents>\n    <Key>", XmlEscape(m.key), "</Key>\n    <LastModified>",
                    absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", m.last_modified, absl::UTCTimeZone()),
                    "</LastModified>\n    <ETag>&quot;", m.etag,
                    "&quot;</ETag>\n    <Type>Normal</Type>\n    <Size>", m.size,
                    "</Size>\n    <StorageClass>Standard</StorageClass>\n  </Contents>\n");
  }
  xml += "</ListBucketResult>\n";
  return Plain(200, "application/xml", std::move(xml));
}

absl::StatusOr<HttpResponse> SetFaults(CallbackFaults* faults, std::atomic<bool>* fail_before_store,
                                       const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return OssError("MalformedXML", "Body must be a JSON object.");
  if (auto cb = j.find("callback"); cb != j.end()) {
    if (!cb->is_string()) return OssError("InvalidArgument", "callback must be a string.");
    std::string mode = cb->get<std::string>();
    if (mode != "none" && mode != "drop" && mode != "delay" && mode != "duplicate") {
      return OssError("InvalidArgument", "callback must be drop|delay|duplicate|none.");
    }
    if (faults == nullptr) return OssError("InvalidArgument", "No callback dispatcher configured.");
    faults->drop = mode == "drop";
    faults->delay = mode == "delay";
    faults->duplicate = mode == "duplicate";
  }
  if (auto f = j.find("fail_before_store"); f != j.end()) {
    if (!f->is_boolean())
      return OssError("InvalidArgument", "fail_before_store must be a boolean.");
    fail_before_store->store(f->get<bool>());
  }
  nlohmann::json state = {{"fail_before_store", fail_before_store->load()}};
  if (faults != nullptr) {
    state["callback"] = faults->drop        ? "drop"
                        : faults->delay     ? "delay"
                        : faults->duplicate ? "duplicate"
                                            : "none";
  }
  return Plain(200, "application/json", state.dump());
}

// Wraps an Operation: forwards the body and turns its result into the final OSS response.
class OssExchange : public HttpExchange {
 public:
  OssExchange(RequestContext ctx, std::unique_ptr<Operation> op, absl::Time start)
      : ctx_(std::move(ctx)), op_(std::move(op)), start_(start) {}
  void OnBody(absl::string_view chunk) override { op_->OnBody(chunk); }
  bool FinishIsQuick() const override { return op_->FinishIsQuick(); }
  HttpResponse Finish() override {
    absl::StatusOr<HttpResponse> result = op_->Finish();
    HttpResponse r;
    if (result.ok()) {
      r = *std::move(result);
    } else {
      std::string code = OssCode(result.status());
      r.status = HttpStatusForCode(code);
      r.headers.emplace_back("Content-Type", "application/xml");
      r.body = ErrorXml(code, result.status().message(), ctx_.request_id, ctx_.host_id,
                        OssEc(result.status()));
      if (ctx_.head.method == "HEAD") {
        r.head_content_length = r.body.size();
        r.body.clear();
      }
    }
    r.headers.emplace_back("Server", "AliyunOSS");
    r.headers.emplace_back("Date", HttpDate(start_));
    r.headers.emplace_back("x-oss-request-id", ctx_.request_id);
    AddCors(&r);
    return r;
  }

 private:
  void AddCors(HttpResponse* r) const {
    absl::string_view origin = ctx_.head.Header("origin");
    if (origin.empty() || ctx_.bucket == nullptr || ctx_.head.method == "OPTIONS") return;
    const CorsRule* rule = MatchCors(ctx_.bucket->cors, origin, ctx_.head.method, "");
    if (rule == nullptr) return;
    for (auto& h : CorsHeaders(*rule, origin, "", false)) r->headers.push_back(std::move(h));
  }

  RequestContext ctx_;
  std::unique_ptr<Operation> op_;
  absl::Time start_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Emulator>> Emulator::Create(EmulatorOptions options) {
  if (!options.clock) options.clock = [] { return absl::Now(); };
  std::unique_ptr<Emulator> emulator(new Emulator(std::move(options)));
  if (absl::Status s = emulator->storage_.Init(); !s.ok()) return s;
  return emulator;
}

Emulator::Emulator(EmulatorOptions options)
    : options_(std::move(options)), storage_(options_.data_dir) {
  services_.config = &options_.config;
  services_.storage = &storage_;
  services_.dispatcher = options_.dispatcher;
  services_.fail_before_store = &fail_before_store_;
  services_.clock = options_.clock;
}

uint64_t Emulator::BodyLimit(const HttpRequestHead& head) const {
  if (head.method == "POST" && absl::StartsWith(head.target, "/?")) return kPostBodyLimit;
  if (head.method == "POST" && head.target == "/") return kPostBodyLimit;
  if (head.method == "PUT") return kPostBodyLimit;
  return kSmallBodyLimit;
}

RequestContext Emulator::Address(HttpRequestHead head) const {
  RequestContext ctx;
  ctx.request_id = absl::AsciiStrToUpper(RandomHex(12));
  std::string host(head.Header("host"));
  if (size_t colon = host.rfind(':');
      colon != std::string::npos && host.find(']') == std::string::npos) {
    host.resize(colon);
  }
  ctx.host = absl::AsciiStrToLower(host);
  ctx.bucket = options_.config.FindBucket(options_.config.default_bucket);
  if (size_t dot = ctx.host.find('.'); dot != std::string::npos) {
    if (const BucketConfig* b = options_.config.FindBucket(ctx.host.substr(0, dot))) ctx.bucket = b;
  }
  ctx.host_id = ctx.host.empty() ? "localhost" : ctx.host;
  absl::string_view target = head.target;
  size_t q = target.find('?');
  absl::string_view path = target.substr(0, q);
  if (q != absl::string_view::npos) ctx.raw_query = std::string(target.substr(q + 1));
  if (absl::StartsWith(path, "/")) path.remove_prefix(1);
  ctx.key = PercentDecode(path).value_or("");
  ctx.head = std::move(head);
  return ctx;
}

std::unique_ptr<HttpExchange> Emulator::Begin(HttpRequestHead head) {
  absl::Time start = options_.clock();
  RequestContext ctx = Address(std::move(head));
  const std::string& method = ctx.head.method;
  absl::string_view path = absl::string_view(ctx.head.target).substr(0, ctx.head.target.find('?'));
  std::unique_ptr<Operation> op;
  const Services& s = services_;

  if (path == "/emulator/callback_pub_key.pem" && method == "GET") {
    if (s.dispatcher == nullptr) {
      op = std::make_unique<FixedOperation>(
          OssError("NoSuchKey", "No callback dispatcher configured."));
    } else {
      op = std::make_unique<FixedOperation>(
          Plain(200, "application/x-pem-file", s.dispatcher->PublicKeyPem()));
    }
  } else if (path == "/_emulator/faults" && method == "POST") {
    CallbackFaults* faults = options_.faults;
    std::atomic<bool>* fbs = &fail_before_store_;
    op = std::make_unique<BufferedOperation>(
        [faults, fbs](const std::string& body) { return SetFaults(faults, fbs, body); });
  } else if (method == "OPTIONS") {
    absl::string_view origin = ctx.head.Header("origin");
    absl::string_view req_method = ctx.head.Header("access-control-request-method");
    absl::string_view req_headers = ctx.head.Header("access-control-request-headers");
    const CorsRule* rule = origin.empty() || req_method.empty()
                               ? nullptr
                               : MatchCors(ctx.bucket->cors, origin, req_method, req_headers);
    if (rule == nullptr) {
      op = std::make_unique<FixedOperation>(OssError(
          "AccessForbidden",
          "CORSResponse: This CORS request is not allowed. This is usually because the evalution "
          "of Origin, request method / Access-Control-Request-Method or "
          "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."));
    } else {
      HttpResponse r;
      r.headers = CorsHeaders(*rule, origin, req_headers, true);
      op = std::make_unique<FixedOperation>(std::move(r));
    }
  } else if (method == "POST" && ctx.key.empty()) {
    op = NewPostObject(s, ctx);
  } else if ((method == "GET" || method == "HEAD") && !ctx.key.empty()) {
    op = std::make_unique<BufferedOperation>(
        [&s, ctx, head = method == "HEAD"](const std::string&) { return GetOrHead(s, ctx, head); },
        /*quick=*/true);  // a sidecar read (and an open() for GET; the body streams from the fd)
  } else if (method == "GET") {
    op = std::make_unique<BufferedOperation>(
        [&s, ctx](const std::string&) { return ListObjects(s, ctx); });
  } else if (method == "PUT" && !ctx.key.empty()) {
    op = std::make_unique<PutObject>(s, ctx);
  } else if (method == "DELETE") {
    op = std::make_unique<BufferedOperation>(
        [&s, ctx](const std::string&) { return DeleteObject(s, ctx); });
  } else {
    op = std::make_unique<FixedOperation>(
        OssError("MethodNotAllowed", "The specified method is not allowed against this resource."));
  }
  return std::make_unique<OssExchange>(std::move(ctx), std::move(op), start);
}

}  // namespace ossemu
