// uploadctl upload FILE...: CreateUpload, POST the form to OSS streaming from disk, then wait for
// the upload's event. Each file is its own upload; -j runs several at once.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/form_post.h"
#include "client/uploadctl/cli.h"
#include "client/uploadctl/progress.h"
#include "nlohmann/json.hpp"

namespace ossup::uploadctl {
namespace {

struct UploadFlags {
  std::vector<std::string> files;
  std::string subject = "uploadctl";
  std::string prefix = "uploads/";
  std::string key;
  std::string content_type;
  int64_t min_size = 0;
  int64_t max_size = 0;
  std::vector<std::string> metadata;
  std::string bucket;
  std::string ttl;
  int jobs = 1;
  std::string progress = "auto";
  std::string progress_interval = "5s";
  std::string wait_timeout = "60s";
  std::string stall_timeout = "30s";
  bool no_wait = false;
  std::string oss_ca;
};

// The media type for a file name from /etc/mime.types (Debian's media-types), else
// application/octet-stream.
std::string GuessContentType(const std::string& path) {
  const size_t dot = path.rfind('.');
  const size_t slash = path.rfind('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) {
    return "application/octet-stream";
  }
  // Read once per process, not once per file (upload -j runs many).
  static const auto* const kTypes = [] {
    auto* types = new absl::flat_hash_map<std::string, std::string>();
    std::ifstream in("/etc/mime.types");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::vector<std::string> words =
          absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      for (size_t i = 1; i < words.size(); ++i) types->emplace(words[i], words[0]);
    }
    return types;
  }();
  auto it = kTypes->find(absl::AsciiStrToLower(path.substr(dot + 1)));
  return it == kTypes->end() ? "application/octet-stream" : it->second;
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

struct FileResult {
  int exit_code = kExitOk;
  std::string message;  // the outcome in words
  std::optional<v1::Upload> upload;
  std::optional<v1::UploadEvent> event;
  int oss_status = 0;
  client::OssError oss_error;
};

// What Upload() parsed once from the flags, for every file.
struct UploadSettings {
  std::string parent;
  google::protobuf::Map<std::string, std::string> metadata;
  absl::Duration wait;
  absl::Duration stall;
  absl::Duration ttl = absl::ZeroDuration();  // zero: the service's default
};

class Uploader {
 public:
  Uploader(const UploadFlags& f, UploadSettings settings, const client::UploadClient& client,
           Progress* progress)
      : f_(f),
        client_(client),
        parent_(std::move(settings.parent)),
        metadata_(std::move(settings.metadata)),
        wait_(settings.wait),
        stall_(settings.stall),
        ttl_(settings.ttl),
        progress_(progress) {}

  FileResult Run(const std::string& path) {
    FileResult r;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(path.c_str(), R_OK)) {
      r.exit_code = kExitUsage;
      r.message = "not a readable regular file";
      return r;
    }
    const int64_t size = st.st_size;
    const std::string content_type =
        f_.content_type.empty() ? GuessContentType(path) : f_.content_type;

    v1::CreateUploadRequest request;
    request.set_parent(parent_);
    request.set_subject(f_.subject);
    if (!f_.key.empty()) {
      request.set_object_key(f_.key);
    } else {
      request.mutable_key_template()->set_prefix(f_.prefix);
      request.mutable_key_template()->set_file_name(BaseName(path));
    }
    v1::Constraints* c = request.mutable_constraints();
    c->add_content_types(content_type);
    c->set_min_size(f_.min_size);
    c->set_max_size(f_.max_size > 0 ? f_.max_size : std::max<int64_t>(size, 1));
    *request.mutable_metadata() = metadata_;
    request.set_bucket(f_.bucket);
    if (ttl_ > absl::ZeroDuration()) request.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl_));

    absl::StatusOr<v1::CreateUploadResponse> created = client_.CreateUpload(request);
    if (!created.ok()) return ServiceFailure(r, "CreateUpload", created.status());
    r.upload = created->upload();
    const std::string& name = created->upload().name();
    // Pinned before the POST: the completion event is necessarily after it.
    absl::StatusOr<int64_t> before = client_.CurrentEventSequence(parent_);
    if (!before.ok()) {
      ServiceFailure(r, "ListUploads", before.status());
      AppendCancel(name, &r);
      return r;
    }

