// oss_protocol_selftest: recomputes the reference vectors with this build's protocol library and
// prints a sample signed PostObject form. Exit status 0 only when every vector matches.
#include <iostream>
#include <string>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "service/protocol/callback_params.h"
#include "service/protocol/callback_verifier.h"
#include "service/protocol/public_key.h"
#include "service/protocol/crypto.h"
#include "service/protocol/policy.h"
#include "service/protocol/post_form.h"
#include "service/protocol/signing_key.h"

namespace ossup::protocol {
namespace {

int failures = 0;

void Expect(const std::string& what, const absl::StatusOr<std::string>& got,
            const std::string& want) {
  const bool ok = got.ok() && *got == want;
  std::cout << (ok ? "  ok    " : "  FAIL  ") << what << "\n";
  if (!ok) {
    ++failures;
    std::cout << "        got:  " << (got.ok() ? *got : got.status().ToString()) << "\n"
              << "        want: " << want << "\n";
  }
}

int Main() {
  std::cout << "Reference vectors (../shared/reference/oss-protocol.md §3):\n";
  auto k_signing = DeriveV4SigningKey("sk", "20231216", "cn-hangzhou");
  Expect("§3.1 V4 signing key", k_signing.ok() ? HexEncode(*k_signing) : k_signing,
         "b412a03b134ebddd720f5167b5de6db66620ebb3b01cff4d49e3ccb09f8de97f");

  absl::Time expiration;
  std::string err;
  absl::ParseTime(absl::RFC3339_full, "2023-12-16T17:20:57Z", &expiration, &err);
  PolicyDocument doc(expiration);
  doc.AddExact("bucket", "examplebucket")
      .AddExact("x-oss-signature-version", "OSS4-HMAC-SHA256")
      .AddExact("x-oss-credential", "ak/20231216/cn-hangzhou/oss/aliyun_v4_request")
      .AddExact("x-oss-date", "20231216T162057Z")
      .AddContentLengthRange(1, 1024)
      .AddStartsWith("key", "user/eric/");
  auto policy = doc.Serialize();
  const std::string policy_b64 = policy.ok() ? Base64Encode(*policy) : "";
  Expect("§3.2 V4-POST-1 signature",
         k_signing.ok() ? SignPolicyV4(*k_signing, policy_b64) : k_signing.status(),
         "9f051693c17c32d241e6817940beb477664f54868da11772a3bd2455291a5bdb");
  Expect("§3.2 V4-POST-1 V1 signature", SignPolicyV1("sk", policy_b64),
         "Ir+DHUp6Xolj2RCcQ/A7RqADWSw=");

  CallbackParams params{{"http://oss-demo.aliyuncs.com:23450"},
                        "oss-cn-hangzhou.aliyuncs.com",
                        false,
                        CallbackBodyType::kFormUrlEncoded,
                        "bucket=${bucket}&object=${object}&my_var=${x:my_var}"};
  Expect("§3.4 callback parameter", EncodeCallbackParams(params),
         "eyJjYWxsYmFja1VybCI6Imh0dHA6Ly9vc3MtZGVtby5hbGl5dW5jcy5jb206MjM0NTAiLCJjYWxsYmFja0hvc3Qi"
         "OiJvc3MtY24taGFuZ3pob3UuYWxpeXVuY3MuY29tIiwiY2FsbGJhY2tCb2R5IjoiYnVja2V0PSR7YnVja2V0fSZv"
         "YmplY3Q9JHtvYmplY3R9Jm15X3Zhcj0ke3g6bXlfdmFyfSIsImNhbGxiYWNrQm9keVR5cGUiOiJhcHBsaWNhdGlv"
         "bi94LXd3dy1mb3JtLXVybGVuY29kZWQiLCJjYWxsYmFja1NOSSI6ZmFsc2V9");

  // §3.5 #1: the documented callback, verified with the built-in (pinned) OSS key, no network.
  PinnedKeyProvider keys;
  CallbackVerifier verifier(&keys, CallbackVerifierOptions{});
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"authorization",
       "kKQeGTRccDKyHB3H9vF+xYMSrmhMZjzzl2/kdD1ktNVgbWEfYTQG0G2SU/RaHBovRCE8OkQDjC3uG33esH2txA=="},
      {"x-oss-pub-key-url",
       "aHR0cHM6Ly9nb3NzcHVibGljLmFsaWNkbi5jb20vY2FsbGJhY2tfcHViX2tleV92MS5wZW0="}};
  const CallbackVerification verified =
      verifier.Verify({"/index.php?id=1&index=2", headers, "bucket=yonghu-test"});
  Expect("§3.5 #1 callback signature (pinned OSS key)",
         verified.ok() ? absl::StatusOr<std::string>(verified.string_to_sign_md5_hex)
                       : verified.ToStatus(),
         "5b74fc97cc385b45c6c8b7782d5a2140");
  const CallbackVerification tampered =
      verifier.Verify({"/index.php?id=1&index=2", headers, "bucket=yonghu-tesT"});
  Expect("§3.5 #1 with one body byte changed is refused",
         absl::StatusOr<std::string>(std::string(CallbackVerifyErrorName(tampered.error))),
         "SIGNATURE_MISMATCH");

  // A sample form as the service will issue it: exact key, size and type bound, callback bound.
  const absl::Time now = absl::Now();
  PostObjectSpec spec;
  spec.bucket = "examplebucket";
  spec.key = "uploads/demo/photo.png";
  spec.min_size = 1;
  spec.max_size = 10 << 20;
  spec.content_type_mode = PostObjectSpec::ContentTypeMode::kExact;
  spec.content_types = {"image/png"};
  spec.forbid_overwrite = true;
  CallbackParams callback{
      {"https://uploads.example.com/oss/callback"}, "", std::nullopt, CallbackBodyType::kJson, ""};
  callback.body = *CallbackBodyTemplate(CallbackBodyType::kJson)
                       .AddLiteral("upload_id", "demo-upload")
                       .AddVariable("bucket", "bucket")
                       .AddVariable("object", "object")
                       .AddVariable("size", "size")
                       .AddVariable("mime_type", "mimeType")
                       .Render();
  spec.callback = *EncodeCallbackParams(callback);
  spec.expiration = now + absl::Minutes(15);
  SigningKeyCache cache;
  auto form = PostFormSigner(&cache).Sign(
      spec, {"LTAI-demo-key", "demo-secret", "", absl::InfiniteFuture()}, "cn-hangzhou",
      BucketPostUrl("https", "oss-cn-hangzhou.aliyuncs.com", spec.bucket, true),
      SignatureVersion::kV4, now);
  if (!form.ok()) {
    std::cout << "  FAIL  sample form: " << form.status() << "\n";
    return 1;
  }
  nlohmann::ordered_json out;
  out["url"] = form->url;
  for (const auto& f : form->fields) out["fields"].push_back({f.name, f.value});
  out["file_field"] = form->file_field;
  out["policy"] = nlohmann::json::parse(form->policy_json);
  std::cout << "\nSample PostObject form (demo credentials, not valid on OSS):\n"
            << out.dump(2) << "\n\n"
            << (failures == 0 ? "selftest: all vectors match\n" : "selftest: FAILED\n");
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace ossup::protocol

int main() { return ossup::protocol::Main(); }
