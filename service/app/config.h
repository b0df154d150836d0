#ifndef OSSUP_SERVICE_APP_CONFIG_H_
#define OSSUP_SERVICE_APP_CONFIG_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/domain/form_issuer.h"
#include "service/domain/upload_rules.h"

namespace ossup::app {

struct PinnedKey {
  std::string url;
  std::string pem;
};

// Everything the binary needs, from one JSON file (see docs/configuration.md). Secrets (bucket
// secrets, the token key, the callers file) are separate files so they can be mounted as
// Kubernetes Secrets; their contents are loaded here.
struct Config {
  std::string grpc_listen = "127.0.0.1:50051";
  std::string tls_cert_file, tls_key_file, tls_client_ca_file;  // TLS when cert+key are set
  std::string http_listen_address = "127.0.0.1";
  int http_port = 8080;
  std::string callback_path = "/oss/callback";
  size_t max_callback_body_bytes = 64 * 1024;

  std::string database_url;
  std::string database_password_file;  // optional; read on every new connection
  int database_pool_size = 16;

  std::string callers_json;  // contents of callers_file
  std::string callers_file;  // resolved path, re-read when it changes
  std::string token_key;     // contents of token_key_file

  domain::CallbackConfig callback;
  std::vector<domain::BucketConfig> buckets;
  std::vector<std::string> bucket_secret_files;  // resolved paths, parallel to `buckets`
  std::vector<std::string> bucket_token_files;   // STS token files ("" = none), parallel
  domain::UploadLimits limits;

  std::vector<std::string> key_url_prefixes;  // default: OSS's key host
  std::vector<PinnedKey> pinned_keys;
  bool fetch_unpinned_keys = false;
  bool allow_insecure_key_fetch = false;

  bool confirm_with_head_object = true;
  // HeadObject confirmations waiting for OSS at once (beyond, a callback is answered 503), and
  // connections open to one OSS host.
  int head_object_max_in_flight = 4096;
  int head_object_max_connections_per_host = 128;
  absl::Duration event_retention = absl::Hours(24 * 7);
  absl::Duration expiry_sweep_interval = absl::Seconds(1);
  // PENDING uploads expire this long after expire_time (OSS calls back after storing).
  absl::Duration expiry_grace = absl::Seconds(60);
  int worker_threads = 32;
};

// Reads a whole file of at most `max_bytes`.
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes);

// Parses the JSON and loads the files it names (relative to the config file's directory), then
// applies the environment overrides below.
absl::StatusOr<Config> LoadConfig(const std::string& path);
absl::StatusOr<Config> ParseConfig(absl::string_view json, const std::string& base_dir);

// Environment variables that override the file (for container platforms):
//   OSSUP_DATABASE_URL, OSSUP_DATABASE_POOL_SIZE, OSSUP_GRPC_LISTEN, OSSUP_HTTP_LISTEN,
//   OSSUP_CALLBACK_URLS (';'-separated), OSSUP_WORKER_THREADS.
// `getenv` is injected for tests. Bad values fail naming the variable.
absl::Status ApplyEnvironment(Config* config,
                              const std::function<const char*(const char*)>& getenv);

}  // namespace ossup::app

#endif  // OSSUP_SERVICE_APP_CONFIG_H_
