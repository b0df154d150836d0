#include "object_writer.h"

namespace ossemu {

absl::Status ObjectWriter::Open(Storage* storage, int64_t cap) {
  cap_ = cap;
  path_ = storage->NewTempPath();
  file_ = std::fopen(path_.c_str(), "wbx");
  if (file_ == nullptr) {
    path_.clear();
    return absl::InternalError("cannot create temp file");
  }
  return absl::OkStatus();
}

absl::Status ObjectWriter::Write(absl::string_view data) {
  size_ += static_cast<int64_t>(data.size());
  if (size_ > cap_ || file_ == nullptr) return absl::OkStatus();
  md5_.Update(data);
  crc_.Update(data);
  if (std::fwrite(data.data(), 1, data.size(), file_) != data.size()) {
    return absl::InternalError("cannot write temp file");
  }
  return absl::OkStatus();
}

absl::Status ObjectWriter::Close() {
  if (file_ == nullptr) return absl::OkStatus();
  md5_raw_ = md5_.Final();
  bool ok = std::fflush(file_) == 0;
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  return ok ? absl::OkStatus() : absl::InternalError("cannot write temp file");
}

void ObjectWriter::Discard() {
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  if (!path_.empty()) std::remove(path_.c_str());
  path_.clear();
}

std::string ObjectWriter::Release() {
  std::string path = std::move(path_);
  path_.clear();
  return path;
}

void ObjectWriter::FinishDigests(ObjectMeta* meta) const {
  meta->size = size_;
  meta->etag = UpperHex(md5_raw_);
  meta->content_md5 = Base64(md5_raw_);
  meta->crc64 = crc_.Value();
}

}  // namespace ossemu
