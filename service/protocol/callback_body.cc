#include "service/protocol/callback_body.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "service/common/status_macros.h"
#include "service/protocol/error_text.h"
#include "service/protocol/policy.h"
#include "service/protocol/url_encoding.h"

namespace ossup::protocol {

// Collects fields under the limits; shared by both body types.
class CallbackBodyBuilder {
 public:
  explicit CallbackBodyBuilder(const CallbackBodyLimits& limits) : limits_(limits) {}

  absl::Status Add(std::string name, std::string value) {
    if (name.empty()) {
      return absl::InvalidArgumentError("callback body: a field has an empty name");
    }
    if (name.size() > limits_.max_name_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("callback body field ", QuoteForError(name),
                                                     ": name longer than ", limits_.max_name_bytes,
                                                     " bytes"));
    }
    if (value.size() > limits_.max_value_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("callback body field ", QuoteForError(name),
                                                     ": value longer than ",
                                                     limits_.max_value_bytes, " bytes"));
    }
    if (body_.fields_.size() >= limits_.max_fields) {
      return absl::InvalidArgumentError(
          absl::StrCat("callback body: more than ", limits_.max_fields, " fields"));
    }
    // Decoded text goes on to logs, the database and C APIs: no NULs, controls or invalid UTF-8.
    if (!IsPrintableUtf8(name) || !IsPrintableUtf8(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("callback body field ", QuoteForError(name),
                       ": name and value must be UTF-8 text without control characters"));
    }
    if (!body_.index_.emplace(name, body_.fields_.size()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("callback body field ", QuoteForError(name), ": appears more than once"));
    }
    body_.fields_.emplace_back(std::move(name), std::move(value));
    return absl::OkStatus();
  }

  CallbackBody Release() && { return std::move(body_); }

 private:
  const CallbackBodyLimits& limits_;
  CallbackBody body_;
};

namespace {

using Json = nlohmann::json;

absl::Status ParseForm(absl::string_view raw, CallbackBodyBuilder& builder) {
  for (absl::string_view segment : absl::StrSplit(raw, '&')) {
    if (segment.empty()) continue;  // "a=1&&b=2", trailing '&'
    const std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(segment, absl::MaxSplits('=', 1));
    auto name = PercentDecode(parts.first, /*plus_as_space=*/true);
    if (!name.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "callback body field ", QuoteForError(parts.first), ": name: ", name.status().message()));
    }
    auto value = PercentDecode(parts.second, /*plus_as_space=*/true);
    if (!value.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("callback body field ", QuoteForError(*name),
                                                     ": value: ", value.status().message()));
    }
    OSSUP_RETURN_IF_ERROR(builder.Add(*std::move(name), *std::move(value)));
  }
  return absl::OkStatus();
}

// SAX handler accepting exactly one flat object of scalars. Rejecting containers at their first
// byte means nesting depth never grows, whatever the input.
class FlatObjectHandler : public nlohmann::json_sax<Json> {
 public:
  explicit FlatObjectHandler(CallbackBodyBuilder& builder) : builder_(builder) {}

