#ifndef OSSEMU_MULTIPART_H_
#define OSSEMU_MULTIPART_H_

// Streaming multipart/form-data parser: bytes arrive in arbitrary chunks, part bodies are handed
// to a sink as they arrive, so a part larger than memory never has to be buffered.

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ossemu {

struct PartHeaders {
  std::string name;          // Content-Disposition name=
  std::string filename;      // Content-Disposition filename= (empty when absent)
  bool has_filename = false;
  std::string content_type;  // the part's Content-Type (empty when absent)
};

class MultipartSink {
 public:
  virtual ~MultipartSink() = default;
  virtual absl::Status OnPartBegin(const PartHeaders& headers) = 0;
  virtual absl::Status OnPartData(absl::string_view data) = 0;
  virtual absl::Status OnPartEnd() = 0;
};

// Returns the boundary of a `multipart/form-data; boundary=...` Content-Type.
absl::StatusOr<std::string> BoundaryFromContentType(absl::string_view content_type);

class MultipartParser {
 public:
  static constexpr size_t kMaxPartHeaderBytes = 16 * 1024;

  // `sink` must outlive the parser.
  MultipartParser(std::string boundary, MultipartSink* sink);

  // Feeds the next bytes. A sink error is returned as is; malformed input is InvalidArgument.
  // After the first error every later call returns that error.
  absl::Status Feed(absl::string_view data);
  // Call at end of input: fails unless the closing boundary was seen.
  absl::Status Finish();

 private:
  enum class State { kPreamble, kAfterBoundary, kHeaders, kBody, kEpilogue };

  absl::Status Run();
  absl::Status ParseHeaders(absl::string_view block);

  std::string delimiter_;  // "\r\n--" + boundary
  MultipartSink* sink_;
  State state_ = State::kPreamble;
  std::string buffer_;
  absl::Status error_;
};

}  // namespace ossemu

#endif  // OSSEMU_MULTIPART_H_
