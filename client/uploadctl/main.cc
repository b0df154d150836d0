// uploadctl: the command line of the OSS upload orchestrator.
//
//   uploadctl create|get|list|cancel|watch|upload|verify-callback [options]
//
// Exit codes are listed in kFooter (and the README).
#include <CLI/CLI.hpp>

#include "client/uploadctl/cli.h"

namespace {

constexpr char kFooter[] = R"(Run 'uploadctl COMMAND --help' for a command's options.

Exit status:
  0  success
  1  the command ran and the answer is negative: an upload was refused by OSS, rejected by the
     service, or its callback failed; a callback capture does not verify
  2  usage error, or unreadable input
  3  the service answered with an error (not found, permission denied, invalid argument, ...)
  4  the service or OSS could not be reached, or a deadline passed)";

}  // namespace

int main(int argc, char** argv) {
  namespace cli = ossup::uploadctl;
  CLI::App app("uploadctl: the OSS upload orchestrator's command line", "uploadctl");
  app.footer(kFooter);
  app.require_subcommand(1);
  int exit_code = cli::kExitOk;
  cli::GlobalFlags flags;
  cli::AddResourceCommands(&app, &flags, &exit_code);
  cli::AddWatchCommand(&app, &flags, &exit_code);
  cli::AddUploadCommand(&app, &flags, &exit_code);
  cli::AddVerifyCallbackCommand(&app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help goes to stdout with status 0; every other parse error is a usage error.
    return app.exit(e) == 0 ? cli::kExitOk : cli::kExitUsage;
  }
  return exit_code;
}
