#include "service/domain/callers.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "service/protocol/crypto.h"

namespace ossup::domain {
namespace {

constexpr size_t kMaxRegistryBytes = 1 << 20;
constexpr size_t kMinTokenChars = 32;
constexpr size_t kMaxTokenChars = 512;

bool IsNamespace(absl::string_view ns) {
  return !ns.empty() && ns.size() <= 63 && std::all_of(ns.begin(), ns.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

bool Caller::MayUse(absl::string_view ns) const {
  return std::find(namespaces.begin(), namespaces.end(), ns) != namespaces.end();
}

absl::StatusOr<std::unique_ptr<CallerRegistry>> CallerRegistry::FromJson(absl::string_view json) {
  absl::StatusOr<std::shared_ptr<const Map>> map = Parse(json);
  if (!map.ok()) return map.status();
  auto registry = std::unique_ptr<CallerRegistry>(new CallerRegistry());
  registry->by_hash_ = *std::move(map);
  return registry;
}

absl::Status CallerRegistry::Reload(absl::string_view json) {
  absl::StatusOr<std::shared_ptr<const Map>> map = Parse(json);
  if (!map.ok()) return map.status();
  absl::MutexLock lock(&mu_);
  by_hash_ = *std::move(map);
  return absl::OkStatus();
}

size_t CallerRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return by_hash_->size();
}

absl::StatusOr<std::shared_ptr<const CallerRegistry::Map>> CallerRegistry::Parse(
    absl::string_view json) {
  if (json.size() > kMaxRegistryBytes) {
    return absl::InvalidArgumentError("callers file: larger than 1 MiB");
  }
  nlohmann::json doc = nlohmann::json::parse(json.begin(), json.end(), nullptr,
                                             /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("callers") ||
      !doc["callers"].is_array()) {
    return absl::InvalidArgumentError(
        "callers file: expected {\"callers\": [{\"name\", \"token_sha256\", \"namespaces\"}]}");
  }
  auto map = std::make_shared<Map>();
  size_t index = 0;
  for (const auto& entry : doc["callers"]) {
    const std::string where = absl::StrCat("callers file: callers[", index++, "]");
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
        !entry.contains("token_sha256") || !entry["token_sha256"].is_string() ||
        !entry.contains("namespaces") || !entry["namespaces"].is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": needs string name, string token_sha256, array namespaces"));
    }
    Caller caller;
    caller.name = entry["name"].get<std::string>();
    if (caller.name.empty() || caller.name.size() > 128) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": name must be 1-128 characters"));
    }
    const std::string hex = absl::AsciiStrToLower(entry["token_sha256"].get<std::string>());
    if (hex.size() != 64 || !std::all_of(hex.begin(), hex.end(), absl::ascii_isxdigit)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": token_sha256 must be 64 hex digits (SHA-256 of the token)"));
    }
    for (const auto& ns : entry["namespaces"]) {
      if (!ns.is_string() || !IsNamespace(ns.get<std::string>())) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": namespaces must be strings of a-z, 0-9 and '-'"));
      }
      caller.namespaces.push_back(ns.get<std::string>());
    }
    if (caller.namespaces.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": needs at least one namespace"));
    }
    if (!map->emplace(absl::HexStringToBytes(hex), std::move(caller)).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": token_sha256 used twice"));
    }
  }
  if (map->empty()) {
    // The service never runs without tokens.
    return absl::InvalidArgumentError("callers file: no callers");
  }
  return std::shared_ptr<const Map>(std::move(map));
}

absl::StatusOr<std::shared_ptr<const Caller>> CallerRegistry::Authenticate(
    absl::string_view authorization) const {
  absl::string_view token = absl::StripAsciiWhitespace(authorization);
  if (token.empty()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>' metadata");
  }
  if (token.size() < 7 || !absl::EqualsIgnoreCase(token.substr(0, 7), "bearer ")) {
    return absl::UnauthenticatedError("authorization metadata must be 'Bearer <token>'");
  }
  token = absl::StripLeadingAsciiWhitespace(token.substr(7));
  if (token.size() < kMinTokenChars || token.size() > kMaxTokenChars) {
    return absl::UnauthenticatedError("unknown token");
  }
  auto digest = protocol::Sha256(token);
  if (!digest.ok()) return digest.status();
  std::shared_ptr<const Map> map;
  {
    absl::MutexLock lock(&mu_);
    map = by_hash_;
  }
  const auto it = map->find(*digest);
  if (it == map->end()) return absl::UnauthenticatedError("unknown token");
  // Shares ownership of the whole snapshot, so a reload cannot free this caller mid-call.
  return std::shared_ptr<const Caller>(map, &it->second);
}

}  // namespace ossup::domain
