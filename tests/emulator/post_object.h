#ifndef OSSEMU_POST_OBJECT_H_
#define OSSEMU_POST_OBJECT_H_

// PostObject (browser form upload, reference §1): streaming multipart parse, V4/V1 form
// signature, policy, storage, callback.

#include <cstdint>
#include <memory>

#include "operation.h"

namespace ossemu {

inline constexpr int64_t kMaxObjectSize = int64_t{5} * 1024 * 1024 * 1024;  // 5 GiB
inline constexpr size_t kMaxFormFields = 64;
inline constexpr size_t kMaxFieldNameBytes = 8 * 1024;
inline constexpr size_t kMaxFieldValueBytes = 2 * 1024 * 1024;
inline constexpr size_t kMaxTotalFieldBytes = 8 * 1024 * 1024;  // UNCONFIRMED total cap

std::unique_ptr<Operation> NewPostObject(const Services& services, const RequestContext& ctx);

}  // namespace ossemu

#endif  // OSSEMU_POST_OBJECT_H_
