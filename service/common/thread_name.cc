#include "service/common/thread_name.h"

#include <pthread.h>

#include <cstring>
#include <string>

namespace ossup {

void SetCurrentThreadName(const char* name) {
  constexpr size_t kMaxLength = 15;  // without the terminating NUL
  const std::string truncated(name, strnlen(name, kMaxLength));
  pthread_setname_np(pthread_self(), truncated.c_str());
}

}  // namespace ossup
