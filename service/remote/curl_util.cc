#include "service/remote/curl_util.h"

#include <mutex>

#include "absl/strings/str_cat.h"

namespace ossup::remote {

absl::Status CurlGlobalInitOnce() {
  static std::once_flag once;
  static CURLcode init_rc = CURLE_OK;
  std::call_once(once, [] { init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init_rc != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("curl_global_init failed: ", curl_easy_strerror(init_rc)));
  }
  return absl::OkStatus();
}

}  // namespace ossup::remote
