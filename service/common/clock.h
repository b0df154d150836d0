#ifndef OSSUP_SERVICE_COMMON_CLOCK_H_
#define OSSUP_SERVICE_COMMON_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ossup {

// Source of wall-clock time. Injected everywhere a decision depends on "now" (policy expiry,
// cache TTLs, x-oss-date) so tests can pin it.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  // A process-wide instance for production wiring.
  static const RealClock& Get() {
    static const RealClock* const kClock = new RealClock();
    return *kClock;
  }
};

// A settable clock for tests. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time now) : now_(now) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Set(absl::Time now) {
    absl::MutexLock lock(&mu_);
    now_ = now;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ossup

#endif  // OSSUP_SERVICE_COMMON_CLOCK_H_
