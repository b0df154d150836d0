#include "service/protocol/error_text.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace ossup::protocol {

std::string QuoteForError(absl::string_view text, size_t max_bytes) {
  const bool cut = text.size() > max_bytes;
  return absl::StrCat("'", absl::CHexEscape(text.substr(0, max_bytes)), cut ? "...'" : "'");
}

}  // namespace ossup::protocol
