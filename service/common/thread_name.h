#ifndef OSSUP_SERVICE_COMMON_THREAD_NAME_H_
#define OSSUP_SERVICE_COMMON_THREAD_NAME_H_

namespace ossup {

// Names the calling thread (Linux keeps the first 15 bytes), so that `top -H`, `perf` and
// debuggers tell the service's threads apart: committers, HTTP I/O, the OSS client, workers.
void SetCurrentThreadName(const char* name);

}  // namespace ossup

#endif  // OSSUP_SERVICE_COMMON_THREAD_NAME_H_
