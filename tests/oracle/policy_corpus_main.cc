// Prints randomized PostObject forms signed by our protocol library, one JSON object per line,
// for tests/oracle/policy_oracle.js to re-sign with the official ali-oss package.
// Usage: policy_corpus [count] [seed]
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "service/protocol/callback_params.h"
#include "service/protocol/post_form.h"

namespace ossup::protocol {
namespace {

class Corpus {
 public:
  explicit Corpus(uint64_t seed) : rng_(seed) {}

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Coin() { return Uniform(0, 1) == 1; }

  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Uniform(0, static_cast<int>(v.size()) - 1)];
  }

  // Text mixing ASCII, JSON-special characters, '$', and 2-4 byte UTF-8 sequences.
  std::string Text(int max_chars, bool allow_specials) {
    static const std::vector<std::string> kPieces = {
        "a",
        "Z",
        "0",
        "-",
        "_",
        ".",
        "/",
        " ",
        "~",
        "(",
        "+",
        "=",
        "&",
        "%",
        "\xe4\xb8\xad",      // 中
        "\xc3\xa9",          // é
        "\xf0\x9f\x93\xb7",  // 📷
        "\xe2\x80\xa8",      // U+2028, which JSON.stringify leaves raw
        "\xd7\x90",          // א
    };
    static const std::vector<std::string> kSpecials = {"\"", "$", "{", "}", "'", "<", ">"};
    std::string out;
    const int n = Uniform(1, max_chars);
    for (int i = 0; i < n; ++i) {
      out += (allow_specials && Uniform(0, 5) == 0) ? Pick(kSpecials) : Pick(kPieces);
    }
    return out;
  }

  std::string Key() {
    std::string key = Pick(std::vector<std::string>{"user/", "uploads/2026/", "a/b/c/", "x"});
    if (Uniform(0, 9) == 0) {
      key += std::string(Uniform(200, 900), 'k');  // long keys
    }
    key += Text(40, /*allow_specials=*/true);
    // Keys must not contain "${" or backslashes; '$' alone is fine and gets escaped.
    for (size_t p; (p = key.find("${")) != std::string::npos;) key.erase(p, 2);
    return key.substr(0, 1000);
  }

  PostObjectSpec Spec(absl::Time now) {
    PostObjectSpec spec;
    spec.bucket = Pick(std::vector<std::string>{"examplebucket", "b-1", "media-uploads-prod"});
    spec.key_mode = Coin() ? PostObjectSpec::KeyMode::kExact : PostObjectSpec::KeyMode::kPrefix;
    spec.key = Key();
    if (spec.key_mode == PostObjectSpec::KeyMode::kPrefix) spec.key += "/";
    spec.min_size = Uniform(0, 1024);
    spec.max_size = spec.min_size + Uniform(1, 1 << 30);
    switch (Uniform(0, 3)) {
      case 0:
        spec.content_type_mode = PostObjectSpec::ContentTypeMode::kAny;
        break;
      case 1:
        spec.content_type_mode = PostObjectSpec::ContentTypeMode::kExact;
        spec.content_types = {Pick(std::vector<std::string>{"image/png", "text/plain;charset=utf-8",
                                                            "application/octet-stream"})};
        break;
      case 2:
        spec.content_type_mode = PostObjectSpec::ContentTypeMode::kOneOf;
        spec.content_types = {"image/png", "image/jpeg", "video/mp4"};
        spec.content_types.resize(Uniform(1, 3));
        break;
      default:
        spec.content_type_mode = PostObjectSpec::ContentTypeMode::kStartsWith;
        spec.content_types = {Pick(std::vector<std::string>{"image/", "video/", "text/"})};
    }
    if (Coin()) spec.success_action_status = Pick(std::vector<int>{200, 201, 204});
    spec.forbid_overwrite = Coin();
    spec.object_acl = Pick(std::vector<std::string>{"default", "private", "public-read"});
    if (Coin()) spec.content_disposition = absl::StrCat("attachment; filename=\"", Text(8, false), "\"");
    for (int i = Uniform(0, 3); i > 0; --i) {
      spec.metadata.emplace_back(absl::StrCat("m", i, "-x"), Text(30, true));
    }
    if (Coin()) {
      const auto type = Coin() ? CallbackBodyType::kJson : CallbackBodyType::kFormUrlEncoded;
      CallbackBodyTemplate body(type);
      body.AddLiteral("upload_id", absl::StrCat("u-", Uniform(0, 1 << 30)))
          .AddLiteral("note", Text(20, true))
          .AddVariable("object", "object")
          .AddVariable("size", "size")
          .AddVariable("mime", "mimeType");
      if (Coin()) body.AddVariable("uid", "x:uid");
      CallbackParams params;
      params.urls = {"https://cb.example.com/oss/callback?tenant=t1"};
      if (Coin()) params.urls.push_back("http://10.0.0.1:8080/cb");
      if (Coin()) params.host = "cb.example.com";
      if (Coin()) params.sni = Coin();
      params.body_type = type;
      params.body = *body.Render();
      spec.callback = *EncodeCallbackParams(params);
      if (Coin()) spec.callback_vars = {{"x:uid", Text(10, true)}};
    }
    spec.expiration = now + absl::Seconds(Uniform(60, 7 * 24 * 3600));
    return spec;
  }

