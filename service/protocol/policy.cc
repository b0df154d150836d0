#include "service/protocol/policy.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace ossup::protocol {
namespace {

constexpr absl::string_view kFieldChars =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:.";

}  // namespace

bool IsPrintableUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
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
  if (field.empty() || field.size() > 128 ||
      field.find_first_not_of(kFieldChars) != absl::string_view::npos) {
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
    status_ = absl::InvalidArgumentError(absl::StrCat(
        "policy: value of ", what, " must be UTF-8 text without control characters"));
    return false;
  }
  // How OSS unescapes a backslash that is not followed by '$' is not documented (reference §1.3,
  // UNCONFIRMED), so a value containing one could match differently than we intend. Refuse it.
  if (in.find('\\') != absl::string_view::npos) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("policy: value of ", what, " must not contain a backslash"));
    return false;
  }
  *out = absl::StrReplaceAll(in, {{"$", "\\$"}});
  return true;
}

PolicyDocument& PolicyDocument::AddExact(absl::string_view field, absl::string_view value) {
  std::string v;
  if (!CheckRoom() || !FieldName(field) || !Value(field, value, &v)) return *this;
  nlohmann::ordered_json cond = nlohmann::ordered_json::object();
  cond[std::string(field)] = std::move(v);
  conditions_.push_back(std::move(cond));
  return *this;
}

PolicyDocument& PolicyDocument::AddEq(absl::string_view field, absl::string_view value) {
  std::string v;
  if (!CheckRoom() || !FieldName(field) || !Value(field, value, &v)) return *this;
  conditions_.push_back(nlohmann::ordered_json::array({"eq", absl::StrCat("$", field), v}));
  return *this;
}

PolicyDocument& PolicyDocument::AddStartsWith(absl::string_view field, absl::string_view prefix) {
  std::string v;
  if (!CheckRoom() || !FieldName(field) || !Value(field, prefix, &v)) return *this;
  conditions_.push_back(
      nlohmann::ordered_json::array({"starts-with", absl::StrCat("$", field), v}));
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
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& value : values) {
    std::string v;
    if (!Value(field, value, &v)) return *this;
    list.push_back(std::move(v));
  }
  conditions_.push_back(
      nlohmann::ordered_json::array({std::string(op), absl::StrCat("$", field), std::move(list)}));
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
  conditions_.push_back(nlohmann::ordered_json::array({"content-length-range", min, max}));
  return *this;
}

absl::StatusOr<std::string> PolicyDocument::Serialize() const {
  if (!status_.ok()) return status_;
  if (conditions_.empty()) {
    // OSS refuses a policy without conditions (EC 0006-00000209).
    return absl::InvalidArgumentError("policy: at least one condition is required");
  }
  nlohmann::ordered_json doc = nlohmann::ordered_json::object();
  doc["expiration"] = PolicyExpiration(expiration_);
  doc["conditions"] = conditions_;
  // Every value was checked to be valid UTF-8, so strict dumping cannot throw.
  std::string out = doc.dump();
  if (out.size() > kMaxPolicyJsonBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy: document exceeds ", kMaxPolicyJsonBytes, " bytes"));
  }
  return out;
}

}  // namespace ossup::protocol
