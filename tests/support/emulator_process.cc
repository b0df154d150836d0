#include "tests/support/emulator_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ossup::testing {

absl::StatusOr<std::unique_ptr<EmulatorProcess>> EmulatorProcess::Start(
    const std::string& config_json, const std::string& binary) {
  auto proc = std::unique_ptr<EmulatorProcess>(new EmulatorProcess());
  char dir_template[] = "/tmp/ossup-emu.XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp failed");
  proc->dir_ = dir_template;
  proc->data_dir_ = proc->dir_ + "/data";
  const std::string config_path = proc->dir_ + "/config.json";
  std::ofstream(config_path) << config_json;

  int out[2];
  if (pipe(out) != 0) return absl::InternalError("pipe failed");
  const std::string data_flag = "--data_dir=" + proc->data_dir_;
  const std::string config_flag = "--config=" + config_path;
  const std::string log_path = proc->dir_ + "/emulator.log";
  proc->pid_ = fork();
  if (proc->pid_ < 0) return absl::InternalError("fork failed");
  if (proc->pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) dup2(log, STDERR_FILENO);
    close(out[0]);
    execl(binary.c_str(), binary.c_str(), "--listen=127.0.0.1:0", data_flag.c_str(),
          config_flag.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string line;
  char c;
  while (line.size() < 200 && read(out[0], &c, 1) == 1 && c != '\n') line += c;
  close(out[0]);
  constexpr absl::string_view kPrefix = "oss-emulator listening on 127.0.0.1:";
  int port = 0;
  if (!absl::StartsWith(line, kPrefix) || !absl::SimpleAtoi(line.substr(kPrefix.size()), &port)) {
    return absl::InternalError(
        absl::StrCat("oss-emulator did not start (", binary, "): '", line, "'; log in ", log_path));
  }
  proc->port_ = static_cast<uint16_t>(port);
  return proc;
}

EmulatorProcess::~EmulatorProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string EmulatorProcess::base_url() const { return absl::StrCat("http://127.0.0.1:", port_); }

}  // namespace ossup::testing