    client::FormPostOptions post;
    post.content_type = content_type;
    post.stall_timeout = stall_;
    post.ca_file = f_.oss_ca;
    const int id = progress_->Add(BaseName(path), size);
    std::atomic<int64_t> sent_bytes{0}, total_bytes{0};
    post.on_progress = [&, id](int64_t sent, int64_t total) {
      sent_bytes = sent;
      total_bytes = total;
      progress_->Update(id, sent, total);
    };
    absl::StatusOr<client::FormPostResult> posted =
        client::PostFormFile(created->form(), path, post);
    progress_->Finish(id);
    if (!posted.ok()) {
      const absl::StatusCode code = posted.status().code();
      r.exit_code =
          code == absl::StatusCode::kNotFound ? kExitUsage
          : code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded
              ? kExitUnavailable
              : kExitServiceError;
      r.message = absl::StrCat("the POST to OSS failed: ", posted.status().message());
      if (code == absl::StatusCode::kDeadlineExceeded) {
        absl::StrAppend(&r.message,
                        "; --stall-timeout sets how long a transfer may make no progress");
      }
      if (total_bytes > 0 && sent_bytes >= total_bytes) {
        // The whole body went out: OSS may have stored the object and be calling back. Cancelling
        // now could beat that callback, so ask for the outcome instead.
        absl::StrAppend(&r.message, "; the whole file was sent, so OSS may have stored it");
        return AwaitEvent(name, *before, std::move(r));
      }
      AppendCancel(name, &r);
      return r;
    }
    r.oss_status = posted->http_status;
    if (posted->http_status != 200) {
      r.oss_error = client::ParseOssError(posted->body);
      r.message = client::ExplainOssAnswer(posted->http_status, r.oss_error, size,
                                           created->upload().constraints());
      if (posted->http_status == 203) {
        r.exit_code = kExitNegative;
        ExplainCallbackFailure(name, &r);
      } else if (posted->http_status >= 500) {
        // OSS failed, not refused; whether it stored anything is unknown, so the upload is left
        // to its callback or to expiry.
        r.exit_code = kExitUnavailable;
      } else {
        r.exit_code = kExitNegative;
        AppendCancel(name, &r);  // refused: nothing was stored
      }
      return r;
    }
    if (f_.no_wait) {
      r.message = "uploaded; OSS reports the service accepted the callback";
      return r;
    }
    return AwaitEvent(name, *before, std::move(r));
  }

 private:
  FileResult ServiceFailure(FileResult& r, const char* call, const absl::Status& status) {
    r.exit_code = ExitCodeFor(status);
    r.message = absl::StrCat(call, " failed: ", absl::StatusCodeToString(status.code()), ": ",
                             status.message());
    return r;
  }

  // Cancels an upload that can no longer complete, and says whether that worked.
  void AppendCancel(const std::string& name, FileResult* r) {
    absl::StatusOr<v1::Upload> cancelled = client_.CancelUpload(name);
    if (cancelled.ok()) {
      r->upload = *std::move(cancelled);  // what the result reports is the upload as it now is
      absl::StrAppend(&r->message, "; the upload was cancelled");
    } else {
      absl::StrAppend(&r->message, "; cancelling ", name, " failed too (",
                      cancelled.status().message(), "): it expires on its own");
    }
  }

  // After a 203 the object is stored; what the service knows tells why the callback failed.
  void ExplainCallbackFailure(const std::string& name, FileResult* r) {
    absl::StatusOr<v1::Upload> upload = client_.GetUpload(name);
    if (!upload.ok()) return;
    r->upload = *upload;
    if (upload->state() == v1::Upload::COMPLETED) {
      // OSS gave up waiting, but the service had recorded the callback: the upload succeeded.
      r->exit_code = kExitOk;
      absl::StrAppend(&r->message, "; but the service had recorded it: COMPLETED ",
                      upload->bucket(), "/", upload->object_key());
    } else if (upload->state() == v1::Upload::REJECTED) {
      absl::StrAppend(&r->message,
                      "; the service rejected the object: ", upload->rejection_reason());
    } else if (upload->state() == v1::Upload::PENDING) {
      absl::StrAppend(&r->message,
                      "; the service recorded no callback for this upload: check that OSS can "
                      "reach the callback URL, and capture the callback request and run "
                      "'uploadctl verify-callback' on it to see whether its signature verifies");
    } else {
      absl::StrAppend(&r->message, "; the upload is ", v1::Upload::State_Name(upload->state()));
    }
  }

  FileResult AwaitEvent(const std::string& name, int64_t after, FileResult r) {
    v1::WatchUploadsRequest request;
    request.set_parent(parent_);
    request.add_upload_names(name);
    request.set_after_sequence(after);
    absl::StatusOr<std::unique_ptr<client::EventStream>> stream = client_.Watch(request);
    if (!stream.ok()) return ServiceFailure(r, "WatchUploads", stream.status());
    absl::StatusOr<v1::UploadEvent> event = (*stream)->Next(absl::Now() + wait_);
    if (!event.ok()) {
      if (event.status().code() == absl::StatusCode::kDeadlineExceeded) {
        absl::StatusOr<v1::Upload> u = client_.GetUpload(name);
        if (u.ok() && u->state() == v1::Upload::COMPLETED) {
          r.upload = *u;
          r.exit_code = kExitOk;
          r.message = absl::StrCat("COMPLETED ", u->bucket(), "/", u->object_key(),
                                   " (the event did not arrive within ",
                                   absl::FormatDuration(wait_), "; the upload's state says so)");
          return r;
        }
        if (r.exit_code == kExitOk) r.exit_code = kExitUnavailable;
        if (r.message.empty()) r.message = "OSS accepted the upload";
        absl::StrAppend(&r.message, "; no event for it arrived within ",
                        absl::FormatDuration(wait_));
        if (u.ok()) {
          absl::StrAppend(&r.message, "; the upload is ", v1::Upload::State_Name(u->state()));
          r.upload = *u;
        }
        return r;
      }
      return ServiceFailure(r, "WatchUploads", event.status());
    }
    r.event = *event;
    r.upload = event->upload();
    const v1::Upload& u = event->upload();
    if (event->type() == v1::UploadEvent::COMPLETED) {
      r.exit_code = kExitOk;
      r.message = absl::StrCat("COMPLETED ", u.bucket(), "/", u.object_key(), " (",
                               u.object().size(), " bytes, ", u.object().content_type(), ", etag ",
                               u.object().etag(), ") ", u.name(), " event #", event->sequence());
      return r;
    }
    r.exit_code = kExitNegative;
    r.message = absl::StrCat(v1::UploadEvent::Type_Name(event->type()), " ", u.name());
    if (!u.rejection_reason().empty()) absl::StrAppend(&r.message, ": ", u.rejection_reason());
    return r;
  }

  const UploadFlags& f_;
  const client::UploadClient& client_;
  const std::string parent_;
  const google::protobuf::Map<std::string, std::string> metadata_;
  const absl::Duration wait_;
  const absl::Duration stall_;
  const absl::Duration ttl_;
  Progress* const progress_;
};

