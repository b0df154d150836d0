// Posting a signed PostObject form to OSS from C++ (what a browser does), streaming the file from
// disk, and making sense of OSS's answer.
#ifndef OSSUP_CLIENT_FORM_POST_H_
#define OSSUP_CLIENT_FORM_POST_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ossup/upload/v1/upload_service.pb.h"

namespace ossup::client {

struct FormPostOptions {
  // Media type of the file part, and the value of a "Content-Type" client field when the form
  // asks for one (several types allowed).
  std::string content_type = "application/octet-stream";
  absl::Duration connect_timeout = absl::Seconds(10);
  // Abort when fewer than one byte per second moved for this long (a stalled link or server).
  absl::Duration stall_timeout = absl::Seconds(30);
  // Whole-transfer limit; zero = none (large files on slow links take what they take).
  absl::Duration total_timeout = absl::ZeroDuration();
  // PEM CA file for an https:// OSS endpoint; empty = the system roots.
  std::string ca_file;
  // Called from the transfer with bytes sent so far and the request's total (0 until known).
  std::function<void(int64_t sent, int64_t total)> on_progress;
};

struct FormPostResult {
  int http_status = 0;
  // At most 64 KiB of the response body (OSS relays the callback endpoint's JSON on 200, and
  // answers errors in XML).
  std::string body;
};

// POSTs `form` with the file at `path` as its last part. Errors: NOT_FOUND for an unreadable file,
// INVALID_ARGUMENT for a client field this function cannot fill, UNAVAILABLE when OSS cannot be
// reached, DEADLINE_EXCEEDED on a timeout or stall. Any HTTP answer is a result, not an error.
absl::StatusOr<FormPostResult> PostFormFile(const ::ossup::upload::v1::PostForm& form,
                                            const std::string& path,
                                            const FormPostOptions& options);

// OSS's XML error body: <Error><Code/><Message/><RequestId/><EC/>...</Error>. Missing elements
// stay empty; entities are decoded.
struct OssError {
  std::string code;
  std::string message;
  std::string request_id;
  std::string ec;
};
OssError ParseOssError(absl::string_view body);

// What happened to a posted form, in words a person can act on. `file_size` and the upload's
// constraints make size refusals concrete.
std::string ExplainOssAnswer(int http_status, const OssError& error, int64_t file_size,
                             const ::ossup::upload::v1::Constraints& constraints);

}  // namespace ossup::client

#endif  // OSSUP_CLIENT_FORM_POST_H_
