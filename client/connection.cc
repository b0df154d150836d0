#include "client/connection.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace ossup::client {

absl::StatusOr<std::string> ReadSmallFile(const std::string& what, const std::string& path,
                                          size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(what, ": cannot read ", path));
  // Grows with what the file holds, so a generous limit costs nothing for a small file.
  std::string data;
  char chunk[64 * 1024];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    const size_t got = static_cast<size_t>(in.gcount());
    if (got > max_bytes - data.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": ", path, " is larger than ", max_bytes, " bytes"));
    }
    data.append(chunk, got);
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(what, ": error reading ", path));
  return data;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(const ConnectionOptions& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("target: required");
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  // Keep pinging an open watch that has no events to carry (the default stops after two).
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);

  const bool tls = options.tls || !options.ca_file.empty() || !options.cert_file.empty() ||
                   !options.key_file.empty() || !options.server_name.empty();
  if (!tls) {
    return grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError("a client certificate needs both its cert and key files");
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadSmallFile("TLS CA", options.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!options.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadSmallFile("client certificate", options.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadSmallFile("client key", options.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  if (!options.server_name.empty()) {
    args.SetSslTargetNameOverride(options.server_name);
  }
  return grpc::CreateCustomChannel(options.target, grpc::SslCredentials(ssl), args);
}

namespace {

// gRPC aborts the process on metadata values with control or non-ASCII bytes; refuse them here.
absl::StatusOr<std::string> CheckedToken(const std::string& source, absl::string_view raw) {
  const absl::string_view token = absl::StripAsciiWhitespace(raw);
  if (token.empty())
    return absl::InvalidArgumentError(absl::StrCat(source, ": the token is empty"));
  for (const char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": the token may hold only printable ASCII without spaces"));
    }
  }
  return std::string(token);
}

}  // namespace

absl::StatusOr<std::string> ResolveToken(const std::string& flag_value,
                                         const std::string& flag_file) {
  if (!flag_value.empty()) return CheckedToken("--token", flag_value);
  auto from_file = [](const std::string& what,
                      const std::string& path) -> absl::StatusOr<std::string> {
    absl::StatusOr<std::string> data = ReadSmallFile(what, path);
    if (!data.ok()) return data.status();
    return CheckedToken(absl::StrCat(what, " ", path), *data);
  };
  if (!flag_file.empty()) return from_file("--token-file", flag_file);
  if (const char* env = std::getenv("OSSUP_TOKEN"); env != nullptr && *env != '\0') {
    return CheckedToken("OSSUP_TOKEN", env);
  }
  if (const char* env = std::getenv("OSSUP_TOKEN_FILE"); env != nullptr && *env != '\0') {
    return from_file("OSSUP_TOKEN_FILE", env);
  }
  return absl::NotFoundError(
      "no token: pass --token or --token-file, or set OSSUP_TOKEN or OSSUP_TOKEN_FILE");
}

}  // namespace ossup::client