 private:
  std::mt19937_64 rng_;
};

int Main(int argc, char** argv) {
  int count = 300;
  uint64_t seed = 20261127;
  if (argc > 1 && !absl::SimpleAtoi(argv[1], &count)) return 2;
  if (argc > 2 && !absl::SimpleAtoi(argv[2], &seed)) return 2;

  Corpus corpus(seed);
  SigningKeyCache cache;
  PostFormSigner signer(&cache);
  const std::vector<std::string> regions = {"cn-hangzhou", "cn-shanghai", "ap-southeast-1",
                                            "us-west-1", "eu-central-1"};
  for (int i = 0; i < count; ++i) {
    // Any second between 2020 and 2030, so date boundaries and leap days come up.
    const absl::Time now = absl::FromUnixSeconds(1577836800 + corpus.Uniform(0, 315532800));
    Credentials creds;
    creds.access_key_id = absl::StrCat(corpus.Coin() ? "STS." : "LTAI", corpus.Uniform(0, 1 << 30));
    creds.access_key_secret = absl::StrCat("secret-", corpus.Uniform(0, 1 << 30), "+/=");
    if (creds.access_key_id.rfind("STS.", 0) == 0) {
      creds.security_token = absl::StrCat("CAIS", corpus.Uniform(0, 1 << 30), "+token/==");
      creds.expiration = now + absl::Hours(1);
    }
    const std::string region = corpus.Pick(regions);
    const auto version = corpus.Uniform(0, 3) == 0 ? SignatureVersion::kV1 : SignatureVersion::kV4;
    auto form = signer.Sign(corpus.Spec(now), creds, region, "https://example/", version, now);
    if (!form.ok()) {
      std::cerr << "case " << i << ": " << form.status() << "\n";
      return 1;
    }
    nlohmann::json fields = nlohmann::json::object();
    for (const auto& f : form->fields) fields[f.name] = f.value;
    nlohmann::json line = {
        {"case", i},
        {"version", version == SignatureVersion::kV4 ? "v4" : "v1"},
        {"accessKeyId", creds.access_key_id},
        {"accessKeySecret", creds.access_key_secret},
        {"stsToken", creds.security_token},
        {"region", region},
        {"nowMs", absl::ToUnixMillis(now)},
        {"policyJson", form->policy_json},
        {"fields", fields},
    };
    std::cout << line.dump() << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace ossup::protocol

int main(int argc, char** argv) { return ossup::protocol::Main(argc, argv); }
