#include "service/domain/upload.h"

namespace ossup::domain {

absl::string_view UploadStateName(UploadState state) {
  switch (state) {
    case UploadState::kPending:
      return "PENDING";
    case UploadState::kCompleted:
      return "COMPLETED";
    case UploadState::kRejected:
      return "REJECTED";
    case UploadState::kExpired:
      return "EXPIRED";
    case UploadState::kCancelled:
      return "CANCELLED";
  }
  return "STATE_UNSPECIFIED";
}

bool IsFinal(UploadState state) { return state != UploadState::kPending; }

absl::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kCompleted:
      return "COMPLETED";
    case EventType::kRejected:
      return "REJECTED";
    case EventType::kExpired:
      return "EXPIRED";
    case EventType::kCancelled:
      return "CANCELLED";
    case EventType::kLateCallback:
      return "LATE_CALLBACK";
  }
  return "TYPE_UNSPECIFIED";
}

}  // namespace ossup::domain
