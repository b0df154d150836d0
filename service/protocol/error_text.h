#ifndef OSSUP_SERVICE_PROTOCOL_ERROR_TEXT_H_
#define OSSUP_SERVICE_PROTOCOL_ERROR_TEXT_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace ossup::protocol {

// Renders untrusted text for an error message: C-escaped (so control bytes, invalid UTF-8 and
// quotes cannot corrupt logs or status details), cut to max_bytes of input, in single quotes.
std::string QuoteForError(absl::string_view text, size_t max_bytes = 64);

}  // namespace ossup::protocol

#endif  // OSSUP_SERVICE_PROTOCOL_ERROR_TEXT_H_
