#include "service/app/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "service/common/status_macros.h"
#include "service/protocol/callback_verifier.h"

namespace ossup::app {
namespace {

using nlohmann::json;

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream s;
  s << in.rdbuf();
  std::string data = s.str();
  if (data.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": larger than ", max_bytes, " bytes"));
  }
  return data;
}

namespace {

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  return (std::filesystem::path(base_dir) / path).string();
}

// Typed getters that name the key on error.
template <typename T>
absl::Status Get(const json& obj, const char* key, T* out, absl::string_view where) {
  if (!obj.contains(key)) return absl::OkStatus();
  try {
    *out = obj.at(key).get<T>();
  } catch (const std::exception&) {
    return absl::InvalidArgumentError(absl::StrCat("config: ", where, key, " has the wrong type"));
  }
  return absl::OkStatus();
}

absl::Status SplitHostPort(const std::string& listen, std::string* host, int* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), port) ||
      *port < 0 || *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: http.listen '", listen, "' must be host:port"));
  }
  *host = listen.substr(0, colon);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("--config (or OSSUP_CONFIG) names no configuration file");
  }
  OSSUP_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 1 << 20));
  OSSUP_ASSIGN_OR_RETURN(Config config,
                         ParseConfig(text, std::filesystem::path(path).parent_path().string()));
  OSSUP_RETURN_IF_ERROR(
      ApplyEnvironment(&config, [](const char* name) { return std::getenv(name); }));
  return config;
}

