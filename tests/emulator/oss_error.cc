#include "oss_error.h"

#include "absl/types/optional.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace ossemu {
namespace {

constexpr char kCodeUrl[] = "ossemu/code";
constexpr char kEcUrl[] = "ossemu/ec";

struct CodeInfo {
  const char* code;
  int http;
};

constexpr CodeInfo kCodes[] = {
    {"AccessDenied", 403},
    {"SignatureDoesNotMatch", 403},
    {"InvalidAccessKeyId", 403},
    {"AccessForbidden", 403},
    {"RequestTimeTooSkewed", 403},
    {"InvalidPolicyDocument", 400},
    {"InvalidArgument", 400},
    {"InvalidObjectName", 400},
    {"MalformedPOSTRequest", 400},
    {"EntityTooLarge", 400},
    {"EntityTooSmall", 400},
    {"FieldItemTooLong", 400},
    {"InvalidDigest", 400},
    {"MalformedXML", 400},
    {"InvalidRequest", 400},
    {"NoSuchKey", 404},
    {"NoSuchBucket", 404},
    {"MethodNotAllowed", 405},
    {"FileAlreadyExists", 409},
    {"ServiceUnavailable", 503},
    {"NotImplemented", 501},
};

absl::StatusCode CanonicalFor(int http) {
  switch (http) {
    case 400: return absl::StatusCode::kInvalidArgument;
    case 403: return absl::StatusCode::kPermissionDenied;
    case 404: return absl::StatusCode::kNotFound;
    case 405: return absl::StatusCode::kUnimplemented;
    case 409: return absl::StatusCode::kAlreadyExists;
    case 501: return absl::StatusCode::kUnimplemented;
    case 503: return absl::StatusCode::kUnavailable;
    default: return absl::StatusCode::kInternal;
  }
}

}  // namespace

int HttpStatusForCode(absl::string_view code) {
  for (const CodeInfo& info : kCodes) {
    if (code == info.code) return info.http;
  }
  return 500;
}

absl::Status OssError(absl::string_view code, absl::string_view message, absl::string_view ec) {
  absl::Status status(CanonicalFor(HttpStatusForCode(code)), message);
  status.SetPayload(kCodeUrl, absl::Cord(code));
  if (!ec.empty()) status.SetPayload(kEcUrl, absl::Cord(ec));
  return status;
}

std::string OssCode(const absl::Status& status) {
  auto code = status.GetPayload(kCodeUrl);
  return code ? std::string(*code) : "InternalError";
}

std::string OssEc(const absl::Status& status) {
  auto ec = status.GetPayload(kEcUrl);
  return ec ? std::string(*ec) : "";
}

std::string ErrorXml(absl::string_view code, absl::string_view message,
                     absl::string_view request_id, absl::string_view host_id,
                     absl::string_view ec) {
  std::string xml = absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>", XmlEscape(code),
      "</Code>\n  <Message>", XmlEscape(message), "</Message>\n  <RequestId>",
      XmlEscape(request_id), "</RequestId>\n  <HostId>", XmlEscape(host_id), "</HostId>\n");
  absl::StrAppend(&xml, "  <EC>", XmlEscape(ec), "</EC>\n");
  xml += "</Error>\n";
  return xml;
}

}  // namespace ossemu
