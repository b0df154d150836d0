#include "client/uploadctl/progress.h"

#include <cstdio>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ossup::uploadctl {
namespace {

using ::testing::HasSubstr;

TEST(ProgressFormatTest, Bytes) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(200.0 * 1024 * 1024), "200.0 MiB");
  EXPECT_EQ(FormatBytes(3.25 * 1024 * 1024 * 1024), "3.2 GiB");
}

TEST(ProgressFormatTest, RateAndEta) {
  EXPECT_EQ(FormatRate(0), "-");
  EXPECT_EQ(FormatRate(2 * 1024 * 1024), "2.0 MiB/s");
  EXPECT_EQ(FormatEta(100, 0), "ETA -");
  EXPECT_EQ(FormatEta(100, 10), "ETA 10s");
  EXPECT_EQ(FormatEta(185, 1), "ETA 3m05s");
  EXPECT_EQ(FormatEta(3720, 1), "ETA 1h02m");
}

TEST(ProgressFormatTest, Bar) {
  EXPECT_EQ(RenderBar(0, 4), "[....]");
  EXPECT_EQ(RenderBar(0.5, 4), "[##..]");
  EXPECT_EQ(RenderBar(1.7, 4), "[####]");
}

TEST(ProgressFormatTest, Line) {
  const std::string line =
      RenderProgressLine({"big.bin", 50 << 20, 200 << 20, absl::Seconds(2)}, 10);
  EXPECT_EQ(line, "big.bin [##........]  25% 50.0 MiB / 200.0 MiB, 25.0 MiB/s, ETA 6s");
  EXPECT_EQ(RenderProgressLine({"a", 10, 10, absl::Seconds(1)}, 0), "a 100% 10 B / 10 B, 10 B/s");
  EXPECT_EQ(RenderProgressLine({"empty", 0, 0, absl::Seconds(1)}, 0), "empty 100% 0 B / 0 B, -");
}

// Runs `drive` against a Progress writing to a temporary file; returns what it wrote once the
// Progress is gone (its destructor clears the bar).
template <typename Drive>
std::string Output(Progress::Mode mode, absl::Duration interval, Drive drive) {
  FILE* out = std::tmpfile();
  if (out == nullptr) return "tmpfile failed";
  {
    Progress progress(mode, interval, out);
    drive(progress, out);
  }
  std::rewind(out);
  char buf[8192];
  const size_t n = std::fread(buf, 1, sizeof buf, out);
  std::fclose(out);
  return std::string(buf, n);
}

TEST(ProgressTest, LinesModePrintsPeriodicAndFinalLines) {
  const std::string text =
      Output(Progress::Mode::kLines, absl::Milliseconds(20), [](Progress& progress, FILE*) {
        const int id = progress.Add("f.bin", 1000);
        progress.Update(id, 400, 1000);
        absl::SleepFor(absl::Milliseconds(120));
        progress.Update(id, 1000, 1000);
        progress.Finish(id);
      });
  EXPECT_THAT(text, HasSubstr("f.bin  40% 400 B / 1000 B"));
  EXPECT_THAT(text, HasSubstr("f.bin 100% 1000 B / 1000 B"));
  EXPECT_EQ(text.find('\r'), std::string::npos);  // no terminal control in plain mode
}

TEST(ProgressTest, BarModeRedrawsOneLineAndClearsIt) {
  const std::string text =
      Output(Progress::Mode::kBar, absl::Seconds(5), [](Progress& progress, FILE* out) {
        const int id = progress.Add("f.bin", 1000);
        progress.Update(id, 500, 1000);
        absl::SleepFor(absl::Milliseconds(250));
        progress.Print(out, "a result line");
      });
  EXPECT_THAT(text, HasSubstr("\r\x1b[Kf.bin [###############...............]  50%"));
  EXPECT_THAT(text, HasSubstr("\r\x1b[Ka result line\n"));
}

TEST(ProgressTest, CountsFileBytesNotRequestBytes) {
  const std::string text =
      Output(Progress::Mode::kLines, absl::Hours(1), [](Progress& progress, FILE*) {
        // A 1000-byte file in a 1200-byte request: 1000 request bytes are not the whole file.
        const int id = progress.Add("f.bin", 1000);
        progress.Update(id, 1000, 1200);
        progress.Finish(id);
      });
  EXPECT_THAT(text, HasSubstr("f.bin  83% 833 B / 1000 B"));
}

TEST(ProgressTest, TheBarCountsFilesNotYetStarted) {
  const std::string text =
      Output(Progress::Mode::kBar, absl::Seconds(5), [](Progress& progress, FILE*) {
        progress.Expect(4, 4000);
        const int id = progress.Add("a.bin", 1000);
        progress.Update(id, 1000, 1000);
        absl::SleepFor(absl::Milliseconds(250));
      });
  // One of four files under way: 25 % of the run, not 100 % of what has started.
  EXPECT_THAT(text, HasSubstr("0/4 files [#######.......................]  25% 1000 B / 3.9 KiB"));
  EXPECT_THAT(text, HasSubstr("ETA "));
}

}  // namespace
}  // namespace ossup::uploadctl
