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
}

std::string ReadAndClose(FILE* f) {
  std::rewind(f);
  char buf[8192];
  const size_t n = std::fread(buf, 1, sizeof buf, f);
  std::fclose(f);
  return std::string(buf, n);
}

TEST(ProgressTest, LinesModePrintsPeriodicAndFinalLines) {
  FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    Progress progress(Progress::Mode::kLines, absl::Milliseconds(20), out);
    const int id = progress.Add("f.bin", 1000);
    progress.Update(id, 400);
    absl::SleepFor(absl::Milliseconds(120));
    progress.Update(id, 1000);
    progress.Finish(id);
  }
  const std::string text = ReadAndClose(out);
  EXPECT_THAT(text, HasSubstr("f.bin  40% 400 B / 1000 B"));
  EXPECT_THAT(text, HasSubstr("f.bin 100% 1000 B / 1000 B"));
  EXPECT_EQ(text.find('\r'), std::string::npos);  // no terminal control in plain mode
}

TEST(ProgressTest, BarModeRedrawsOneLineAndClearsIt) {
  FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    Progress progress(Progress::Mode::kBar, absl::Seconds(5), out);
    const int id = progress.Add("f.bin", 1000);
    progress.Update(id, 500);
    absl::SleepFor(absl::Milliseconds(250));
    progress.Print(out, "a result line");
  }
  const std::string text = ReadAndClose(out);
  EXPECT_THAT(text, HasSubstr("\r\x1b[Kf.bin [###############...............]  50%"));
  EXPECT_THAT(text, HasSubstr("\r\x1b[Ka result line\n"));
}

}  // namespace
}  // namespace ossup::uploadctl