std::string ResultJson(const std::string& path, const FileResult& r) {
  nlohmann::json out = {{"file", path},
                        {"ok", r.exit_code == kExitOk},
                        {"exitCode", r.exit_code},
                        {"message", r.message}};
  if (r.upload) out["upload"] = nlohmann::json::parse(ToJson(*r.upload));
  if (r.event) out["event"] = nlohmann::json::parse(ToJson(*r.event));
  if (r.oss_status != 0) out["ossStatus"] = r.oss_status;
  if (!r.oss_error.code.empty()) {
    out["ossError"] = {{"code", r.oss_error.code},
                       {"message", r.oss_error.message},
                       {"requestId", r.oss_error.request_id},
                       {"ec", r.oss_error.ec}};
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int Upload(const GlobalFlags& g, const UploadFlags& f) {
  absl::StatusOr<std::string> parent = Parent(g);
  if (!parent.ok()) return UsageError("upload", parent.status());
  if (!f.key.empty() && f.files.size() != 1) {
    return UsageError("upload", absl::InvalidArgumentError("--key takes exactly one FILE"));
  }
  UploadSettings settings;
  settings.parent = *parent;
  if (absl::Status st = ParseMetadataFlags(f.metadata, &settings.metadata); !st.ok()) {
    return UsageError("upload", st);
  }
  absl::Duration interval;
  for (auto [flag, value, out] :
       {std::tuple{"--wait-timeout", &f.wait_timeout, &settings.wait},
        std::tuple{"--stall-timeout", &f.stall_timeout, &settings.stall},
        std::tuple{"--progress-interval", &f.progress_interval, &interval},
        std::tuple{"--ttl", &f.ttl, &settings.ttl}}) {
    if (value->empty()) continue;
    absl::StatusOr<absl::Duration> d = ParseDurationFlag(flag, *value);
    if (!d.ok()) return UsageError("upload", d.status());
    *out = *d;
  }
  Progress::Mode mode = Progress::Mode::kNone;
  if (f.progress == "bar" || (f.progress == "auto" && ::isatty(STDERR_FILENO))) {
    mode = Progress::Mode::kBar;
  } else if (f.progress == "lines" || f.progress == "auto") {
    mode = Progress::Mode::kLines;
  }

  auto client = Connect(g);
  if (!client.ok()) return UsageError("upload", client.status());
  Progress progress(mode, std::max(interval, absl::Milliseconds(50)), stderr);
  int64_t all_bytes = 0;
  for (const std::string& file : f.files) {
    struct stat st;
    if (::stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode)) all_bytes += st.st_size;
  }
  progress.Expect(static_cast<int>(f.files.size()), all_bytes);
  Uploader uploader(f, std::move(settings), **client, &progress);

  std::vector<FileResult> results(f.files.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < f.files.size(); i = next++) {
      results[i] = uploader.Run(f.files[i]);
      const FileResult& r = results[i];
      if (g.json) {
        progress.Print(stdout, ResultJson(f.files[i], r));
      } else if (r.exit_code == kExitOk) {
        progress.Print(stdout, absl::StrCat(f.files[i], ": ", r.message));
      } else {
        progress.Print(stderr, absl::StrCat("uploadctl upload: ", f.files[i], ": ", r.message));
      }
    }
  };
  std::vector<std::thread> workers;
  const int jobs = std::clamp<int>(f.jobs, 1, static_cast<int>(f.files.size()));
  for (int i = 1; i < jobs; ++i) workers.emplace_back(worker);
  worker();
  for (auto& t : workers) t.join();
  // With several files, the status of the first one (in argument order) that failed.
  for (const FileResult& r : results) {
    if (r.exit_code != kExitOk) return r.exit_code;
  }
  return kExitOk;
}

}  // namespace

