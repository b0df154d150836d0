// Upload progress for people: a redrawn bar on a terminal, periodic plain lines otherwise.
#ifndef OSSUP_CLIENT_UPLOADCTL_PROGRESS_H_
#define OSSUP_CLIENT_UPLOADCTL_PROGRESS_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ossup::uploadctl {

// "0 B", "999 B", "1.5 KiB", "200.0 MiB", "3.2 GiB".
std::string FormatBytes(double bytes);
// "12.3 MiB/s"; "-" before a rate can be known.
std::string FormatRate(double bytes_per_second);
// "ETA 42s", "ETA 3m05s", "ETA 1h02m"; "ETA -" when unknown.
std::string FormatEta(double remaining_bytes, double bytes_per_second);
// "[#####.....]" with `width` cells between the brackets.
std::string RenderBar(double fraction, int width);

struct ProgressSnapshot {
  std::string label;  // a file name, or "3 files"
  int64_t sent = 0;
  int64_t total = 0;
  absl::Duration elapsed;
};
// One status line: label, bar (when `bar_width` > 0), percent, bytes, rate, ETA.
std::string RenderProgressLine(const ProgressSnapshot& s, int bar_width);

class Progress {
 public:
  enum class Mode { kNone, kBar, kLines };

  // `out` is where progress goes (stderr); in kLines mode a line per active file every
  // `interval`, in kBar mode one redrawn line for all files every 100 ms.
  Progress(Mode mode, absl::Duration interval, FILE* out);
  ~Progress();

  // What the whole run will transfer, so the bar's total, percentage and ETA count the files
  // that have not started yet.
  void Expect(int files, int64_t bytes);
  // Registers a transfer of a file of `total` bytes; returns its id.
  int Add(std::string label, int64_t total);
  // `request_sent` of `request_total` request bytes have gone out. The multipart request is a
  // little larger than the file (the form's fields); progress is shown in file bytes.
  void Update(int id, int64_t request_sent, int64_t request_total);
  // Marks a transfer finished; kLines mode prints its final line.
  void Finish(int id);
  // Prints a whole line to `stream` without tearing the bar.
  void Print(FILE* stream, const std::string& line);

 private:
  struct Item {
    std::string label;
    int64_t total = 0;
    int64_t sent = 0;
    absl::Time started;
    bool done = false;
  };
  void Tick();
  void ClearBarLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DrawBarLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Mode mode_;
  const absl::Duration interval_;
  FILE* const out_;
  absl::Mutex mu_;
  std::vector<Item> items_ ABSL_GUARDED_BY(mu_);
  int expected_files_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t expected_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // When the first transfer began: the bar's rate is over the whole run from there.
  absl::Time first_started_ ABSL_GUARDED_BY(mu_);
  bool bar_shown_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread ticker_;
};

}  // namespace ossup::uploadctl

#endif  // OSSUP_CLIENT_UPLOADCTL_PROGRESS_H_
