#include "client/uploadctl/progress.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ossup::uploadctl {

std::string FormatBytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  if (unit == 0) return absl::StrFormat("%.0f B", bytes);
  return absl::StrFormat("%.1f %s", bytes, kUnits[unit]);
}

std::string FormatRate(double bytes_per_second) {
  if (!(bytes_per_second > 0) || !std::isfinite(bytes_per_second)) return "-";
  return absl::StrCat(FormatBytes(bytes_per_second), "/s");
}

std::string FormatEta(double remaining_bytes, double bytes_per_second) {
  if (!(bytes_per_second > 0) || !std::isfinite(bytes_per_second)) return "ETA -";
  const int64_t s =
      static_cast<int64_t>(std::ceil(std::max(0.0, remaining_bytes) / bytes_per_second));
  if (s < 60) return absl::StrFormat("ETA %ds", s);
  if (s < 3600) return absl::StrFormat("ETA %dm%02ds", s / 60, s % 60);
  return absl::StrFormat("ETA %dh%02dm", s / 3600, (s % 3600) / 60);
}

std::string RenderBar(double fraction, int width) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  const int filled = static_cast<int>(std::floor(fraction * width));
  return absl::StrCat("[", std::string(filled, '#'), std::string(width - filled, '.'), "]");
}

std::string RenderProgressLine(const ProgressSnapshot& s, int bar_width) {
  const double seconds = absl::ToDoubleSeconds(s.elapsed);
  const double rate = seconds > 0 ? static_cast<double>(s.sent) / seconds : 0;
  // Nothing to send (an empty file) is all sent.
  const double fraction = s.total > 0 ? static_cast<double>(s.sent) / s.total : 1;
  std::string line = s.label;
  if (bar_width > 0) absl::StrAppend(&line, " ", RenderBar(fraction, bar_width));
  absl::StrAppend(&line, absl::StrFormat(" %3d%% ", static_cast<int>(fraction * 100)),
                  FormatBytes(s.sent), " / ", FormatBytes(s.total), ", ", FormatRate(rate));
  if (s.sent < s.total) absl::StrAppend(&line, ", ", FormatEta(s.total - s.sent, rate));
  return line;
}

Progress::Progress(Mode mode, absl::Duration interval, FILE* out)
    : mode_(mode), interval_(mode == Mode::kBar ? absl::Milliseconds(100) : interval), out_(out) {
  if (mode_ != Mode::kNone) ticker_ = std::thread([this] { Tick(); });
}

Progress::~Progress() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (ticker_.joinable()) ticker_.join();
  absl::MutexLock lock(&mu_);
  ClearBarLocked();
}

void Progress::Expect(int files, int64_t bytes) {
  absl::MutexLock lock(&mu_);
  expected_files_ = files;
  expected_bytes_ = bytes;
}

int Progress::Add(std::string label, int64_t total) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (items_.empty()) first_started_ = now;
  items_.push_back(Item{std::move(label), total, 0, now, false});
  return static_cast<int>(items_.size()) - 1;
}

void Progress::Update(int id, int64_t request_sent, int64_t request_total) {
  absl::MutexLock lock(&mu_);
  Item& item = items_[id];
  // Scaled, so 100 % is reached when the last request byte is, not when the file's size in
  // request bytes (fields included) is.
  int64_t sent = request_sent;
  if (request_total > item.total && request_total > 0) {
    sent =
        static_cast<int64_t>(static_cast<long double>(request_sent) * item.total / request_total);
  }
  item.sent = std::clamp(sent, item.sent, item.total);
}

void Progress::Finish(int id) {
  absl::MutexLock lock(&mu_);
  Item& item = items_[id];
  if (item.done) return;
  item.done = true;
  if (mode_ == Mode::kLines) {
    const std::string line =
        RenderProgressLine({item.label, item.sent, item.total, absl::Now() - item.started}, 0);
    std::fprintf(out_, "%s\n", line.c_str());
    std::fflush(out_);
  }
}

void Progress::Print(FILE* stream, const std::string& line) {
  absl::MutexLock lock(&mu_);
  ClearBarLocked();
  std::fprintf(stream, "%s\n", line.c_str());
  std::fflush(stream);
  if (mode_ == Mode::kBar) DrawBarLocked();
}

void Progress::ClearBarLocked() {
  if (!bar_shown_) return;
  std::fputs("\r\x1b[K", out_);
  std::fflush(out_);
  bar_shown_ = false;
}

void Progress::DrawBarLocked() {
  ProgressSnapshot s;
  int active = 0, done = 0;
  for (const Item& item : items_) {
    s.sent += item.sent;
    s.total += item.total;
    (item.done ? done : active) += 1;
    if (!item.done) s.label = item.label;
  }
  if (active == 0) return;
  const int files = std::max(expected_files_, static_cast<int>(items_.size()));
  if (files > 1) {
    // Files not yet started count toward the total, so the ETA covers the whole run; the rate
    // includes the time between files (creating uploads, waiting for their events).
    s.total = std::max(s.total, expected_bytes_);
    s.label = absl::StrCat(done, "/", files, " files");
  }
  s.elapsed = absl::Now() - first_started_;
  const std::string line = RenderProgressLine(s, 30);
  std::fprintf(out_, "\r\x1b[K%s", line.c_str());
  std::fflush(out_);
  bar_shown_ = true;
}

void Progress::Tick() {
  absl::MutexLock lock(&mu_);
  auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
  while (!mu_.AwaitWithTimeout(absl::Condition(&stopped), interval_)) {
    if (mode_ == Mode::kBar) {
      DrawBarLocked();
      continue;
    }
    for (const Item& item : items_) {
      if (item.done) continue;
      const std::string line =
          RenderProgressLine({item.label, item.sent, item.total, absl::Now() - item.started}, 0);
      std::fprintf(out_, "%s\n", line.c_str());
    }
    std::fflush(out_);
  }
}

}  // namespace ossup::uploadctl
