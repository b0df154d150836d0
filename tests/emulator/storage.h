#ifndef OSSEMU_STORAGE_H_
#define OSSEMU_STORAGE_H_

// Objects on disk: <root>/buckets/<bucket>/<sha256(key)>.data + .json sidecar. Writes go to a
// temp file first and are renamed into place; one mutex makes data+sidecar replacement and
// (sidecar read + data open) atomic with respect to each other.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ossemu {

struct ObjectMeta {
  std::string key;
  int64_t size = 0;
  std::string etag;         // uppercase hex MD5, without quotes
  std::string content_md5;  // base64
  uint64_t crc64 = 0;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;    // Cache-Control etc.
  std::vector<std::pair<std::string, std::string>> user_meta;  // x-oss-meta-* (lowercase)
  absl::Time last_modified;
};

// An open object: metadata plus a file descriptor the caller owns (close it).
struct OpenObject {
  ObjectMeta meta;
  int fd = -1;
};

class Storage {
 public:
  explicit Storage(std::string root);

  // Creates the directory layout.
  absl::Status Init();
  // A fresh path for a temp file under <root>/tmp.
  std::string NewTempPath();

  // Moves `temp_path` into place as bucket/key. With forbid_overwrite an existing object gives
  // FileAlreadyExists and the temp file is removed.
  absl::Status Commit(absl::string_view bucket, const ObjectMeta& meta,
                      const std::string& temp_path, bool forbid_overwrite);
  bool Exists(absl::string_view bucket, absl::string_view key);
  absl::StatusOr<ObjectMeta> Head(absl::string_view bucket, absl::string_view key);
  absl::StatusOr<OpenObject> Open(absl::string_view bucket, absl::string_view key);
  absl::Status Delete(absl::string_view bucket, absl::string_view key);
  // Objects with `prefix`, keys > marker, sorted, at most max_keys; sets *truncated.
  absl::StatusOr<std::vector<ObjectMeta>> List(absl::string_view bucket, absl::string_view prefix,
                                               absl::string_view marker, int max_keys,
                                               bool* truncated);

 private:
  std::string BucketDir(absl::string_view bucket) const;
  std::string BasePath(absl::string_view bucket, absl::string_view key) const;
  // Reads one sidecar. Safe without mu_ (sidecars are replaced by rename); Head and Open hold it
  // so that the sidecar and the data file they return belong together.
  static absl::StatusOr<ObjectMeta> ReadMeta(const std::string& path);

  std::string root_;
  absl::Mutex mu_;
};

}  // namespace ossemu

#endif  // OSSEMU_STORAGE_H_
