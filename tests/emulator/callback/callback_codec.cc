#include "callback/callback_codec.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ossemu {
namespace {

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kHexUpper[] = "0123456789ABCDEF";

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUnreserved(unsigned char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

bool IsHostChar(unsigned char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_';
}

absl::Status BadUrl(absl::string_view why, absl::string_view url) {
  return absl::InvalidArgumentError(absl::StrCat("The callbackUrl is invalid (", why, "): ", url));
}

}  // namespace

std::string Base64Encode(absl::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t n = (static_cast<unsigned char>(data[i]) << 16) |
                 (static_cast<unsigned char>(data[i + 1]) << 8) |
                 static_cast<unsigned char>(data[i + 2]);
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(kBase64Alphabet[(n >> 6) & 63]);
    out.push_back(kBase64Alphabet[n & 63]);
  }
  const size_t rest = data.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<unsigned char>(data[i]) << 16;
    if (rest == 2) n |= static_cast<unsigned char>(data[i + 1]) << 8;
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? kBase64Alphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

absl::StatusOr<std::string> Base64DecodeStrict(absl::string_view text) {
  const absl::Status bad = absl::InvalidArgumentError("The callback is not valid base64.");
  if (text.size() % 4 != 0) return bad;
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    for (int j = 0; j < 4; ++j) {
      const size_t pos = i + j;
      if (last && pos >= text.size() - pad) {
        v[j] = 0;
        continue;
      }
      v[j] = Base64Value(text[pos]);
      if (v[j] < 0) return bad;
    }
    const uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    if (!last || pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (!last || pad < 1) out.push_back(static_cast<char>(n & 0xff));
    // Non-canonical encodings (pad bits set) are refused.
    if (last && ((pad == 1 && (n & 0xff) != 0) || (pad == 2 && (n & 0xffff) != 0))) return bad;
  }
  return out;
}

std::string UrlEncodeComponent(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    if (IsUnreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHexUpper[c >> 4]);
      out.push_back(kHexUpper[c & 15]);
    }
  }
  return out;
}

std::string PercentDecode(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '%' && i + 2 < value.size() && HexValue(value[i + 1]) >= 0 &&
        HexValue(value[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(value[i + 1]) * 16 + HexValue(value[i + 2])));
      i += 2;
    } else {
      out.push_back(value[i]);
    }
  }
  return out;
}

std::string Md5(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr) != 1) return "";
  return std::string(reinterpret_cast<const char*>(digest), len);
}

std::string CallbackUrl::ToString() const {
  std::string out = absl::StrCat(scheme, "://", host);
  if (port != 0) absl::StrAppend(&out, ":", port);
  absl::StrAppend(&out, target);
  return out;
}

absl::StatusOr<CallbackUrl> ParseCallbackUrl(absl::string_view raw) {
  // Non-ASCII must arrive percent-encoded (reference §2.1); spaces and control characters
  // would otherwise reach the request line.
  for (unsigned char c : raw) {
    if (c <= 0x20 || c >= 0x7f) return BadUrl("character not allowed", raw);
  }
  CallbackUrl url;
  absl::string_view rest = raw;
  const size_t scheme_end = rest.find("://");
  if (scheme_end == absl::string_view::npos) {
    url.scheme = "http";
  } else {
    url.scheme = absl::AsciiStrToLower(rest.substr(0, scheme_end));
    if (url.scheme != "http" && url.scheme != "https") return BadUrl("scheme", raw);
    rest.remove_prefix(scheme_end + 3);
  }
  const size_t fragment = rest.find('#');
  if (fragment != absl::string_view::npos) rest = rest.substr(0, fragment);
  const size_t authority_end = rest.find_first_of("/?");
  absl::string_view authority = rest.substr(0, authority_end);
  url.target = authority_end == absl::string_view::npos ? "" : std::string(rest.substr(authority_end));
  if (url.target.empty() || url.target[0] == '?') url.target.insert(0, "/");
  if (absl::StrContains(authority, '@')) return BadUrl("userinfo", raw);
  if (absl::StartsWith(authority, "[")) return BadUrl("IPv6 address", raw);
  const size_t colon = authority.find(':');
  absl::string_view host = authority.substr(0, colon);
  if (host.empty()) return BadUrl("empty host", raw);
  for (unsigned char c : host) {
    if (!IsHostChar(c)) return BadUrl("host", raw);
  }
  url.host = std::string(host);
  if (colon != absl::string_view::npos) {
    absl::string_view port = authority.substr(colon + 1);
    int value = 0;
    const bool digits = !port.empty() && port.size() <= 5 &&
                        std::all_of(port.begin(), port.end(), absl::ascii_isdigit);
    if (!digits || !absl::SimpleAtoi(port, &value) || value < 1 || value > 65535) {
      return BadUrl("port", raw);
    }
    url.port = value;
  }
  return url;
}

}  // namespace ossemu
