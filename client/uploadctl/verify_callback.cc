// uploadctl verify-callback: verifies a captured OSS callback offline, exactly as the service does.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/connection.h"
#include "client/raw_http_request.h"
#include "client/uploadctl/cli.h"
#include "nlohmann/json.hpp"
#include "service/protocol/callback_verifier.h"
#include "service/protocol/public_key.h"
#include "service/remote/public_key_fetcher.h"

namespace ossup::uploadctl {
namespace {

constexpr char kVerifyDescription[] =
    R"(Reads a captured raw HTTP request (request line, headers, blank line, body) and verifies its OSS
callback signature exactly as the service does. Prints the string to sign (escaped), its MD5, the
decoded public-key URL and the verdict with its reason. Works offline for real OSS callbacks: the
OSS key (callback_pub_key_v1.pem) is built in and pinned.)";

constexpr char kVerifyFooter[] =
    R"(Exit status: 0 the callback verifies; 1 it does not (the reason is printed); 2 usage error or
unreadable/unparsable capture.)";

struct VerifyFlags {
  std::vector<std::string> prefixes;
  std::vector<std::string> pins;  // URL=PEM_FILE
  bool fetch = false;
  bool insecure = false;
  bool json = false;
  size_t max_body = 64 * 1024;
  std::string file;
};

int VerifyCallback(const VerifyFlags& flags) {
  std::vector<std::string> prefixes = flags.prefixes;
  std::vector<std::pair<std::string, std::string>> pins;  // url, pem
  for (const std::string& pin : flags.pins) {
    const size_t eq = pin.rfind('=');
    absl::StatusOr<std::string> pem =
        eq == std::string::npos ? absl::InvalidArgumentError("missing '='")
                                : client::ReadSmallFile("--pin", pin.substr(eq + 1), 64 * 1024);
    if (!pem.ok()) {
      std::cerr << "uploadctl verify-callback: --pin needs URL=PEM_FILE with a readable file ("
                << pem.status().message() << ")\n";
      return kExitUsage;
    }
    pins.emplace_back(pin.substr(0, eq), *std::move(pem));
  }
  const bool fetch = flags.fetch, insecure = flags.insecure, json = flags.json;
  const size_t max_body = flags.max_body;
  const std::string& file = flags.file;
  // A capture is headers (bounded at 1 MiB by the parser) plus a body the service would refuse
  // beyond max_body: nothing larger is worth reading.
  absl::StatusOr<std::string> read = client::ReadSmallFile("capture", file, (1 << 20) + max_body);
  if (!read.ok()) {
    std::cerr << "uploadctl verify-callback: "
              << (absl::IsNotFound(read.status()) ? "cannot read " + file
                                                  : std::string(read.status().message()))
              << "\n";
    return kExitUsage;
  }
  const std::string capture = *std::move(read);
  absl::StatusOr<client::RawHttpRequest> req = client::ParseRawHttpRequest(capture);
  if (!req.ok()) {
    std::cerr << "uploadctl verify-callback: " << req.status().message() << "\n";
    return kExitUsage;
  }
  if (prefixes.empty()) prefixes = protocol::DefaultKeyUrlPrefixes();
  if (absl::Status st = protocol::ValidateKeyUrlPrefixes(prefixes); !st.ok()) {
    std::cerr << "uploadctl verify-callback: " << st.message() << "\n";
    return kExitUsage;
  }

  std::unique_ptr<remote::PublicKeyFetcher> fetcher;
  if (fetch) {
    remote::PublicKeyFetcherOptions options;
    options.allowed_key_url_prefixes = prefixes;
    options.allow_insecure_http = insecure;
    auto created = remote::PublicKeyFetcher::Create(options);
    if (!created.ok()) {
      std::cerr << "uploadctl verify-callback: " << created.status().message() << "\n";
      return kExitUsage;
    }
    fetcher = *std::move(created);
  }
  protocol::PinnedKeyProvider keys(fetcher.get());
  for (const auto& [url, pem] : pins) {
    if (absl::Status st = keys.AddPin(url, pem); !st.ok()) {
      std::cerr << "uploadctl verify-callback: --pin " << url << ": " << st.message() << "\n";
      return kExitUsage;
    }
  }
  protocol::CallbackVerifierOptions options;
  options.allowed_key_url_prefixes = prefixes;
  options.max_body_bytes = max_body;
  const protocol::CallbackVerifier verifier(&keys, options);
  const protocol::CallbackVerification v = verifier.Verify({req->target, req->headers, req->body});

  // The service's route takes POST only (405 otherwise), whatever the signature says.
  const bool post = req->method == "POST";
  const bool verified = v.ok() && post;
  const std::string verdict = !post    ? "METHOD_NOT_ALLOWED"
                              : v.ok() ? "VERIFIED"
                                       : std::string(protocol::CallbackVerifyErrorName(v.error));
  const std::string reason = !post ? absl::StrCat("the service answers 405 to ", req->method,
                                                  "; OSS sends callbacks as POST",
                                                  v.ok() ? " (the signature itself verifies)" : "")
                                   : v.message;
  if (json) {
    nlohmann::json out = {{"verified", verified},
                          {"verdict", verdict},
                          {"reason", reason},
                          {"method", req->method},
                          {"target", req->target},
                          {"body_bytes", req->body.size()},
                          {"key_url", v.key_url},
                          {"string_to_sign", v.string_to_sign},
                          {"string_to_sign_md5", v.string_to_sign_md5_hex},
                          {"warnings", req->warnings}};
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    for (const std::string& w : req->warnings) std::cout << "warning:        " << w << "\n";
    std::cout << "request:        " << req->method << " " << req->target << " (" << req->body.size()
              << " body bytes)\n"
              << "key URL:        " << (v.key_url.empty() ? "(none)" : v.key_url) << "\n"
              << "string to sign: \"" << absl::CHexEscape(v.string_to_sign) << "\"\n"
              << "MD5:            " << v.string_to_sign_md5_hex << "\n"
              << "verdict:        " << verdict << (verified ? "" : ": ") << (verified ? "" : reason)
              << "\n";
  }
  return verified ? kExitOk : kExitNegative;
}

}  // namespace

