// Opening a channel to the upload orchestrator, and finding the caller's token.
#ifndef OSSUP_CLIENT_CONNECTION_H_
#define OSSUP_CLIENT_CONNECTION_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace ossup::client {

struct ConnectionOptions {
  // gRPC target, e.g. "localhost:8443" or "dns:///ossup.example.svc:8443".
  std::string target;
  // TLS is used when `tls` is set or any file below is given; otherwise plaintext (only for
  // loopback or a trusted network).
  bool tls = false;
  // PEM file of the CAs that sign the service's certificate; empty = the system roots.
  std::string ca_file;
  // PEM files of a client certificate and its key, for services that require one (mTLS).
  std::string cert_file;
  std::string key_file;
  // Expected name in the service's certificate when it differs from the target's host.
  std::string server_name;
};

// Builds the channel. Files are read here, so a bad path fails now, with its name, rather than
// as an opaque handshake error later. The channel keeps idle watch streams alive with pings every
// 30 s (the service permits them) so a vanished peer is noticed within about 40 s.
absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(const ConnectionOptions& options);

// The bearer token from, in order: `flag_value`, the file `flag_file`, the environment variable
// OSSUP_TOKEN, the file named by OSSUP_TOKEN_FILE. Surrounding whitespace is ignored; a token with
// other bytes than printable ASCII is INVALID_ARGUMENT (gRPC would abort on it). NOT_FOUND when
// none is set; the error names the sources tried.
absl::StatusOr<std::string> ResolveToken(const std::string& flag_value,
                                         const std::string& flag_file);

// The whole file at `path` if it holds at most `max_bytes`; NOT_FOUND naming `what` when it
// cannot be read, INVALID_ARGUMENT when it is larger (never reading more than max_bytes + 1).
absl::StatusOr<std::string> ReadSmallFile(const std::string& what, const std::string& path,
                                          size_t max_bytes = size_t{1} << 20);

}  // namespace ossup::client

#endif  // OSSUP_CLIENT_CONNECTION_H_
