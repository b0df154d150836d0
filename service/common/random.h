#ifndef OSSUP_SERVICE_COMMON_RANDOM_H_
#define OSSUP_SERVICE_COMMON_RANDOM_H_

#include <cstdint>
#include <string>

namespace ossup {

// Source of unpredictable bytes (upload ids, callback tokens). Injected so tests can be
// deterministic; production uses OpenSSL's CSPRNG.
class Random {
 public:
  virtual ~Random() = default;
  virtual std::string Bytes(size_t n) = 0;
};

// RAND_bytes; aborts the process if the CSPRNG fails, because continuing would issue guessable
// tokens.
class SecureRandom final : public Random {
 public:
  std::string Bytes(size_t n) override;
};

// Deterministic bytes for tests (splitmix64 stream). Not for production.
class SeededRandomForTests final : public Random {
 public:
  explicit SeededRandomForTests(uint64_t seed) : state_(seed) {}
  std::string Bytes(size_t n) override;

 private:
  uint64_t state_;
};

}  // namespace ossup

#endif  // OSSUP_SERVICE_COMMON_RANDOM_H_