  bool null() override { return Value(""); }
  bool boolean(bool v) override { return Value(v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override { return Value(std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override { return Value(std::to_string(v)); }
  // The lexer's token: the number exactly as spelt in the body.
  bool number_float(number_float_t /*v*/, const string_t& raw) override { return Value(raw); }
  bool string(string_t& v) override { return Value(std::move(v)); }
  bool binary(binary_t& /*v*/) override { return Fail("binary values are not JSON"); }

  bool start_object(std::size_t /*size*/) override {
    if (in_object_) return FailNested("an object");
    if (seen_object_) return Fail("more than one top-level value");
    in_object_ = seen_object_ = true;
    return true;
  }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool end_object() override {
    in_object_ = false;
    return true;
  }
  bool start_array(std::size_t /*size*/) override {
    return in_object_ ? FailNested("an array") : Fail("the top level must be an object");
  }
  bool end_array() override { return Fail("unexpected end of array"); }

  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) override {
    // what() quotes the offending bytes; escape them.
    return Fail(
        absl::StrCat("not valid JSON at byte ", position, ": ", QuoteForError(ex.what(), 200)));
  }

  const absl::Status& status() const { return status_; }

 private:
  bool Value(std::string v) {
    if (!in_object_) return Fail("the top level must be an object");
    absl::Status added = builder_.Add(std::move(key_), std::move(v));
    if (!added.ok()) {
      status_ = std::move(added);
      return false;
    }
    return true;
  }
  bool FailNested(absl::string_view what) {
    return Fail(absl::StrCat("field ", QuoteForError(key_), ": value is ", what,
                             "; only strings, numbers, booleans and null are accepted"));
  }
  bool Fail(absl::string_view message) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(absl::StrCat("callback body (JSON): ", message));
    }
    return false;
  }

  CallbackBodyBuilder& builder_;
  bool in_object_ = false;
  bool seen_object_ = false;
  std::string key_;
  absl::Status status_;
};

absl::Status ParseJson(absl::string_view raw, CallbackBodyBuilder& builder) {
  FlatObjectHandler handler(builder);
  bool ok = false;
  try {
    // strict=true: trailing bytes after the object are an error.
    ok = Json::sax_parse(raw.begin(), raw.end(), &handler, Json::input_format_t::json,
                         /*strict=*/true, /*ignore_comments=*/false);
  } catch (const Json::exception& e) {
    // The SAX path reports errors through parse_error(); this is only belt and braces.
    return absl::InvalidArgumentError(
        absl::StrCat("callback body (JSON): ", QuoteForError(e.what(), 200)));
  }
  if (!handler.status().ok()) return handler.status();
  if (!ok) return absl::InvalidArgumentError("callback body (JSON): rejected by the parser");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CallbackBodyType> CallbackBodyTypeFromContentType(absl::string_view content_type) {
  if (content_type.size() > 256) {
    return absl::InvalidArgumentError("callback Content-Type: longer than 256 bytes");
  }
  const absl::string_view media =
      absl::StripAsciiWhitespace(content_type.substr(0, content_type.find(';')));
  if (absl::EqualsIgnoreCase(media, "application/x-www-form-urlencoded")) {
    return CallbackBodyType::kFormUrlEncoded;
  }
  if (absl::EqualsIgnoreCase(media, "application/json")) return CallbackBodyType::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("callback Content-Type ", QuoteForError(content_type),
                   ": expected application/x-www-form-urlencoded or application/json"));
}

absl::StatusOr<CallbackBody> CallbackBody::Parse(CallbackBodyType type, absl::string_view raw,
                                                 const CallbackBodyLimits& limits) {
  if (raw.size() > limits.max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("callback body: ", raw.size(), " bytes, at most ", limits.max_bytes));
  }
  CallbackBodyBuilder builder(limits);
  OSSUP_RETURN_IF_ERROR(type == CallbackBodyType::kJson ? ParseJson(raw, builder)
                                                        : ParseForm(raw, builder));
  return std::move(builder).Release();
}

bool CallbackBody::Has(absl::string_view name) const { return index_.contains(name); }

absl::StatusOr<std::string> CallbackBody::GetString(absl::string_view name) const {
  OSSUP_ASSIGN_OR_RETURN(const std::string* value, Find(name));
  return *value;
}

absl::StatusOr<const std::string*> CallbackBody::Find(absl::string_view name) const {
  auto it = index_.find(name);
  if (it == index_.end()) {
    return absl::NotFoundError(
        absl::StrCat("callback body field ", QuoteForError(name), ": missing"));
  }
  return &fields_[it->second].second;
}

absl::StatusOr<int64_t> CallbackBody::GetInt64(absl::string_view name) const {
  OSSUP_ASSIGN_OR_RETURN(const std::string* found, Find(name));
  const std::string& text = *found;
  // No sign, whitespace, fraction, exponent or leading zero: one spelling per value.
  bool digits_only = !text.empty() && (text.size() == 1 || text[0] != '0');
  for (char c : text)
    digits_only = digits_only && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (!digits_only) {
    return absl::InvalidArgumentError(absl::StrCat("callback body field ", QuoteForError(name),
                                                   ": ", QuoteForError(text),
                                                   " is not a non-negative decimal integer"));
  }
  int64_t result = 0;
  for (char c : text) {
    const int digit = c - '0';
    if (result > (std::numeric_limits<int64_t>::max() - digit) / 10) {
      return absl::OutOfRangeError(absl::StrCat("callback body field ", QuoteForError(name), ": ",
                                                QuoteForError(text), " overflows int64"));
    }
    result = result * 10 + digit;
  }
  return result;
}

}  // namespace ossup::protocol
