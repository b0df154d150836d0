// What uploadctl's commands share: exit codes, connection flags, output helpers.
#ifndef OSSUP_CLIENT_UPLOADCTL_CLI_H_
#define OSSUP_CLIENT_UPLOADCTL_CLI_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/connection.h"
#include "client/upload_client.h"
#include "google/protobuf/map.h"
#include "google/protobuf/message.h"

namespace CLI {
class App;
}  // namespace CLI

namespace ossup::uploadctl {

namespace v1 = ::ossup::upload::v1;

// Documented in the README and `uploadctl --help`.
inline constexpr int kExitOk = 0;
inline constexpr int kExitNegative = 1;      // ran; the answer is "no" (refused, rejected, ...)
inline constexpr int kExitUsage = 2;         // bad flags or unreadable input
inline constexpr int kExitServiceError = 3;  // the service answered with an error
inline constexpr int kExitUnavailable = 4;   // service or OSS unreachable, or a timeout

// Flags every command that talks to the service accepts.
struct GlobalFlags {
  client::ConnectionOptions connection;
  std::string token;
  std::string token_file;
  std::string timeout = "15s";
  std::string ns;
  bool json = false;
};

// Adds the connection and output flags to `app`.
void AddGlobalFlags(CLI::App* app, GlobalFlags* flags);

// Opens the channel and builds a client from the flags; prints the reason and returns an exit code
// when that fails.
absl::StatusOr<std::unique_ptr<client::UploadClient>> Connect(const GlobalFlags& flags);

// The exit code for a failed call: unreachable/timeouts are 4, other service answers 3.
int ExitCodeFor(const absl::Status& status);

// Prints "uploadctl: <context>: <CODE>: <message>" to stderr and returns ExitCodeFor(status).
int Fail(const std::string& context, const absl::Status& status);

// Prints "uploadctl <context>: <message>" to stderr and returns kExitUsage.
int UsageError(const std::string& context, const absl::Status& status);

// "namespaces/{ns}" from the flag; INVALID_ARGUMENT naming --namespace when unset.
absl::StatusOr<std::string> Parent(const GlobalFlags& flags);
// A full upload name, or a bare upload id completed with --namespace.
absl::StatusOr<std::string> UploadName(const GlobalFlags& flags, const std::string& arg);

// Adds --metadata KEY=VALUE pairs to `out`; INVALID_ARGUMENT names a pair without '='.
absl::Status ParseMetadataFlags(const std::vector<std::string>& pairs,
                                google::protobuf::Map<std::string, std::string>* out);

// Durations as Abseil spells them: "500ms", "15s", "2m", "1h30m"; positive and finite (and
// whole-second scale for --ttl).
absl::StatusOr<absl::Duration> ParseDurationFlag(const std::string& flag, const std::string& value);

// Canonical proto3 JSON on one line (lowerCamelCase fields, RFC 3339 times, enum names).
std::string ToJson(const google::protobuf::Message& message);

// Human-readable renderings.
std::string FormatTime(const google::protobuf::Timestamp& t);
std::string DescribeUpload(const v1::Upload& upload);     // a multi-line block
std::string DescribeEvent(const v1::UploadEvent& event);  // one line

// Commands; each registers its subcommand and returns a pointer to its exit code, set when run.
void AddVerifyCallbackCommand(CLI::App* app, int* exit_code);
void AddResourceCommands(CLI::App* app, GlobalFlags* flags, int* exit_code);
void AddWatchCommand(CLI::App* app, GlobalFlags* flags, int* exit_code);
void AddUploadCommand(CLI::App* app, GlobalFlags* flags, int* exit_code);

}  // namespace ossup::uploadctl

#endif  // OSSUP_CLIENT_UPLOADCTL_CLI_H_
