#ifndef OSSUP_SERVICE_COMMON_THREAD_NAME_H_
#define OSSUP_SERVICE_COMMON_THREAD_NAME_H_

#include <thread>
#include <utility>

namespace ossup {

// Names the calling thread (Linux keeps the first 15 bytes), so that `top -H`, `perf` and
// debuggers tell the service's threads apart: committers, HTTP I/O, the OSS client, workers.
void SetCurrentThreadName(const char* name);

// A thread that names itself `name` (a string that outlives the thread's start, e.g. a literal),
// then runs `body`.
template <typename Body>
std::thread NamedThread(const char* name, Body&& body) {
  return std::thread([name, body = std::forward<Body>(body)]() mutable {
    SetCurrentThreadName(name);
    body();
  });
}

}  // namespace ossup

#endif  // OSSUP_SERVICE_COMMON_THREAD_NAME_H_
