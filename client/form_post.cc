#include "client/form_post.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "service/remote/curl_util.h"

namespace ossup::client {
namespace {

constexpr size_t kMaxResponseBytes = 64 * 1024;

struct Transfer {
  std::string body;
  const FormPostOptions* options;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  const size_t room = kMaxResponseBytes - std::min(kMaxResponseBytes, t->body.size());
  t->body.append(data, std::min(bytes, room));
  return bytes;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t ultotal, curl_off_t ulnow) {
  auto* t = static_cast<Transfer*>(user);
  if (t->options->on_progress) t->options->on_progress(ulnow, ultotal);
  return 0;
}

struct MimeDeleter {
  void operator()(curl_mime* m) const { curl_mime_free(m); }
};

std::string Element(absl::string_view xml, absl::string_view name) {
  const std::string open = absl::StrCat("<", name, ">");
  const std::string close = absl::StrCat("</", name, ">");
  const size_t start = xml.find(open);
  if (start == absl::string_view::npos) return "";
  const size_t from = start + open.size();
  const size_t end = xml.find(close, from);
  if (end == absl::string_view::npos) return "";
  return absl::StrReplaceAll(
      xml.substr(from, end - from),
      {{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}});
}

}  // namespace

absl::StatusOr<FormPostResult> PostFormFile(const ::ossup::upload::v1::PostForm& form,
                                            const std::string& path,
                                            const FormPostOptions& options) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat(path, ": not a readable regular file"));
  }
  if (absl::Status s = remote::CurlGlobalInitOnce(); !s.ok()) return s;
  // libcurl's own words for a failure ("Operation too slow. Less than 1 bytes/sec transferred the
  // last 30 seconds") say more than curl_easy_strerror's generic text. Declared before the handle,
  // which may write to it until it is cleaned up.
  char detail[CURL_ERROR_SIZE] = {0};
  remote::CurlEasy curl(curl_easy_init());
  if (!curl) return absl::InternalError("curl_easy_init failed");
  CURL* h = curl.get();
  std::unique_ptr<curl_mime, MimeDeleter> mime(curl_mime_init(h));
  auto add_field = [&](const std::string& name, const std::string& value) {
    curl_mimepart* part = curl_mime_addpart(mime.get());
    curl_mime_name(part, name.c_str());
    curl_mime_data(part, value.data(), value.size());
  };
  for (const auto& field : form.fields()) add_field(field.name(), field.value());
  for (const std::string& name : form.client_fields()) {
    if (!absl::EqualsIgnoreCase(name, "Content-Type")) {
      return absl::InvalidArgumentError(
          absl::StrCat("the form asks for a field this client cannot fill: ", name));
    }
    add_field(name, options.content_type);
  }
  curl_mimepart* file = curl_mime_addpart(mime.get());
  curl_mime_name(file, form.file_field().c_str());
  // Streams from disk as the body is sent; the part's filename is the path's last segment.
  if (curl_mime_filedata(file, path.c_str()) != CURLE_OK) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot be read"));
  }
  curl_mime_type(file, options.content_type.c_str());

  Transfer transfer{"", &options};
  // OSS reads the whole form before it can judge it, so waiting for "100 Continue" gains
  // nothing and costs a round trip.
  remote::CurlSlist headers(curl_slist_append(nullptr, "Expect:"));
  curl_easy_setopt(h, CURLOPT_URL, form.url().c_str());
  curl_easy_setopt(h, CURLOPT_MIMEPOST, mime.get());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options.connect_timeout)));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(
      h, CURLOPT_LOW_SPEED_TIME,
      static_cast<long>(std::max<int64_t>(1, absl::ToInt64Seconds(options.stall_timeout))));
  if (options.total_timeout > absl::ZeroDuration()) {
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(options.total_timeout)));
  }
  if (!options.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options.ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);

  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);

  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    const std::string what = absl::StrCat("POST ", form.url(), ": ",
                                          detail[0] != '\0' ? detail : curl_easy_strerror(rc));
    switch (rc) {
      case CURLE_OPERATION_TIMEDOUT:
        return absl::DeadlineExceededError(absl::StrCat(
            what, " (stall limit ", absl::FormatDuration(options.stall_timeout),
            options.total_timeout > absl::ZeroDuration()
                ? absl::StrCat(", total limit ", absl::FormatDuration(options.total_timeout))
                : "",
            ")"));
      case CURLE_READ_ERROR:
        return absl::NotFoundError(what);
      default:
        return absl::UnavailableError(what);
    }
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  return FormPostResult{static_cast<int>(status), std::move(transfer.body)};
}

OssError ParseOssError(absl::string_view body) {
  return OssError{Element(body, "Code"), Element(body, "Message"), Element(body, "RequestId"),
                  Element(body, "EC")};
}

std::string ExplainOssAnswer(int http_status, const OssError& error, int64_t file_size,
                             const ::ossup::upload::v1::Constraints& constraints) {
  const std::string detail = error.message.empty() ? "" : absl::StrCat(" (", error.message, ")");
  const std::string request =
      error.request_id.empty() ? "" : absl::StrCat(" [OSS request id ", error.request_id, "]");
  if (http_status == 203 || error.code == "CallbackFailed") {
    return absl::StrCat("OSS stored the object, but its callback to the service failed: ",
                        error.message.empty() ? "no reason given" : error.message, request);
  }
  if (error.code == "EntityTooLarge") {
    return absl::StrCat("OSS refused the upload: the file (", file_size,
                        " bytes) is larger than the signed limit of ", constraints.max_size(),
                        " bytes", request);
  }
  if (error.code == "EntityTooSmall") {
    return absl::StrCat("OSS refused the upload: the file (", file_size,
                        " bytes) is smaller than the signed minimum of ", constraints.min_size(),
                        " bytes", request);
  }
  if (absl::StrContains(error.message, "Policy Condition failed")) {
    return absl::StrCat("OSS refused the upload: a condition of the signed policy failed", detail,
                        request);
  }
  if (error.code == "AccessDenied" && absl::StrContains(error.message, "expired")) {
    return absl::StrCat("OSS refused the upload: the form has expired; create a new upload", detail,
                        request);
  }
  if (error.code.empty()) {
    return absl::StrCat("OSS answered HTTP ", http_status, " without an error document");
  }
  return absl::StrCat("OSS refused the upload: HTTP ", http_status, " ", error.code, detail,
                      request);
}

}  // namespace ossup::client
