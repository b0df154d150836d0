#ifndef OSSUP_TESTS_SUPPORT_EMULATOR_PROCESS_H_
#define OSSUP_TESTS_SUPPORT_EMULATOR_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace ossup::testing {

// Runs tests/emulator's oss-emulator binary on an ephemeral port with a config of the test's
// choosing, in a temp data dir; SIGTERM and cleanup on destruction.
class EmulatorProcess {
 public:
  // `config_json` per tests/emulator/README.md. `binary` defaults to the build's oss-emulator.
  static absl::StatusOr<std::unique_ptr<EmulatorProcess>> Start(const std::string& config_json,
                                                                const std::string& binary);
  ~EmulatorProcess();

  uint16_t port() const { return port_; }
  std::string base_url() const;  // "http://127.0.0.1:PORT"
  const std::string& data_dir() const { return data_dir_; }

 private:
  EmulatorProcess() = default;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string dir_;
  std::string data_dir_;
};

}  // namespace ossup::testing

#endif  // OSSUP_TESTS_SUPPORT_EMULATOR_PROCESS_H_