void AddVerifyCallbackCommand(CLI::App* app, int* exit_code) {
  auto flags = std::make_shared<VerifyFlags>();
  CLI::App* cmd = app->add_subcommand(
      "verify-callback", "verify a captured OSS upload callback exactly as the service does");
  cmd->description(kVerifyDescription);
  cmd->footer(kVerifyFooter);
  cmd->add_option("REQUEST_FILE", flags->file, "the captured request")->required();
  cmd->add_option("--allow-key-url-prefix", flags->prefixes,
                  "allowed x-oss-pub-key-url prefix, ending in '/' (repeatable; default: "
                  "http://gosspublic.alicdn.com/ and https://gosspublic.alicdn.com/)")
      ->allow_extra_args(false);
  cmd->add_option("--pin", flags->pins,
                  "URL=PEM_FILE: use the key in PEM_FILE for URL (repeatable)")
      ->allow_extra_args(false);
  cmd->add_flag("--fetch", flags->fetch,
                "fetch keys that are not pinned (HTTPS, no redirects, allowlist still applies); "
                "off by default: verification stays offline");
  cmd->add_flag("--allow-insecure-fetch", flags->insecure,
                "with --fetch, fetch http:// key URLs as they are");
  cmd->add_option("--max-body-bytes", flags->max_body,
                  "body limit, as the service's http.max_callback_body_bytes (default 65536)")
      ->check(CLI::Range(size_t{1024}, protocol::kLargestCallbackBodyLimit));
  cmd->add_flag("--json", flags->json, "print one JSON object instead of text");
  cmd->callback([flags, exit_code] { *exit_code = VerifyCallback(*flags); });
}

}  // namespace ossup::uploadctl
