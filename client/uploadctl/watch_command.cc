// uploadctl watch: follows upload events, resuming across disconnects and service restarts.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/uploadctl/cli.h"

namespace ossup::uploadctl {
namespace {

struct WatchFlags {
  std::string subject;
  std::vector<std::string> uploads;
  int64_t after_sequence = -1;
  int64_t count = 0;
  std::string duration;
  int max_reconnects = 0;
};

int Watch(const GlobalFlags& g, const WatchFlags& f) {
  absl::StatusOr<std::string> parent = Parent(g);
  if (!parent.ok()) return UsageError("watch", parent.status());
  v1::WatchUploadsRequest request;
  request.set_parent(*parent);
  request.set_subject(f.subject);
  for (const std::string& u : f.uploads) {
    absl::StatusOr<std::string> name = UploadName(g, u);
    if (!name.ok()) return UsageError("watch", name.status());
    request.add_upload_names(*name);
  }
  if (f.after_sequence >= 0) {
    request.set_after_sequence(f.after_sequence);
  } else {
    request.set_from_now(true);
  }
  absl::Time until = absl::InfiniteFuture();
  if (!f.duration.empty()) {
    absl::StatusOr<absl::Duration> d = ParseDurationFlag("--for", f.duration);
    if (!d.ok()) return UsageError("watch", d.status());
    until = absl::Now() + *d;
  }

  auto client = Connect(g);
  if (!client.ok()) return UsageError("watch", client.status());
  client::WatchOptions options;
  options.max_reconnects = f.max_reconnects;
  options.on_reconnect = [](const absl::Status& why, absl::Duration delay) {
    std::cerr << absl::StrFormat("uploadctl watch: stream ended (%s: %s); reconnecting in %s\n",
                                 absl::StatusCodeToString(why.code()), why.message(),
                                 absl::FormatDuration(absl::Trunc(delay, absl::Milliseconds(1))));
  };
  absl::StatusOr<std::unique_ptr<client::EventStream>> stream = (*client)->Watch(request, options);
  if (!stream.ok()) return Fail("watch", stream.status());
  // On stderr, so scripts can wait for it: from here on no event is missed.
  int64_t printed = (*stream)->last_sequence();
  std::cerr << "uploadctl watch: watching " << *parent << " after sequence " << printed << "\n";
  int last_reconnects = 0;
  for (int64_t seen = 0; f.count == 0 || seen < f.count; ++seen) {
    absl::StatusOr<v1::UploadEvent> event = (*stream)->Next(until);
    if (!event.ok()) {
      if (event.status().code() == absl::StatusCode::kDeadlineExceeded && absl::Now() >= until) {
        return kExitOk;  // --for elapsed
      }
      if (event.status().code() == absl::StatusCode::kOutOfRange) {
        std::cerr << "uploadctl watch: events after sequence " << (*stream)->last_sequence()
                  << " are past retention; list the uploads, then watch from the listing's "
                     "event_sequence\n";
      }
      return Fail("watch", event.status());
    }
    if (const int r = (*stream)->reconnects(); r != last_reconnects) {
      std::cerr << "uploadctl watch: resumed after sequence " << printed << " (reconnect " << r
                << ")\n";
      last_reconnects = r;
    }
    std::cout << (g.json ? ToJson(*event) : DescribeEvent(*event)) << std::endl;
    printed = event->sequence();
  }
  return kExitOk;
}

}  // namespace

void AddWatchCommand(CLI::App* app, GlobalFlags* flags, int* exit_code) {
  auto f = std::make_shared<WatchFlags>();
  CLI::App* cmd = app->add_subcommand("watch", "follow upload events as they are committed");
  cmd->description(
      "Prints upload events in sequence order, each once. When the connection drops or the service "
      "restarts, reconnects with backoff and resumes after the last event printed. Starts from "
      "now unless --after-sequence is given.");
  AddGlobalFlags(cmd, flags);
  cmd->add_option("--subject", f->subject, "only events of this subject");
  cmd->add_option("--upload", f->uploads, "only events of this upload (name or id, repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--after-sequence", f->after_sequence,
                  "start after this event sequence (resume); default: from now")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--count", f->count, "exit after this many events")->check(CLI::PositiveNumber);
  cmd->add_option("--for", f->duration, "exit (status 0) after this long, e.g. 30s");
  cmd->add_option("--max-reconnects", f->max_reconnects,
                  "give up after this many failed reconnects in a row (default 0: never)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([flags, f, exit_code] { *exit_code = Watch(*flags, *f); });
}

}  // namespace ossup::uploadctl
