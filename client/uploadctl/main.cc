// uploadctl: the command line of the OSS upload orchestrator.
//
//   uploadctl verify-callback [options] REQUEST_FILE
//
// Exit codes: 0 success (the callback verifies); 1 the command ran and the answer is negative
// (the callback does not verify); 2 usage errors and unreadable input.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/raw_http_request.h"
#include "nlohmann/json.hpp"
#include "service/protocol/callback_verifier.h"
#include "service/protocol/public_key.h"
#include "service/remote/public_key_fetcher.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitNegative = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] = R"(uploadctl: the OSS upload orchestrator's command line

Commands:
  verify-callback   verify a captured OSS upload callback exactly as the service does

Run 'uploadctl COMMAND --help' for a command's options.
)";

constexpr char kVerifyUsage[] = R"(uploadctl verify-callback [options] REQUEST_FILE

Reads a captured raw HTTP request (request line, headers, blank line, body) and verifies its OSS
callback signature exactly as the service does. Prints the string to sign (escaped), its MD5, the
decoded public-key URL and the verdict with its reason. Works offline for real OSS callbacks: the
OSS key (callback_pub_key_v1.pem) is built in and pinned.

Options:
  --allow-key-url-prefix=PREFIX  allowed x-oss-pub-key-url prefix, ending in '/' (repeatable;
                                 default: http://gosspublic.alicdn.com/ and https://...)
  --pin=URL=PEM_FILE             use the key in PEM_FILE for URL (repeatable)
  --fetch                        fetch keys that are not pinned (HTTPS, no redirects, allowlist
                                 still applies); off by default: verification stays offline
  --allow-insecure-fetch         with --fetch, fetch http:// key URLs as they are
  --max-body-bytes=N             body limit, as the service's http.max_callback_body_bytes
                                 (default 65536)
  --json                         print one JSON object instead of text
  -h, --help                     this help

Exit status: 0 the callback verifies; 1 it does not (the reason is printed); 2 usage error or
unreadable/unparsable capture.
)";

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

int VerifyCallback(const std::vector<std::string>& args) {
  std::vector<std::string> prefixes;
  std::vector<std::pair<std::string, std::string>> pins;  // url, pem
  bool fetch = false, insecure = false, json = false;
  size_t max_body = 64 * 1024;
  std::string file;
  for (const std::string& arg : args) {
    absl::string_view a = arg;
    if (a == "-h" || a == "--help") {
      std::cout << kVerifyUsage;
      return kExitOk;
    } else if (absl::ConsumePrefix(&a, "--allow-key-url-prefix=")) {
      prefixes.emplace_back(a);
    } else if (absl::ConsumePrefix(&a, "--pin=")) {
      const size_t eq = a.rfind('=');
      std::string pem;
      if (eq == absl::string_view::npos || !ReadFile(std::string(a.substr(eq + 1)), &pem)) {
        std::cerr << "uploadctl verify-callback: --pin needs URL=PEM_FILE with a readable file\n";
        return kExitUsage;
      }
      pins.emplace_back(std::string(a.substr(0, eq)), pem);
    } else if (a == "--fetch") {
      fetch = true;
    } else if (a == "--allow-insecure-fetch") {
      insecure = true;
    } else if (absl::ConsumePrefix(&a, "--max-body-bytes=")) {
      if (!absl::SimpleAtoi(a, &max_body) || max_body == 0) {
        std::cerr << "uploadctl verify-callback: --max-body-bytes needs a positive number\n";
        return kExitUsage;
      }
    } else if (a == "--json") {
      json = true;
    } else if (absl::StartsWith(a, "-")) {
      std::cerr << "uploadctl verify-callback: unknown option " << a << "\n" << kVerifyUsage;
      return kExitUsage;
    } else if (file.empty()) {
      file = arg;
    } else {
      std::cerr << "uploadctl verify-callback: one REQUEST_FILE only\n";
      return kExitUsage;
    }
  }
  if (file.empty()) {
    std::cerr << kVerifyUsage;
    return kExitUsage;
  }
  std::string capture;
  if (!ReadFile(file, &capture)) {
    std::cerr << "uploadctl verify-callback: cannot read " << file << "\n";
    return kExitUsage;
  }
  absl::StatusOr<ossup::client::RawHttpRequest> req = ossup::client::ParseRawHttpRequest(capture);
  if (!req.ok()) {
    std::cerr << "uploadctl verify-callback: " << req.status().message() << "\n";
    return kExitUsage;
  }
  if (prefixes.empty()) prefixes = ossup::protocol::DefaultKeyUrlPrefixes();
  if (absl::Status st = ossup::protocol::ValidateKeyUrlPrefixes(prefixes); !st.ok()) {
    std::cerr << "uploadctl verify-callback: " << st.message() << "\n";
    return kExitUsage;
  }

  std::unique_ptr<ossup::remote::PublicKeyFetcher> fetcher;
  if (fetch) {
    ossup::remote::PublicKeyFetcherOptions options;
    options.allowed_key_url_prefixes = prefixes;
    options.allow_insecure_http = insecure;
    auto created = ossup::remote::PublicKeyFetcher::Create(options);
    if (!created.ok()) {
      std::cerr << "uploadctl verify-callback: " << created.status().message() << "\n";
      return kExitUsage;
    }
    fetcher = *std::move(created);
  }
  ossup::protocol::PinnedKeyProvider keys(fetcher.get());
  for (const auto& [url, pem] : pins) {
    if (absl::Status st = keys.AddPin(url, pem); !st.ok()) {
      std::cerr << "uploadctl verify-callback: --pin " << url << ": " << st.message() << "\n";
      return kExitUsage;
    }
  }
  ossup::protocol::CallbackVerifierOptions options;
  options.allowed_key_url_prefixes = prefixes;
  options.max_body_bytes = max_body;
  const ossup::protocol::CallbackVerifier verifier(&keys, options);
  const ossup::protocol::CallbackVerification v =
      verifier.Verify({req->target, req->headers, req->body});

  const std::string verdict =
      v.ok() ? "VERIFIED" : std::string(ossup::protocol::CallbackVerifyErrorName(v.error));
  if (json) {
    nlohmann::json out = {{"verified", v.ok()},
                          {"verdict", verdict},
                          {"reason", v.message},
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
              << "verdict:        " << verdict << (v.ok() ? "" : ": ") << (v.ok() ? "" : v.message)
              << "\n";
  }
  return v.ok() ? kExitOk : kExitNegative;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help") {
    std::cout << kUsage;
    return argc < 2 ? kExitUsage : kExitOk;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "verify-callback") return VerifyCallback(args);
  std::cerr << "uploadctl: unknown command '" << command << "'\n" << kUsage;
  return kExitUsage;
}
