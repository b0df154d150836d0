#include "config.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "policy.h"

namespace ossemu {
namespace {

using json = nlohmann::json;

absl::Status Bad(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("config: ", what));
}

bool ValidBucketName(absl::string_view name) {
  if (name.size() < 3 || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  for (char c : name) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) return false;
  }
  return true;
}

absl::StatusOr<std::vector<std::string>> Strings(const json& obj, const char* key, bool lower,
                                                 bool upper) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end()) return out;
  if (!it->is_array()) return Bad(absl::StrCat(key, " must be an array of strings"));
  for (const json& v : *it) {
    if (!v.is_string()) return Bad(absl::StrCat(key, " must be an array of strings"));
    std::string s = v.get<std::string>();
    if (lower) absl::AsciiStrToLower(&s);
    if (upper) absl::AsciiStrToUpper(&s);
    out.push_back(std::move(s));
  }
  return out;
}

std::string Str(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

const Credential* BucketConfig::FindCredential(absl::string_view access_key_id) const {
  for (const Credential& c : credentials) {
    if (c.access_key_id == access_key_id) return &c;
  }
  return nullptr;
}

const BucketConfig* EmulatorConfig::FindBucket(absl::string_view name) const {
  for (const BucketConfig& b : buckets) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

absl::StatusOr<EmulatorConfig> ParseConfig(absl::string_view json_text) {
  json doc = json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return Bad("not a JSON object");
  EmulatorConfig config;
  auto buckets = doc.find("buckets");
  if (buckets == doc.end() || !buckets->is_array() || buckets->empty()) {
    return Bad("buckets must be a non-empty array");
  }
  for (const json& b : *buckets) {
    if (!b.is_object()) return Bad("bucket must be an object");
    BucketConfig bucket;
    bucket.name = Str(b, "name");
    if (!ValidBucketName(bucket.name)) return Bad(absl::StrCat("bad bucket name '", bucket.name, "'"));
    if (config.FindBucket(bucket.name) != nullptr) return Bad("duplicate bucket");
    bucket.region = Str(b, "region");
    if (bucket.region.empty()) bucket.region = "cn-hangzhou";
    if (b.contains("acl")) bucket.acl = Str(b, "acl");
    if (bucket.acl != "private" && bucket.acl != "public-read" && bucket.acl != "public-read-write") {
      return Bad("acl must be private, public-read or public-read-write");
    }
    if (auto creds = b.find("credentials"); creds != b.end()) {
      if (!creds->is_array()) return Bad("credentials must be an array");
      for (const json& c : *creds) {
        if (!c.is_object()) return Bad("credential must be an object");
        Credential cred;
        cred.access_key_id = Str(c, "access_key_id");
        cred.access_key_secret = Str(c, "access_key_secret");
        cred.security_token = Str(c, "security_token");
        if (cred.access_key_id.empty() || cred.access_key_secret.empty()) {
          return Bad("credential needs access_key_id and access_key_secret");
        }
        if (std::string exp = Str(c, "expires_at"); !exp.empty()) {
          absl::StatusOr<absl::Time> t = ParseIso8601(exp);
          if (!t.ok()) return Bad(absl::StrCat("bad expires_at '", exp, "'"));
          cred.expires_at = *t;
        }
        bucket.credentials.push_back(std::move(cred));
      }
    }
    if (auto cors = b.find("cors"); cors != b.end()) {
      if (!cors->is_array()) return Bad("cors must be an array");
      for (const json& r : *cors) {
        if (!r.is_object()) return Bad("cors rule must be an object");
        CorsRule rule;
        auto origins = Strings(r, "allowed_origins", false, false);
        auto methods = Strings(r, "allowed_methods", false, true);
        auto headers = Strings(r, "allowed_headers", true, false);
        auto expose = Strings(r, "expose_headers", false, false);
        for (const auto* s : {&origins, &methods, &headers, &expose}) {
          if (!s->ok()) return s->status();
        }
        rule.allowed_origins = *std::move(origins);
        rule.allowed_methods = *std::move(methods);
        rule.allowed_headers = *std::move(headers);
        rule.expose_headers = *std::move(expose);
        if (auto age = r.find("max_age_seconds"); age != r.end()) {
          if (!age->is_number_integer()) return Bad("max_age_seconds must be an integer");
          rule.max_age_seconds = age->get<int64_t>();
        }
        if (rule.allowed_origins.empty() || rule.allowed_methods.empty()) {
          return Bad("cors rule needs allowed_origins and allowed_methods");
        }
        bucket.cors.push_back(std::move(rule));
      }
    }
    config.buckets.push_back(std::move(bucket));
  }
  config.default_bucket = Str(doc, "default_bucket");
  if (config.default_bucket.empty()) config.default_bucket = config.buckets.front().name;
  if (config.FindBucket(config.default_bucket) == nullptr) return Bad("unknown default_bucket");
  return config;
}

absl::StatusOr<EmulatorConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1 << 20)) return Bad("config file larger than 1 MiB");
  return ParseConfig(text.str());
}

}  // namespace ossemu
