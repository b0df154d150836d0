#ifndef OSSEMU_XML_ESCAPE_H_
#define OSSEMU_XML_ESCAPE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace ossemu {

// Escapes the five XML special characters; shared by error bodies and CallbackFailed answers.
inline std::string XmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace ossemu

#endif  // OSSEMU_XML_ESCAPE_H_
