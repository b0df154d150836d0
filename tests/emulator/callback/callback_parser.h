#ifndef OSSEMU_CALLBACK_CALLBACK_PARSER_H_
#define OSSEMU_CALLBACK_CALLBACK_PARSER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "callback/callback_dispatcher.h"

namespace ossemu {

// Emulator bounds (ours, not OSS's: OSS documents 5 KB for the PutObject header form only).
inline constexpr size_t kMaxCallbackJsonBytes = 8 * 1024;
inline constexpr size_t kMaxCallbackVars = 32;
inline constexpr size_t kMaxCallbackVarBytes = 8 * 1024;  // sum of names and values
inline constexpr size_t kMaxCallbackUrls = 5;

// CallbackDispatcher::Parse, as a free function (it needs no key or options).
absl::StatusOr<ParsedCallback> ParseCallbackParameter(
    absl::string_view callback_base64,
    const std::vector<std::pair<std::string, std::string>>& x_vars);

}  // namespace ossemu

#endif  // OSSEMU_CALLBACK_CALLBACK_PARSER_H_
