#ifndef OSSEMU_CALLBACK_CALLBACK_TEMPLATE_H_
#define OSSEMU_CALLBACK_CALLBACK_TEMPLATE_H_

// callbackBody templates: "${name}" placeholders between literals.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "callback/callback_dispatcher.h"

namespace ossemu {

struct TemplatePart {
  bool is_variable = false;
  std::string text;  // the literal, or the variable name between "${" and "}"
};

// Splits a template. Every '$' must be followed by '{' (else InvalidArgument "Left brace must
// be adjacent to dollar sign."), every "${" must be closed by '}' and name something.
absl::StatusOr<std::vector<TemplatePart>> ParseTemplate(absl::string_view body_template);

// Renders the parts with the upload's values, as OSS does for the given body type:
// form: values URL-encoded (UNCONFIRMED encoder: RFC 3986 unreserved kept, rest %XX);
// JSON: string values as quoted JSON strings, numeric values (size, non-empty imageInfo
// width/height) bare. Literals are copied untouched; the result is not validated.
std::string RenderTemplate(const std::vector<TemplatePart>& parts, bool json_body,
                           const UploadFacts& facts,
                           const std::vector<std::pair<std::string, std::string>>& vars);

}  // namespace ossemu

#endif  // OSSEMU_CALLBACK_CALLBACK_TEMPLATE_H_
