#include "service/protocol/policy.h"

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace ossup::protocol {
namespace {

// ["op","$field","value"]; `field` is a validated token, `value` already '$'-escaped.
std::string Triple(absl::string_view op, absl::string_view field, absl::string_view value) {
  std::string out = "[\"";
  out.append(op.data(), op.size());
  out.append("\",\"$");
  out.append(field.data(), field.size());
  out.append("\",");
  AppendJsonString(&out, value);
  out.push_back(']');
  return out;
}

}  // namespace

void AppendJsonString(std::string* out, absl::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the pending run of bytes that need no escaping
  out->reserve(out->size() + s.size() + 2);
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') [[likely]]
      continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xf]);
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

bool IsPrintableUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // Fast path: eight printable ASCII bytes at a time (no high bit, none < 0x20, no DEL).
    while (i + 8 <= s.size()) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      constexpr uint64_t kHigh = 0x8080808080808080ULL;
      constexpr uint64_t kOnes = 0x0101010101010101ULL;
      const uint64_t below_space = (w - 0x20 * kOnes) & ~w & kHigh;
      const uint64_t x = w ^ (0x7f * kOnes);
      const uint64_t is_del = (x - kOnes) & ~x & kHigh;
      if (((w & kHigh) | below_space | is_del) != 0) break;
      i += 8;
    }
    if (i >= s.size()) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++i;
      continue;
    }
    int extra;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      extra = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates, out-of-range code points and C1 controls.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || (cp >= 0x80 && cp <= 0x9f)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

std::string PolicyExpiration(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

PolicyDocument::PolicyDocument(absl::Time expiration) : expiration_(expiration) {}

bool PolicyDocument::CheckRoom() {
  if (!status_.ok()) return false;
  if (conditions_.size() >= kMaxPolicyConditions) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("policy: more than ", kMaxPolicyConditions, " conditions"));
    return false;
  }
  return true;
}

bool PolicyDocument::FieldName(absl::string_view field) {
  bool valid = !field.empty() && field.size() <= 128;
  for (char c : field) {
    valid = valid && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
                      c == ':' || c == '.');
  }
  if (!valid) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("policy: invalid condition field name '", field, "'"));
    return false;
  }
  return true;
}

bool PolicyDocument::Value(absl::string_view what, absl::string_view in, std::string* out) {
  if (in.size() > kMaxPolicyValueBytes) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("policy: value of ", what, " exceeds ", kMaxPolicyValueBytes, " bytes"));
    return false;
  }
  if (!IsPrintableUtf8(in)) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("policy: value of ", what, " must be UTF-8 text without control characters"));
    return false;
  }
  // How OSS unescapes a backslash that is not followed by '$' is not documented (reference §1.3,
  // UNCONFIRMED), so a value containing one could match differently than we intend. Refuse it.
  if (in.find('\\') != absl::string_view::npos) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("policy: value of ", what, " must not contain a backslash"));
    return false;
  }
  if (in.find('$') == absl::string_view::npos) {
    out->assign(in.data(), in.size());
  } else {
    *out = absl::StrReplaceAll(in, {{"$", "\\$"}});
  }
  return true;
}

PolicyDocument& PolicyDocument::AddExact(absl::string_view field, absl::string_view value) {
  std::string v;
  if (!CheckRoom() || !FieldName(field) || !Value(field, value, &v)) return *this;
  std::string cond = "{";
  AppendJsonString(&cond, field);
  cond.push_back(':');
  AppendJsonString(&cond, v);
  cond.push_back('}');
  conditions_.push_back(std::move(cond));
  return *this;
}

PolicyDocument& PolicyDocument::AddEq(absl::string_view field, absl::string_view value) {
  std::string v;
  if (!CheckRoom() || !FieldName(field) || !Value(field, value, &v)) return *this;
  conditions_.push_back(Triple("eq", field, v));
  return *this;
}

PolicyDocument& PolicyDocument::AddStartsWith(absl::string_view field, absl::string_view prefix) {
  std::string v;
  if (!CheckRoom() || !FieldName(field) || !Value(field, prefix, &v)) return *this;
  conditions_.push_back(Triple("starts-with", field, v));
  return *this;
}

PolicyDocument& PolicyDocument::AddList(absl::string_view op, absl::string_view field,
                                        const std::vector<std::string>& values) {
  if (!CheckRoom() || !FieldName(field)) return *this;
  if (values.empty() || values.size() > 64) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("policy: '", op, "' on ", field, " needs 1-64 values"));
    return *this;
  }
  std::string cond = "[";
  AppendJsonString(&cond, op);
  cond.append(",\"$");
  cond.append(field.data(), field.size());  // field names are plain tokens (FieldName)
  cond.append("\",[");
  for (size_t i = 0; i < values.size(); ++i) {
    std::string v;
    if (!Value(field, values[i], &v)) return *this;
    if (i > 0) cond.push_back(',');
    AppendJsonString(&cond, v);
  }
  cond.append("]]");
  conditions_.push_back(std::move(cond));
  return *this;
}

PolicyDocument& PolicyDocument::AddIn(absl::string_view field,
                                      const std::vector<std::string>& values) {
  return AddList("in", field, values);
}

PolicyDocument& PolicyDocument::AddNotIn(absl::string_view field,
                                         const std::vector<std::string>& values) {
  return AddList("not-in", field, values);
}

PolicyDocument& PolicyDocument::AddContentLengthRange(int64_t min, int64_t max) {
  if (!CheckRoom()) return *this;
  if (min < 0 || max < min) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("policy: content-length-range needs 0 <= min <= max, got ", min, "..", max));
    return *this;
  }
  conditions_.push_back(absl::StrCat("[\"content-length-range\",", min, ",", max, "]"));
  return *this;
}

absl::StatusOr<std::string> PolicyDocument::Serialize() const {
  if (!status_.ok()) return status_;
  if (conditions_.empty()) {
    // OSS refuses a policy without conditions (EC 0006-00000209).
    return absl::InvalidArgumentError("policy: at least one condition is required");
  }
  std::string out = absl::StrCat("{\"expiration\":\"", PolicyExpiration(expiration_),
                                 "\",\"conditions\":[", absl::StrJoin(conditions_, ","), "]}");
  if (out.size() > kMaxPolicyJsonBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy: document exceeds ", kMaxPolicyJsonBytes, " bytes"));
  }
  return out;
}

}  // namespace ossup::protocol
