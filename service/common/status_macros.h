#ifndef OSSUP_SERVICE_COMMON_STATUS_MACROS_H_
#define OSSUP_SERVICE_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Abseil 20220623 ships no status macros; these are the usual two.
#define OSSUP_RETURN_IF_ERROR(expr)                           \
  do {                                                        \
    if (::absl::Status _ossup_st = (expr); !_ossup_st.ok()) { \
      return _ossup_st;                                       \
    }                                                         \
  } while (0)

#define OSSUP_STATUS_CONCAT_INNER(a, b) a##b
#define OSSUP_STATUS_CONCAT(a, b) OSSUP_STATUS_CONCAT_INNER(a, b)
#define OSSUP_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(*tmp)

#define OSSUP_ASSIGN_OR_RETURN(lhs, rexpr) \
  OSSUP_ASSIGN_OR_RETURN_IMPL(OSSUP_STATUS_CONCAT(_ossup_statusor_, __LINE__), lhs, rexpr)

#endif  // OSSUP_SERVICE_COMMON_STATUS_MACROS_H_
