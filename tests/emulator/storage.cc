#include "storage.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "crypto.h"
#include "oss_error.h"

namespace ossemu {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr size_t kMaxSidecarBytes = 1 << 20;

json MetaToJson(const ObjectMeta& m) {
  json j;
  j["key"] = m.key;
  j["size"] = m.size;
  j["etag"] = m.etag;
  j["content_md5"] = m.content_md5;
  j["crc64"] = std::to_string(m.crc64);
  j["content_type"] = m.content_type;
  j["headers"] = m.headers;
  j["user_meta"] = m.user_meta;
  j["last_modified_unix_ms"] = absl::ToUnixMillis(m.last_modified);
  return j;
}

absl::StatusOr<ObjectMeta> MetaFromJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError("bad metadata sidecar");
  try {
    ObjectMeta m;
    m.key = j.at("key").get<std::string>();
    m.size = j.at("size").get<int64_t>();
    m.etag = j.at("etag").get<std::string>();
    m.content_md5 = j.at("content_md5").get<std::string>();
    m.crc64 = std::stoull(j.at("crc64").get<std::string>());
    m.content_type = j.at("content_type").get<std::string>();
    m.headers = j.at("headers").get<std::vector<std::pair<std::string, std::string>>>();
    m.user_meta = j.at("user_meta").get<std::vector<std::pair<std::string, std::string>>>();
    m.last_modified = absl::FromUnixMillis(j.at("last_modified_unix_ms").get<int64_t>());
    return m;
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("bad metadata sidecar: ", e.what()));
  }
}

absl::Status WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace

Storage::Storage(std::string root) : root_(std::move(root)) {}

absl::Status Storage::Init() {
  std::error_code ec;
  fs::create_directories(fs::path(root_) / "tmp", ec);
  if (!ec) fs::create_directories(fs::path(root_) / "buckets", ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", root_, ": ", ec.message()));
  return absl::OkStatus();
}

std::string Storage::NewTempPath() { return (fs::path(root_) / "tmp" / RandomHex(16)).string(); }

std::string Storage::BucketDir(absl::string_view bucket) const {
  return (fs::path(root_) / "buckets" / std::string(bucket)).string();
}

std::string Storage::BasePath(absl::string_view bucket, absl::string_view key) const {
  return BucketDir(bucket) + "/" + LowerHex(Sha256(key));
}

absl::Status Storage::Commit(absl::string_view bucket, const ObjectMeta& meta,
                             const std::string& temp_path, bool forbid_overwrite) {
  std::error_code ec;
  fs::create_directories(BucketDir(bucket), ec);
  std::string base = BasePath(bucket, meta.key);
  std::string sidecar_tmp = NewTempPath();
  absl::Status written = WriteFile(sidecar_tmp, MetaToJson(meta).dump());
  if (!written.ok()) {
    fs::remove(temp_path, ec);
    fs::remove(sidecar_tmp, ec);
    return written;
  }
  absl::MutexLock lock(&mu_);
  if (forbid_overwrite && fs::exists(base + ".json", ec)) {
    fs::remove(temp_path, ec);
    fs::remove(sidecar_tmp, ec);
    return OssError("FileAlreadyExists",
                    "The object you specified already exists and can not be "
                    "overwritten.");
  }
  fs::rename(temp_path, base + ".data", ec);
  if (!ec) fs::rename(sidecar_tmp, base + ".json", ec);
  if (ec) {
    fs::remove(temp_path, ec);
    fs::remove(sidecar_tmp, ec);
    return absl::InternalError("cannot store object");
  }
  return absl::OkStatus();
}

bool Storage::Exists(absl::string_view bucket, absl::string_view key) {
  absl::MutexLock lock(&mu_);
  std::error_code ec;
  return fs::exists(BasePath(bucket, key) + ".json", ec);
}

absl::StatusOr<ObjectMeta> Storage::ReadMeta(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return OssError("NoSuchKey", "The specified key does not exist.");
  // Grows with the file (a sidecar is a few hundred bytes): allocating and zeroing the whole
  // limit up front was most of a HeadObject's CPU.
  std::string text;
  char chunk[4096];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxSidecarBytes) return absl::DataLossError("sidecar too large");
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return MetaFromJson(text);
}

absl::StatusOr<ObjectMeta> Storage::Head(absl::string_view bucket, absl::string_view key) {
  absl::MutexLock lock(&mu_);
  return ReadMeta(BasePath(bucket, key) + ".json");
}

absl::StatusOr<OpenObject> Storage::Open(absl::string_view bucket, absl::string_view key) {
  absl::MutexLock lock(&mu_);
  std::string base = BasePath(bucket, key);
  absl::StatusOr<ObjectMeta> meta = ReadMeta(base + ".json");
  if (!meta.ok()) return meta.status();
  OpenObject obj;
  obj.fd = ::open((base + ".data").c_str(), O_RDONLY | O_CLOEXEC);
  if (obj.fd < 0) return OssError("NoSuchKey", "The specified key does not exist.");
  obj.meta = *std::move(meta);
  return obj;
}

absl::Status Storage::Delete(absl::string_view bucket, absl::string_view key) {
  absl::MutexLock lock(&mu_);
  std::error_code ec;
  std::string base = BasePath(bucket, key);
  fs::remove(base + ".json", ec);
  fs::remove(base + ".data", ec);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ObjectMeta>> Storage::List(absl::string_view bucket,
                                                      absl::string_view prefix,
                                                      absl::string_view marker, int max_keys,
                                                      bool* truncated) {
  // The sidecars are read without the lock: HEAD and GET take it on the I/O threads, and a
  // listing of a large bucket must not stall them. Sidecars are replaced by rename, so each read
  // sees a whole one; one deleted meanwhile is skipped.
  std::vector<std::string> sidecars;
  {
    absl::MutexLock lock(&mu_);
    std::error_code ec;
    fs::directory_iterator it(BucketDir(bucket), ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
      if (it->path().extension() == ".json") sidecars.push_back(it->path().string());
    }
  }
  std::vector<ObjectMeta> all;
  for (const std::string& path : sidecars) {
    absl::StatusOr<ObjectMeta> meta = ReadMeta(path);
    if (!meta.ok()) continue;
    if (!absl::StartsWith(meta->key, prefix) || meta->key <= marker) continue;
    all.push_back(*std::move(meta));
  }
  std::sort(all.begin(), all.end(),
            [](const ObjectMeta& a, const ObjectMeta& b) { return a.key < b.key; });
  *truncated = all.size() > static_cast<size_t>(max_keys);
  if (*truncated) all.resize(static_cast<size_t>(max_keys));
  return all;
}

}  // namespace ossemu