void AddUploadCommand(CLI::App* app, GlobalFlags* flags, int* exit_code) {
  auto f = std::make_shared<UploadFlags>();
  CLI::App* cmd = app->add_subcommand("upload", "upload files to OSS through signed forms");
  cmd->description(
      "For each FILE: creates an upload, POSTs the signed form to OSS streaming the file from "
      "disk (as a browser would), then waits for the upload's event and prints the result. "
      "The size limit and content type are bound into the signed policy, so OSS itself refuses a "
      "file that breaks them.");
  cmd->footer(
      "Exit status: 0 when every file completed; otherwise the status of the first file that "
      "did not (1 refused by OSS, rejected, or callback failed; 2 unreadable file; 3 service "
      "error; 4 unreachable or timed out). Results go to stdout, failures and progress to stderr.");
  AddGlobalFlags(cmd, flags);
  cmd->add_option("FILE", f->files, "files to upload")->required();
  cmd->add_option("--subject", f->subject, "who the uploads are for (default: uploadctl)");
  cmd->add_option("--prefix", f->prefix,
                  "key prefix ending in '/'; the service appends a unique id and the file name "
                  "(default: uploads/)");
  cmd->add_option("--key", f->key, "exact object key (one FILE only)");
  cmd->add_option("--content-type", f->content_type,
                  "media type of every FILE (default: from the extension via /etc/mime.types)");
  cmd->add_option("--min-size", f->min_size, "smallest allowed size (default 0)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-size", f->max_size, "largest allowed size (default: the file's size)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--metadata", f->metadata, "KEY=VALUE kept with each upload (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--bucket", f->bucket, "one of the service's buckets (default: its default)");
  cmd->add_option("--ttl", f->ttl, "how long each signed form stays valid, e.g. 30m");
  cmd->add_option("-j,--jobs", f->jobs, "files uploaded at once (default 1)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--progress", f->progress,
                  "auto (a bar on a terminal, lines otherwise), bar, lines or none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));
  cmd->add_option("--progress-interval", f->progress_interval,
                  "how often progress lines are printed when not on a terminal (default 5s)");
  cmd->add_option("--wait-timeout", f->wait_timeout,
                  "how long to wait for the upload's event after OSS answered (default 60s)");
  cmd->add_option("--stall-timeout", f->stall_timeout,
                  "abort a POST that moves no data for this long (default 30s)");
  cmd->add_flag("--no-wait", f->no_wait, "do not wait for the event once OSS answered 200");
  cmd->add_option("--oss-ca", f->oss_ca, "PEM CA file for an https OSS endpoint (default: system)");
  cmd->callback([flags, f, exit_code] { *exit_code = Upload(*flags, *f); });
}

}  // namespace ossup::uploadctl
