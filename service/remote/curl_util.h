#ifndef OSSUP_SERVICE_REMOTE_CURL_UTIL_H_
#define OSSUP_SERVICE_REMOTE_CURL_UTIL_H_

#include <curl/curl.h>

#include <memory>

#include "absl/status/status.h"

namespace ossup::remote {

// curl_global_init, once per process.
absl::Status CurlGlobalInitOnce();

struct CurlEasyDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

struct CurlSlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

struct CurlMultiDeleter {
  void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
using CurlMulti = std::unique_ptr<CURLM, CurlMultiDeleter>;

// Removes every finished transfer from `multi` and calls done(easy, result) for it.
template <typename Done>
void TakeFinishedTransfers(CURLM* multi, Done&& done) {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    const CURLcode result = msg->data.result;  // `msg` dies with the removal
    curl_multi_remove_handle(multi, easy);
    done(easy, result);
  }
}

struct CurlMimeDeleter {
  void operator()(curl_mime* mime) const { curl_mime_free(mime); }
};
using CurlMime = std::unique_ptr<curl_mime, CurlMimeDeleter>;

}  // namespace ossup::remote

#endif  // OSSUP_SERVICE_REMOTE_CURL_UTIL_H_
