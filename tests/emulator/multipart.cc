#include "multipart.h"

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ossemu {
namespace {

absl::Status Malformed(absl::string_view why) {
  return absl::InvalidArgumentError(why);
}

// Splits `a=b; c="d"` parameters (after the first `;`) honouring quoted strings.
std::vector<std::pair<std::string, std::string>> ParseParams(absl::string_view s) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ';' || s[i] == ' ' || s[i] == '\t')) ++i;
    size_t name_start = i;
    while (i < s.size() && s[i] != '=' && s[i] != ';') ++i;
    std::string name =
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(s.substr(name_start, i - name_start)));
    std::string value;
    if (i < s.size() && s[i] == '=') {
      ++i;
      while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
      if (i < s.size() && s[i] == '"') {
        ++i;
        while (i < s.size() && s[i] != '"') {
          if (s[i] == '\\' && i + 1 < s.size()) ++i;
          value += s[i++];
        }
        if (i < s.size()) ++i;  // closing quote
      } else {
        size_t v_start = i;
        while (i < s.size() && s[i] != ';') ++i;
        value = std::string(absl::StripAsciiWhitespace(s.substr(v_start, i - v_start)));
      }
    }
    if (!name.empty()) params.emplace_back(std::move(name), std::move(value));
  }
  return params;
}

}  // namespace

absl::StatusOr<std::string> BoundaryFromContentType(absl::string_view content_type) {
  size_t semi = content_type.find(';');
  absl::string_view type = absl::StripAsciiWhitespace(content_type.substr(0, semi));
  if (!absl::EqualsIgnoreCase(type, "multipart/form-data")) {
    return Malformed("Content-Type is not multipart/form-data");
  }
  if (semi == absl::string_view::npos) return Malformed("no boundary");
  for (auto& [name, value] : ParseParams(content_type.substr(semi + 1))) {
    if (name == "boundary") {
      if (value.empty() || value.size() > 70) return Malformed("bad boundary length");
      return value;
    }
  }
  return Malformed("no boundary");
}

MultipartParser::MultipartParser(std::string boundary, MultipartSink* sink)
    : delimiter_("\r\n--" + boundary), sink_(sink), buffer_("\r\n") {}

absl::Status MultipartParser::Feed(absl::string_view data) {
  if (!error_.ok()) return error_;
  if (state_ == State::kEpilogue) return absl::OkStatus();
  buffer_.append(data.data(), data.size());
  error_ = Run();
  return error_;
}

absl::Status MultipartParser::Finish() {
  if (!error_.ok()) return error_;
  if (state_ != State::kEpilogue) error_ = Malformed("multipart body ended before the closing boundary");
  return error_;
}

absl::Status MultipartParser::Run() {
  size_t pos = 0;
  absl::Status status;
  for (;;) {
    absl::string_view rest(buffer_.data() + pos, buffer_.size() - pos);
    if (state_ == State::kPreamble || state_ == State::kBody) {
      size_t hit = rest.find(delimiter_);
      if (hit == absl::string_view::npos) {
        // Everything except a possible delimiter prefix at the end is body.
        size_t safe = rest.size() >= delimiter_.size() ? rest.size() - delimiter_.size() + 1 : 0;
        if (state_ == State::kBody && safe > 0) status = sink_->OnPartData(rest.substr(0, safe));
        pos += safe;
        break;
      }
      if (state_ == State::kBody) {
        if (hit > 0) status = sink_->OnPartData(rest.substr(0, hit));
        if (status.ok()) status = sink_->OnPartEnd();
        if (!status.ok()) break;
      }
      pos += hit + delimiter_.size();
      state_ = State::kAfterBoundary;
    } else if (state_ == State::kAfterBoundary) {
      // Optional transport padding (RFC 2046) then CRLF, or "--" for the close delimiter.
      size_t i = 0;
      while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\t') && i < 64) ++i;
      if (rest.size() < i + 2) {
        if (i >= 64) status = Malformed("bad boundary line");
        break;
      }
      if (i == 0 && rest.substr(0, 2) == "--") {
        state_ = State::kEpilogue;
        pos = buffer_.size();
        break;
      }
      if (rest.substr(i, 2) != "\r\n") {
        status = Malformed("bad boundary line");
        break;
      }
      pos += i + 2;
      state_ = State::kHeaders;
    } else if (state_ == State::kHeaders) {
      size_t end;
      size_t skip;
      if (absl::StartsWith(rest, "\r\n")) {
        end = 0;
        skip = 2;
      } else {
        end = rest.find("\r\n\r\n");
        skip = 4;
      }
      if (end == absl::string_view::npos) {
        if (rest.size() > kMaxPartHeaderBytes) status = Malformed("part headers too long");
        break;
      }
      if (end > kMaxPartHeaderBytes) {
        status = Malformed("part headers too long");
        break;
      }
      status = ParseHeaders(rest.substr(0, end));
      if (!status.ok()) break;
      pos += end + skip;
      state_ = State::kBody;
    } else {  // kEpilogue
      pos = buffer_.size();
      break;
    }
  }
  buffer_.erase(0, pos);
  return status;
}

absl::Status MultipartParser::ParseHeaders(absl::string_view block) {
  PartHeaders headers;
  bool has_disposition = false;
  for (absl::string_view line : absl::StrSplit(block, "\r\n", absl::SkipEmpty())) {
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) return Malformed("bad part header line");
    absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, colon));
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "content-disposition")) {
      size_t semi = value.find(';');
      if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(value.substr(0, semi)), "form-data") ||
          semi == absl::string_view::npos) {
        return Malformed("part is not form-data");
      }
      for (auto& [pname, pvalue] : ParseParams(value.substr(semi + 1))) {
        if (pname == "name") {
          headers.name = std::move(pvalue);
          has_disposition = true;
        } else if (pname == "filename") {
          headers.filename = std::move(pvalue);
          headers.has_filename = true;
        }
      }
    } else if (absl::EqualsIgnoreCase(name, "content-type")) {
      headers.content_type = std::string(value);
    }
  }
  if (!has_disposition) return Malformed("part without a form-data name");
  return sink_->OnPartBegin(headers);
}

}  // namespace ossemu
