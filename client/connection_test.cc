#include "client/connection.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace ossup::client {
namespace {

class ResolveTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("OSSUP_TOKEN");
    unsetenv("OSSUP_TOKEN_FILE");
  }
  void TearDown() override { SetUp(); }
  std::string WriteFile(const std::string& content) {
    // ctest runs each test in its own process at the same time: the pid keeps their files apart.
    const std::string path = ::testing::TempDir() + "/token-" + std::to_string(getpid()) + "-" +
                             std::to_string(counter_++) + ".txt";
    std::ofstream(path) << content;
    return path;
  }
  int counter_ = 0;
};

TEST_F(ResolveTokenTest, FlagThenFileThenEnvironment) {
  const std::string file = WriteFile("  from-file\n");
  setenv("OSSUP_TOKEN", "from-env", 1);
  EXPECT_EQ(*ResolveToken("from-flag", file), "from-flag");
  EXPECT_EQ(*ResolveToken("", file), "from-file");
  EXPECT_EQ(*ResolveToken("", ""), "from-env");
  unsetenv("OSSUP_TOKEN");
  setenv("OSSUP_TOKEN_FILE", file.c_str(), 1);
  EXPECT_EQ(*ResolveToken("", ""), "from-file");
}

TEST_F(ResolveTokenTest, NoneIsNotFoundAndNamesTheSources) {
  absl::StatusOr<std::string> t = ResolveToken("", "");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("OSSUP_TOKEN_FILE"), absl::string_view::npos);
}

TEST_F(ResolveTokenTest, RefusesBytesGrpcWouldAbortOn) {
  // gRPC aborts the process on such metadata; the client must refuse them instead.
  EXPECT_EQ(ResolveToken("abc\ndef", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveToken("abc def", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveToken("t\xc3\xa9", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveToken("", WriteFile("\n\n")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ResolveToken(" padded\t", ""), "padded");
  EXPECT_EQ(ResolveToken("", "/nonexistent/token").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ResolveTokenTest, ReadSmallFileReadsNoMoreThanItsLimit) {
  const std::string file = WriteFile("0123456789");
  EXPECT_EQ(*ReadSmallFile("f", file, 10), "0123456789");
  absl::StatusOr<std::string> big = ReadSmallFile("f", file, 9);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("larger than 9 bytes"), absl::string_view::npos);
  EXPECT_EQ(ReadSmallFile("f", "/nonexistent/x", 9).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ResolveTokenTest, ReadSmallFileAllocatesForTheFileNotForTheLimit) {
  // Larger than one read chunk, so the limit is checked across chunks.
  std::string content(200 * 1000 + 7, 'z');
  content[123456] = 'q';
  const std::string file = WriteFile(content);
  EXPECT_EQ(*ReadSmallFile("f", file, content.size()), content);
  EXPECT_FALSE(ReadSmallFile("f", file, content.size() - 1).ok());
  // A limit no machine could allocate up front is fine for a small file.
  EXPECT_EQ(*ReadSmallFile("f", WriteFile("abc"), std::numeric_limits<size_t>::max()), "abc");
}

TEST(OpenChannelTest, ChecksFilesAndPairsUpFront) {
  ConnectionOptions o;
  EXPECT_EQ(OpenChannel(o).status().code(), absl::StatusCode::kInvalidArgument);  // no target
  o.target = "localhost:1";
  EXPECT_TRUE(OpenChannel(o).ok());
  o.ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(OpenChannel(o).status().code(), absl::StatusCode::kNotFound);
  o.ca_file = "";
  o.cert_file = "/etc/hostname";  // a cert without its key
  EXPECT_EQ(OpenChannel(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ossup::client
