#ifndef OSSEMU_OBJECT_WRITER_H_
#define OSSEMU_OBJECT_WRITER_H_

// Streams an upload into a temp file under the data dir while computing size, MD5 and CRC-64.
// Bytes beyond `cap` are counted but not written (the upload will be refused anyway).

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "crypto.h"
#include "storage.h"

namespace ossemu {

class ObjectWriter {
 public:
  ObjectWriter() = default;
  ~ObjectWriter() { Discard(); }
  ObjectWriter(const ObjectWriter&) = delete;
  ObjectWriter& operator=(const ObjectWriter&) = delete;

  absl::Status Open(Storage* storage, int64_t cap);
  absl::Status Write(absl::string_view data);
  absl::Status Close();
  // Removes the temp file unless Release() handed it over.
  void Discard();
  // Hands the temp path to the caller (Storage::Commit consumes it).
  std::string Release();

  // Size and digests (valid after Close()).
  void FinishDigests(ObjectMeta* meta) const;
  std::string content_md5() const { return Base64(md5_raw_); }

  bool is_open() const { return !path_.empty(); }
  int64_t size() const { return size_; }
  bool over_cap() const { return size_ > cap_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  int64_t size_ = 0;
  int64_t cap_ = 0;
  Md5 md5_;
  Crc64 crc_;
  std::string md5_raw_;
};

}  // namespace ossemu

#endif  // OSSEMU_OBJECT_WRITER_H_