absl::Status ApplyEnvironment(Config* c, const std::function<const char*(const char*)>& getenv) {
  auto get = [&](const char* name) -> std::optional<std::string> {
    const char* v = getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
  auto get_int = [&](const char* name, int lo, int hi, int* out) -> absl::Status {
    if (auto v = get(name)) {
      if (!absl::SimpleAtoi(*v, out) || *out < lo || *out > hi) {
        return absl::InvalidArgumentError(
            absl::StrCat("environment: ", name, "='", *v, "' must be a number in ", lo, "..", hi));
      }
    }
    return absl::OkStatus();
  };
  if (auto v = get("OSSUP_DATABASE_URL")) c->database_url = *v;
  OSSUP_RETURN_IF_ERROR(get_int("OSSUP_DATABASE_POOL_SIZE", 1, 1000, &c->database_pool_size));
  OSSUP_RETURN_IF_ERROR(get_int("OSSUP_WORKER_THREADS", 1, 1024, &c->worker_threads));
  if (auto v = get("OSSUP_GRPC_LISTEN")) c->grpc_listen = *v;
  if (auto v = get("OSSUP_HTTP_LISTEN")) {
    if (absl::Status st = SplitHostPort(*v, &c->http_listen_address, &c->http_port); !st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment: OSSUP_HTTP_LISTEN='", *v, "' must be host:port"));
    }
  }
  if (auto v = get("OSSUP_CALLBACK_URLS")) {
    c->callback.urls = absl::StrSplit(*v, ';', absl::SkipEmpty());
  }
  return absl::OkStatus();
}

absl::StatusOr<Config> ParseConfig(absl::string_view text, const std::string& base_dir) {
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError("config: not a JSON object");
  }
  Config c;
  if (doc.contains("grpc")) {
    const json& g = doc["grpc"];
    OSSUP_RETURN_IF_ERROR(Get(g, "listen", &c.grpc_listen, "grpc."));
    OSSUP_RETURN_IF_ERROR(Get(g, "tls_cert_file", &c.tls_cert_file, "grpc."));
    OSSUP_RETURN_IF_ERROR(Get(g, "tls_key_file", &c.tls_key_file, "grpc."));
    OSSUP_RETURN_IF_ERROR(Get(g, "tls_client_ca_file", &c.tls_client_ca_file, "grpc."));
  }
  if (doc.contains("http")) {
    const json& h = doc["http"];
    std::string listen;
    OSSUP_RETURN_IF_ERROR(Get(h, "listen", &listen, "http."));
    if (!listen.empty()) {
      OSSUP_RETURN_IF_ERROR(SplitHostPort(listen, &c.http_listen_address, &c.http_port));
    }
    OSSUP_RETURN_IF_ERROR(Get(h, "callback_path", &c.callback_path, "http."));
    OSSUP_RETURN_IF_ERROR(Get(h, "max_callback_body_bytes", &c.max_callback_body_bytes, "http."));
    if (c.max_callback_body_bytes < 1024 ||
        c.max_callback_body_bytes > protocol::kLargestCallbackBodyLimit) {
      return absl::InvalidArgumentError(
          absl::StrCat("config: http.max_callback_body_bytes must be 1024-",
                       protocol::kLargestCallbackBodyLimit));
    }
  }
  if (!doc.contains("database") || !doc["database"].contains("url")) {
    return absl::InvalidArgumentError("config: database.url is required");
  }
  OSSUP_RETURN_IF_ERROR(Get(doc["database"], "url", &c.database_url, "database."));
  OSSUP_RETURN_IF_ERROR(Get(doc["database"], "pool_size", &c.database_pool_size, "database."));
  std::string password_file;
  OSSUP_RETURN_IF_ERROR(Get(doc["database"], "password_file", &password_file, "database."));
  if (!password_file.empty()) {
    c.database_password_file = Resolve(base_dir, password_file);
    OSSUP_RETURN_IF_ERROR(ReadFile(c.database_password_file, 4096).status());
  }

  std::string callers_file, token_key_file;
  OSSUP_RETURN_IF_ERROR(Get(doc, "callers_file", &callers_file, ""));
  OSSUP_RETURN_IF_ERROR(Get(doc, "token_key_file", &token_key_file, ""));
  if (callers_file.empty() || token_key_file.empty()) {
    // The service never runs without caller tokens.
    return absl::InvalidArgumentError("config: callers_file and token_key_file are required");
  }
  c.callers_file = Resolve(base_dir, callers_file);
  OSSUP_ASSIGN_OR_RETURN(c.callers_json, ReadFile(c.callers_file, 1 << 20));
  OSSUP_ASSIGN_OR_RETURN(c.token_key, ReadFile(Resolve(base_dir, token_key_file), 4096));
  c.token_key = std::string(absl::StripAsciiWhitespace(c.token_key));

  if (!doc.contains("callback") || !doc["callback"].is_object()) {
    return absl::InvalidArgumentError("config: callback.urls is required");
  }
  OSSUP_RETURN_IF_ERROR(Get(doc["callback"], "urls", &c.callback.urls, "callback."));
  OSSUP_RETURN_IF_ERROR(Get(doc["callback"], "host", &c.callback.host, "callback."));
  OSSUP_RETURN_IF_ERROR(Get(doc["callback"], "sni", &c.callback.sni, "callback."));
  std::string body_type = "json";
  OSSUP_RETURN_IF_ERROR(Get(doc["callback"], "body_type", &body_type, "callback."));
  if (body_type != "json" && body_type != "form") {
    return absl::InvalidArgumentError("config: callback.body_type must be json or form");
  }
  c.callback.body_type = body_type == "json" ? protocol::CallbackBodyType::kJson
                                             : protocol::CallbackBodyType::kFormUrlEncoded;

  if (!doc.contains("buckets") || !doc["buckets"].is_array() || doc["buckets"].empty()) {
    return absl::InvalidArgumentError("config: buckets must list at least one bucket");
  }
  for (const json& b : doc["buckets"]) {
    if (!b.is_object()) return absl::InvalidArgumentError("config: buckets[] must be objects");
    domain::BucketConfig bucket;
    const std::string where = "buckets[].";
    OSSUP_RETURN_IF_ERROR(Get(b, "name", &bucket.name, where));
    OSSUP_RETURN_IF_ERROR(Get(b, "region", &bucket.region, where));
    OSSUP_RETURN_IF_ERROR(Get(b, "scheme", &bucket.scheme, where));
    OSSUP_RETURN_IF_ERROR(Get(b, "endpoint_host", &bucket.endpoint_host, where));
    OSSUP_RETURN_IF_ERROR(Get(b, "virtual_hosted", &bucket.virtual_hosted, where));
    OSSUP_RETURN_IF_ERROR(Get(b, "object_acl", &bucket.object_acl, where));
    OSSUP_RETURN_IF_ERROR(Get(b, "access_key_id", &bucket.credentials.access_key_id, where));
    std::string version = "v4", secret_file;
    OSSUP_RETURN_IF_ERROR(Get(b, "signature_version", &version, where));
    if (version != "v4" && version != "v1") {
      return absl::InvalidArgumentError("config: buckets[].signature_version must be v4 or v1");
    }
    bucket.signature_version =
        version == "v4" ? protocol::SignatureVersion::kV4 : protocol::SignatureVersion::kV1;
    OSSUP_RETURN_IF_ERROR(Get(b, "access_key_secret_file", &secret_file, where));
    if (secret_file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("config: bucket '", bucket.name, "' needs access_key_secret_file"));
    }
    c.bucket_secret_files.push_back(Resolve(base_dir, secret_file));
    OSSUP_ASSIGN_OR_RETURN(std::string secret, ReadFile(c.bucket_secret_files.back(), 4096));
    bucket.credentials.access_key_secret = std::string(absl::StripAsciiWhitespace(secret));
    std::string token_file;
    OSSUP_RETURN_IF_ERROR(Get(b, "security_token_file", &token_file, where));
    c.bucket_token_files.push_back(token_file.empty() ? "" : Resolve(base_dir, token_file));
    if (!token_file.empty()) {
      OSSUP_ASSIGN_OR_RETURN(std::string token, ReadFile(c.bucket_token_files.back(), 16384));
      bucket.credentials.security_token = std::string(absl::StripAsciiWhitespace(token));
    }
    c.limits.buckets.push_back(bucket.name);
    c.buckets.push_back(std::move(bucket));
  }

  if (doc.contains("limits")) {
    const json& l = doc["limits"];
    int64_t default_ttl = 0, min_ttl = 0, max_ttl = 0;
    OSSUP_RETURN_IF_ERROR(Get(l, "default_ttl_seconds", &default_ttl, "limits."));
    OSSUP_RETURN_IF_ERROR(Get(l, "min_ttl_seconds", &min_ttl, "limits."));
    OSSUP_RETURN_IF_ERROR(Get(l, "max_ttl_seconds", &max_ttl, "limits."));
    if (default_ttl > 0) c.limits.default_ttl = absl::Seconds(default_ttl);
    if (min_ttl > 0) c.limits.min_ttl = absl::Seconds(min_ttl);
    if (max_ttl > 0) c.limits.max_ttl = absl::Seconds(max_ttl);
    OSSUP_RETURN_IF_ERROR(Get(l, "max_size", &c.limits.max_size, "limits."));
  }
  if (doc.contains("callback_keys")) {
    const json& k = doc["callback_keys"];
    OSSUP_RETURN_IF_ERROR(Get(k, "allowed_url_prefixes", &c.key_url_prefixes, "callback_keys."));
    OSSUP_RETURN_IF_ERROR(Get(k, "fetch_unpinned", &c.fetch_unpinned_keys, "callback_keys."));
    OSSUP_RETURN_IF_ERROR(
        Get(k, "allow_insecure_fetch", &c.allow_insecure_key_fetch, "callback_keys."));
    if (k.contains("pins")) {
      for (const json& p : k["pins"]) {
        PinnedKey pin;
        std::string pem_file;
        OSSUP_RETURN_IF_ERROR(Get(p, "url", &pin.url, "callback_keys.pins[]."));
        OSSUP_RETURN_IF_ERROR(Get(p, "pem_file", &pem_file, "callback_keys.pins[]."));
        OSSUP_ASSIGN_OR_RETURN(pin.pem, ReadFile(Resolve(base_dir, pem_file), 16384));
        c.pinned_keys.push_back(std::move(pin));
      }
    }
  }
  OSSUP_RETURN_IF_ERROR(Get(doc, "confirm_with_head_object", &c.confirm_with_head_object, ""));
  if (doc.contains("head_object")) {
    const json& h = doc["head_object"];
    if (!h.is_object()) return absl::InvalidArgumentError("config: head_object must be an object");
    OSSUP_RETURN_IF_ERROR(Get(h, "max_in_flight", &c.head_object_max_in_flight, "head_object."));
    OSSUP_RETURN_IF_ERROR(Get(h, "max_connections_per_host",
                              &c.head_object_max_connections_per_host, "head_object."));
    if (c.head_object_max_in_flight < 1 || c.head_object_max_in_flight > 1'000'000) {
      return absl::InvalidArgumentError("config: head_object.max_in_flight must be 1-1000000");
    }
    if (c.head_object_max_connections_per_host < 1 ||
        c.head_object_max_connections_per_host > 10'000) {
      return absl::InvalidArgumentError(
          "config: head_object.max_connections_per_host must be 1-10000");
    }
  }
  int64_t grace_seconds = -1;
  OSSUP_RETURN_IF_ERROR(Get(doc, "expiry_grace_seconds", &grace_seconds, ""));
  if (grace_seconds >= 0) c.expiry_grace = absl::Seconds(grace_seconds);
  int64_t retention_hours = 0;
  OSSUP_RETURN_IF_ERROR(Get(doc, "event_retention_hours", &retention_hours, ""));
  if (retention_hours > 0) c.event_retention = absl::Hours(retention_hours);
  OSSUP_RETURN_IF_ERROR(Get(doc, "worker_threads", &c.worker_threads, ""));
  if (c.worker_threads < 1 || c.worker_threads > 1024) {
    return absl::InvalidArgumentError("config: worker_threads must be 1-1024");
  }
  return c;
}

}  // namespace ossup::app
