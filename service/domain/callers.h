#ifndef OSSUP_SERVICE_DOMAIN_CALLERS_H_
#define OSSUP_SERVICE_DOMAIN_CALLERS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace ossup::domain {

// A backend allowed to call the gRPC API.
struct Caller {
  std::string name;                     // for logs and audit
  std::vector<std::string> namespaces;  // the namespaces it may read and write

  bool MayUse(absl::string_view ns) const;
};

// Bearer tokens of the callers, loaded from a JSON file that stores only SHA-256 hashes:
//
//   {"callers": [{"name": "billing", "token_sha256": "<64 hex>", "namespaces": ["acme"]}]}
//
// A token is 32+ characters of high-entropy text; `printf %s "$TOKEN" | sha256sum` gives its hash.
// Hashing at rest means a leaked file does not leak working tokens; comparing hashes of
// high-entropy secrets in a hash map reveals nothing useful through timing.
//
// Thread-safe. Reload() swaps in a new file's callers atomically (token rotation without a
// restart); results of Authenticate stay valid however long a call holds them.
class CallerRegistry {
 public:
  static absl::StatusOr<std::unique_ptr<CallerRegistry>> FromJson(absl::string_view json);

  // `authorization` is the gRPC metadata value, "Bearer <token>". Unauthenticated (with a reason
  // that never echoes the token) when missing, malformed or unknown.
  absl::StatusOr<std::shared_ptr<const Caller>> Authenticate(absl::string_view authorization) const;

  // Replaces the callers with those of `json`; on error the current ones stay in force.
  absl::Status Reload(absl::string_view json);

  size_t size() const;

 private:
  using Map = absl::flat_hash_map<std::string, Caller>;  // raw SHA-256 -> caller
  static absl::StatusOr<std::shared_ptr<const Map>> Parse(absl::string_view json);

  mutable absl::Mutex mu_;
  std::shared_ptr<const Map> by_hash_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ossup::domain

#endif  // OSSUP_SERVICE_DOMAIN_CALLERS_H_
