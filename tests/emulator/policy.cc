#include "policy.h"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "oss_error.h"

namespace ossemu {
namespace {

using json = nlohmann::json;

absl::Status BadPolicy(absl::string_view message, absl::string_view ec = "") {
  return OssError("InvalidPolicyDocument", message, ec);
}

std::string Unescape(const std::string& value) { return absl::StrReplaceAll(value, {{"\\$", "$"}}); }

absl::StatusOr<std::string> FieldName(const json& j, bool array_form) {
  if (!j.is_string()) return BadPolicy("Invalid Policy: condition field name must be a string.");
  std::string name = j.get<std::string>();
  if (array_form) {
    if (!absl::StartsWith(name, "$")) {
      return BadPolicy(absl::StrCat("Invalid Policy: field name must start with $: ", name));
    }
    name.erase(0, 1);
  }
  if (name.empty()) return BadPolicy("Invalid Policy: empty field name.");
  return absl::AsciiStrToLower(name);
}

absl::StatusOr<int64_t> RangeBound(const json& j) {
  if (j.is_number_integer()) {
    int64_t v = j.get<int64_t>();
    if (v >= 0) return v;
  } else if (j.is_number_unsigned()) {
    return static_cast<int64_t>(std::min<uint64_t>(j.get<uint64_t>(), INT64_MAX));
  } else if (j.is_string()) {
    int64_t v;
    if (absl::SimpleAtoi(j.get<std::string>(), &v) && v >= 0) return v;
  }
  return BadPolicy("Invalid Policy: content-length-range bounds must be non-negative integers.",
                   "0006-00000219");
}

// Deepest bracket nesting outside strings; bounds the recursion of json::dump() below.
int NestingDepth(absl::string_view text) {
  int depth = 0;
  int max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

}  // namespace

absl::StatusOr<absl::Time> ParseIso8601(absl::string_view text) {
  absl::Time t;
  std::string err;
  if (text.size() > 64) return absl::InvalidArgumentError("timestamp too long");
  if (absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", text, absl::UTCTimeZone(), &t, &err)) return t;
  return absl::InvalidArgumentError(err);
}

absl::StatusOr<absl::Time> ParseOssDate(absl::string_view text) {
  // absl's %Y is greedy, so check the fixed layout and re-punctuate first.
  bool ok = text.size() == 16 && text[8] == 'T' && text[15] == 'Z';
  for (size_t i = 0; ok && i < 15; ++i) ok = i == 8 || absl::ascii_isdigit(text[i]);
  if (!ok) return absl::InvalidArgumentError("bad x-oss-date");
  std::string iso = absl::StrCat(text.substr(0, 4), "-", text.substr(4, 2), "-", text.substr(6, 2),
                                 "T", text.substr(9, 2), ":", text.substr(11, 2), ":",
                                 text.substr(13, 2), "Z");
  return ParseIso8601(iso);
}

absl::StatusOr<PostPolicy> PostPolicy::Parse(absl::string_view text) {
  if (NestingDepth(text) > 8) return BadPolicy("Invalid Policy: nested too deeply.");
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return BadPolicy("Invalid Policy: Invalid JSON.");
  if (!doc.is_object()) return BadPolicy("Invalid Policy: policy must be a JSON object.");
  PostPolicy policy;
  auto exp = doc.find("expiration");
  if (exp == doc.end()) return BadPolicy("Invalid Policy: no expiration.", "0006-00000207");
  if (!exp->is_string()) {
    return BadPolicy("Invalid Policy: expiration must be a string.", "0006-00000210");
  }
  absl::StatusOr<absl::Time> t = ParseIso8601(exp->get<std::string>());
  if (!t.ok()) return BadPolicy("Invalid Policy: Invalid 'expiration' value.", "0006-00000210");
  policy.expiration_ = *t;

  auto conds = doc.find("conditions");
  if (conds == doc.end() || !conds->is_array() || conds->empty()) {
    return BadPolicy("Invalid Policy: conditions must be a non-empty array.", "0006-00000208");
  }
  if (conds->size() > kMaxConditions) return BadPolicy("Invalid Policy: too many conditions.");
  for (const json& c : *conds) {
    PolicyCondition cond;
    cond.text = c.dump();
    if (c.is_object()) {
      if (c.size() != 1) {
        return BadPolicy(
            "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one "
            "property specified.");
      }
      auto it = c.begin();
      absl::StatusOr<std::string> name = FieldName(json(it.key()), false);
      if (!name.ok()) return name.status();
      if (!it.value().is_string()) {
        return BadPolicy("Invalid Policy: Invalid Simple-Condition: value must be a string.");
      }
      cond.op = PolicyCondition::Op::kEq;
      cond.field = *name;
      cond.values.push_back(Unescape(it.value().get<std::string>()));
      cond.text = json::array({"eq", "$" + it.key(), it.value()}).dump();
    } else if (c.is_array() && !c.empty() && c[0].is_string()) {
      std::string op = absl::AsciiStrToLower(c[0].get<std::string>());
      if (op == "content-length-range") {
        if (c.size() != 3) return BadPolicy("Invalid Policy: content-length-range needs 2 bounds.");
        absl::StatusOr<int64_t> lo = RangeBound(c[1]);
        if (!lo.ok()) return lo.status();
        absl::StatusOr<int64_t> hi = RangeBound(c[2]);
        if (!hi.ok()) return hi.status();
        if (*hi < *lo) {
          return BadPolicy("Invalid Policy: content-length-range max < min.", "0006-00000223");
        }
        policy.length_range_ = std::make_pair(*lo, *hi);
        continue;
      }
      if (c.size() != 3) {
        return BadPolicy(absl::StrCat("Invalid Policy: Invalid condition: ", cond.text));
      }
      absl::StatusOr<std::string> name = FieldName(c[1], true);
      if (!name.ok()) return name.status();
      cond.field = *name;
      if (op == "eq" || op == "starts-with") {
        if (!c[2].is_string()) {
          return BadPolicy(absl::StrCat("Invalid Policy: Invalid condition: ", cond.text));
        }
        cond.op = op == "eq" ? PolicyCondition::Op::kEq : PolicyCondition::Op::kStartsWith;
        cond.values.push_back(Unescape(c[2].get<std::string>()));
      } else if (op == "in" || op == "not-in") {
        if (!c[2].is_array()) {
          return BadPolicy(absl::StrCat("Invalid Policy: Invalid condition: ", cond.text));
        }
        cond.op = op == "in" ? PolicyCondition::Op::kIn : PolicyCondition::Op::kNotIn;
        for (const json& v : c[2]) {
          if (!v.is_string()) {
            return BadPolicy(absl::StrCat("Invalid Policy: Invalid condition: ", cond.text));
          }
          cond.values.push_back(Unescape(v.get<std::string>()));
        }
      } else {
        return BadPolicy(absl::StrCat("Invalid Policy: Unknown condition: ", cond.text));
      }
    } else {
      return BadPolicy(absl::StrCat("Invalid Policy: Invalid condition: ", cond.text));
    }
    policy.conditions_.push_back(std::move(cond));
  }
  return policy;
}

absl::Status PostPolicy::CheckExpiration(absl::Time now) const {
  if (now >= expiration_) {
    return OssError("AccessDenied", "Invalid according to Policy: Policy expired.",
                    "0006-00000213");
  }
  return absl::OkStatus();
}

absl::Status PostPolicy::CheckConditions(
    const std::function<std::optional<std::string>(absl::string_view)>& lookup) const {
  for (const PolicyCondition& cond : conditions_) {
    std::optional<std::string> value = lookup(cond.field);
    bool ok = false;
    switch (cond.op) {
      case PolicyCondition::Op::kEq:
        ok = value.has_value() && *value == cond.values[0];
        break;
      case PolicyCondition::Op::kStartsWith:
        ok = value.has_value() && absl::StartsWith(*value, cond.values[0]);
        break;
      case PolicyCondition::Op::kIn:
        ok = value.has_value() &&
             std::find(cond.values.begin(), cond.values.end(), *value) != cond.values.end();
        break;
      case PolicyCondition::Op::kNotIn:
        ok = !value.has_value() ||
             std::find(cond.values.begin(), cond.values.end(), *value) == cond.values.end();
        break;
    }
    if (!ok) {
      return OssError("AccessDenied",
                      absl::StrCat("Invalid according to Policy: Policy Condition failed: ",
                                   cond.text));
    }
  }
  return absl::OkStatus();
}

absl::Status PostPolicy::CheckLength(int64_t size) const {
  if (!length_range_) return absl::OkStatus();
  if (size > length_range_->second) {
    return OssError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.",
                    "0006-00000003");
  }
  if (size < length_range_->first) {
    return OssError("EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size.",
                    "0006-00000004");
  }
  return absl::OkStatus();
}

}  // namespace ossemu
